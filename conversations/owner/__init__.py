"""The facility owner's journey as a feature like the others, with its command table.

"What does `/x` or the button `go:x` do?" has one answer: the line for `x` below. Commands typed
and `go:` buttons are the same thing (`conversations.payloads.Go`), so a menu button and its
command can never drift apart.
"""

from __future__ import annotations

from conversations.feature import CommandHandler, Feature
from conversations.owner import data, journey

COMMANDS: dict[str, CommandHandler] = {
    "start": journey.start,
    "menu": journey.menu,
    "cancel": journey.cancel,
    "help": journey.show_help,
    "back": journey.back,
    "talk": journey.talk_to_staff,
    "language": journey.language,
    "check": journey.check,
    "apply": journey.apply,
    "documents": journey.open_documents,
    "status": journey.status,
    "settings": data.settings,
    "notify": data.notify,
    "mydata": data.mydata,
    "profile": data.profile,
    "delete": data.delete,
}

FEATURE = Feature(name="owner", commands=COMMANDS)
