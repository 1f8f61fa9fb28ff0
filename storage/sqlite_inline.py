"""SQLite statements of a transaction that holds the write lock run on the event loop's thread.

aiosqlite runs every call in a worker thread: each statement costs several thread hand-offs
(cursor, execute, fetch, close), and on a busy machine every hand-off waits for the scheduler
to wake that thread. Measured on the update path, those hand-offs were most of its time, while
SQLite itself needs tens of microseconds for the same work.

Running a statement inline is safe only when it cannot wait for a lock: a connection inside a
transaction begun with BEGIN IMMEDIATE holds SQLite's write lock, and in WAL mode neither reads
nor writes then wait for anyone. So `storage.db` marks a connection inline right after its BEGIN
IMMEDIATE succeeded (taken, as before, in the worker thread under busy_timeout, so waiting for
another writer never blocks the loop) and unmarks it before COMMIT or ROLLBACK, which go through
the worker thread again (a commit may checkpoint the WAL, with an fsync). Durability is
unchanged: the same statements on the same connection with the same pragmas, committed the same
way; only the thread that calls sqlite3 differs, never two at once (each call is awaited).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite


class InlineConnection(aiosqlite.Connection):
    """aiosqlite's connection, with calls made directly while `inline` is set."""

    inline = False

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.inline and self._connection is not None:
            return fn(*args, **kwargs)
        return await super()._execute(fn, *args, **kwargs)


def open_connection(database: str, **kwargs: Any) -> InlineConnection:
    """What aiosqlite.connect does, with our connection class (awaited by SQLAlchemy's dialect)."""
    connection = InlineConnection(lambda: sqlite3.connect(database, **kwargs), iter_chunk_size=64)
    connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connections
    return connection


def set_inline(dbapi_connection: Any, inline: bool) -> None:
    """`dbapi_connection`: SQLAlchemy's adapter around our aiosqlite connection."""
    driver = getattr(dbapi_connection, "_connection", None)
    if isinstance(driver, InlineConnection):
        driver.inline = inline
