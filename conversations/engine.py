"""The flow engine: takes one `Incoming`, advances the user's flow, returns `Outgoing` messages.

It interprets the step values of `conversations.steps` and knows no flow by name: the
commands every flow must obey (`/cancel`, `/menu`, `/help`, ...) are routed before it sees an
update, by `conversations.dialogue` from the features' command tables (`conversations.owner`
for these). The position in a flow is `ConversationState.step`; answers are saved by the caller's
transaction together with that position, so a draft is never half saved.

Rules users of good form tools ask for, and which live here:
- a wrong answer gets one message: what was wrong and an example of a right one;
- after three failed tries the question is put differently, with skip (if optional), talk to
  staff, or stop;
- a button from an earlier question is recognised as stale instead of being applied;
- moving forward skips questions already answered, so a resumed or prefilled flow lands on the
  first unanswered question.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from conversations import documents, summary
from conversations.i18n import N_, Translator
from conversations.intents import normalise
from conversations.matching import Ambiguous, Candidate, aliases_of, pick
from conversations.messages import Choice
from conversations.payloads import MAX_PAYLOAD_BYTES, Sys
from conversations.run import Run, to_json
from conversations.steps import (
    Action,
    AskChoice,
    AskText,
    Checklist,
    EndFlow,
    Flow,
    FlowError,
    Goto,
    Next,
    Option,
    Question,
    Say,
    StartFlow,
    Step,
    Summary,
    Transition,
    TypedAnswer,
)
from conversations.validators import Invalid, Valid

MAX_STRIKES = 3
SYS_SKIP = Sys("skip").pack()
SYS_STAFF = Sys("staff").pack()
SYS_STOP = Sys("stop").pack()
SYS_BACK = Sys("back").pack()


def payload(step_id: str, value: str) -> str:
    """Button payload for an answer; kept within Telegram's 64-byte callback_data."""
    data = f"{step_id}:{value}"
    if len(data.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"button payload over {MAX_PAYLOAD_BYTES} bytes: {data!r}")
    return data


def text_of(run: Run, text: str | Any) -> str:
    return text(run) if callable(text) else run.t(text)


def options_of(run: Run, step: AskChoice) -> Sequence[Option]:
    return step.options(run) if callable(step.options) else step.options


def option_label(t: Translator, option: Option) -> str:
    return option.label if option.literal else t(option.label)


def shown_options(run: Run, step: AskChoice) -> list[Option]:
    """The options offered as buttons (and numbers): all but the one a typed answer stands for."""
    hidden = step.typed.value if step.typed else None
    return [o for o in options_of(run, step) if o.value != hidden]


def choices_for(run: Run, step: AskChoice) -> list[Choice]:
    return [Choice(option_label(run.t, o), payload(step.id, o.value)) for o in shown_options(run, step)]


# Words people type for yes and no, so "ok" or "ko" work where buttons are not shown.
_YES = {"co", "yes", "y", "ok", "dong y", "toi dong y", "vang", "da", "u", "uh", "roi", "co a", "agree"}
_NO = {"khong", "no", "n", "ko", "k", "chua", "khong a", "kg", "khong dong y", "disagree"}
_YES_VALUES = ("yes", "agree")
_NO_VALUES = ("no", "decline")


def match_option(run: Run, step: AskChoice, text: str) -> Option | Ambiguous | None:
    """Resolve typed text against a choice: its number, yes/no words, or `matching.pick` over
    labels, values and aliases (accents, emoji, typos and words inside a label allowed)."""
    options = list(options_of(run, step))
    shown = shown_options(run, step)
    raw = text.strip().rstrip(".)")
    # ASCII and short: "²" passes isdigit() but not int(), and int() refuses 5,000 digits.
    if raw.isascii() and raw.isdigit() and len(raw) <= 4 and 1 <= int(raw) <= len(shown):
        return shown[int(raw) - 1]
    values = {o.value: o for o in options}
    words_of: dict[str, tuple[str, ...]] = {}
    for words, wanted in ((_YES, _YES_VALUES), (_NO, _NO_VALUES)):
        found = [values[v] for v in wanted if v in values]
        if len(found) == 1:
            words_of[found[0].value] = tuple(words)
            if normalise(text) in words:
                return found[0]
    candidates = [
        Candidate(
            o.value,
            (
                option_label(run.t, o),
                o.label,
                o.value,
                *o.aliases,
                *aliases_of(step.id, o.value),
                *words_of.get(o.value, ()),
            ),
        )
        for o in options
    ]
    picked = pick(text, candidates)
    if isinstance(picked, Ambiguous):
        return picked
    return values.get(picked) if picked is not None else None


class Engine:
    def __init__(
        self,
        flows: Mapping[str, Flow],
        show_menu: Callable[[Run], Awaitable[None]] | None = None,
        hand_over: Callable[[Run], Awaitable[None]] | None = None,
    ) -> None:
        self.flows = dict(flows)
        # The main menu belongs to the dialogue around the engine; a finished flow offers it.
        self.show_menu = show_menu
        # "Talk to staff" belongs to the handover feature, which plugs it in here; the engine
        # only knows that a question can be handed to a person.
        self.hand_over = hand_over

    # --- starting and leaving flows --------------------------------------------------------------
    async def start(self, run: Run, flow_id: str, options: Mapping[str, Any] | None = None) -> None:
        await self.start_waiting(run, flow_id, options)
        await self.advance(run, 0, quiet=bool(run.state.data["answers"]))

    async def start_waiting(self, run: Run, flow_id: str, options: Mapping[str, Any] | None = None) -> None:
        """Make `flow_id` the active flow without asking anything yet."""
        flow = self.flows[flow_id]
        run.state.flow = flow.id
        run.state.flow_version = flow.version
        run.state.step = None
        run.state.strikes = 0
        saved = dict(run.state.data.get("saved", {}))
        answers = saved.pop(flow.id, {})
        run.state.data = {"store": flow.store, "answers": answers, **(options or {})}
        if saved:
            run.state.data["saved"] = saved
        if flow.store != "application":
            run.application = None

    def leave(self, run: Run, *, keep: bool = False) -> None:
        """Leave the active flow. With `keep` (the user interrupted it with /menu or /cancel) the
        answers of a flow without a draft record are kept, so starting it again resumes."""
        saved = dict(run.state.data.get("saved", {}))
        flow = run.state.flow
        if flow is not None:
            saved.pop(flow, None)
            data = run.state.data
            if keep and data.get("store") == "state" and data.get("answers") and not data.get("done"):
                saved[flow] = data["answers"]
        run.state.flow = None
        run.state.step = None
        run.state.strikes = 0
        run.state.data = {"saved": saved} if saved else {}

    def current(self, run: Run) -> tuple[Flow, Step] | None:
        if run.state.flow is None or run.state.flow not in self.flows:
            return None
        flow = self.flows[run.state.flow]
        if run.state.step is None:
            return None
        try:
            return flow, flow.step(run.state.step)
        except KeyError:
            # The flow changed under a waiting user (a new version dropped the step): restart it
            # from the first unanswered question rather than fail.
            return None

    # --- moving forward ---------------------------------------------------------------------------
    async def advance(self, run: Run, start: int, *, quiet: bool = False) -> None:
        """Run steps from `start` until one waits for the user, then ask it.

        With `quiet`, steps that only talk or compute are passed over: used when resuming or
        coming back from a changed answer, where they already ran once. Information (`Say`)
        goes out in one message with the question after it: one message to read, not two.
        """
        flow = self.flows[run.state.flow or ""]
        i = start
        guard = 0
        said: list[str] = []

        def flush() -> None:
            if said:
                run.say("\n\n".join(said))
                said.clear()

        while i < len(flow.steps):
            guard += 1
            if guard > 500:
                raise RuntimeError(f"flow {flow.id} loops")
            step = flow.steps[i]
            if step.when is not None and not step.when(run):
                i += 1
                continue
            if isinstance(step, Say | Action) and quiet:
                pass
            elif isinstance(step, Say):
                said.append(text_of(run, step.text))
            elif isinstance(step, Action):
                flush()
                transition = await step.run(run)
                if transition is not None:
                    await self.apply(run, transition, origin=step.id)
                    return
            elif isinstance(step, Question) and step.store and step.id in run.answers:
                pass  # answered already (resumed or prefilled draft)
            elif (
                isinstance(step, Checklist)
                and quiet
                and not documents.missing_required(await documents.status(run))
            ):
                pass  # resuming: the documents are complete, go on to the summary
            else:
                run.state.step = step.id
                run.state.strikes = 0
                await self.prompt(run, step, prefix="\n\n".join(said) or None)
                return
            i += 1
        flush()
        self.leave(run)

    async def apply(self, run: Run, transition: Transition, *, origin: str | None = None) -> None:
        """Carry out what a step asked for; `origin` is the step that asked (default: the step
        the conversation rests on)."""
        if transition is None:
            return
        if isinstance(transition, Goto):
            flow = self.flows[run.state.flow or ""]
            origin = origin or run.state.step
            if not flow.may_go(origin, transition.step):
                # A computed target the start-up check could not see: declare it in `exits`.
                raise FlowError(
                    f"flow {flow.id!r}: step {origin!r} goes to {transition.step!r}, not declared"
                )
            target = flow.index(transition.step)
            await self.advance(run, target)
        elif isinstance(transition, StartFlow):
            await self.start(run, transition.flow, transition.options)
        elif isinstance(transition, EndFlow):
            self.leave(run, keep=transition.keep)
            if transition.show_menu and self.show_menu is not None:
                await self.show_menu(run)

    async def resume(self, run: Run) -> None:
        """Continue the current flow at its first unanswered question."""
        await self.advance(run, 0, quiet=True)

    # --- asking -------------------------------------------------------------------------------------
    async def prompt(self, run: Run, step: Step, *, prefix: str | None = None) -> None:
        head = f"{prefix}\n\n" if prefix else ""
        if isinstance(step, AskChoice):
            choices = choices_for(run, step)
            if step.optional:
                choices.append(Choice(run.t(N_("Skip")), SYS_SKIP))
            run.say(head + text_of(run, step.prompt), choices + self._back_button(run, step))
        elif isinstance(step, AskText):
            text = text_of(run, step.prompt)
            if step.example:
                text += "\n" + run.t(step.example)
            choices = [Choice(run.t(N_("Skip")), SYS_SKIP)] if step.optional else []
            run.say(head + text, choices + self._back_button(run, step))
        elif isinstance(step, Checklist):
            await documents.start(run, head)
        elif isinstance(step, Summary):
            await summary.show(run, self.flows[run.state.flow or ""], step, head)

    # --- one step back ------------------------------------------------------------------------------
    def previous(self, run: Run, step: Step) -> Step | None:
        """The question (or checklist) the owner answered just before `step` in this flow."""
        if run.state.flow is None or run.state.flow not in self.flows:
            return None
        flow = self.flows[run.state.flow]
        try:
            i = flow.index(step.id)
        except KeyError:
            return None
        # A question another step answers as its typed answer (the year) is gone back to there.
        typed = {s.typed.question for s in flow.steps if isinstance(s, AskChoice) and s.typed}
        for prev in reversed(flow.steps[:i]):
            if (prev.when is not None and not prev.when(run)) or prev.id in typed:
                continue
            if isinstance(prev, Question) and prev.store and prev.id in run.answers:
                return prev
            if isinstance(prev, Checklist) and run.application is not None:
                return prev
        return None

    def _back_button(self, run: Run, step: Step) -> list[Choice]:
        """Always the last button, so "back" is in the same place on every question."""
        if self.previous(run, step) is None:
            return []
        return [Choice(run.t(N_("↩️ Back")), SYS_BACK)]

    async def back(self, run: Run) -> None:
        """Ask the previous question again. Its answer stays until a new one is given, so going
        back and then stopping loses nothing; answering moves on to the first unanswered step."""
        found = self.current(run)
        previous = self.previous(run, found[1]) if found is not None else None
        if found is None or previous is None:
            run.say(run.t(N_("This is the first question, there is nothing before it.")))
            if found is not None:
                await self.prompt(run, found[1])
            return
        run.state.step = previous.id
        run.state.strikes = 0
        prefix = None
        if isinstance(previous, Question) and run.answers.get(previous.id) is not None:
            prefix = run.t(
                N_("Your answer was: {value}"), value=summary.display(run, previous, run.answers[previous.id])
            )
        await self.prompt(run, previous, prefix=prefix)

    # --- answering ----------------------------------------------------------------------------------
    async def answer(self, run: Run) -> None:
        found = self.current(run)
        if found is None:
            await self.resume(run)
            return
        flow, step = found
        incoming = run.incoming
        if incoming.choice == SYS_BACK:
            await self.back(run)
            return
        if incoming.choice in (SYS_SKIP, SYS_STAFF, SYS_STOP):
            await self._system_choice(run, flow, step, incoming.choice)
            return
        if (
            incoming.choice
            and not incoming.choice.startswith(f"{step.id}:")
            and not isinstance(step, Checklist | Summary)
        ):
            run.say(run.t(N_("That button belongs to an earlier question. Here is where you are now:")))
            await self.prompt(run, step)
            return
        if isinstance(step, Checklist):
            transition = await documents.handle(run, step)
            if isinstance(transition, Next):
                await self._after(run, flow, step, None)
            elif transition is not None:
                await self.apply(run, transition)
        elif isinstance(step, Summary):
            transition = await summary.handle(run, flow, step, self)
            if transition is not None:
                await self.apply(run, transition)
        elif isinstance(step, AskChoice):
            await self._answer_choice(run, flow, step)
        elif isinstance(step, AskText):
            await self._answer_text(run, flow, step)

    async def _answer_choice(self, run: Run, flow: Flow, step: AskChoice) -> None:
        incoming = run.incoming
        option: Option | Ambiguous | None = None
        if incoming.choice:
            value = incoming.choice.split(":", 1)[1]
            option = next((o for o in options_of(run, step) if o.value == value), None)
        elif incoming.text:
            option = match_option(run, step, incoming.text)
            if option is None and step.typed is not None:
                await self._answer_typed(run, flow, step, step.typed, incoming.text)
                return
        if isinstance(option, Ambiguous):
            close = [o for o in options_of(run, step) if o.value in option.keys]
            run.say(
                run.t(N_("Did you mean one of these?")),
                [Choice(option_label(run.t, o), payload(step.id, o.value)) for o in close],
            )
            return
        if option is None:
            if incoming.file is not None and incoming.has_buttons:
                error = run.t(N_("This question needs an answer, not a file. Please tap one of the buttons."))
            elif incoming.file is not None:
                error = run.t(
                    N_("This question needs an answer, not a file. Please type the number of an option.")
                )
            elif incoming.has_buttons:
                error = run.t(N_("Please tap one of the buttons below, or type its number."))
            else:
                error = run.t(N_("Please type the number of one of the options below."))
            await self._strike(run, step, error, with_choices=True)
            return
        if step.typed is not None and option.value != step.typed.value:
            run.drop_answer(step.typed.question)  # "not recognised" after a year: the year goes
        await self._store(run, flow, step, option.value)

    async def _answer_typed(
        self, run: Run, flow: Flow, step: AskChoice, typed: TypedAnswer, text: str
    ) -> None:
        result = typed.validate(text)
        if isinstance(result, Invalid):
            await self._strike(run, step, run.t(result.error, **dict(result.values)), with_choices=True)
            return
        assert isinstance(result, Valid)
        run.set_answer(typed.question, to_json(result.value))
        await self._store(run, flow, step, typed.value)

    async def _answer_text(self, run: Run, flow: Flow, step: AskText) -> None:
        incoming = run.incoming
        if incoming.text is None:
            await self._strike(run, step, run.t(N_("Please type your answer as a message.")))
            return
        result = step.validate(incoming.text)
        if isinstance(result, Invalid):
            message = run.t(result.error, **dict(result.values))
            if result.example:
                message += "\n" + run.t(result.example)
            await self._strike(run, step, message)
            return
        assert isinstance(result, Valid)
        if result.warning:
            run.say(run.t(result.warning, **dict(result.warning_values)))
        await self._store(run, flow, step, to_json(result.value))

    async def _store(self, run: Run, flow: Flow, step: Question, value: Any) -> None:
        if step.store:
            run.set_answer(step.id, value)
        run.state.strikes = 0
        transition = await step.on_answer(run, value) if step.on_answer else None
        await self._after(run, flow, step, transition)

    async def _after(self, run: Run, flow: Flow, step: Step, transition: Transition) -> None:
        if transition is not None:
            await self.apply(run, transition, origin=step.id)
            return
        if run.state.step != step.id or run.state.flow != flow.id:
            return  # the step moved the conversation itself
        back = run.pop_data("return_to")
        if back:
            await self.advance(run, 0, quiet=True)
        else:
            await self.advance(run, flow.index(step.id) + 1)

    async def _strike(self, run: Run, step: Step, error: str, *, with_choices: bool = False) -> None:
        run.state.strikes += 1
        if run.state.strikes < MAX_STRIKES:
            choices = choices_for(run, step) if with_choices and isinstance(step, AskChoice) else []
            run.say(error, choices)
            return
        run.state.strikes = 0
        help_text = run.t(step.help) if isinstance(step, Question) and step.help else None
        text = help_text or run.t(N_("Let me put it another way."))
        text += "\n\n" + text_of(run, step.prompt) if isinstance(step, Question) and not help_text else ""
        choices = choices_for(run, step) if isinstance(step, AskChoice) else []
        if isinstance(step, Question) and step.optional:
            choices.append(Choice(run.t(N_("Skip this question")), SYS_SKIP))
        choices.append(Choice(run.t(N_("Talk to staff")), SYS_STAFF))
        choices.append(Choice(run.t(N_("Stop for now")), SYS_STOP))
        # Offer a skip only where there is one: a needed question has no skip button.
        way_out = (
            N_("If it is still unclear, you can skip it, ask the Centre's staff, or stop here.")
            if isinstance(step, Question) and step.optional
            else N_("If it is still unclear, you can ask the Centre's staff or stop here.")
        )
        run.say(text + "\n\n" + run.t(way_out), choices)

    async def _system_choice(self, run: Run, flow: Flow, step: Step, choice: str) -> None:
        if choice == SYS_SKIP and isinstance(step, Question) and step.optional:
            run.set_answer(step.id, None)
            await self._after(run, flow, step, None)
        elif choice == SYS_SKIP:
            run.say(run.t(N_("This question is needed, so it can't be skipped.")))
            await self.prompt(run, step)
        elif choice == SYS_STAFF and self.hand_over is not None:
            await self.hand_over(run)
        else:
            await self.apply(run, EndFlow())
