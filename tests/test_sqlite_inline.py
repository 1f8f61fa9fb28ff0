"""Statements run on the event loop's thread only while the write lock is held (storage/sqlite_inline.py):
waiting for another writer never freezes the bot, and what was answered is committed."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from conversations.messages import Incoming
from handlers.runtime import Pipeline
from storage.models import Identity


async def test_an_update_waiting_for_another_writer_leaves_the_bot_answering_others(
    pipeline: Pipeline, db_engine: AsyncEngine, tmp_path: Path
) -> None:
    # Another writer (a second worker, the upload page) holds SQLite's write lock.
    other = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    waiting = asyncio.create_task(
        pipeline.handle(Incoming(channel="web", user_id="u1", update_id="1", command="start"))
    )
    ticks = 0
    for _ in range(20):  # the event loop keeps turning while the update waits for the lock
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 20 and not waiting.done()
    other.execute("COMMIT")
    other.close()
    replies = await waiting
    assert replies and replies[0].text
    # The next update (after a commit) waits again in the worker thread, and is applied too.
    assert await pipeline.handle(Incoming(channel="web", user_id="u1", update_id="2", command="menu"))


async def test_an_answered_update_is_in_the_database_for_a_fresh_connection(
    pipeline: Pipeline, db_engine: AsyncEngine, tmp_path: Path
) -> None:
    replies = await pipeline.handle(Incoming(channel="web", user_id="u7", update_id="1", command="start"))
    assert replies
    fresh = sqlite3.connect(tmp_path / "bot.db")
    try:
        rows = fresh.execute("select update_id from processed_updates where channel = 'web'").fetchall()
    finally:
        fresh.close()
    assert ("1",) in rows
    async with db_engine.connect() as conn:
        assert (await conn.execute(select(Identity.external_id))).scalars().all() == ["u7"]
    # A redelivery of the same update is recognised (dedupe ran in the same transaction).
    assert await pipeline.handle(Incoming(channel="web", user_id="u7", update_id="1", command="start")) == []
