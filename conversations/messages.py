"""The channel-neutral values that flow between a channel adapter and the conversation engine.

Adapters (handlers/) turn a platform update into an `Incoming` and render each `Outgoing` with
what the platform can show (inline keyboard, numbered menu, ...). Nothing in this module may
depend on a platform: it is the contract between the two sides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

# Channel names as stored in the database; adapters use these constants, never literals.
WEB = "web"
TELEGRAM = "telegram"
ZALO = "zalo"
# The Zalo Official Account: another product than the Zalo Bot Platform, with other user ids.
ZALO_OA = "zalo_oa"


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file the user sent. `read` fetches the bytes lazily, so an oversized or wrongly typed
    file can be refused before it is downloaded (Telegram tells the size before getFile)."""

    filename: str
    content_type: str
    size: int
    read: Callable[[], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class Incoming:
    """One thing a user did: typed text, tapped a button, sent a command or a file.

    `choice` is the payload of a tapped button (see `Choice.payload`); `command` is the bare
    command name without the slash ("start", "menu"); `update_id` is the channel's id for the
    update, used to drop redeliveries.

    The last two fields say what the user's channel can do, so the engine words its questions
    for it without knowing the platform: `can_send_documents` is False where the user can send
    photos but no PDF (Zalo Bot: a document is asked for through a one-time upload link), and
    `has_buttons` is False where choices are shown as a numbered menu ("type its number"
    instead of "tap a button").
    """

    channel: str
    user_id: str
    update_id: str
    text: str | None = None
    choice: str | None = None
    command: str | None = None
    command_args: str = ""
    file: FileRef | None = None
    # Files sent with `file` in one message (the web chat's picker takes several): the checklist
    # files them all under the document asked for and answers once.
    more_files: tuple[FileRef, ...] = ()
    locale_hint: str | None = None
    display_name: str | None = None
    can_send_documents: bool = True
    has_buttons: bool = True
    # The update shows the user can be written to again (Telegram's /start after unblocking, any
    # Zalo message): the runtime marks their identity reachable in the update's own transaction.
    reachable_again: bool = False


@dataclass(frozen=True, slots=True)
class Choice:
    """A button. `payload` is what comes back in `Incoming.choice`; it is kept under 64 bytes
    (Telegram's callback_data limit) by the engine."""

    label: str
    payload: str


@dataclass(frozen=True, slots=True)
class Document:
    """A stored file the bot sends back (staff reviewing a dossier, a receipt)."""

    path: str
    filename: str
    content_type: str


@dataclass(slots=True)
class Outgoing:
    """One message for the user: text, optional buttons, optional file.

    `numbered` asks channels without buttons to render `choices` as "1. ...", which the engine
    accepts back as answers; channels with buttons ignore it.
    """

    text: str
    choices: list[Choice] = field(default_factory=list)
    document: Document | None = None
    # A link the channel should render as a button opening a page (upload page for documents).
    url: str | None = None
    url_label: str | None = None
    # Shown exactly as it stands, never joined with the next message (a broadcast's preview).
    apart: bool = False


def command_of(text: str) -> tuple[str, str] | None:
    """Split "/apply@MyBot foo" into ("apply", "foo"); None when the text is not a command."""
    text = text.strip()
    if not text.startswith("/") or len(text) < 2:
        return None
    head, _, rest = text[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    if not name.replace("_", "").isalnum():
        return None
    return name, rest.strip()


def short_label(text: str, limit: int = 60) -> str:
    """A button label within `limit` characters, cut at a word boundary with "…" when longer.

    Long questions become buttons in "which answer do you want to change?"; a label cut in the
    middle of a word reads badly on a phone.
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    if text[limit - 1] == " ":  # the cut falls between two words
        return text[: limit - 1].rstrip(" ,;:–-") + "…"
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > 0:  # never inside a word, even when that leaves a shorter label
        cut = cut[:space]
    return cut.rstrip(" ,;:–-") + "…"


MERGE_LIMIT = 1500  # characters: well inside Zalo's 2,000 and Telegram's 4,096


def merged(messages: list[Outgoing]) -> list[Outgoing]:
    """Fewer messages: a plain text ("Saved.", a verdict) joins the message after it, so one
    reply reads as one message with its buttons. A message with buttons, a file or a link stays
    where it is (its buttons belong to it), and nothing grows past `MERGE_LIMIT`."""
    result: list[Outgoing] = []
    for message in messages:
        if result:
            before = result[-1]
            plain = not before.choices and before.document is None and before.url is None and not before.apart
            if (
                plain
                and message.document is None
                and not message.apart
                and len(before.text) + len(message.text) + 2 <= MERGE_LIMIT
            ):
                result[-1] = replace(message, text=f"{before.text}\n\n{message.text}")
                continue
        result.append(message)
    return result
