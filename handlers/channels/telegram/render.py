"""How an `Outgoing` looks on Telegram: inline keyboards, texts split at 4096 characters,
documents with captions. Shared by the interactive channel (handlers/channels/telegram/adapter.py) and the outbox's
sender (handlers/channels/telegram/sender.py), so a reminder looks exactly like a reply.

A text goes out through `Bot.do_api_request("sendMessage", ...)` rather than `Bot.send_message`
(and an edit through "editMessageText" or "editMessageReplyMarkup"): nothing reads the `Message`
PTB would build from Telegram's answer (only the outbox's sender
wants the new message's id, which the answer's JSON holds), and building it, with the parameters
send_message fills in for options we never set, was 0.12 of 1.7 ms CPU per reply (measured at 50
owners writing at once). Its keyboard is built as the Bot API's JSON for the same reason: PTB's
button objects, checked when made and turned back into the same JSON when sent, were another
0.06 ms. Errors are PTB's own either way, so `classify` reads them unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import MessageLimit
from telegram.error import BadRequest
from telegram.warnings import PTBUserWarning

from conversations.messages import Document, Outgoing
from handlers.render import split_text
from storage.files import FileStore

log = logging.getLogger(__name__)
# PTB suggests send_message whenever do_api_request names a method it has; here that is the point.
warnings.filterwarnings(
    "ignore", r"Please use 'Bot\.(sendMessage|editMessageText|editMessageReplyMarkup)'", PTBUserWarning
)

MAX_CALLBACK_BYTES = 64
SHORT_LABEL = 16  # characters: two such buttons share a row (Có / Không), longer ones get their own

Keyboard = dict[str, list[list[dict[str, str]]]]  # {"inline_keyboard": rows of buttons}
Call = Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]


async def send_outgoing(
    bot: Bot, chat_id: int, out: Outgoing, *, call: Call, files: FileStore | None
) -> None:
    """One `Outgoing` as Telegram messages: its text in parts of at most 4096 characters with the
    keyboard on the last one, or its document with the text as caption when it fits.

    `call` runs each Bot API request: the interactive channel retries a 429 and marks a blocked
    user there; the outbox's sender (handlers/channels/telegram/sender.py) classifies errors for its worker.
    """
    markup = keyboard(out)
    text = out.text.strip()
    if out.document is not None:
        document = out.document
        data = await _document_bytes(document, files)
        if data is not None:
            caption = text if len(text) <= MessageLimit.CAPTION_LENGTH else None
            if text and caption is None:
                await _send_text(bot, chat_id, text, None, call)
            await call(
                lambda: bot.send_document(
                    chat_id,
                    document=data,
                    filename=document.filename,
                    caption=caption or None,
                    reply_markup=ptb_keyboard(markup),
                )
            )
            return
    if not text and markup is None:
        return
    try:
        await _send_text(bot, chat_id, text or "…", markup, call)
    except BadRequest:
        if out.url is None or markup is None:
            raise
        # Telegram refuses some links as buttons (a local address): give the link as text.
        plain = keyboard(Outgoing(text="", choices=out.choices))
        await _send_text(bot, chat_id, f"{text}\n\n{out.url_label or ''} {out.url}".strip(), plain, call)


async def _send_text(bot: Bot, chat_id: int, text: str, markup: Keyboard | None, call: Call) -> None:
    parts = split_text(text, MessageLimit.MAX_TEXT_LENGTH)
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        await call(partial(send_text, bot, chat_id, part, markup if last else None))


async def send_text(bot: Bot, chat_id: int, text: str, markup: Keyboard | None = None) -> dict[str, Any]:
    """sendMessage, answered with the new message as Telegram's JSON (the module says why)."""
    params: dict[str, Any] = {"chat_id": chat_id, "text": text}
    if markup is not None:
        params["reply_markup"] = markup
    message: dict[str, Any] = await bot.do_api_request("sendMessage", params)
    return message


async def edit_text(
    bot: Bot, chat_id: int, message_id: int, text: str, markup: Keyboard | None = None
) -> None:
    """editMessageText (a tapped question's "✓ label", a broadcast's progress), as `send_text`."""
    params: dict[str, Any] = {"chat_id": chat_id, "message_id": message_id, "text": text}
    if markup is not None:
        params["reply_markup"] = markup
    await bot.do_api_request("editMessageText", params)


async def remove_keyboard(bot: Bot, chat_id: int, message_id: int) -> None:
    """editMessageReplyMarkup with no markup: the message stays, its buttons go."""
    await bot.do_api_request("editMessageReplyMarkup", {"chat_id": chat_id, "message_id": message_id})


async def _document_bytes(document: Document, files: FileStore | None) -> bytes | None:
    """A document to send: an absolute path, or a key of the file store."""
    path = Path(document.path)
    if not path.is_absolute() and files is not None:
        path = files.path(document.path)
    try:
        return await asyncio.to_thread(path.read_bytes)
    except OSError:
        log.error("telegram: a document to send is missing from the file store")
        return None


def keyboard(out: Outgoing) -> Keyboard | None:
    """The inline keyboard for an `Outgoing` as the Bot API's own JSON (`reply_markup`): its
    choices, then its link as a URL button. Texts send it as it is (the module says why);
    `ptb_keyboard` makes PTB's object of it for the methods that want one."""
    rows: list[list[dict[str, str]]] = []
    pending: dict[str, str] | None = None
    for choice in out.choices:
        if not 0 < len(choice.payload.encode("utf-8")) <= MAX_CALLBACK_BYTES:
            log.error("telegram: a button was left out: its payload does not fit Telegram's 64 bytes")
            continue
        button = {"text": choice.label, "callback_data": choice.payload}
        if len(choice.label) <= SHORT_LABEL:
            if pending is None:
                pending = button
            else:
                rows.append([pending, button])
                pending = None
            continue
        if pending is not None:
            rows.append([pending])
            pending = None
        rows.append([button])
    if pending is not None:
        rows.append([pending])
    if out.url and out.url.lower().startswith(("https://", "http://")):
        label = out.url_label or "🔗 " + (urlsplit(out.url).hostname or out.url)
        rows.append([{"text": label, "url": out.url}])
    return {"inline_keyboard": rows} if rows else None


def ptb_keyboard(markup: Keyboard | None) -> InlineKeyboardMarkup | None:
    """`keyboard`'s JSON as PTB's `InlineKeyboardMarkup`, for send_document."""
    return InlineKeyboardMarkup.de_json(markup) if markup is not None else None
