"""The owner's settings and personal data: language, announcements, see, correct, delete.

Law 91/2025 gives the owner these rights from the chat; the handlers are listed in the command
table of `conversations.owner`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conversations import summary
from conversations.flows.onboarding import profile_answers
from conversations.i18n import N_
from conversations.messages import Choice
from conversations.owner.journey import onboard_then
from conversations.payloads import Go
from conversations.run import Run
from conversations.steps import Question
from storage import applications

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue


async def settings(run: Run, args: str, dialogue: Dialogue) -> None:
    dialogue.engine.leave(run, keep=True)
    notify = (
        N_("🔕 Stop announcements") if run.account.announcements_opt_in else N_("🔔 Receive announcements")
    )
    choices = [
        Choice(run.t(N_("🌐 Language")), Go("language").pack()),
        Choice(run.t(notify), Go("notify").pack()),
    ]
    if run.account.consent_at is not None:
        choices += [
            Choice(run.t(N_("👁 See my data")), Go("mydata").pack()),
            Choice(run.t(N_("✏️ Correct my facility profile")), Go("profile").pack()),
            Choice(run.t(N_("🗑 Delete my data")), Go("delete").pack()),
        ]
    choices += [c for f in dialogue.features if f.settings is not None for c in await f.settings(run)]
    choices.append(Choice(run.t(N_("🏠 Main menu")), Go("menu").pack()))
    run.say(run.t(N_("Settings and your data:")), choices)


async def notify(run: Run, args: str, dialogue: Dialogue) -> None:
    run.account.announcements_opt_in = not run.account.announcements_opt_in
    if run.account.announcements_opt_in:
        run.say(run.t(N_("You will receive announcements about trade fairs and programmes again.")))
    else:
        run.say(
            run.t(
                N_(
                    "Done: you will no longer receive announcements. You will still get news about your "
                    "own dossiers."
                )
            )
        )
    await dialogue.show_menu(run)


async def mydata(run: Run, args: str, dialogue: Dialogue) -> None:
    lines = [run.t(N_("This is what the Centre keeps about you:"))]
    if run.account.consent_at is not None:
        lines.append(run.t(N_("Consent given on {date}."), date=run.t.date(run.account.consent_at)))
    if run.facility is not None:
        flow = dialogue.engine.flows["onboarding"]
        answers = profile_answers(run.facility)
        for step in flow.steps:
            if isinstance(step, Question) and step.id in answers:
                lines.append(
                    f"• {summary.label_of(run, step)}: {summary.display(run, step, answers[step.id])}"
                )
        apps = await applications.of_facility(run.session, run.facility.id)
        lines.append(run.t(N_("Dossiers: {count}"), count=len(apps)))
    run.say(
        "\n".join(lines),
        [
            Choice(run.t(N_("✏️ Correct my facility profile")), Go("profile").pack()),
            Choice(run.t(N_("🏠 Main menu")), Go("menu").pack()),
        ],
    )


async def profile(run: Run, args: str, dialogue: Dialogue) -> None:
    dialogue.engine.leave(run, keep=True)
    if run.facility is None:
        await onboard_then(dialogue, run, None)
        return
    await dialogue.engine.start(run, "onboarding", {"answers": profile_answers(run.facility)})


async def delete(run: Run, args: str, dialogue: Dialogue) -> None:
    dialogue.engine.leave(run, keep=True)
    await dialogue.engine.start(run, "delete_data")
