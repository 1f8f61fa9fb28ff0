"""Messages an owner sends together, handled as one: the photos picked at once get one answer.

Platforms deliver several photos sent together as one event per photo, and nothing says the last
has come: Telegram tags an album's updates with a `media_group_id` (handlers/channels/telegram/
albums.py); Zalo, Bot Platform and OA alike, tags nothing, so there consecutive image events of
one chat are a burst. The web chat already sends several files as one `Incoming` (`file` plus
`more_files`) and the document checklist files them under one document with one reply. This is
the channel-neutral part, the way aiogram's media-group middleware does it: the parts of a burst
are held per key until no further part has arrived for the quiet window, then handled as one
message, in the order they arrived.

How it fits the per-user order (handlers/runtime.py's turn): a burst's first part takes its place
in the user's turn as any event does; later parts `join` it *before* taking a turn (they would
otherwise queue behind the first part and never reach it) and are not handled on their own. A
message that cannot join (a text, a file) `close`s the burst: its first part stops waiting at
once, and the text waits behind the whole burst, as it waited behind one photo; an image after
the text starts a new burst. Bursts are kept in this process only: on several workers (Zalo OA on
PostgreSQL) parts that reach different workers are answered per worker, as before.

If the process dies during the window, no reply has gone out and the parts are lost to us:
where the platform waits for our answer (a webhook), the later parts were answered 200 when they
joined, and only the first part, whose request was still open, may be redelivered (then handled
as a burst of one); with polling, the platform has handed them all out already. The owner sees
no answer and sends again, as after any outage.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

K = TypeVar("K", bound=Hashable)
P = TypeVar("P")

BURST_QUIET = 1.0
"""Seconds without a new image after which a burst with no album id (Zalo) is taken as complete.
The Zalo app sends the photos picked together one message per photo, back to back; with nothing
tying them together, only the pause tells the burst has ended. A little longer than Telegram's
`ALBUM_QUIET`, which can rely on the album id and a batch of updates: Zalo's events are separate
requests, one getUpdates or webhook call each. Short enough that a single photo's reply does not
feel slow; a text or a file ends the window at once."""


class BurstClock(Protocol):
    """The time a burst's quiet window is measured in. The event loop's clock in the running bot;
    tests give a clock they move by hand, so "sent together" and "the window has passed" are
    decided by the test, not by how fast a loaded machine happens to be."""

    def now(self) -> float: ...

    async def wait(self, event: asyncio.Event, deadline: float) -> bool:
        """Wait for `event` until `deadline` (a `now()` value): True if it was set first."""
        ...


class LoopClock:
    """The event loop's monotonic clock: the running bot's `BurstClock`."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def wait(self, event: asyncio.Event, deadline: float) -> bool:
        try:
            async with asyncio.timeout_at(deadline):
                await event.wait()
        except TimeoutError:
            return False
        return True


@dataclass
class _Burst(Generic[P]):
    parts: list[P]
    last: float  # the clock's time the newest part arrived
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # set by each later part, or a close
    closed: bool = False


class Bursts(Generic[K, P]):
    """The bursts being gathered, per key (a chat, or a chat and an album id); one per channel."""

    def __init__(self, quiet: float, clock: BurstClock | None = None) -> None:
        self.quiet = quiet
        self.clock: BurstClock = clock or LoopClock()
        self._open: dict[K, _Burst[P]] = {}  # the burst a part with this key joins
        self._held: dict[int, _Burst[P]] = {}  # every burst not yet gathered, by id of its first part

    def join(self, key: K, part: P) -> bool:
        """True when `part` joined the open burst of `key`: it must not be handled on its own. A
        first part opens a burst and returns False (it is handled, and `gather`s the rest)."""
        now = self.clock.now()
        burst = self._open.get(key)
        if burst is None:
            burst = self._open[key] = _Burst([part], now)
            self._held[id(part)] = burst
            return False
        burst.parts.append(part)
        burst.last = now
        burst.arrived.set()
        return True

    def arrive(self, key: K, part: P, *, joins: bool) -> bool:
        """An event of `key` arrived: `join` when it can be part of a burst, else `close` the open
        one (the event must come after it). True when it joined and is not handled alone."""
        if joins:
            return self.join(key, part)
        self.close(key)
        return False

    def close(self, key: K) -> None:
        """End `key`'s open burst now: no part may join it any more, its first part stops waiting."""
        burst = self._open.pop(key, None)
        if burst is not None:
            burst.closed = True
            burst.arrived.set()

    def gathering(self, key: K) -> bool:
        """Whether a burst of `key` is open (a part arriving now joins it)."""
        return key in self._open

    def parts(self, key: K) -> int:
        """How many parts the open burst of `key` holds so far (0 when none is open)."""
        burst = self._open.get(key)
        return len(burst.parts) if burst is not None else 0

    async def gather(self, key: K, first: P) -> list[P]:
        """All parts of the burst `first` opened, in arrival order, once no part has come for the
        quiet window or the burst was closed; just `first` when it opened none."""
        burst = self._held.get(id(first))
        if burst is None or burst.parts[0] is not first:
            return [first]
        while not burst.closed and (deadline := burst.last + self.quiet) > self.clock.now():
            burst.arrived.clear()
            if not await self.clock.wait(burst.arrived, deadline):
                break  # quiet for the whole window: the burst is complete
            # else another part (the window starts again), or a close
        self._forget(key, first)  # a part arriving from now on starts a new burst
        return list(burst.parts)

    def drop(self, key: K, first: P) -> None:
        """Forget the burst `first` opened if its handling ended without gathering it (a group
        chat, a malformed event, a failure): later parts must not wait for ever."""
        self._forget(key, first)

    @asynccontextmanager
    async def held(self, key: K, first: P) -> AsyncIterator[None]:
        """Around an event's handling: `drop` whatever burst it opened and did not gather."""
        try:
            yield
        finally:
            self.drop(key, first)

    def _forget(self, key: K, first: P) -> None:
        burst = self._held.get(id(first))
        if burst is None or burst.parts[0] is not first:
            return
        del self._held[id(first)]
        if self._open.get(key) is burst:
            del self._open[key]
