"""The facility owner's journey: start, the main menu, check, apply, documents, status, help.

Each function here is a command handler (`run`, the text after the command, the dialogue); the
explicit table in `conversations.owner` says which command or `go:` button runs which. The
dialogue routes to them and knows none of them by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conversations import documents, summary
from conversations.i18n import N_
from conversations.messages import Choice, short_label
from conversations.payloads import Go
from conversations.record_ids import record_id
from conversations.run import Run
from storage import applications
from storage.models import Application

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue

STATUS_LABELS = {
    "draft": N_("Draft, not sent yet"),
    "submitted": N_("Submitted"),
    "under_review": N_("Under review"),
    "returned": N_("Returned for changes"),
    "resubmitted": N_("Submitted again"),
    "approved": N_("Approved"),
    "rejected": N_("Not approved"),
}

HELP = N_(
    "I can help you with:\n"
    "/check – check whether your facility can join a programme\n"
    "/apply – prepare, continue or submit a dossier\n"
    "/documents – send the documents of your dossier\n"
    "/status – see your dossiers and where they are\n"
    "/certificates – your certificates and how long they are valid\n"
    "/fairs – trade fairs open for registration\n"
    "/settings – language, announcements, see or delete your data\n"
    "/link – use the same dossier on Zalo and Telegram\n"
    "/language – change the language\n"
    "/menu – the main menu (your answers are kept)\n"
    "/cancel – stop what you are doing (your answers are kept)\n"
    "/help – this list\n\n"
    "At any question you can also type “back”, “menu” or “stop”, or “ask the centre” to reach a person."
)
# The last line of the help depends on what the channel shows: Zalo has no buttons to tap.
HELP_BUTTONS = N_("You can tap the buttons or type the number of an option.")
HELP_NUMBERS = N_("Type the number of an option, or its words.")


def help_text(run: Run) -> str:
    return run.t(HELP) + "\n" + run.t(HELP_BUTTONS if run.incoming.has_buttons else HELP_NUMBERS)


def needs_profile(run: Run) -> bool:
    return run.account.locale is None or run.account.consent_at is None or run.facility is None


async def onboard_then(dialogue: Dialogue, run: Run, then: str | None) -> None:
    if run.account.locale is not None and run.account.consent_at is not None and run.facility is None:
        run.say(run.t(N_("First, a few questions about your facility, so I can give you the right answers.")))
    await dialogue.engine.start(run, "onboarding", {"then": then} if then else None)


async def start(run: Run, args: str, dialogue: Dialogue) -> None:
    dialogue.engine.leave(run, keep=True)
    if needs_profile(run):
        await onboard_then(dialogue, run, None)
        return
    run.say(run.t(N_("Hello again! Good to see you.")))
    await dialogue.show_menu(run)


async def menu(run: Run, args: str, dialogue: Dialogue) -> None:
    if run.state.flow == "apply" and run.application is not None:
        run.say(run.t(N_("Your draft is saved. Send /apply to continue it.")))
    dialogue.engine.leave(run, keep=True)
    await dialogue.show_menu(run)


async def cancel(run: Run, args: str, dialogue: Dialogue) -> None:
    if run.state.flow is None:
        run.say(run.t(N_("There is nothing to stop right now.")))
    elif run.state.flow == "apply" and run.application is not None:
        run.say(run.t(N_("Stopped. Your draft is saved: send /apply whenever you want to continue.")))
    else:
        run.say(run.t(N_("Stopped. Your answers so far are kept.")))
    dialogue.engine.leave(run, keep=True)
    await dialogue.show_menu(run)


async def show_help(run: Run, args: str, dialogue: Dialogue) -> None:
    run.say(help_text(run))
    found = dialogue.engine.current(run)
    if found is not None:
        await dialogue.engine.prompt(
            run, found[1], prefix=run.t(N_("You were in the middle of this question:"))
        )
    else:
        await dialogue.show_menu(run)


async def back(run: Run, args: str, dialogue: Dialogue) -> None:
    """One question back in the active flow; outside a flow there is nothing to go back to."""
    if run.state.flow is not None and dialogue.engine.current(run) is not None:
        await dialogue.engine.back(run)
        return
    await dialogue.show_menu(run)


async def talk_to_staff(run: Run, args: str, dialogue: Dialogue) -> None:
    """ "Cho hỏi", "gặp cán bộ": a person, or honestly nobody and where to reach the centre."""
    if dialogue.engine.hand_over is not None:
        await dialogue.engine.hand_over(run)
        return
    run.say(run.t(N_("Sorry, nobody from the centre can answer in this chat.")))
    await dialogue.show_menu(run)


async def language(run: Run, args: str, dialogue: Dialogue) -> None:
    dialogue.engine.leave(run, keep=True)
    await dialogue.engine.start(run, "language")


async def check(run: Run, args: str, dialogue: Dialogue) -> None:
    dialogue.engine.leave(run, keep=True)
    if needs_profile(run):
        await onboard_then(dialogue, run, "check")
        return
    await dialogue.engine.start(run, "check")


async def apply(run: Run, args: str, dialogue: Dialogue) -> None:
    dialogue.engine.leave(run, keep=True)
    if needs_profile(run):
        await onboard_then(dialogue, run, "apply")
        return
    assert run.facility is not None
    drafts = await applications.open_drafts(run.session, run.facility.id)
    chosen: Application | None = None
    if args == "new":  # the owner picks the programme, even right after a check of one
        await dialogue.engine.start(run, "apply", {"choose": True})
        return
    if (draft_id := record_id(args)) is not None:
        chosen = next((d for d in drafts if d.id == draft_id), None)
        if chosen is None:
            # An old "continue" button for a dossier already sent or decided: say so
            # rather than quietly starting another one.
            run.say(
                run.t(
                    N_(
                        "This dossier has been sent and can no longer be changed here. Send /status to see where it is."
                    )
                ),
                [
                    Choice(run.t(N_("📋 My dossiers")), Go("status").pack()),
                    Choice(run.t(N_("🏠 Main menu")), Go("menu").pack()),
                ],
            )
            return
    elif len(drafts) == 1:
        chosen = drafts[0]
    elif len(drafts) > 1:
        run.say(
            run.t(N_("You have several dossiers in progress. Which one do you want to continue?")),
            [Choice(draft_label(dialogue, run, d), Go("apply", str(d.id)).pack()) for d in drafts[:8]]
            + [Choice(run.t(N_("Start a new dossier")), Go("apply", "new").pack())],
        )
        return
    if chosen is None:
        await dialogue.engine.start(run, "apply")
        return
    await resume_draft(dialogue, run, chosen)


async def resume_draft(
    dialogue: Dialogue, run: Run, draft: Application, *, at_step: str | None = None
) -> None:
    flow = dialogue.engine.flows["apply"]
    await dialogue.engine.start_waiting(run, "apply", {"application_id": draft.id})
    run.application = draft
    if at_step is None:
        filled = [line for line in await summary.lines(run, flow) if line.startswith("•")]
        head = run.t(
            N_("Welcome back! Your dossier continues (last saved {date})."),
            date=run.t.date(draft.last_activity_at),
        )
        if filled:
            head += "\n" + run.t(N_("Already filled in:")) + "\n" + "\n".join(filled)
        run.say(head)
        await dialogue.engine.resume(run)
    else:
        await dialogue.engine.advance(run, flow.index(at_step))


def draft_label(dialogue: Dialogue, run: Run, draft: Application) -> str:
    name = draft.answers.get("product_name") or run.t(dialogue.programmes[draft.programme].name)
    return short_label(f"{name} ({run.t.date(draft.last_activity_at)})")


async def open_documents(run: Run, args: str, dialogue: Dialogue) -> None:
    dialogue.engine.leave(run, keep=True)
    if needs_profile(run):
        await onboard_then(dialogue, run, "apply")
        return
    assert run.facility is not None
    drafts = await applications.open_drafts(run.session, run.facility.id)
    ready = [d for d in drafts if d.answers.get("programme")]
    if not ready:
        run.say(run.t(N_("The list of documents depends on your dossier. Let's start one first.")))
        await dialogue.engine.start(run, "apply")
        return
    await resume_draft(dialogue, run, ready[0], at_step=documents.STEP_ID)


async def status(run: Run, args: str, dialogue: Dialogue) -> None:
    dialogue.engine.leave(run, keep=True)
    if run.facility is None:
        run.say(run.t(N_("You have no dossiers yet. Send /apply to prepare one.")))
        await dialogue.show_menu(run)
        return
    apps = await applications.of_facility(run.session, run.facility.id)
    if not apps:
        run.say(run.t(N_("You have no dossiers yet. Send /apply to prepare one.")))
        await dialogue.show_menu(run)
        return
    blocks = []
    for app in apps[:10]:
        programme = run.t(dialogue.programmes[app.programme].name)
        title = app.answers.get("product_name") or programme
        block = [f"📄 {title}", "   " + programme]
        block.append(
            "   " + run.t(N_("Status: {status}"), status=run.t(STATUS_LABELS.get(app.status, app.status)))
        )
        if app.receipt_code:
            block.append("   " + run.t(N_("Receipt code: {code}"), code=app.receipt_code))
        if app.status == "draft":
            block.append("   " + run.t(N_("Last saved: {date}"), date=run.t.date(app.last_activity_at)))
        for event in app.events:
            if event.to_status:
                block.append(
                    f"   · {run.t.date(event.at)} – {run.t(STATUS_LABELS.get(event.to_status, event.to_status))}"
                )
        blocks.append("\n".join(block))
    choices = [
        Choice(
            run.t(N_("Continue: {name}"), name=draft_label(dialogue, run, a)), Go("apply", str(a.id)).pack()
        )
        for a in apps
        if a.status in applications.OPEN_STATUSES
    ][:5]
    choices.append(Choice(run.t(N_("🏠 Main menu")), Go("menu").pack()))
    run.say(run.t(N_("Your dossiers:")) + "\n\n" + "\n\n".join(blocks), choices)


async def show_menu(run: Run, dialogue: Dialogue) -> None:
    extra = [c for f in dialogue.features if f.menu is not None for c in await f.menu(run)]
    if needs_profile(run) and run.account.consent_at is None:
        # Staff often never fill in a facility profile: their tools still show here.
        run.say(
            run.t(N_("Send /start when you want to begin.")),
            [
                Choice(run.t(N_("Start")), Go("start").pack()),
                Choice(run.t(N_("❓ Help")), Go("help").pack()),
                *extra,
            ],
        )
        return
    run.say(
        run.t(N_("What would you like to do?")),
        [
            Choice(run.t(N_("✅ Check eligibility")), Go("check").pack()),
            Choice(run.t(N_("📝 Prepare or continue a dossier")), Go("apply").pack()),
            Choice(run.t(N_("📎 Documents")), Go("documents").pack()),
            Choice(run.t(N_("📋 My dossiers")), Go("status").pack()),
            Choice(run.t(N_("🏪 Trade fairs")), Go("fairs").pack()),
            Choice(run.t(N_("⚙️ Settings and my data")), Go("settings").pack()),
            Choice(run.t(N_("❓ Help")), Go("help").pack()),
            *extra,
        ],
    )


async def idle(run: Run, dialogue: Dialogue) -> None:
    if run.incoming.file is not None:
        run.say(run.t(N_("To add a document, please open your dossier first.")))
    elif needs_profile(run) and run.account.locale is None:
        await dialogue.engine.start(run, "onboarding")
        return
    else:
        run.say(run.t(N_("Sorry, I didn't understand that. Please choose from the menu.")))
    await dialogue.show_menu(run)
