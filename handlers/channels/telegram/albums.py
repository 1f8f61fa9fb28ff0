"""A Telegram album as one message: the photos an owner sends together get one answer.

Telegram delivers an album as one update per photo, all carrying the same `media_group_id`, and
nothing says the album is complete. The web chat already sends several files as one `Incoming`
(`file` plus `more_files`) and the document checklist files them under one document with one
reply; this does the same for Telegram, the way aiogram's media-group middleware does: the parts
of an album are held per (chat, media_group_id) until no further part has arrived for
`ALBUM_QUIET` seconds, then handled as one message, in the order the owner sent them.

How it fits the per-user order (ordering.py): the album's first part takes its place in the
user's turn as any update does; later parts join it *before* taking a turn (they would otherwise
queue behind the first part and never reach it) and are not handled on their own. So a text the
owner sends during the window waits behind the whole album, as it waited behind one photo.

If the process dies during the window, nothing has been acknowledged to the owner (no reply went
out) but the parts are lost to us: with long polling, the next getUpdates has confirmed them and
Telegram does not deliver updates already fetched again; with a webhook, the later parts were
answered 200 when they joined, and only the first part, whose request was still open, is
redelivered (and then handled as an album of one). The owner sees no answer and sends again, as
after any outage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from telegram import Message, Update

from handlers.channels.telegram.ordering import PerUserProcessor
from handlers.runtime import Runtime

ALBUM_QUIET = 0.8
"""Seconds without a new part after which an album is taken as complete. Telegram sends an
album's updates back to back (usually in one getUpdates batch, or webhook requests a few
milliseconds apart), so a short window is enough; long enough for a slow link between parts,
short enough that the owner does not notice the wait before the one reply."""


@dataclass
class _Album:
    parts: list[Message] = field(default_factory=list)
    last: float = 0.0  # loop time the newest part arrived
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # set by each later part


class Albums:
    """The albums being gathered, per (chat id, media_group_id); one instance per channel."""

    def __init__(self, quiet: float = ALBUM_QUIET) -> None:
        self.quiet = quiet
        self._open: dict[tuple[int, str], _Album] = {}

    def join(self, update: Update) -> bool:
        """True when `update` is a later part of an album being gathered: it has been added and
        must not be handled on its own. The first part opens the album and returns False."""
        message = update.message
        group = getattr(message, "media_group_id", None)
        if message is None or not isinstance(group, str) or getattr(message, "chat", None) is None:
            return False
        now = asyncio.get_running_loop().time()
        key = (message.chat.id, group)
        album = self._open.get(key)
        if album is None:
            self._open[key] = _Album([message], now)
            return False
        album.parts.append(message)
        album.last = now
        album.arrived.set()
        return True

    async def gather(self, message: Message) -> list[Message]:
        """All parts of `message`'s album in the owner's order, once no part has come for the
        quiet window; just `message` when it is no album (or its album was already taken)."""
        group = message.media_group_id
        key = (message.chat.id, group) if isinstance(group, str) else None
        album = self._open.get(key) if key is not None else None
        if key is None or album is None or album.parts[0] is not message:
            return [message]
        loop = asyncio.get_running_loop()
        while (wait := album.last + self.quiet - loop.time()) > 0:
            album.arrived.clear()
            try:
                async with asyncio.timeout(wait):
                    await album.arrived.wait()  # another part: the window starts again
            except TimeoutError:
                break  # quiet for the whole window: the album is complete
        del self._open[key]  # a part arriving from now on starts a new album
        return sorted(album.parts, key=lambda m: m.message_id)

    def drop(self, update: Update) -> None:
        """Forget the album `update` opened if its handling ended before gathering it (a group
        chat, a malformed update, a failure): its later parts must not wait for ever."""
        message = update.message
        group = getattr(message, "media_group_id", None)
        if message is None or not isinstance(group, str) or getattr(message, "chat", None) is None:
            return
        key = (message.chat.id, group)
        album = self._open.get(key)
        if album is not None and album.parts[0] is message:
            del self._open[key]


class AlbumProcessor(PerUserProcessor):
    """ordering.py's per-user order, with an album's later parts folded into its first part."""

    def __init__(self, runtime: Runtime, albums: Albums, max_running: int) -> None:
        super().__init__(runtime, max_running)
        self.albums = albums

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if isinstance(update, Update) and self.albums.join(update):
            close = getattr(coroutine, "close", None)
            if close is not None:
                close()  # never run: the first part's handling carries this one
            return
        try:
            await super().do_process_update(update, coroutine)
        finally:
            if isinstance(update, Update):
                self.albums.drop(update)
