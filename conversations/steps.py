"""The step types a flow is declared with, and the transitions a step can ask for.

A flow is a list of these values; `conversations.engine` interprets them. Steps that wait for
the user (`AskChoice`, `AskText`, `Checklist`, `Summary`) are where a conversation can rest, and
so where a resumed conversation lands; `Say` and `Action` run and move on.
"""

from __future__ import annotations

import dis
import functools
import types
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conversations.i18n import N_
from conversations.validators import Result

if TYPE_CHECKING:
    from conversations.run import Run


@dataclass(frozen=True, slots=True)
class Option:
    """One answer of a choice step; `label` is a msgid unless `literal` (a product name...)."""

    value: str
    label: str
    literal: bool = False
    # Other ways to write it ("HTX"); `programmes/aliases.yaml` adds more by question id.
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Goto:
    step: str


@dataclass(frozen=True, slots=True)
class StartFlow:
    flow: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EndFlow:
    """Leave the flow; `show_menu` offers the main menu afterwards; `keep` keeps the answers of
    a flow without a draft record, for "save and finish later"."""

    show_menu: bool = True
    keep: bool = False


@dataclass(frozen=True, slots=True)
class Next:
    """Move on to the step after this one (a step that otherwise waits, like the checklist)."""


Transition = Goto | StartFlow | EndFlow | Next | None
Condition = Callable[["Run"], bool]
OnAnswer = Callable[["Run", Any], Awaitable[Transition]]


@dataclass(frozen=True, kw_only=True)
class Step:
    id: str
    when: Condition | None = None
    # The steps this step's code may `Goto` with an id computed at run time (besides itself); a
    # `Goto("literal")` in its code is found without it (`goto_targets`). Both are checked when
    # the flow is built, so a renamed or misspelt step id stops the start instead of failing on
    # a user's answer.
    exits: Sequence[str] = ()


@dataclass(frozen=True, kw_only=True)
class Question(Step):
    """A step that waits for an answer and stores it under its id (unless `store` is False)."""

    prompt: str | Callable[[Run], str] = ""
    # Short name shown in the summary ("Product name"); defaults to the prompt.
    label: str | None = None
    optional: bool = False
    # The question put differently, shown after three failed tries.
    help: str | None = None
    store: bool = True
    on_answer: OnAnswer | None = None
    # How the stored answer reads in the summary; choices show their option's label.
    display: Callable[[Run, Any], str] | None = None


@dataclass(frozen=True, slots=True)
class TypedAnswer:
    """A choice whose main answer is typed: "In which year was it recognised?" with one button,
    "Not recognised". A typed answer `validate` accepts means the option `value` (not shown as a
    button) and also answers the question `question` (the year), so one message does for two."""

    value: str
    question: str
    validate: Callable[[str], Result]


@dataclass(frozen=True, kw_only=True)
class AskChoice(Question):
    options: Sequence[Option] | Callable[[Run], Sequence[Option]] = ()
    typed: TypedAnswer | None = None


@dataclass(frozen=True, kw_only=True)
class AskText(Question):
    validate: Callable[[str], Result]
    # Shown with the prompt, e.g. "Ví dụ: 0912 345 678".
    example: str | None = None


@dataclass(frozen=True, kw_only=True)
class Say(Step):
    """Information; `text` may be a function returning the already translated text."""

    text: str | Callable[[Run], str]


@dataclass(frozen=True, kw_only=True)
class Action(Step):
    """Work between questions (compute a verdict, save a profile); may redirect the flow."""

    run: Callable[[Run], Awaitable[Transition]]


@dataclass(frozen=True, kw_only=True)
class Checklist(Step):
    """The dossier's documents: shows what is needed and uploaded, takes files, waits for "done"."""


@dataclass(frozen=True, kw_only=True)
class Summary(Step):
    """Every answer (and document) with a way to change each, then a confirm button."""

    title: str | Callable[[Run], str]
    confirm_label: str
    on_confirm: Callable[[Run], Awaitable[Transition]]
    # What "save and finish later" says: how to come back to this flow.
    later_message: str = N_("Saved. You can pick up where you left off from the menu.")
    # Extra buttons (e.g. documents) as (payload suffix, msgid, handler).
    extras: Sequence[tuple[str, str, Callable[[Run], Awaitable[Transition]]]] = ()


class FlowError(ValueError):
    """A flow declared wrongly: raised while the flows are built, at start-up."""


@dataclass(frozen=True)
class Flow:
    """A versioned list of steps. `store` says where its answers live: the conversation state
    ("state") or the draft application ("application", saved after every answer)."""

    id: str
    version: int
    steps: Sequence[Step]
    store: str = "state"
    # Commands like /cancel leave the flow; a flow may want to say something when that happens.
    on_cancel: str | None = None

    # Where each step may go (`goto_targets`), filled when the flow is built; the engine refuses
    # any other `Goto`, so no jump escapes the start-up check.
    targets: dict[str, frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Refuse a flow whose step ids repeat or whose `Goto`s lead nowhere: `Goto`, resuming
        and answers all find a step by its id, so either would misroute users."""
        ids = [step.id for step in self.steps]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise FlowError(f"flow {self.id!r}: step id(s) used twice: {', '.join(repeated)}")
        targets = {step.id: goto_targets(step) | {step.id} for step in self.steps}
        for step_id, reachable in targets.items():
            unknown = sorted(target for target in reachable if target not in ids)
            if unknown:
                raise FlowError(
                    f"flow {self.id!r}: step {step_id!r} goes to unknown step(s): {', '.join(unknown)}"
                )
        object.__setattr__(self, "targets", targets)

    def may_go(self, from_step: str | None, to_step: str) -> bool:
        """Whether the start-up check saw this jump: a declared exit or a literal `Goto` of the
        step, itself, or any step from the summary (its "change" buttons)."""
        if from_step is None or from_step not in self.targets:
            return False
        return to_step in self.targets[from_step] or isinstance(self.step(from_step), Summary)

    def index(self, step_id: str) -> int:
        for i, step in enumerate(self.steps):
            if step.id == step_id:
                return i
        raise KeyError(f"{self.id} has no step {step_id!r}")

    def step(self, step_id: str) -> Step:
        return self.steps[self.index(step_id)]


def goto_targets(step: Step) -> frozenset[str]:
    """The step ids `step` may jump to: its `exits`, and every `Goto("id")` written with a literal
    in the code it was declared with (its callbacks, the functions they define, the functions
    they close over, and the functions of their own module they call). Read from the compiled
    code, so adding a `Goto` needs no second declaration for the start-up check to see it."""
    found = set(step.exits)
    seen: set[types.FunctionType] = set()
    for function in _callbacks(step):
        _scan(function, found, seen)
    return frozenset(found)


def _callbacks(step: Step) -> Iterator[types.FunctionType]:
    for value in vars(step).values():  # the dataclass's fields (steps have no slots)
        if isinstance(value, str | bool | int | type(None)):
            continue
        items = value if isinstance(value, list | tuple) else (value,)
        for item in items:
            for part in item if isinstance(item, tuple) else (item,):
                if isinstance(part, types.FunctionType):
                    yield part


def _scan(function: types.FunctionType, found: set[str], seen: set[types.FunctionType]) -> None:
    if function in seen:
        return
    seen.add(function)
    literals, names = _code_facts(function.__code__)
    found.update(literals)
    for cell in function.__closure__ or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(value, types.FunctionType):
            _scan(value, found, seen)
    for name in names:
        called = function.__globals__.get(name)
        if isinstance(called, types.FunctionType) and called.__module__ == function.__module__:
            _scan(called, found, seen)


@functools.cache
def _code_facts(code: types.CodeType) -> tuple[frozenset[str], frozenset[str]]:
    """The literal `Goto` targets in `code` (nested functions included) and the global names it
    loads; cached, since every Dialogue (one per test) builds its flows anew from the same code."""
    literals: set[str] = set()
    names: set[str] = set()
    instructions = list(dis.get_instructions(code))
    for i, ins in enumerate(instructions):
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF") and ins.argval == "Goto":
            after = instructions[i + 1] if i + 1 < len(instructions) else None
            if after is not None and after.opname == "LOAD_CONST" and isinstance(after.argval, str):
                literals.add(after.argval)
        elif ins.opname == "LOAD_GLOBAL":
            names.add(str(ins.argval))
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            nested_literals, nested_names = _code_facts(const)
            literals |= nested_literals
            names |= nested_names
    return frozenset(literals), frozenset(names)
