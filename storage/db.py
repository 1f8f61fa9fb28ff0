"""Engines and sessions for SQLite (the embedded default) and PostgreSQL.

SQLite is tuned for a chatbot's many small writes: WAL so readers never wait for the writer, a
busy timeout so two writers queue instead of failing, foreign keys on.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 10_000
IMMEDIATE = "kc_sqlite_immediate"


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
        engine = create_async_engine(url, echo=echo, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn):  # type: ignore[no-untyped-def]
            # Otherwise the driver's own behaviour: reads in autocommit, BEGIN before the first
            # write, which then waits for the lock under busy_timeout.
            if conn.get_execution_options().get(IMMEDIATE, False):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(
        url, echo=echo, hide_parameters=True, pool_pre_ping=True, pool_size=10, max_overflow=10
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def claim_writer(session: AsyncSession) -> None:
    """Call first in a transaction that reads and then writes (handling an update).

    On SQLite such a transaction, begun deferred, can fail at once with SQLITE_BUSY when another
    writer committed in between (two linked channels of one account, the upload page and the
    chat); BEGIN IMMEDIATE takes the write lock up front so it queues under busy_timeout
    instead. On PostgreSQL it changes nothing: row locks do that work there.
    """
    await session.connection(execution_options={IMMEDIATE: True})


def insert_for(session: AsyncSession):  # type: ignore[no-untyped-def]
    """The dialect's INSERT (SQLite's or PostgreSQL's), for "insert ... on conflict do nothing"."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return pg_insert if dialect == "postgresql" else sqlite_insert
