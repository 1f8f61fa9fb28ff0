"""Engines and sessions for SQLite (the embedded default) and PostgreSQL.

SQLite is tuned for a chatbot's many small writes: WAL so readers never wait for the writer, a
busy timeout so two writers queue instead of failing, foreign keys on; its connections come from
storage/sqlite_driver.py, which runs the hot path's transactions on the loop's thread.

PostgreSQL's pooled connections are checked only when they sat idle (`PING_AFTER_IDLE`), not at
every checkout: SQLAlchemy's `pool_pre_ping` on asyncpg is three round trips (BEGIN, ";",
ROLLBACK) before every transaction, as many as the rest of a group commit's batch together. A
connection busy a moment ago is alive or was dropped mid-work, which a ping could not have
foreseen either; the hot path retries a transaction that a dropped connection broke before its
COMMIT (`dropped`, handlers/group_commit.py). After a database restart the first error marks
every older pooled connection stale, so the pool opens new ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql import Executable
from sqlalchemy.util import await_

from storage import sqlite_driver

SQLITE_BUSY_TIMEOUT_MS = sqlite_driver.BUSY_TIMEOUT_MS
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA foreign_keys=ON", "PRAGMA synchronous=NORMAL")
IMMEDIATE = "kc_sqlite_immediate"
ON_LOOP = "kc_sqlite_on_loop"
PING_AFTER_IDLE = 2.0  # seconds in the pool after which a PostgreSQL connection is pinged at checkout
_CHECKED_IN = "kc_checked_in"  # connection record info: when it went back to the pool


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def _ensure_sqlite_dir(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    if is_sqlite(url):
        _ensure_sqlite_dir(url)
        # hide_parameters: a database error never puts a phone number or a name into a log line.
        engine = create_async_engine(
            url,
            echo=echo,
            hide_parameters=True,
            async_creator=sqlite_driver.connector(make_url(url).database or "", SQLITE_PRAGMAS),
        )

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Connection) -> None:
            # Otherwise the driver's own behaviour: reads in autocommit, BEGIN before the first
            # write, which then waits for the lock under busy_timeout.
            options = conn.get_execution_options()
            if options.get(IMMEDIATE, False):
                driver = conn.connection.driver_connection
                if options.get(ON_LOOP, False) and isinstance(driver, sqlite_driver.Connection):
                    # Straight to the driver: the hot path's BEGIN without a statement's trip
                    # through SQLAlchemy's execution (0.1 ms of an answer given alone).
                    await_(driver.begin_immediate_inline())
                    return
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_async_engine(url, echo=echo, hide_parameters=True, pool_size=20, max_overflow=0)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: AsyncEngine) -> None:
    """`pool_pre_ping` for connections idle longer than PING_AFTER_IDLE only (module docstring)."""
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _checkin(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        since = record.info.get(_CHECKED_IN)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return  # new, or in use a moment ago
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool drops this connection and checks out another (SQLAlchemy's own recipe).
            raise DisconnectionError() from exc
        if not alive:
            raise DisconnectionError()


def dropped(exc: BaseException) -> bool:
    """The database connection broke under the statement (a restart, a terminated backend): the
    transaction did not commit, and the pool has already replaced the connection."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def claim_writer(session: AsyncSession, *, on_loop: bool = False) -> None:
    """Call first in a transaction that reads and then writes (handling an update).

    On SQLite such a transaction, begun deferred, can fail at once with SQLITE_BUSY when another
    writer committed in between (two linked channels of one account, the upload page and the
    chat); BEGIN IMMEDIATE takes the write lock up front so it queues under busy_timeout
    instead. On PostgreSQL it changes nothing: row locks do that work there.

    `on_loop`: the transaction's statements run on the event loop's thread, without a hand-off
    each (storage/sqlite_driver.py); only for short transactions of point reads and writes by
    key (the hot path), never for an import or a report, which would hold up the loop.
    """
    await session.connection(execution_options=_writer_options(on_loop))


def claim_writer_sync(session: Session, *, on_loop: bool = False) -> None:
    """`claim_writer` inside the session's greenlet (`AsyncSession.run_sync`), for a transaction
    that does its first steps in one such call (handlers/group_commit.py `write_retrying`)."""
    session.connection(execution_options=_writer_options(on_loop))


def _writer_options(on_loop: bool) -> dict[str, Any]:
    return {IMMEDIATE: True, ON_LOOP: True} if on_loop else {IMMEDIATE: True}


async def execute_dml(session: AsyncSession, statement: Executable) -> CursorResult[Any]:
    """Run an INSERT, UPDATE or DELETE whose row count the caller reads (a compare-and-set).

    SQLAlchemy types `AsyncSession.execute` as returning a plain `Result`; for a DML statement it is
    always a `CursorResult`, the only kind that carries `rowcount`.
    """
    return cast(CursorResult[Any], await session.execute(statement))


def insert_for(session: AsyncSession) -> Callable[[Any], postgresql.Insert | sqlite.Insert]:
    """The dialect's INSERT (SQLite's or PostgreSQL's), for "insert ... on conflict do nothing"."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return pg_insert if dialect == "postgresql" else sqlite_insert
