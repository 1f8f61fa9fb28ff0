"""PostgreSQL connections dropped under the bot (the server restarted, a backend terminated by an
operator or a failover): the owners' next messages are answered once, without an apology, and
nothing they answered before is lost. The pool no longer pings every connection it hands out
(storage/db.py), so the hot path itself must recover (handlers/group_commit.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from conversations.dialogue import Dialogue
from conversations.i18n import translator
from conversations.messages import Incoming, Outgoing
from conversations.programmes import load_programmes
from handlers.runtime import APOLOGY, Pipeline
from storage.db import session_factory
from storage.files import FileStore
from storage.models import ConversationState, DeadLetter, Identity, ProcessedUpdate
from tests.conftest import PG_ADMIN_URL, throwaway_postgres

APOLOGIES = {translator(locale)(APOLOGY) for locale in ("vi", "en")}
JOURNEY: list[dict[str, Any]] = [
    {"command": "start"},
    {"choice": "consent:en"},
    {"choice": "consent:agree"},
    {"text": "Xưởng Mây Tre Đan"},
]


class DroppingOnce(Dialogue):
    """The real dialogue, except that the first update of `victim` its transaction reaches has the
    transaction's connection terminated under it, after its changes are made."""

    victim = "victim"
    dropped = 0

    async def handle(
        self, session: AsyncSession, account: Any, state: Any, incoming: Incoming
    ) -> list[Outgoing]:
        replies = await super().handle(session, account, state, incoming)
        if incoming.user_id == self.victim and not self.dropped:
            type(self).dropped += 1
            await session.execute(text("select pg_terminate_backend(pg_backend_pid())"))
        return replies


def _pipeline(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, dialogue: type = Dialogue
) -> Pipeline:
    return Pipeline(sessions, dialogue(programmes=load_programmes(), files=FileStore(tmp_path / "files")))


def _update(user: str, n: int) -> Incoming:
    return Incoming(channel="telegram", user_id=user, update_id=f"{user}-{n}", **JOURNEY[n])


async def _terminate_all(engine: AsyncEngine) -> int:
    """Every backend of the bot's database ended, as a server restart would."""
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        rows = await admin.fetch(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
            engine.url.database,
        )
    finally:
        await admin.close()
    await asyncio.sleep(0.2)  # the backends gone before the next message
    return len(rows)


async def _outcome(sessions: async_sessionmaker[AsyncSession], users: list[str]) -> dict[str, Any]:
    async with sessions() as s:
        steps = {}
        for user in users:
            identity = await s.scalar(select(Identity).where(Identity.external_id == user))
            assert identity is not None
            state = await s.get(ConversationState, identity.account_id)
            assert state is not None
            steps[user] = (state.flow, state.step)
        return {
            "steps": steps,
            "processed": sorted(await s.scalars(select(ProcessedUpdate.update_id))),
            "dead letters": list(await s.scalars(select(DeadLetter.update_id))),
        }


@pytest.fixture
async def pg() -> Any:
    async with throwaway_postgres() as engine:
        yield engine


async def test_after_every_connection_is_dropped_the_next_messages_are_answered_once(
    pg: AsyncEngine, tmp_path: Path
) -> None:
    sessions = session_factory(pg)
    pipeline = _pipeline(sessions, tmp_path)
    users = [f"owner{i}" for i in range(5)]
    for n in range(2):
        await asyncio.gather(*(pipeline.handle(_update(u, n)) for u in users))
    assert await _terminate_all(pg) > 0  # the pool's connections among them
    # One owner first, in a transaction of their own (no batch to fall back on), then the others.
    thirds = [await pipeline.handle(_update(users[0], 2))]
    thirds += await asyncio.gather(*(pipeline.handle(_update(u, 2)) for u in users[1:]))
    assert all(replies and replies[0].text not in APOLOGIES for replies in thirds)
    assert "name of your facility" in " ".join(m.text for m in thirds[0])
    # Applied once: a redelivery of the same message is answered with nothing.
    assert await pipeline.handle(_update(users[0], 2)) == []
    outcome = await _outcome(sessions, users)
    assert set(outcome["steps"].values()) == {("onboarding", "facility_name")}
    assert outcome["processed"] == sorted(f"{u}-{n}" for u in users for n in range(3))
    assert outcome["dead letters"] == []


async def test_a_connection_dropped_inside_a_shared_commit_costs_nobody_an_answer(
    pg: AsyncEngine, tmp_path: Path
) -> None:
    sessions = session_factory(pg)
    DroppingOnce.dropped = 0
    pipeline = _pipeline(sessions, tmp_path, DroppingOnce)
    users = ["first", DroppingOnce.victim, "third"]
    for n in range(len(JOURNEY)):
        results = await asyncio.gather(*(pipeline.handle(_update(u, n)) for u in users))
        assert all(replies and replies[0].text not in APOLOGIES for replies in results)
    assert DroppingOnce.dropped == 1
    outcome = await _outcome(sessions, users)
    # Every user where the journey leads, each update applied once, nothing dead-lettered.
    assert len(set(outcome["steps"].values())) == 1
    assert outcome["processed"] == sorted(f"{u}-{n}" for u in users for n in range(len(JOURNEY)))
    assert outcome["dead letters"] == []
