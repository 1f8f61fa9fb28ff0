"""A Telegram album as one message: the photos an owner sends together get one answer.

Telegram delivers an album as one update per photo, all carrying the same `media_group_id`, and
nothing says the album is complete. The parts of an album are a burst (handlers/bursts.py, which
says how it fits the per-user order and what a crash during the window loses) keyed by (chat,
media_group_id), handled as one message once no further part has arrived for `ALBUM_QUIET`
seconds, in the order of their message ids.

With long polling, the next getUpdates has confirmed every part and Telegram does not deliver
updates already fetched again; with a webhook, only the first part's request is still open during
the window, so only it may be redelivered after a crash.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from telegram import Message, Update

from handlers.bursts import BurstClock, Bursts
from handlers.channels.telegram.ordering import PerUserProcessor
from handlers.runtime import Runtime

ALBUM_QUIET = 0.8
"""Seconds without a new part after which an album is taken as complete. Telegram sends an
album's updates back to back (usually in one getUpdates batch, or webhook requests a few
milliseconds apart), so a short window is enough; long enough for a slow link between parts,
short enough that the owner does not notice the wait before the one reply."""


class Albums:
    """The albums being gathered, per (chat id, media_group_id); one instance per channel."""

    def __init__(self, quiet: float = ALBUM_QUIET, clock: BurstClock | None = None) -> None:
        self.quiet = quiet
        # Public for its `clock`: tests move the quiet window's time by hand (handlers/bursts.py).
        self.bursts: Bursts[tuple[int, str], Message] = Bursts(quiet, clock)

    def join(self, update: Update) -> bool:
        """True when `update` is a later part of an album being gathered: it has been added and
        must not be handled on its own. The first part opens the album and returns False."""
        key = _key(update.message)
        return key is not None and update.message is not None and self.bursts.join(key, update.message)

    async def gather(self, message: Message) -> list[Message]:
        """All parts of `message`'s album in the owner's order, once no part has come for the
        quiet window; just `message` when it is no album (or its album was already taken)."""
        key = _key(message)
        if key is None:
            return [message]
        return sorted(await self.bursts.gather(key, message), key=lambda m: m.message_id)

    def drop(self, update: Update) -> None:
        """Forget the album `update` opened if its handling ended before gathering it (a group
        chat, a malformed update, a failure): its later parts must not wait for ever."""
        key = _key(update.message)
        if key is not None and update.message is not None:
            self.bursts.drop(key, update.message)


def _key(message: Message | None) -> tuple[int, str] | None:
    group = getattr(message, "media_group_id", None)
    if message is None or not isinstance(group, str) or getattr(message, "chat", None) is None:
        return None
    return (message.chat.id, group)


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
