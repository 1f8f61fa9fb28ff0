"""The conversation's front door: commands that work at any step, the menu, and idle chat.

Every channel's update reaches `Dialogue.handle` through the pipeline. Commands (`/menu`,
`/cancel`, ...) and menu buttons win over the active step, so nobody is ever stuck in a flow;
anything else goes to the active flow, and free text outside a flow gets help, never silence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from conversations import documents, handover, summary
from conversations.engine import Engine
from conversations.feature import Feature
from conversations.features import FEATURES
from conversations.flows import build_flows
from conversations.flows.onboarding import profile_answers
from conversations.i18n import N_, translator
from conversations.messages import Choice, Incoming, Outgoing, short_label
from conversations.programmes import Programme
from conversations.run import Run, Settings
from conversations.steps import AskChoice, AskText
from conversations.validators import Invalid, fold
from storage import accounts, applications
from storage.files import FileStore
from storage.models import Account, Application, ConversationState

# Button labels start with an emoji ("📎 Documents"); typed answers don't.
_LEADING_SYMBOLS = re.compile(r"^[^\w]+")

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
    "/status – see your dossiers and where they are\n"
    "/fairs – trade fairs open for registration\n"
    "/language – change the language\n"
    "/menu – the main menu (your answers are kept)\n"
    "/cancel – stop what you are doing (your answers are kept)\n\n"
    "You can tap the buttons or type the number of an option."
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Dialogue:
    def __init__(
        self,
        *,
        programmes: Mapping[str, Programme],
        files: FileStore,
        settings: Settings | None = None,
        clock: Callable[[], datetime] = _utcnow,
        features: Sequence[Feature] | None = None,
    ) -> None:
        self.programmes = dict(programmes)
        self.files = files
        self.settings = settings or Settings()
        self.clock = clock
        self.features = list(FEATURES if features is None else features)
        flows = build_flows(self.programmes)
        for feature in self.features:
            if feature.flows is not None:
                flows.update({flow.id: flow for flow in feature.flows(self.programmes)})
        hand_over = next((f.hand_over for f in self.features if f.hand_over is not None), None)
        self.engine = Engine(flows, show_menu=self.show_menu, hand_over=hand_over)
        self.commands = {name: handler for f in self.features for name, handler in f.commands.items()}

    async def handle(
        self, session: AsyncSession, account: Account, state: ConversationState, incoming: Incoming
    ) -> list[Outgoing]:
        run = await self.run_for(session, account, state, incoming)
        run.incoming = self._resolve_typed_choice(run)
        command, args = self._command_of(run.incoming)
        if command is not None:
            if account.handover_at is not None:
                await handover.owner_left(run)  # /menu and the like bring the assistant back
            await self.command(run, command, args)
        elif account.handover_at is not None:
            await handover.relay(run)
            run.say(
                run.t(
                    N_(
                        "Our staff have your conversation and will reply here. To go back to the "
                        "assistant, send /menu."
                    )
                )
            )
        elif state.flow is not None:
            await self.engine.answer(run)
        else:
            await self._idle(run)
        self.remember_choices(run)
        return run.out

    async def run_for(
        self, session: AsyncSession, account: Account, state: ConversationState, incoming: Incoming
    ) -> Run:
        """The `Run` an update of this account gets: its language, profile and open draft.

        Public for work that reaches an account outside its own messages (a file from the
        upload page), so that it speaks and decides exactly as the chat does.
        """
        run = Run(
            session=session,
            account=account,
            state=state,
            incoming=incoming,
            t=translator(account.locale or incoming.locale_hint),
            now=self.clock(),
            files=self.files,
            programmes=self.programmes,
            settings=self.settings,
            engine=self.engine,
        )
        run.facility = await accounts.facility_of(session, account.id)
        await self._load_draft(run)
        return run

    # --- input resolution ---------------------------------------------------------------------
    async def _load_draft(self, run: Run) -> None:
        app_id = run.state.data.get("application_id")
        if app_id is None or run.facility is None:
            return
        application = await run.session.get(Application, app_id)
        if application is not None and application.facility_id == run.facility.id:
            run.application = application

    def _resolve_typed_choice(self, run: Run) -> Incoming:
        """On channels without buttons people answer menus with "2" or the option's words."""
        incoming = run.incoming
        if incoming.text is None or incoming.command or incoming.choice:
            return incoming
        found = self.engine.current(run)
        remembered = run.state.data.get("last_choices") or []
        typed = incoming.text.strip().rstrip(".)")
        if found is not None and isinstance(found[1], AskText):
            # "12" is an answer here (a number of workers), not a menu number; it picks from the
            # menu shown after three failed tries (talk to staff, stop) only when it is no answer.
            if not (typed.isdigit() and isinstance(found[1].validate(incoming.text), Invalid)):
                return self._typed_label(incoming, typed, remembered)
        if typed.isdigit() and 1 <= int(typed) <= len(remembered):
            # The number refers to the list the user saw, whatever buttons it held.
            return replace(incoming, choice=remembered[int(typed) - 1][1], text=None)
        if found is not None and isinstance(found[1], AskChoice):
            return incoming  # the step matches words itself (accents or not, yes/no)
        return self._typed_label(incoming, typed, remembered)

    @staticmethod
    def _typed_label(incoming: Incoming, typed: str, remembered: list[list[str]]) -> Incoming:
        """The option whose whole label was typed ("dong y" for "Đồng ý"), accents or not."""
        folded = fold(typed)
        for label, payload in remembered:
            if folded and _LEADING_SYMBOLS.sub("", fold(label)) == folded:
                return replace(incoming, choice=payload, text=None)
        return incoming

    @staticmethod
    def _command_of(incoming: Incoming) -> tuple[str | None, str]:
        if incoming.command:
            return incoming.command, incoming.command_args
        if incoming.choice and incoming.choice.startswith("go:"):
            name, _, args = incoming.choice[3:].partition(":")
            return name, args
        return None, ""

    def remember_choices(self, run: Run) -> None:
        """Keep the labels and payloads of the latest choices shown, so "2" or the option's words
        typed on a channel without buttons can be resolved against what the user saw."""
        last = next((m for m in reversed(run.out) if m.choices), None)
        run.state.data = {
            **run.state.data,
            "last_choices": [[c.label, c.payload] for c in last.choices] if last else [],
        }

    # --- commands -------------------------------------------------------------------------------
    async def command(self, run: Run, name: str, args: str) -> None:
        if name in self.commands:
            await self.commands[name](run, args, self)
            return
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None:
            await self.unknown_command(run)
            return
        await handler(run, args)

    async def unknown_command(self, run: Run) -> None:
        """Also what a non-staff user gets for a staff command: nothing about staff features."""
        run.say(run.t(N_("I don't know that command.")) + "\n\n" + run.t(HELP))
        await self.show_menu(run)

    def _needs_profile(self, run: Run) -> bool:
        return run.account.locale is None or run.account.consent_at is None or run.facility is None

    async def _onboard_then(self, run: Run, then: str | None) -> None:
        if run.account.locale is not None and run.account.consent_at is not None and run.facility is None:
            run.say(
                run.t(N_("First, a few questions about your facility, so I can give you the right answers."))
            )
        await self.engine.start(run, "onboarding", {"then": then} if then else None)

    async def _cmd_start(self, run: Run, args: str) -> None:
        self.engine.leave(run, keep=True)
        if self._needs_profile(run):
            await self._onboard_then(run, None)
            return
        run.say(run.t(N_("Hello again! Good to see you.")))
        await self.show_menu(run)

    async def _cmd_menu(self, run: Run, args: str) -> None:
        if run.state.flow == "apply" and run.application is not None:
            run.say(run.t(N_("Your draft is saved. Send /apply to continue it.")))
        self.engine.leave(run, keep=True)
        await self.show_menu(run)

    async def _cmd_cancel(self, run: Run, args: str) -> None:
        if run.state.flow is None:
            run.say(run.t(N_("There is nothing to stop right now.")))
        elif run.state.flow == "apply" and run.application is not None:
            run.say(run.t(N_("Stopped. Your draft is saved: send /apply whenever you want to continue.")))
        else:
            run.say(run.t(N_("Stopped. Your answers so far are kept.")))
        self.engine.leave(run, keep=True)
        await self.show_menu(run)

    async def _cmd_help(self, run: Run, args: str) -> None:
        run.say(run.t(HELP))
        found = self.engine.current(run)
        if found is not None:
            run.say(run.t(N_("We were in the middle of this question:")))
            await self.engine.prompt(run, found[1])
        else:
            await self.show_menu(run)

    async def _cmd_language(self, run: Run, args: str) -> None:
        self.engine.leave(run, keep=True)
        await self.engine.start(run, "language")

    async def _cmd_check(self, run: Run, args: str) -> None:
        self.engine.leave(run, keep=True)
        if self._needs_profile(run):
            await self._onboard_then(run, "check")
            return
        await self.engine.start(run, "check")

    async def _cmd_apply(self, run: Run, args: str) -> None:
        self.engine.leave(run, keep=True)
        if self._needs_profile(run):
            await self._onboard_then(run, "apply")
            return
        assert run.facility is not None
        drafts = await applications.open_drafts(run.session, run.facility.id)
        chosen: Application | None = None
        if args == "new":
            await self.engine.start(run, "apply")
            return
        if args.isdigit():
            chosen = next((d for d in drafts if d.id == int(args)), None)
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
                        Choice(run.t(N_("📋 My dossiers")), "go:status"),
                        Choice(run.t(N_("🏠 Main menu")), "go:menu"),
                    ],
                )
                return
        elif len(drafts) == 1:
            chosen = drafts[0]
        elif len(drafts) > 1:
            run.say(
                run.t(N_("You have several dossiers in progress. Which one do you want to continue?")),
                [Choice(self._draft_label(run, d), f"go:apply:{d.id}") for d in drafts[:8]]
                + [Choice(run.t(N_("Start a new dossier")), "go:apply:new")],
            )
            return
        if chosen is None:
            await self.engine.start(run, "apply")
            return
        await self.resume_draft(run, chosen)

    async def resume_draft(self, run: Run, draft: Application, *, at_step: str | None = None) -> None:
        flow = self.engine.flows["apply"]
        await self.engine.start_waiting(run, "apply", {"application_id": draft.id})
        run.application = draft
        if at_step is None:
            filled = [line for line in await summary.lines(run, flow) if line.startswith("•")]
            head = run.t(
                N_("Welcome back! We continue your dossier (last saved {date})."),
                date=run.t.date(draft.last_activity_at),
            )
            if filled:
                head += "\n" + run.t(N_("Already filled in:")) + "\n" + "\n".join(filled)
            run.say(head)
            await self.engine.resume(run)
        else:
            await self.engine.advance(run, flow.index(at_step))

    def _draft_label(self, run: Run, draft: Application) -> str:
        name = draft.answers.get("product_name") or run.t(self.programmes[draft.programme].name)
        return short_label(f"{name} ({run.t.date(draft.last_activity_at)})")

    async def _cmd_documents(self, run: Run, args: str) -> None:
        self.engine.leave(run, keep=True)
        if self._needs_profile(run):
            await self._onboard_then(run, "apply")
            return
        assert run.facility is not None
        drafts = await applications.open_drafts(run.session, run.facility.id)
        ready = [d for d in drafts if d.answers.get("programme")]
        if not ready:
            run.say(run.t(N_("The list of documents depends on your dossier. Let's start one first.")))
            await self.engine.start(run, "apply")
            return
        await self.resume_draft(run, ready[0], at_step=documents.STEP_ID)

    async def _cmd_status(self, run: Run, args: str) -> None:
        self.engine.leave(run, keep=True)
        if run.facility is None:
            run.say(run.t(N_("You have no dossiers yet. Send /apply to prepare one.")))
            await self.show_menu(run)
            return
        apps = await applications.of_facility(run.session, run.facility.id)
        if not apps:
            run.say(run.t(N_("You have no dossiers yet. Send /apply to prepare one.")))
            await self.show_menu(run)
            return
        blocks = []
        for app in apps[:10]:
            programme = run.t(self.programmes[app.programme].name)
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
            Choice(run.t(N_("Continue: {name}"), name=self._draft_label(run, a)), f"go:apply:{a.id}")
            for a in apps
            if a.status in applications.OPEN_STATUSES
        ][:5]
        choices.append(Choice(run.t(N_("🏠 Main menu")), "go:menu"))
        run.say(run.t(N_("Your dossiers:")) + "\n\n" + "\n\n".join(blocks), choices)

    async def _cmd_settings(self, run: Run, args: str) -> None:
        self.engine.leave(run, keep=True)
        notify = (
            N_("🔕 Stop announcements")
            if run.account.announcements_opt_in
            else N_("🔔 Receive announcements")
        )
        choices = [Choice(run.t(N_("🌐 Language")), "go:language"), Choice(run.t(notify), "go:notify")]
        if run.account.consent_at is not None:
            choices += [
                Choice(run.t(N_("👁 See my data")), "go:mydata"),
                Choice(run.t(N_("✏️ Correct my facility profile")), "go:profile"),
                Choice(run.t(N_("🗑 Delete my data")), "go:delete"),
            ]
        choices += [c for f in self.features if f.settings is not None for c in await f.settings(run)]
        choices.append(Choice(run.t(N_("🏠 Main menu")), "go:menu"))
        run.say(run.t(N_("Settings and your data:")), choices)

    async def _cmd_notify(self, run: Run, args: str) -> None:
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
        await self.show_menu(run)

    async def _cmd_mydata(self, run: Run, args: str) -> None:
        lines = [run.t(N_("This is what we keep about you:"))]
        if run.account.consent_at is not None:
            lines.append(run.t(N_("Consent given on {date}."), date=run.t.date(run.account.consent_at)))
        if run.facility is not None:
            flow = self.engine.flows["onboarding"]
            answers = profile_answers(run.facility)
            for step in flow.steps:
                if step.id in answers:
                    lines.append(
                        f"• {summary.label_of(run, step)}: {summary.display(run, step, answers[step.id])}"
                    )  # type: ignore[arg-type]
            apps = await applications.of_facility(run.session, run.facility.id)
            lines.append(run.t(N_("Dossiers: {count}"), count=len(apps)))
        run.say(
            "\n".join(lines),
            [
                Choice(run.t(N_("✏️ Correct my facility profile")), "go:profile"),
                Choice(run.t(N_("🏠 Main menu")), "go:menu"),
            ],
        )

    async def _cmd_profile(self, run: Run, args: str) -> None:
        self.engine.leave(run, keep=True)
        if run.facility is None:
            await self._onboard_then(run, None)
            return
        await self.engine.start(run, "onboarding", {"answers": profile_answers(run.facility)})

    async def _cmd_delete(self, run: Run, args: str) -> None:
        self.engine.leave(run, keep=True)
        await self.engine.start(run, "delete_data")

    # --- menu and idle --------------------------------------------------------------------------
    async def show_menu(self, run: Run) -> None:
        extra = [c for f in self.features if f.menu is not None for c in await f.menu(run)]
        if self._needs_profile(run) and run.account.consent_at is None:
            # Staff often never fill in a facility profile: their tools still show here.
            run.say(
                run.t(N_("Send /start when you want to begin.")),
                [Choice(run.t(N_("Start")), "go:start"), Choice(run.t(N_("❓ Help")), "go:help"), *extra],
            )
            return
        run.say(
            run.t(N_("What would you like to do?")),
            [
                Choice(run.t(N_("✅ Check eligibility")), "go:check"),
                Choice(run.t(N_("📝 Prepare or continue a dossier")), "go:apply"),
                Choice(run.t(N_("📎 Documents")), "go:documents"),
                Choice(run.t(N_("📋 My dossiers")), "go:status"),
                Choice(run.t(N_("🏪 Trade fairs")), "go:fairs"),
                Choice(run.t(N_("⚙️ Settings and my data")), "go:settings"),
                Choice(run.t(N_("❓ Help")), "go:help"),
                *extra,
            ],
        )

    async def _idle(self, run: Run) -> None:
        if run.incoming.file is not None:
            run.say(run.t(N_("To add a document, please open your dossier first.")))
        elif self._needs_profile(run) and run.account.locale is None:
            await self.engine.start(run, "onboarding")
            return
        else:
            run.say(run.t(N_("Sorry, I didn't understand that. Please choose from the menu.")))
        await self.show_menu(run)
