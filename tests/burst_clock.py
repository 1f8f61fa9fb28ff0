"""A clock for handlers/bursts.py's quiet window that the test moves, instead of real seconds.

The channels wait `BURST_QUIET` (Zalo) or `ALBUM_QUIET` (Telegram) without a new photo before
they answer the photos sent together. Waiting that out for real made every photo in the suite
cost a second, and a test proving "sent together" depended on a loaded machine delivering the
parts inside the window. With this clock the test decides:

- by default the window has passed as soon as the first part's handling looks (a lone photo is
  answered at once, as it is after the real window);
- inside `async with clock.held():` no time passes, so every part that arrives meanwhile is
  "sent together", however slowly the machine delivers it; leaving the block lets the window
  pass, and the burst is answered as one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from handlers.bursts import BurstClock, Bursts


class HandClock(BurstClock):
    def __init__(self) -> None:
        self.t = 0.0
        self.holding = False
        self._moved = asyncio.Event()

    def now(self) -> float:
        return self.t

    async def wait(self, event: asyncio.Event, deadline: float) -> bool:
        while not event.is_set():
            if not self.holding:
                self.t = max(self.t, deadline)  # nothing holds the window open: it passes
            if self.t >= deadline:
                return False
            moved = self._moved
            waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(moved.wait())]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
        return True

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """No time passes inside: the parts arriving meanwhile are one burst."""
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
            self._moved.set()  # waiting gatherers look again: the window has passed
            self._moved = asyncio.Event()


def hand_clock(channel: object) -> HandClock:
    """The `HandClock` a channel's bursts (Zalo, Zalo OA) or albums (Telegram) wait on, put
    there on first use; call it before the first photo arrives."""
    albums = getattr(channel, "albums", None)
    bursts = albums.bursts if albums is not None else getattr(channel, "bursts", None)
    assert isinstance(bursts, Bursts), channel
    if not isinstance(bursts.clock, HandClock):
        bursts.clock = HandClock()
    assert isinstance(bursts.clock, HandClock)
    return bursts.clock
