"""The conversation's front door: routes each update to a command, the active flow or idle help.

Every channel's update reaches `Dialogue.handle` through the pipeline. Commands (`/menu`,
`/cancel`, ...) and `go:` buttons win over the active step, so nobody is ever stuck in a flow;
anything else goes to the active flow, and free text outside a flow gets help, never silence.
What each command does is a feature's business: the owner's journey (`conversations.owner`) and
the others (`conversations.features`) bring explicit command tables, merged here once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from conversations import documents, handover
from conversations.engine import Engine
from conversations.feature import CommandHandler, Feature
from conversations.features import FEATURES
from conversations.flows import build_flows
from conversations.i18n import N_, translator
from conversations.intents import intent_of
from conversations.matching import Candidate, pick
from conversations.messages import Incoming, Outgoing, merged
from conversations.outreach.render import render_payload
from conversations.owner import FEATURE as OWNER
from conversations.owner import journey
from conversations.payloads import Go
from conversations.programmes import Programme
from conversations.run import Run, Settings
from conversations.steps import AskChoice, AskText
from conversations.validators import Invalid
from storage import accounts
from storage.files import FileStore
from storage.models import Account, Application, ConversationState

# What each typed navigation word does: the command a button or a slash would run.
INTENT_COMMANDS = {"back": "back", "menu": "menu", "stop": "cancel", "help": "help", "staff": "talk"}


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
        self.features = [OWNER, *(FEATURES if features is None else features)]
        flows = build_flows(self.programmes)
        for feature in self.features:
            if feature.flows is not None:
                flows.update({flow.id: flow for flow in feature.flows(self.programmes)})
        hand_over = next((f.hand_over for f in self.features if f.hand_over is not None), None)
        self.engine = Engine(flows, show_menu=self.show_menu, hand_over=hand_over)
        self.commands: dict[str, CommandHandler] = {}
        for feature in self.features:
            for name, handler in feature.commands.items():
                if name in self.commands:
                    # Two tables claiming one command: "what does /x do?" must have one answer.
                    raise ValueError(f"command {name!r} of feature {feature.name!r} is already taken")
                self.commands[name] = handler

    async def handle(
        self, session: AsyncSession, account: Account, state: ConversationState, incoming: Incoming
    ) -> list[Outgoing]:
        run = await self.run_for(session, account, state, incoming)
        menus = dict(state.data.get("menus") or {})  # flows reset the data; the menus outlive them
        # Several files in one message are taken together only by the checklist; elsewhere the
        # first is, and the owner is told rather than the others vanishing.
        several = bool(incoming.more_files) and not documents.at_checklist(run)
        intent = intent_of(incoming.text) if not (incoming.command or incoming.choice) else None
        if intent is not None and not (account.handover_at is not None and intent in ("help", "staff")):
            # "quay lại", "menu", "thôi", "cho hỏi": a wish to move, never an answer to store.
            command: str | None = INTENT_COMMANDS[intent]
            args = ""
        else:
            if self._typed(run.incoming):  # a tap or a command needs no menu to resolve against
                run.incoming = self._resolve_typed_choice(run, await self.shown_menu(run))
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
                        "The Centre's staff have your conversation and will reply here. To go back "
                        "to the assistant, send /menu."
                    )
                )
            )
        elif state.flow is not None:
            await self.engine.answer(run)
        else:
            await self._idle(run)
        if several:
            run.say(run.t(N_("Only the first file was taken here: please send the others one at a time.")))
        self.remember_choices(run, menus)
        return merged(run.out)

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

    @staticmethod
    def _typed(incoming: Incoming) -> bool:
        return incoming.text is not None and not (incoming.command or incoming.choice)

    def _resolve_typed_choice(self, run: Run, remembered: list[list[str]]) -> Incoming:
        """On channels without buttons people answer menus with "2" or the option's words."""
        incoming = run.incoming
        if incoming.text is None or not self._typed(incoming):
            return incoming
        found = self.engine.current(run)
        typed = incoming.text.strip().rstrip(".)")
        # ASCII and short: "²" or "١" pass isdigit() but not int(), and int() refuses 5,000 digits.
        number = typed.isascii() and typed.isdigit() and len(typed) <= 4
        if found is not None and isinstance(found[1], AskText):
            # "12" is an answer here (a number of workers), not a menu number; it picks from the
            # menu shown after three failed tries (talk to staff, stop) only when it is no answer.
            if not (number and isinstance(found[1].validate(incoming.text), Invalid)):
                return self._typed_label(incoming, typed, remembered, exact_only=True)
        if number and 1 <= int(typed) <= len(remembered):
            # The number refers to the list the user saw, whatever buttons it held.
            return replace(incoming, choice=remembered[int(typed) - 1][1], text=None)
        if found is not None and isinstance(found[1], AskChoice):
            return incoming  # the step matches words itself (accents or not, yes/no)
        return self._typed_label(incoming, typed, remembered)

    @staticmethod
    def _typed_label(
        incoming: Incoming, typed: str, remembered: list[list[str]], *, exact_only: bool = False
    ) -> Incoming:
        """The menu option typed in words ("dong y", "chuan bi ho so ngay", "sua"), accents, emoji
        or a small typo aside; several close ones are left to the step (or idle help)."""
        candidates = [Candidate(payload, (label,)) for label, payload in remembered]
        picked = pick(typed, candidates, exact_only=exact_only)
        if isinstance(picked, str):
            return replace(incoming, choice=picked, text=None)
        return incoming

    @staticmethod
    def _command_of(incoming: Incoming) -> tuple[str | None, str]:
        if incoming.command:
            return incoming.command, incoming.command_args
        go = Go.unpack(incoming.choice)
        if go is not None:
            return go.command, go.args
        return None, ""

    def remember_choices(self, run: Run, menus: dict[str, Any] | None = None) -> None:
        """Keep the labels and payloads of the latest choices shown on this channel, so "2" or
        the option's words typed on a channel without buttons resolve against what the user saw
        there (linked channels each keep their own menu)."""
        last = next((m for m in reversed(run.out) if m.choices), None)
        menus = {**(menus or {}), **(run.state.data.get("menus") or {})}
        menus[run.incoming.channel] = {
            "at": run.now.isoformat(),
            "choices": [[c.label, c.payload] for c in last.choices] if last else [],
        }
        data = {k: v for k, v in run.state.data.items() if k != "last_choices"}
        run.state.data = {**data, "menus": menus}

    async def shown_menu(self, run: Run) -> list[list[str]]:
        """The menu of the newest message on this channel that carries one: a reply's, or a
        notice's sent after it (a status notice with "📋 My dossiers")."""
        mine = (run.state.data.get("menus") or {}).get(run.incoming.channel)
        choices: list[list[str]] = mine["choices"] if mine else run.state.data.get("last_choices") or []
        identity = await accounts.find_identity(run.session, run.incoming.channel, run.incoming.user_id)
        if identity is not None:
            after = datetime.fromisoformat(mine["at"]) if mine else None
            payload = await accounts.menu_sent_after(run.session, identity.id, after=after)
            if payload is not None:
                notice = next((m for m in reversed(render_payload(payload, run.t)) if m.choices), None)
                if notice is not None:
                    choices = [[c.label, c.payload] for c in notice.choices]
        return choices

    # --- commands -------------------------------------------------------------------------------
    async def command(self, run: Run, name: str, args: str) -> None:
        handler = self.commands.get(name)
        if handler is None:
            await self.unknown_command(run)
            return
        await handler(run, args, self)

    async def unknown_command(self, run: Run) -> None:
        """Also what a non-staff user gets for a staff command: nothing about staff features."""
        run.say(run.t(N_("I don't know that command.")) + "\n\n" + journey.help_text(run))
        await self.show_menu(run)

    # --- menu and idle (the owner feature's, reachable by every feature) --------------------------
    async def show_menu(self, run: Run) -> None:
        await journey.show_menu(run, self)

    async def _idle(self, run: Run) -> None:
        await journey.idle(run, self)
