"""Storage on SQLite and, when 127.0.0.1:5432 answers, on PostgreSQL: migrations, idempotency,
time zones, row locks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import accounts, applications
from storage.db import create_engine, session_factory
from storage.files import FileStore
from storage.migrate import migrate
from storage.models import Application
from storage.schema import metadata
from tests.rows import add_facility


async def test_migrations_match_the_models(any_engine: AsyncEngine) -> None:
    def diff(conn: Connection) -> list[Any]:
        return compare_metadata(MigrationContext.configure(conn), metadata)

    async with any_engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_migrate_twice_is_harmless(any_engine: AsyncEngine) -> None:
    await migrate(any_engine)
    async with any_engine.connect() as conn:
        version = (await conn.execute(text("select version_num from alembic_version"))).scalar_one()
    assert version


async def test_redelivered_update_is_recognised(any_engine: AsyncEngine) -> None:
    sessions = session_factory(any_engine)
    async with sessions() as s, s.begin():
        await accounts.mark_processed(s, "telegram", "1001")
    with pytest.raises(accounts.DuplicateUpdate):
        async with sessions() as s, s.begin():
            await accounts.mark_processed(s, "telegram", "1001")
    async with sessions() as s, s.begin():
        await accounts.mark_processed(s, "zalo", "1001")  # another channel's id space


async def test_failed_transaction_does_not_mark_the_update(any_engine: AsyncEngine) -> None:
    sessions = session_factory(any_engine)
    with pytest.raises(RuntimeError):
        async with sessions() as s, s.begin():
            await accounts.mark_processed(s, "web", "x1")
            raise RuntimeError("handler failed")
    async with sessions() as s, s.begin():
        await accounts.mark_processed(s, "web", "x1")  # the retry is processed


async def test_one_account_per_channel_identity(any_engine: AsyncEngine) -> None:
    sessions = session_factory(any_engine)
    async with sessions() as s, s.begin():
        a1, _ = await accounts.get_or_create_account(s, "telegram", "42")
    async with sessions() as s, s.begin():
        a2, identity = await accounts.get_or_create_account(s, "telegram", "42")
        a3, _ = await accounts.get_or_create_account(s, "zalo", "42")
    assert a1.id == a2.id != a3.id
    assert identity.reachable


async def test_times_come_back_aware_and_equal(any_engine: AsyncEngine) -> None:
    sessions = session_factory(any_engine)
    hanoi = timezone(timedelta(hours=7))
    moment = datetime(2026, 11, 22, 9, 30, tzinfo=hanoi)
    async with sessions() as s, s.begin():
        account, _ = await accounts.get_or_create_account(s, "web", "t")
        account.consent_at = moment
    async with sessions() as s:
        account, _ = await accounts.get_or_create_account(s, "web", "t")
        assert account.consent_at == moment
        assert account.consent_at.tzinfo is not None


async def test_draft_answers_persist_and_receipt_codes_are_unique(any_engine: AsyncEngine) -> None:
    sessions = session_factory(any_engine)
    now = datetime(2026, 11, 22, tzinfo=UTC)
    async with sessions() as s, s.begin():
        account, _ = await accounts.get_or_create_account(s, "web", "d")
        facility = await add_facility(s, account.id, name="HTX", kind="cooperative", province="Hưng Yên")
        app = Application(facility_id=facility.id, programme="selection", answers={"product_name": "Giỏ mây"})
        s.add(app)
        await s.flush()
        code = applications.new_receipt_code(now)
        app.receipt_code = code
    assert code.startswith("KC-2611-") and len(code) == 13
    async with sessions() as s:
        stored = await s.scalar(select(Application))
        assert stored is not None and stored.answers == {"product_name": "Giỏ mây"}
        assert not await applications.receipt_code_free(s, code)


async def until_blocked(engine: AsyncEngine) -> None:
    """Until another transaction on this PostgreSQL database waits for a lock: the moment the
    first may go on, known instead of guessed with a sleep."""
    async with engine.connect() as conn:
        for _ in range(1000):
            waiting = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            if waiting:
                return
            await conn.rollback()  # pg_stat_activity is read once per transaction: look again
            await asyncio.sleep(0.01)
    raise AssertionError("the second transaction never waited for the lock")


async def test_state_row_lock_serialises_two_workers(any_engine: AsyncEngine) -> None:
    """Two transactions advancing one conversation: the second waits for the first."""
    if any_engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time; FOR UPDATE is a PostgreSQL row lock")
    sessions = session_factory(any_engine)
    async with sessions() as s, s.begin():
        account, _ = await accounts.get_or_create_account(s, "web", "lock")
        await accounts.locked_state(s, account.id)
    order: list[str] = []
    first_has_lock = asyncio.Event()

    async def first() -> None:
        async with sessions() as s, s.begin():
            state = await accounts.locked_state(s, account.id)
            first_has_lock.set()
            await until_blocked(any_engine)  # the second is waiting for this lock
            state.strikes = 1
            order.append("first")

    async def second() -> None:
        await first_has_lock.wait()
        async with sessions() as s, s.begin():
            state = await accounts.locked_state(s, account.id)
            order.append(f"second saw {state.strikes}")

    await asyncio.gather(first(), second())
    assert order == ["first", "second saw 1"]


async def test_sqlite_runs_in_wal_mode_with_busy_timeout(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    async with engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one() >= 5000
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
    await engine.dispose()


def test_file_store_is_content_addressed_and_refuses_escapes(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    a = store.save(b"%PDF-1.4 same", ".pdf")
    b = store.save(b"%PDF-1.4 same", ".pdf")
    assert a.key == b.key and store.read(a.key) == b"%PDF-1.4 same"
    with pytest.raises(ValueError):
        store.path("../../etc/passwd")


async def test_update_loading_locks_the_conversation_on_postgres(any_engine: AsyncEngine) -> None:
    """The one query each update starts with holds the sender's state row until commit."""
    if any_engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE instead of row locks")
    sessions = session_factory(any_engine)
    async with sessions() as s, s.begin():
        await accounts.load_for_update(s, "telegram", "77")  # creates the rows
    order: list[str] = []
    held = asyncio.Event()

    async def first() -> None:
        async with sessions() as s, s.begin():
            _, _, state = await accounts.load_for_update(s, "telegram", "77")
            held.set()
            await until_blocked(any_engine)  # the second is waiting for this lock
            state.step = "phone"
            order.append("first")

    async def second() -> None:
        await held.wait()
        async with sessions() as s, s.begin():
            _, _, state = await accounts.load_for_update(s, "telegram", "77")
            order.append(f"second saw {state.step}")

    await asyncio.gather(first(), second())
    assert order == ["first", "second saw phone"]


async def test_the_journey_runs_on_both_databases(any_engine: AsyncEngine, tmp_path: Path) -> None:
    from conversations.dialogue import Dialogue
    from conversations.programmes import load_programmes
    from handlers.runtime import Pipeline
    from tests.conftest import Chat

    pipeline = Pipeline(
        session_factory(any_engine), Dialogue(programmes=load_programmes(), files=FileStore(tmp_path))
    )
    chat = Chat(pipeline, user_id="pg-1")
    await chat.send("/start")
    await chat.tap("continue in English")  # consent and language in one
    await chat.send("Cơ sở Phú Vinh")  # no legal form in the name: the type is asked
    assert "What type of facility" in chat.text
    await chat.send("/menu")
    await chat.send("/start")
    assert "What type of facility" in chat.text  # the answer survived, on either database
