"""One Telegram user's updates in order, different users side by side.

PTB runs updates concurrently when asked (`concurrent_updates`), with no notion of whose update
it is; a quick tap-then-type from one person must still be handled, and answered, in the order it
was sent. This processor takes the runtime's per-user turn (handlers/runtime.py, the one place
ordering is decided for every channel) around PTB's handling, replies included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from conversations.messages import TELEGRAM
from handlers.runtime import Runtime

# Updates handled at once (different users); each mostly waits on Telegram's answers. A tap makes
# up to three requests at once (answer, edit, reply), so this stays well inside the connection pool.
MAX_RUNNING = 128
MAX_WAITING = 10_000  # updates PTB may hold (waiting for their user's turn) before it stops fetching


class PerUserProcessor(BaseUpdateProcessor):
    """One user's updates one at a time and in arrival order; different users side by side, at
    most `max_running` at once.

    PTB's own semaphore (taken before `do_process_update`) is set high so that a user with a
    backlog waits on their own lock without holding a slot other users need.
    """

    def __init__(self, runtime: Runtime, max_running: int = MAX_RUNNING) -> None:
        super().__init__(max_concurrent_updates=MAX_WAITING)
        self._runtime = runtime
        self._max_running = max_running
        self._running: asyncio.Semaphore | None = None

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if self._running is None:
            self._running = asyncio.Semaphore(self._max_running)
        user = update.effective_user if isinstance(update, Update) else None
        if user is None:
            async with self._running:
                await coroutine
            return
        async with self._runtime.turn(TELEGRAM, str(user.id)), self._running:
            await coroutine

    async def initialize(self) -> None:
        self._running = asyncio.Semaphore(self._max_running)

    async def shutdown(self) -> None:
        """Nothing to free."""
