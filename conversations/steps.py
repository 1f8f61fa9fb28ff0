"""The step types a flow is declared with, and the transitions a step can ask for.

A flow is a list of these values; `conversations.engine` interprets them. Steps that wait for
the user (`AskChoice`, `AskText`, `Checklist`, `Summary`) are where a conversation can rest, and
so where a resumed conversation lands; `Say` and `Action` run and move on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
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
    # The steps this step's code may `Goto` (besides itself): checked when the flow is built, so
    # a renamed or misspelt step id stops the start instead of failing on a user's answer.
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

    def __post_init__(self) -> None:
        """Refuse a flow whose step ids repeat or whose declared exits lead nowhere: `Goto`,
        resuming and answers all find a step by its id, so either would misroute users."""
        ids = [step.id for step in self.steps]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise FlowError(f"flow {self.id!r}: step id(s) used twice: {', '.join(repeated)}")
        for step in self.steps:
            unknown = [target for target in step.exits if target not in ids]
            if unknown:
                raise FlowError(
                    f"flow {self.id!r}: step {step.id!r} goes to unknown step(s): {', '.join(unknown)}"
                )

    def index(self, step_id: str) -> int:
        for i, step in enumerate(self.steps):
            if step.id == step_id:
                return i
        raise KeyError(f"{self.id} has no step {step_id!r}")

    def step(self, step_id: str) -> Step:
        return self.steps[self.index(step_id)]
