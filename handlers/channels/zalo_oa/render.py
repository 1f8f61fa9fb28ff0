"""How an `Outgoing` reads on the OA: consultation messages of at most 2,000 characters, the
choices as a numbered menu, and, when there are at most 5 of them, also as buttons.

A button is of type `oa.query.show` whose payload is the option's own label: a tap comes back as
an ordinary `user_send_text` carrying that label (platforms.md D1), which the dialogue already
accepts as an answer, so the channel needs no callback table. The numbered menu stays in the
text, so a typed "2" works too, and so does everything if the buttons are not shown.
"""

from __future__ import annotations

from typing import Any

from conversations.messages import Outgoing
from handlers.channels.zalo.client import render as render_texts
from handlers.file_links import FileLinks

MAX_TEXT = 2000  # characters per consultation message (CONFIRMED secondary)
MAX_BUTTONS = 5  # per message (CONFIRMED secondary)
MAX_PAYLOAD = 1000  # characters of an oa.query.* payload (CONFIRMED secondary)
MAX_TITLE = 100  # UNCONFIRMED: a button title's limit; longer labels are cut


def cs_message(text: str, labels: list[str]) -> dict[str, Any]:
    """The `message` object of POST /v3.0/oa/message/cs. UNCONFIRMED: the button structure
    (attachment template with `buttons`), as public integrations send it; only this function
    knows it."""
    if not labels:
        return {"text": text}
    buttons = [
        {"title": label[:MAX_TITLE], "type": "oa.query.show", "payload": label[:MAX_PAYLOAD]}
        for label in labels
    ]
    return {"text": text, "attachment": {"type": "template", "payload": {"buttons": buttons}}}


def render(
    messages: list[Outgoing], public_base: str, links: FileLinks | None = None
) -> list[dict[str, Any]]:
    """The replies as consultation messages; the last menu's buttons go with the last part."""
    texts = render_texts(messages, public_base, links)
    menu = next((m for m in reversed(messages) if m.choices), None)
    labels = [c.label for c in menu.choices] if menu is not None else []
    if len(labels) > MAX_BUTTONS:
        labels = []  # the numbered menu alone: the OA shows 5 buttons at most
    return [cs_message(text, labels if i == len(texts) - 1 else []) for i, text in enumerate(texts)]
