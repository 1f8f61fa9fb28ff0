"""The workers' time, injected: tests and benchmarks run hours of outbox traffic or reminder
sweeps in virtual time, and a stopping worker wakes at once instead of after its poll interval."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Timebase(Protocol):
    def now(self) -> datetime: ...
    def monotonic(self) -> float: ...
    async def sleep(self, seconds: float) -> None: ...


async def pause(clock: Timebase, stopped: asyncio.Event, seconds: float) -> None:
    """The injected clock's sleep, cut short when `stopped` is set: a worker waiting for work
    stops at once instead of after its poll interval."""
    if stopped.is_set():
        return
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    stopper = asyncio.ensure_future(stopped.wait())
    try:
        await asyncio.wait((sleeper, stopper), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, stopper):
            task.cancel()
        await asyncio.gather(sleeper, stopper, return_exceptions=True)


class RealTime:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
