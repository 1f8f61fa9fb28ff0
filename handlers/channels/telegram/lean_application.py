"""python-telegram-bot's Application, without the one thing it keeps per user for ever.

After every update PTB adds the update's user id and chat id to two sets of ids "to be updated in
persistence", and only a persistence run empties them. We run without PTB persistence (the
conversation lives in our database: adapter.py's docstring), so nothing ever does: each distinct
Telegram user costs the process about 150 bytes for as long as it runs (measured: 100,000 users,
14.8 MB), which over a season of a national deployment is tens of megabytes that are never used.
The adapter builds its Application with `ApplicationBuilder().application_class(LeanApplication)`.

The method replaced is PTB's private `_mark_for_persistence_update` (PTB 22); a test
(tests/test_bounded_memory.py) reads the sets themselves, so a PTB that renames either fails it
instead of quietly growing again.
"""

from __future__ import annotations

from typing import Any

from telegram.ext import Application


class LeanApplication(Application[Any, Any, Any, Any, Any, Any]):
    def _mark_for_persistence_update(self, *, update: object | None = None, job: Any = None) -> None:
        if self.persistence is not None:  # with persistence, PTB's own bookkeeping is needed
            super()._mark_for_persistence_update(update=update, job=job)
