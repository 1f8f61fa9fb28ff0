"""SQLite's hot path runs on the event loop's thread (storage/sqlite_driver.py): what an owner and
an operator would notice if that went wrong. Another connection holding the write lock (a console
import, a CLI) must neither freeze the bot nor lose an answer; the WAL must still be checkpointed
though SQLite's automatic checkpoint is off."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from conversations.dialogue import Dialogue
from conversations.messages import Incoming
from conversations.programmes import load_programmes
from handlers.runtime import APOLOGY, Pipeline
from storage import sqlite_driver
from storage.db import session_factory
from storage.files import FileStore
from storage.models import Account, DeadLetter, Identity


def _database(engine: AsyncEngine) -> str:
    database = engine.url.database
    assert database
    return database


def _pipeline(engine: AsyncEngine, tmp_path: Path) -> Pipeline:
    return Pipeline(
        session_factory(engine), Dialogue(programmes=load_programmes(), files=FileStore(tmp_path / "files"))
    )


async def test_an_import_holding_the_write_lock_neither_freezes_the_bot_nor_loses_an_answer(
    db_engine: AsyncEngine, tmp_path: Path
) -> None:
    pipeline = _pipeline(db_engine, tmp_path)
    await pipeline.handle(Incoming(channel="web", user_id="owner", update_id="1", command="start"))

    # Another writer (here a plain connection, as a console import or a CLI in another process
    # would be) takes SQLite's write lock and keeps it.
    importer = sqlite3.connect(_database(db_engine), isolation_level=None, check_same_thread=False)
    importer.execute("BEGIN IMMEDIATE")
    importer.execute(
        "INSERT INTO dead_letters (channel, update_id, error, at) VALUES ('cli', 'x', 'import', '2026-01-01')"
    )

    answering = asyncio.create_task(
        pipeline.handle(Incoming(channel="web", user_id="owner", update_id="2", choice="consent:agree"))
    )
    # The loop keeps serving other work while the owner's answer waits for the lock.
    served = 0
    for _ in range(50):
        await asyncio.sleep(0.005)
        served += 1
    assert served == 50
    assert not answering.done()

    importer.execute("COMMIT")
    importer.close()
    replies = await answering
    assert replies and APOLOGY not in replies[0].text

    async with session_factory(db_engine)() as session:
        identity = await session.scalar(select(Identity).where(Identity.external_id == "owner"))
        assert identity is not None
        account = await session.get(Account, identity.account_id)
        assert account is not None and account.consent_at is not None  # the answer given under the lock
        errors = list(await session.scalars(select(DeadLetter.channel)))
    assert errors == ["cli"]  # the import's own row, and no dead letter for the owner


async def test_answers_are_checkpointed_into_the_database_file(
    db_engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_driver, "CHECKPOINT_ROWS", 5)
    database = Path(_database(db_engine))
    pipeline = _pipeline(db_engine, tmp_path)
    for n in range(10):
        await pipeline.handle(Incoming(channel="web", user_id=f"owner{n}", update_id=f"{n}", command="start"))
    for _ in range(500):  # the checkpoint runs on its own thread
        if len(_identities_in_file(database)) == 10:
            break
        await asyncio.sleep(0.01)
    assert len(_identities_in_file(database)) == 10


def _identities_in_file(path: Path) -> list[str]:
    """The identities in the database file itself, ignoring its WAL (a copy without it)."""
    copy = path.with_name("copy.db")
    copy.write_bytes(path.read_bytes())
    try:
        with sqlite3.connect(copy) as conn:
            return [row[0] for row in conn.execute("SELECT external_id FROM identities")]
    finally:
        copy.unlink()


async def test_the_wal_is_started_over_while_owners_keep_answering(
    db_engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without SQLite's automatic checkpoint, the WAL only starts over when a checkpoint reached
    its end between two transactions: one racing the writer left a tail every time, and the
    WAL file grew by every answer (98 MB after 5,000)."""
    monkeypatch.setattr(sqlite_driver, "CHECKPOINT_ROWS", 20)
    pipeline = _pipeline(db_engine, tmp_path)
    for user in range(60):
        answers = (
            Incoming(channel="web", user_id=f"o{user}", update_id=f"{user}-0", command="start"),
            Incoming(channel="web", user_id=f"o{user}", update_id=f"{user}-1", choice="consent:agree"),
            Incoming(channel="web", user_id=f"o{user}", update_id=f"{user}-2", text="Hợp tác xã Mây tre"),
        )
        for incoming in answers:
            await pipeline.handle(incoming)
    assert _size(Path(_database(db_engine) + "-wal")) < 1_000_000  # never started over: 4.5 MB


def _size(path: Path) -> int:
    return path.stat().st_size
