"""How fast the delivery worker may send on each channel, and the even spacing that keeps it there.

Even spacing rather than a bucket with a burst, because Telegram counts any one-second window: a
burst of 30 followed by the steady rate would cross it; the `safety` margin absorbs jitter on the
way. The same margin separates two messages to one chat.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from conversations.messages import TELEGRAM, WEB, ZALO, ZALO_OA
from handlers import senders
from handlers.workers.clock import Timebase


@dataclass(frozen=True)
class ChannelLimits:
    per_second: float
    chat_interval: float
    # The fraction of the platform's limit we aim at: network jitter must not push us over it.
    safety: float = 0.97
    in_flight: int = 16


# The Zalo Bot Platform publishes no rate limits: start low and measure.
DEFAULT_LIMITS: dict[str, ChannelLimits] = {
    TELEGRAM: ChannelLimits(per_second=30.0, chat_interval=1.0),
    ZALO: ChannelLimits(per_second=5.0, chat_interval=1.0),
    # Zalo OA: no published rate; ZNS is paced again in its sender.
    ZALO_OA: ChannelLimits(per_second=2.0, chat_interval=1.0, in_flight=4),
    WEB: ChannelLimits(per_second=200.0, chat_interval=0.0),
}


class Pacer:
    """Even spacing: every message gets its own slot `1 / rate` after the previous one."""

    def __init__(self, rate: float, clock: Timebase) -> None:
        self.interval = 1.0 / rate
        self.clock = clock
        self.next_slot = 0.0

    async def acquire(self, messages: int = 1) -> None:
        now = self.clock.monotonic()
        slot = max(now, self.next_slot)
        self.next_slot = slot + self.interval * messages
        if slot > now:
            await self.clock.sleep(slot - now)

    def hold(self, until: float) -> None:
        self.next_slot = max(self.next_slot, until)


class ChannelState:
    """One channel's loop state: its sender, pacer, chats' next free times, in-flight sends."""

    def __init__(self, name: str, sender: senders.Sender, limits: ChannelLimits, clock: Timebase) -> None:
        self.name = name
        self.sender = sender
        self.limits = limits
        self.pacer = Pacer(limits.per_second * limits.safety, clock)
        # The same margin between two messages to one chat (arrival jitter must not cross 1 s).
        self.chat_gap = limits.chat_interval / limits.safety
        self.chat_free: dict[str, float] = {}
        self.paused_until = 0.0
        self.slots = asyncio.Semaphore(limits.in_flight)
        self.tasks: set[asyncio.Task[None]] = set()

    def prune(self, now: float) -> None:
        if len(self.chat_free) > 50_000:
            self.chat_free = {k: v for k, v in self.chat_free.items() if v > now}
