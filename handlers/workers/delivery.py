"""The delivery worker: drains the outbox under each channel's limits, and survives being killed.

One loop per channel with a sender. Each loop claims a small batch of due rows (personal
messages before broadcasts), then sends them one by one through two limits:
- overall: sends are spaced evenly at `per_second × safety` (Telegram: 30/s × 0.97). Even spacing
  rather than a bucket with a burst, because Telegram counts any one-second window: a burst of 30
  followed by the steady rate would cross it, and jitter on the way is absorbed by the 3 % margin;
- per chat: at most one message per `chat_interval` (Telegram: 1 s) to one chat; a row whose chat
  is not free soon goes back to the table with `not_before` set to when it will be, and the loop
  goes on with other chats.
A 429 pauses that channel's loop for `retry_after` and puts the row back for then; 403 "blocked"
/ "deactivated" marks the identity unreachable with the reason (later rows to it are not even
tried); transient errors are retried with exponential backoff up to `max_attempts`, then the row
is failed with the last reason. Sends run concurrently (up to `in_flight`) so latency does not eat
into the rate.

Crash safety. A row is `claimed` (committed) before anything is sent and `sending` (committed)
right before its request goes out; the result is committed after the answer. Killed at any
moment, a restart finds: claimed rows (never sent: handed out again), sending rows (the request
was out and its answer never recorded). No platform lets us ask whether such a request arrived,
so exactly-once is impossible there; those rows, at most `in_flight` of them per channel, are sent
again (at least once, because a missed deadline costs a facility more than a repeated line) and
marked `doubtful`, and the broadcast report counts them. On SQLite the one process takes every
such row back at start; on PostgreSQL, where workers run side by side, only rows whose lease
ran out (their worker is gone).

Time comes from an injected `Timebase` (clock.py: wall clock for the database, monotonic clock and
sleep for pacing), so tests run a broadcast of thousands in virtual time, with no real waiting.
The limits and the spacing they give are in pacing.py; this module decides what a row becomes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.i18n import translator
from conversations.messages import Outgoing
from conversations.outreach.render import render_payload
from conversations.outreach.window import SendingWindow
from handlers import senders
from handlers.runtime import log_failure
from handlers.workers.clock import RealTime, Timebase, pause
from handlers.workers.pacing import DEFAULT_LIMITS, ChannelLimits, ChannelState
from storage import outbox
from storage.models import Identity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliverySettings:
    claim_seconds: float = 2.0  # claim what the channel can send in this long
    lease: timedelta = timedelta(seconds=90)
    max_attempts: int = 5  # transient failures before a row is failed
    max_rate_limited: int = 20  # 429s on one row before it is failed (a stuck flood wait)
    backoff_base: float = 15.0  # seconds; doubles per attempt
    backoff_cap: float = 900.0
    idle_poll: float = 1.0  # seconds between looks at an empty outbox
    chat_lookahead: float = 0.5  # a chat free within this long is waited for in place
    window: SendingWindow = field(default_factory=SendingWindow)


class DeliveryWorker:
    """Drains the outbox. `start()`/`stop()` run it in the background; `drain()` runs it until
    nothing is due (tests and benchmarks)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        senders_by_channel: Mapping[str, senders.Sender],
        *,
        clock: Timebase | None = None,
        limits: Mapping[str, ChannelLimits] | None = None,
        settings: DeliverySettings | None = None,
        render: Callable[[dict[str, Any], Any], list[Outgoing]] = render_payload,
        single_process: bool = True,
        worker_id: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.senders = senders_by_channel  # read at start: channels may register after us
        self.clock = clock or RealTime()
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.settings = settings or DeliverySettings()
        self.render = render
        self.single_process = single_process
        self.worker_id = worker_id or uuid.uuid4().hex[:12]
        self.stats: Counter[str] = Counter()
        self._channels: dict[str, ChannelState] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False
        self._stopped = asyncio.Event()  # set by stop(): every wait ends at once
        self._recovered = False

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.recover()
        for name in self._channel_names():
            self._loops.append(asyncio.create_task(self._loop(name), name=f"delivery:{name}"))

    async def stop(self) -> None:
        """Stop claiming, let requests already out finish (their answers are recorded), and
        hand back what was claimed but not started."""
        self._stopping = True
        self._stopped.set()
        if self._loops:
            # Each loop finishes the message in hand and hands the rest of its batch back.
            _, late = await asyncio.wait(self._loops, timeout=10)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops.clear()
        for channel in self._channels.values():
            if channel.tasks:
                await asyncio.wait(channel.tasks, timeout=30)
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(outbox.OutboxMessage)
                .where(
                    outbox.OutboxMessage.status == "claimed",
                    outbox.OutboxMessage.claimed_by == self.worker_id,
                )
                .values(status="pending", claimed_by=None, lease_until=None)
            )

    async def recover(self) -> tuple[int, int]:
        async with self.sessions() as session, session.begin():
            released, doubtful = await outbox.recover(
                session, self.clock.now(), all_workers_dead=self.single_process and not self._recovered
            )
        self._recovered = True
        if released or doubtful:
            log.warning(
                "delivery: took back %d claimed and %d in-doubt rows of a stopped worker", released, doubtful
            )
        self.stats["doubtful"] += doubtful
        return released, doubtful

    def _channel_names(self) -> list[str]:
        return [name for name in self.senders if name in self.limits]

    def _channel(self, name: str) -> ChannelState:
        channel = self._channels.get(name)
        if channel is None:
            channel = self._channels[name] = ChannelState(
                name, self.senders[name], self.limits[name], self.clock
            )
        return channel

    async def _loop(self, name: str) -> None:
        last_recovery = self.clock.monotonic()
        while not self._stopping:
            try:
                claimed = await self.pump(name)
                if not self.single_process and self.clock.monotonic() - last_recovery > 60:
                    last_recovery = self.clock.monotonic()
                    await self.recover()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log_failure(log, f"delivery: the {name} loop", exc, note="; going on")
                claimed = 0
            if not claimed:
                await self._pause(self.settings.idle_poll)

    async def _pause(self, seconds: float) -> None:
        await pause(self.clock, self._stopped, seconds)

    async def drain(
        self,
        channels: list[str] | None = None,
        *,
        follow: bool = True,
        limit: float = 3600.0,
        max_batches: int | None = None,
    ) -> None:
        """Send until nothing is due. With `follow`, also wait (on the injected clock) for rows
        due later (retries, a chat's next slot, a 429) until none is pending, up to `limit` s;
        `max_batches` stops after that many claims (a test looking at a broadcast midway)."""
        if not self._recovered:
            await self.recover()
        names = channels or self._channel_names()
        deadline = self.clock.monotonic() + limit
        batches = 0
        while True:
            busy = 0
            for name in names:
                busy += await self.pump(name)
            await self._settle(names)
            batches += 1
            if max_batches is not None and batches >= max_batches:
                return
            if busy:
                continue
            if not follow or self.clock.monotonic() > deadline:
                return
            wake = await self._next_due(names)
            if wake is None:
                return
            await self.clock.sleep(max((wake - self.clock.now()).total_seconds(), 0.001))

    async def _settle(self, names: list[str]) -> None:
        for name in names:
            channel = self._channels.get(name)
            if channel is not None and channel.tasks:
                await asyncio.gather(*list(channel.tasks), return_exceptions=True)

    async def _next_due(self, names: list[str]) -> datetime | None:
        async with self.sessions() as session:
            dues = [await outbox.next_due(session, name) for name in names]
        known = [d for d in dues if d is not None]
        return min(known) if known else None

    # --- one batch ---------------------------------------------------------------------------

    async def pump(self, name: str) -> int:
        """Claim one batch of a channel's due rows and start sending them; how many were claimed."""
        channel = self._channel(name)
        wait = channel.paused_until - self.clock.monotonic()
        if wait > 0:
            await self._pause(wait)
            if self._stopping:
                return 0
        limits = channel.limits
        batch = max(10, int(limits.per_second * self.settings.claim_seconds))
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            rows = await outbox.claim(
                session,
                channel=name,
                worker=self.worker_id,
                now=now,
                lease_until=now + self.settings.lease,
                limit=batch,
            )
            ready = await self._sort(session, channel, rows, now)
        for index, (row, outs) in enumerate(ready):
            if channel.paused_until > self.clock.monotonic() or self._stopping:
                # A 429 arrived meanwhile (the rest waits for the pause to end), or we are stopping.
                await self._release_rest(channel, [r for r, _ in ready[index:]])
                break
            await self._dispatch(channel, row, outs)
        channel.prune(self.clock.monotonic())
        return len(rows)

    async def _sort(
        self, session: AsyncSession, channel: ChannelState, rows: list[outbox.Claimed], now: datetime
    ) -> list[tuple[outbox.Claimed, list[Outgoing]]]:
        """Settle in the claim's transaction the rows that need no request (unreachable, opted
        out, outside the window, chat busy); return the rest with their rendered messages."""
        window = self.settings.window
        mono = self.clock.monotonic()
        ready: list[tuple[outbox.Claimed, list[Outgoing]]] = []
        planned: dict[str, float] = {}
        for row in rows:
            payload = row.payload
            if not row.reachable:
                await outbox.finish(
                    session, row.id, "unreachable", error="the recipient was unreachable already"
                )
                self.stats["unreachable"] += 1
                continue
            if payload.get("announcement") and not row.opted_in:
                await outbox.finish(session, row.id, "skipped", error="opted out of announcements")
                self.stats["skipped"] += 1
                continue
            if payload.get("quiet") and not window.contains(now):
                await outbox.release(
                    session, [row.id], not_before=window.next_open(now), worker=self.worker_id
                )
                continue
            try:
                outs = self.render(payload, translator(row.locale))
            except Exception as exc:
                log.error("delivery: outbox row %s cannot be rendered: %s", row.id, type(exc).__name__)
                await outbox.finish(session, row.id, "failed", error=f"cannot render: {type(exc).__name__}")
                self.stats["failed"] += 1
                continue
            if not outs:
                await outbox.finish(session, row.id, "skipped", error="nothing to send")
                continue
            free = max(channel.chat_free.get(row.external_id, 0.0), planned.get(row.external_id, 0.0))
            if free > mono + self.settings.chat_lookahead:
                later = now + timedelta(seconds=free - mono)
                await outbox.release(session, [row.id], not_before=later, worker=self.worker_id)
                self.stats["chat_deferred"] += 1
                continue
            planned[row.external_id] = max(free, mono) + channel.chat_gap * len(outs)
            ready.append((row, outs))
        return ready

    async def _dispatch(self, channel: ChannelState, row: outbox.Claimed, outs: list[Outgoing]) -> None:
        """Wait for a free slot, the channel's next send time and the chat's, mark the row
        `sending` and start the request at once, so what the platform sees keeps our spacing."""
        await channel.slots.acquire()
        try:
            free = channel.chat_free.get(row.external_id, 0.0)
            if free > self.clock.monotonic():
                await self.clock.sleep(free - self.clock.monotonic())
            # The row is marked first and the channel's slot taken after, so a slow database
            # write delays the slot rather than pushing two requests out together.
            async with self.sessions() as session, session.begin():
                go = await outbox.mark_sending(
                    session, row.id, self.worker_id, self.clock.now() + self.settings.lease
                )
            if go:
                await channel.pacer.acquire(len(outs))
            now = self.clock.monotonic()
        except BaseException:
            channel.slots.release()
            raise
        if not go:  # paused or cancelled since the claim
            channel.slots.release()
            return
        channel.chat_free[row.external_id] = now + channel.chat_gap * len(outs)
        task = asyncio.create_task(self._send(channel, row, outs))
        channel.tasks.add(task)
        task.add_done_callback(channel.tasks.discard)

    async def _release_rest(self, channel: ChannelState, rows: list[outbox.Claimed]) -> None:
        later = self.clock.now() + timedelta(seconds=max(channel.paused_until - self.clock.monotonic(), 0))
        async with self.sessions() as session, session.begin():
            await outbox.release(session, [r.id for r in rows], not_before=later, worker=self.worker_id)

    # --- one message -------------------------------------------------------------------------

    async def _send(self, channel: ChannelState, row: outbox.Claimed, outs: list[Outgoing]) -> None:
        try:
            await self._send_inner(channel, row, outs)
        except Exception as exc:
            log_failure(log, f"delivery: recording the result of outbox row {row.id}", exc)
        finally:
            channel.slots.release()

    async def _send_inner(self, channel: ChannelState, row: outbox.Claimed, outs: list[Outgoing]) -> None:
        settings = self.settings
        attempt = row.attempts + 1
        outcome: tuple[str, str | None] = ("sent", None)
        retry_in: float | None = None
        try:
            if isinstance(channel.sender, senders.RowSender):
                await channel.sender.send_row(row, outs)
            else:
                await channel.sender.send(row.external_id, outs)
        except senders.Later as exc:
            retry_in = max((exc.not_before - self.clock.now()).total_seconds(), 0.0)
            outcome = ("pending", exc.reason[:200])
        except senders.Skipped as exc:
            outcome = ("skipped", exc.reason[:200])
        except senders.RetryAfter as exc:
            self.stats["rate_limited"] += 1
            channel.paused_until = max(channel.paused_until, self.clock.monotonic() + exc.seconds)
            channel.pacer.hold(channel.paused_until)
            if attempt >= settings.max_rate_limited:
                outcome = ("failed", f"rate limited {attempt} times")
            else:
                retry_in, outcome = exc.seconds, ("pending", f"429: retry after {exc.seconds:g}s")
        except senders.Unreachable as exc:
            outcome = ("unreachable", exc.reason[:200])
        except senders.Transient as exc:
            outcome, retry_in = self._transient(attempt, str(exc) or type(exc).__name__)
        except senders.SendError as exc:
            outcome = ("failed", str(exc)[:500] or type(exc).__name__)
        except Exception as exc:  # a sender bug or a network error it did not classify: transient
            outcome, retry_in = self._transient(attempt, type(exc).__name__)
        status, error = outcome
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            if status == "pending":
                assert retry_in is not None
                await outbox.release(
                    session,
                    [row.id],
                    not_before=now + timedelta(seconds=retry_in),
                    error=error,
                    worker=self.worker_id,
                )
            else:
                await outbox.finish(
                    session, row.id, status, error=error, sent_at=now if status == "sent" else None
                )
            if status == "unreachable":
                await session.execute(
                    update(Identity)
                    .where(Identity.id == row.identity_id)
                    .values(reachable=False, unreachable_reason=(error or "")[:200])
                )
        self.stats[status if status != "pending" else "retried"] += 1

    def _transient(self, attempt: int, reason: str) -> tuple[tuple[str, str | None], float | None]:
        settings = self.settings
        if attempt >= settings.max_attempts:
            return ("failed", f"gave up after {attempt} attempts: {reason}"[:500]), None
        delay = min(settings.backoff_base * 2 ** (attempt - 1), settings.backoff_cap)
        return ("pending", f"attempt {attempt} failed: {reason}"[:500]), delay


# --- the component -----------------------------------------------------------------------------


class DeliveryContext(Protocol):
    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]: ...
    @property
    def senders(self) -> dict[str, Any]: ...
    @property
    def config(self) -> Any: ...


class _WorkerComponent:
    def __init__(self, context: DeliveryContext) -> None:
        self.context = context
        self.worker: DeliveryWorker | None = None

    def attach_routes(self, app: Any) -> None:
        """No routes."""

    async def start(self) -> None:
        from storage.db import is_postgres

        config = self.context.config
        self.worker = DeliveryWorker(
            self.context.sessions,
            self.context.senders,
            settings=DeliverySettings(window=SendingWindow(timezone=config.timezone)),
            single_process=not is_postgres(config.database_url),
        )
        await self.worker.start()

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()


def delivery_component(context: DeliveryContext) -> _WorkerComponent:
    """The factory for bot.components.FACTORIES: always on; it sends through whatever senders
    the channels registered (read when it starts, after every factory ran)."""
    return _WorkerComponent(context)
