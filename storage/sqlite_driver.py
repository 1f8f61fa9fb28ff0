"""SQLite under SQLAlchemy's asyncio extension without a thread hand-off for every step.

Why: aiosqlite runs each call of a statement (cursor, execute, fetch, close) on its worker
thread, a hand-off to it and back each time: 3 or 4 per statement, ~20 per answer, most of an
answer's cost (a raw sqlite3 transaction of the same shape takes 0.03 ms). This module gives
SQLAlchemy's own aiosqlite dialect (through `create_async_engine(..., async_creator=...)`, its
public way to supply the driver's connection) a connection of the same surface that works in
one of two ways, chosen per transaction:

- On the loop's thread ("inline"), for the hot path's short write transactions (`claim_writer`
  with `on_loop=True`, see handlers/runtime.py's docstring): no hand-off at all. Such a
  transaction holds SQLite's one write lock from BEGIN IMMEDIATE to COMMIT, and its statements
  are point reads and writes by key, so nothing in it waits on another connection; the BEGIN
  itself runs with busy_timeout=0, and when another connection or process holds the lock (a
  console import, a CLI) SQLite answers "busy" at once and the BEGIN is retried on the thread,
  under the usual busy timeout: the loop never waits for a lock.
- On the connection's own thread otherwise (reads outside a transaction, console queries, long
  exports, imports): one hand-off per statement, with its rows fetched in the same trip.

WAL checkpoints: SQLite's automatic checkpoint runs inside the COMMIT that crosses 1000 pages
of log, an fsync that would stall the loop; it is off on these connections, and a checkpoint
(PASSIVE: it never takes the write lock) runs on a thread of its own, on its own connection,
after every `CHECKPOINT_ROWS` rows written; the hot path's next BEGIN waits for it off the loop
(`Checkpointer.settled`), so the WAL is checkpointed to its end and started over. Durability
is unchanged: COMMIT writes the transaction to the WAL before returning, so a kill -9 loses
nothing committed (synchronous=NORMAL, as before).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
SQLITE_BUSY = 5
CHECKPOINT_ROWS = 1_000  # rows changed between checkpoints: 2,000-3,000 pages of WAL
CHECKPOINT_PASSES = 20
_CHECKPOINTS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-checkpoint")


def _busy(exc: sqlite3.Error) -> bool:
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == SQLITE_BUSY


class Checkpointer:
    """One per database file: counts rows written by its connections and runs a PASSIVE
    checkpoint on a thread of its own (and a connection of its own) when enough have been;
    rows written while one runs are checkpointed by the next, started as soon as it ends."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._rows = 0
        self._running = False
        self._pass: Future[None] | None = None

    def wrote(self, rows: int) -> None:
        with self._lock:
            self._rows += rows
            if self._rows < CHECKPOINT_ROWS or self._running:
                return
            self._rows, self._running = 0, True
        self._pass = _CHECKPOINTS.submit(self._run)

    async def settled(self) -> None:
        """Wait (off the loop) for a checkpoint under way. The hot path's next transaction waits
        for it, as SQLite's own checkpoint in the COMMIT would make it: a checkpoint can only
        reach the WAL's end between two transactions of its writer, and only a WAL checkpointed
        to its end is started over by the next writer (else it grows without end: 98 MB after
        5,000 answers while the checkpoint ran beside the transactions)."""
        running = self._pass
        if running is not None and not running.done():
            with contextlib.suppress(Exception):  # logged by `_checkpoint`; the answer goes on
                await asyncio.wrap_future(running)

    def _run(self) -> None:
        try:
            while True:
                self._checkpoint()
                with self._lock:
                    if self._rows < CHECKPOINT_ROWS:
                        return
                    self._rows = 0
        finally:
            with self._lock:
                self._running = False

    def _checkpoint(self) -> None:
        """PASSIVE passes until the WAL's every frame is in the database file (writers other than
        the hot path's may go on meanwhile: a pass never takes the write lock; each catches the
        few frames written during the one before)."""
        try:
            conn = sqlite3.connect(self._path, timeout=0, isolation_level=None)
            try:
                for _ in range(CHECKPOINT_PASSES):
                    _, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if copied >= frames:  # all of it (or not in WAL mode: -1, -1)
                        break
            finally:
                conn.close()
        except sqlite3.Error as exc:  # the next one will catch up
            log.warning("WAL checkpoint failed: %s", type(exc).__name__)


class Cursor:
    """A cursor whose `execute` also fetches the rows, in the same trip (or none, inline)."""

    def __init__(self, owner: Connection) -> None:
        self._owner = owner
        self._cursor = owner.sqlite.cursor()
        self._rows: collections.deque[Any] = collections.deque()
        self.arraysize = 1

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    def _execute(self, sql: str, parameters: Any) -> list[Any]:
        self._cursor.execute(sql, parameters)
        return self._cursor.fetchall() if self._cursor.description else []

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        self._rows = collections.deque(await self._owner.run(self._execute, sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Any) -> Cursor:
        await self._owner.run(self._cursor.executemany, sql, parameters)
        self._rows.clear()
        return self

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        rows = self._rows
        return [rows.popleft() for _ in range(min(size or self.arraysize, len(rows)))]

    async def fetchall(self) -> Sequence[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        self._rows.clear()
        self._cursor.close()  # nothing to wait for: the rows were read already

    async def setinputsizes(self, *_: Any) -> None:
        return None

    async def nextset(self) -> None:
        return None


class Connection:
    """The part of aiosqlite's Connection that SQLAlchemy's aiosqlite dialect calls."""

    def __init__(
        self, conn: sqlite3.Connection, executor: ThreadPoolExecutor, checkpoints: Checkpointer | None
    ) -> None:
        self.sqlite = conn
        # The dialect reads `_connection` (aiosqlite's name) to see whether the connection is
        # still open before a commit or rollback.
        self._connection: sqlite3.Connection | None = conn
        self._executor = executor
        self._checkpoints = checkpoints
        self._changes = conn.total_changes
        self._busy_ms = BUSY_TIMEOUT_MS
        self.inline = False  # this transaction's statements run on the loop's thread

    # --- how a call runs -------------------------------------------------------------------

    def _set_busy(self, ms: int) -> None:
        if self._busy_ms != ms:
            self.sqlite.execute(f"PRAGMA busy_timeout={ms}")
            self._busy_ms = ms

    def _patiently(self, fn: Callable[..., T], *args: Any) -> T:
        self._set_busy(BUSY_TIMEOUT_MS)
        return fn(*args)

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        if self._connection is None:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._patiently, fn, *args)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if not self.inline:
            return await self._in_thread(fn, *args)
        if self._checkpoints is not None and not self.sqlite.in_transaction:
            await self._checkpoints.settled()  # before the BEGIN (see `Checkpointer.settled`)
        self._set_busy(0)
        try:
            return fn(*args)
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
        # Another connection holds the lock: wait for it on the thread, the loop goes on.
        return await self._in_thread(fn, *args)

    async def begin_immediate_inline(self) -> None:
        """BEGIN IMMEDIATE for a transaction that runs on the loop's thread, until its COMMIT or
        ROLLBACK (waiting on the thread for a lock another connection holds, as `run` does)."""
        self.inline = True
        await self.run(self.sqlite.execute, "BEGIN IMMEDIATE")

    # --- the surface the dialect uses ------------------------------------------------------

    def cursor(self) -> Cursor:
        return Cursor(self)

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        cursor = self.cursor()
        return await cursor.execute(sql, parameters)

    async def commit(self) -> None:
        if not self.sqlite.in_transaction:  # reads only (autocommit): nothing to send anywhere
            self.inline = False
            return
        try:
            await self.run(self.sqlite.commit)
        finally:
            self.inline = False
        if self._checkpoints is not None:
            changes = self.sqlite.total_changes
            self._checkpoints.wrote(changes - self._changes)
            self._changes = changes

    async def rollback(self) -> None:
        if not self.sqlite.in_transaction:  # the pool's reset after a COMMIT, mostly
            self.inline = False
            return
        try:
            await self.run(self.sqlite.rollback)
        finally:
            self.inline = False

    async def close(self) -> None:
        if self._connection is None:
            return
        self.inline = False
        try:
            await self._in_thread(self.sqlite.close)
        finally:
            self._connection = None
            self._executor.shutdown(wait=False)

    def stop(self) -> None:
        """Close without waiting (the dialect's terminate, when a graceful close failed)."""
        if self._connection is not None:
            self._connection = None
            self._executor.submit(self.sqlite.close)
            self._executor.shutdown(wait=False)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        await self._in_thread(functools.partial(self.sqlite.create_function, *args, **kwargs))

    @property
    def isolation_level(self) -> str | None:
        return self.sqlite.isolation_level

    @property
    def in_transaction(self) -> bool:
        return self.sqlite.in_transaction


def connector(path: str, pragmas: Sequence[str]) -> Callable[[], Any]:
    """The `async_creator` for a database file: each connection opened on its own thread with
    `pragmas` run, automatic checkpoints off (`Checkpointer` instead)."""
    checkpoints = Checkpointer(path) if path and path != ":memory:" else None

    def open_conn() -> sqlite3.Connection:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            for pragma in (*pragmas, "PRAGMA wal_autocheckpoint=0" if checkpoints else ""):
                if pragma:
                    conn.execute(pragma).fetchall()
        except BaseException:
            conn.close()
            raise
        return conn

    async def create() -> Connection:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        try:
            conn = await asyncio.get_running_loop().run_in_executor(executor, open_conn)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return Connection(conn, executor, checkpoints)

    return create
