"""How a feature (staff review, outreach, identity linking, ...) plugs into the dialogue.

A feature brings its own commands, flows and main-menu buttons, so adding one does not mean
editing the dialogue: it is listed once in `conversations.features`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from conversations.messages import Choice
from conversations.programmes import Programme
from conversations.run import Run
from conversations.steps import Flow

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue

# A command handler gets the run, the text after the command, and the dialogue (for its menu,
# its help for unknown commands, and resuming drafts).
CommandHandler = Callable[[Run, str, "Dialogue"], Awaitable[None]]


@dataclass(frozen=True)
class Feature:
    name: str
    commands: Mapping[str, CommandHandler] = field(default_factory=dict)
    flows: Callable[[Mapping[str, Programme]], Sequence[Flow]] | None = None
    # Buttons this feature adds to the main menu for this user (staff tools for staff only).
    menu: Callable[[Run], Awaitable[list[Choice]]] | None = None
    # Entries this feature adds to the settings menu (linking another app, ...).
    settings: Callable[[Run], Awaitable[list[Choice]]] | None = None
    # What "talk to staff" does at a stuck question (the handover feature brings it).
    hand_over: Callable[[Run], Awaitable[None]] | None = None
