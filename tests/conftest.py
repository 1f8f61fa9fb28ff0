"""Shared fixtures: a migrated SQLite database per test, the real dialogue and pipeline, and a
`Chat` that talks to the pipeline as a channel would.

The suite runs in several processes (pytest-xdist, see pyproject.toml), so every fixture here is
safe side by side: session-scoped ones are per process, files live under tmp_path, servers bind
port 0, and PostgreSQL databases get uuid names, since other test runs share the server."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from conversations.dialogue import Dialogue
from conversations.messages import FileRef, Incoming, Outgoing
from conversations.programmes import load_programmes
from handlers.runtime import Pipeline
from storage.db import create_engine, session_factory
from storage.files import FileStore
from storage.migrate import migrate


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked `slow` (or `trial`) first: xdist's workers then start on them at once and
    share out the many short tests around them, instead of one worker finishing alone on a long
    test that happened to come last in file order."""
    items.sort(
        key=lambda item: item.get_closest_marker("slow") is None and item.get_closest_marker("trial") is None
    )


PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


_pg_checked: list[str | None] = []  # the answer, asked once per test process


async def postgres_unreachable() -> str | None:
    """None when PostgreSQL answers at PG_ADMIN_URL, else the reason to skip."""
    if not _pg_checked:
        _pg_checked.append(await _postgres_unreachable())
    return _pg_checked[0]


async def _postgres_unreachable() -> str | None:
    try:
        import asyncpg

        conn = await asyncio.wait_for(asyncpg.connect(PG_ADMIN_URL), timeout=3)
    except Exception as exc:  # any failure means: no PostgreSQL here
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}: {exc}"
    await conn.close()
    return None


_PG_BASE = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
_PG_SERVER = PG_ADMIN_URL.rsplit("/", 1)[0]
# A database migrated once per test process and emptied after each test that used it: deleting
# the rows of every table takes a few milliseconds, while CREATE DATABASE ... TEMPLATE and DROP
# DATABASE cost 1-2 s each (the server copies and syncs files). Uniquely named, since other test
# runs share the server; one test at a time uses it (xdist runs one test per process at once).
_pg_reused: str | None = None


async def _postgres_reused(admin: Any) -> str:
    global _pg_reused
    if _pg_reused is None:
        name = f"kc_test_{uuid.uuid4().hex[:12]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        engine = create_engine(f"{_PG_BASE}/{name}")
        try:
            await migrate(engine)
        finally:
            await engine.dispose()
        _pg_reused = name
    return _pg_reused


async def _empty_postgres(admin: Any, name: str) -> None:
    """Every row gone and every id sequence back at 1, as in a freshly migrated database.
    Connections a test left behind (a killed worker's) are ended first so none holds a lock."""
    import asyncpg

    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        name,
    )
    conn = await asyncpg.connect(f"{_PG_SERVER}/{name}")
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        sequences = await conn.fetch("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
        # Foreign keys are triggers: off for this session (we connect as the superuser), so the
        # order of the deletes does not matter.
        await conn.execute(
            "SET session_replication_role = replica; "
            + "".join(f'DELETE FROM "{row[0]}"; ' for row in tables)
            + "".join(f"SELECT setval('\"{row[0]}\"', 1, false); " for row in sequences)
            + "SET session_replication_role = DEFAULT;"
        )
    finally:
        await conn.close()


@pytest.fixture(scope="session", autouse=True)
def _drop_postgres_database() -> Iterator[None]:
    yield
    if _pg_reused is not None:

        async def drop(name: str) -> None:
            import asyncpg

            admin = await asyncpg.connect(PG_ADMIN_URL)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()

        asyncio.run(drop(_pg_reused))


@contextlib.asynccontextmanager
async def throwaway_postgres() -> AsyncIterator[AsyncEngine]:
    """A migrated, empty PostgreSQL database for one test (this process's one, emptied afterwards);
    skips the test (saying why) when no server answers."""
    reason = await postgres_unreachable()
    if reason:
        pytest.skip(reason)
    import asyncpg

    admin = await asyncpg.connect(PG_ADMIN_URL)
    name = await _postgres_reused(admin)
    engine = create_engine(f"{_PG_BASE}/{name}")
    try:
        yield engine
    finally:
        await engine.dispose()
        try:
            await _empty_postgres(admin, name)
        finally:
            await admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_engine(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[AsyncEngine]:
    """The same test on SQLite and, when reachable, PostgreSQL."""
    if request.param == "sqlite":
        engine = migrated_sqlite(sqlite_template, tmp_path / "any.db")
        yield engine
        await engine.dispose()
        return
    async with throwaway_postgres() as engine:
        yield engine


PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64 + b"\xff\xd9"


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 22, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


_templates: list[Path] = []  # this process's migrated SQLite template, once made


@pytest.fixture(scope="session", autouse=True)
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once per test session; each test gets a copy (a file copy
    takes well under a millisecond, running the migrations about 100 ms of CPU). Made first in
    every process, so `sqlite_url` has it."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"

    async def build() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await migrate(engine)
        await engine.dispose()  # the last connection closing folds the WAL into the file

    asyncio.run(build())
    _templates.append(path)
    return path


def migrated_sqlite(template: Path, target: Path) -> AsyncEngine:
    shutil.copyfile(template, target)
    return create_engine(f"sqlite+aiosqlite:///{target}")


def sqlite_url(path: Path) -> str:
    """DATABASE_URL of a SQLite file at the newest schema, for a whole system to start on: a copy
    of the template unless the file exists (a restart keeps its data), so the start-up migration
    of `build_system` finds nothing to do instead of costing ~100 ms of CPU per test. Starting on
    a new file and migrating it is what `python -m bot run` does in tests/trials/crash.py."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_templates[0], path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def db_engine(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[AsyncEngine]:
    engine = migrated_sqlite(sqlite_template, tmp_path / "bot.db")
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(db_engine)


@pytest.fixture
def pipeline(sessions: async_sessionmaker[AsyncSession], tmp_path: Path, clock: Clock) -> Pipeline:
    dialogue = Dialogue(programmes=load_programmes(), files=FileStore(tmp_path / "files"), clock=clock)
    return Pipeline(sessions, dialogue)


_ids = itertools.count(1)


class ChatLike(Protocol):
    """What the journey helpers of tests/test_flows.py drive: `Chat` below, and `TelegramChat` in
    tests/test_telegram.py, which walks the same journeys through the fake Telegram."""

    @property
    def user_id(self) -> str: ...
    @property
    def last(self) -> list[Outgoing]: ...
    @property
    def text(self) -> str: ...
    @property
    def buttons(self) -> list[str]: ...
    async def send(self, text: str) -> list[Outgoing]: ...
    async def tap(self, label_part: str) -> list[Outgoing]: ...
    async def upload(self, filename: str, data: bytes, content_type: str) -> list[Outgoing]: ...


@dataclass
class Chat:
    """One user talking to the bot through the pipeline, as a channel adapter would."""

    pipeline: Pipeline
    user_id: str = "u1"
    channel: str = "web"
    # False for a channel shown as numbered menus (Zalo): the owner types numbers or words.
    has_buttons: bool = True
    last: list[Outgoing] = field(default_factory=list)

    async def send(self, text: str) -> list[Outgoing]:
        from conversations.messages import command_of

        cmd = command_of(text)
        incoming = Incoming(
            channel=self.channel,
            user_id=self.user_id,
            update_id=str(next(_ids)),
            text=None if cmd else text,
            command=cmd[0] if cmd else None,
            command_args=cmd[1] if cmd else "",
        )
        return await self._go(incoming)

    async def tap(self, label_part: str) -> list[Outgoing]:
        """Tap the button of the latest message whose label contains `label_part`."""
        for message in reversed(self.last):
            for choice in message.choices:
                if label_part.lower() in choice.label.lower():
                    incoming = Incoming(
                        channel=self.channel,
                        user_id=self.user_id,
                        update_id=str(next(_ids)),
                        choice=choice.payload,
                    )
                    return await self._go(incoming)
        labels = [c.label for m in self.last for c in m.choices]
        raise AssertionError(f"no button with {label_part!r}; buttons: {labels}")

    async def upload(self, filename: str, data: bytes, content_type: str) -> list[Outgoing]:
        async def read() -> bytes:
            return data

        incoming = Incoming(
            channel=self.channel,
            user_id=self.user_id,
            update_id=str(next(_ids)),
            file=FileRef(filename=filename, content_type=content_type, size=len(data), read=read),
        )
        return await self._go(incoming)

    async def _go(self, incoming: Incoming) -> list[Outgoing]:
        incoming = replace(incoming, has_buttons=self.has_buttons)
        self.last = await self.pipeline.handle(incoming)
        return self.last

    @property
    def text(self) -> str:
        return "\n---\n".join(m.text for m in self.last)

    @property
    def buttons(self) -> list[str]:
        return [c.label for m in self.last for c in m.choices]


@pytest.fixture
def chat(pipeline: Pipeline) -> Chat:
    return Chat(pipeline)
