"""The outreach scheduler: the reminder sweep and the broadcasts' progress messages, on a timer.

On PostgreSQL only the worker holding an advisory lock runs it (README, "Deployment"); the others
keep trying and take over when the holder goes. The delivery worker (handlers/workers/delivery.py) sends
what it queues.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.outreach import progress, reminders
from conversations.outreach.window import SendingWindow
from handlers import senders
from handlers.runtime import log_failure
from handlers.workers.clock import RealTime, Timebase, pause
from handlers.workers.delivery import DeliveryContext

log = logging.getLogger(__name__)

ADVISORY_LOCK_KEY = 7_240_515  # any constant shared by every worker of a deployment
STOP_GRACE = 10.0  # seconds stop() lets a tick in hand finish before cancelling it


class OutreachScheduler:
    """Every `sweep_every` the reminder sweep; every `progress_every` the broadcasts' progress
    messages. On PostgreSQL only the worker holding an advisory lock does this (README, "Deployment"):
    the others keep trying, and take over when the holder's connection goes."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        senders_by_channel: Mapping[str, senders.Sender],
        *,
        clock: Timebase | None = None,
        reminder_settings: reminders.ReminderSettings | None = None,
        postgres: bool = False,
        sweep_every: float = 60.0,
        progress_every: float = 3.0,
    ) -> None:
        self.sessions = sessions
        self.senders = senders_by_channel
        self.clock = clock or RealTime()
        self.reminder_settings = reminder_settings or reminders.ReminderSettings()
        self.postgres = postgres
        self.sweep_every = sweep_every
        self.progress_every = progress_every
        self._task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self._lock_conn: Any = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outreach-scheduler")

    async def stop(self) -> None:
        """Wake the loop and let it finish the tick in hand (a sweep is not cut midway)."""
        self._stopped.set()
        if self._task is not None:
            _, late = await asyncio.wait({self._task}, timeout=STOP_GRACE)
            for task in late:
                task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._lock_conn is not None:
            from sqlalchemy import text

            # The lock belongs to the database session, and a closed connection only goes back to
            # the pool: let go of it explicitly so another worker takes over at once.
            try:
                await self._lock_conn.execute(text("select pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
                await self._lock_conn.commit()
            finally:
                await self._lock_conn.close()
                self._lock_conn = None

    async def _leader(self) -> bool:
        if not self.postgres:
            return True
        from sqlalchemy import text

        if self._lock_conn is not None:
            try:
                await self._lock_conn.execute(text("select 1"))
                return True
            except Exception:
                self._lock_conn = None
        engine = self.sessions.kw["bind"]
        conn = await engine.connect()
        got = (await conn.execute(text("select pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})).scalar()
        await conn.commit()
        if got:
            self._lock_conn = conn
            return True
        await conn.close()
        return False

    async def _run(self) -> None:
        last_sweep = -1e18
        while not self._stopped.is_set():
            try:
                if await self._leader():
                    if self.clock.monotonic() - last_sweep >= self.sweep_every:
                        last_sweep = self.clock.monotonic()
                        await self.sweep()
                    await self.show_progress()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log_failure(log, "outreach scheduler: a tick", exc, note="; going on")
            await self._pause(self.progress_every)

    async def _pause(self, seconds: float) -> None:
        await pause(self.clock, self._stopped, seconds)

    async def sweep(self) -> reminders.SweepResult:
        result = await reminders.sweep(self.sessions, self.clock.now(), self.reminder_settings)
        if result.fired or result.skipped or result.planned:
            log.info(
                "reminders: planned %d, fired %d (%d messages), re-planned %d, skipped %d",
                result.planned, result.fired, result.queued, result.replanned, result.skipped,
            )  # fmt: skip
        return result

    async def show_progress(self) -> None:
        """Send or edit each running broadcast's progress message, and the reports at the end."""
        now = self.clock.now()

        def can_edit(channel: str) -> bool:
            return isinstance(self.senders.get(channel), senders.Editor)

        async with self.sessions() as session, session.begin():
            updates = await progress.progress_updates(
                session, now, tz=self.reminder_settings.window.timezone, can_edit=can_edit
            )
        for shown in updates:
            sender = self.senders.get(shown.channel)
            if sender is None:
                continue
            ref: str | None = None
            try:
                if shown.edit_ref is not None and isinstance(sender, senders.Editor):
                    await sender.edit(shown.external_id, shown.edit_ref, shown.message)
                else:
                    refs = await sender.send(shown.external_id, [shown.message])
                    ref = refs[0] if isinstance(refs, list) and refs else None
            except Exception as exc:
                log.warning("broadcast %s: progress not shown (%s)", shown.broadcast_id, type(exc).__name__)
                continue
            async with self.sessions() as session, session.begin():
                await progress.record_shown(session, shown, ref, now)


class _SchedulerComponent:
    def __init__(self, context: DeliveryContext) -> None:
        self.context = context
        self.scheduler: OutreachScheduler | None = None

    def attach_routes(self, app: Any) -> None:
        """No routes."""

    async def start(self) -> None:
        from storage.db import is_postgres

        config = self.context.config
        window = SendingWindow(timezone=config.timezone)
        self.scheduler = OutreachScheduler(
            self.context.sessions,
            self.context.senders,
            reminder_settings=reminders.ReminderSettings(window=window),
            postgres=is_postgres(config.database_url),
        )
        await self.scheduler.start()

    async def stop(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.stop()


def scheduler_component(context: DeliveryContext) -> _SchedulerComponent:
    """The factory for bot.components.FACTORIES: the reminder sweep and broadcast progress,
    always on (on PostgreSQL, active in one worker at a time)."""
    return _SchedulerComponent(context)
