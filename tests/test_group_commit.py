"""Many users writing at once, on SQLite and PostgreSQL: their updates share one transaction (group
commit), each is answered only once it is committed, one user's updates stay in their order, and one broken
update does not take the others down with it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from conversations.dialogue import Dialogue
from conversations.i18n import translator
from conversations.messages import Incoming, Outgoing
from conversations.programmes import load_programmes
from handlers.runtime import APOLOGY, Pipeline
from storage.db import session_factory
from storage.files import FileStore
from storage.models import ConversationState, DeadLetter, Identity, ProcessedUpdate


@pytest.fixture
def sessions(any_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(any_engine)


class Breaking(Dialogue):
    """The real dialogue, except that one user's updates break after their changes are made."""

    broken_user = "broken"

    async def handle(
        self, session: AsyncSession, account: Any, state: Any, incoming: Incoming
    ) -> list[Outgoing]:
        replies = await super().handle(session, account, state, incoming)
        if incoming.user_id == self.broken_user:
            await session.flush()  # its changes are in the shared transaction when it breaks
            raise RuntimeError("disk on fire")
        return replies


def _pipeline(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, dialogue_class: type = Dialogue
) -> Pipeline:
    return Pipeline(
        sessions, dialogue_class(programmes=load_programmes(), files=FileStore(tmp_path / "files"))
    )


def _update(user: str, n: int, **what: Any) -> Incoming:
    return Incoming(channel="telegram", user_id=user, update_id=f"{user}-{n}", **what)


async def _step(sessions: async_sessionmaker[AsyncSession], user: str) -> tuple[str | None, str | None]:
    async with sessions() as s:
        identity = await s.scalar(select(Identity).where(Identity.external_id == user))
        assert identity is not None
        state = await s.get(ConversationState, identity.account_id)
        assert state is not None
        return state.flow, state.step


async def test_users_writing_together_share_a_commit_and_each_gets_their_own_answer(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    pipeline = _pipeline(sessions, tmp_path)
    users = [f"owner{i}" for i in range(8)]
    firsts = await asyncio.gather(*(pipeline.handle(_update(u, 1, command="start")) for u in users))
    seconds = await asyncio.gather(*(pipeline.handle(_update(u, 2, choice="language:en")) for u in users))
    for replies in [*firsts, *seconds]:
        assert replies and translator("en")(APOLOGY) not in replies[0].text
    assert all("agree" in " ".join(c.label for m in r for c in m.choices).lower() for r in seconds)
    # They shared: at most two commits a round (the first may start alone before the others
    # arrive), never one each, which a writer that keeps the loop to itself would make.
    assert pipeline.writer is not None and pipeline.writer.batches <= 4
    for user in users:  # committed: a new session sees every answer
        assert await _step(sessions, user) == await _step(sessions, users[0])


async def test_one_users_updates_are_applied_in_the_order_they_arrived_among_others(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    pipeline = _pipeline(sessions, tmp_path)
    others = [pipeline.handle(_update(f"other{i}", 1, command="start")) for i in range(5)]
    # Three of one user's updates in flight at once, between other users' updates: the language
    # chosen before /start existed would be lost, consent before the language refused.
    mine = [
        pipeline.handle(_update("me", 1, command="start")),
        pipeline.handle(_update("me", 2, choice="consent:en")),
        pipeline.handle(_update("me", 3, choice="consent:agree")),
    ]
    results = await asyncio.gather(mine[0], *others[:3], mine[1], *others[3:], mine[2])
    after_consent = results[-1]
    assert "name of your facility" in " ".join(m.text for m in after_consent)
    assert await _step(sessions, "me") == ("onboarding", "facility_name")


async def test_a_broken_update_gets_its_apology_and_dead_letter_and_the_others_in_its_commit_are_answered(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    pipeline = _pipeline(sessions, tmp_path, Breaking)
    users = ["first", Breaking.broken_user, "third", "fourth"]
    results = await asyncio.gather(*(pipeline.handle(_update(u, 1, command="start")) for u in users))
    assert pipeline.writer is not None and pipeline.writer.batches == 1 + len(users)  # together, then alone
    by_user = dict(zip(users, results, strict=True))
    apologies = {translator(locale)(APOLOGY) for locale in ("vi", "en")}
    assert [m.text for m in by_user[Breaking.broken_user]] == [by_user[Breaking.broken_user][0].text]
    assert by_user[Breaking.broken_user][0].text in apologies
    for user in ("first", "third", "fourth"):
        assert by_user[user] and by_user[user][0].text not in apologies
    async with sessions() as s:
        letters = list(await s.scalars(select(DeadLetter)))
        processed = set(await s.scalars(select(ProcessedUpdate.update_id)))
        identities = set(await s.scalars(select(Identity.external_id)))
    assert [(letter.update_id, "disk on fire" in letter.error) for letter in letters] == [("broken-1", True)]
    # The broken update left nothing behind, so its redelivery is tried again; the others stay done.
    assert processed == {"first-1", "third-1", "fourth-1"}
    assert identities == {"first", "third", "fourth"}


async def test_a_redelivered_update_in_a_shared_commit_is_answered_with_nothing(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    pipeline = _pipeline(sessions, tmp_path)
    await pipeline.handle(_update("again", 1, command="start"))
    again, fresh = await asyncio.gather(
        pipeline.handle(_update("again", 1, command="start")),
        pipeline.handle(_update("new", 1, command="start")),
    )
    assert again == [] and fresh
    assert await _step(sessions, "new") == await _step(sessions, "again")


async def test_an_update_applied_alone_is_answered_once_and_its_answer_kept(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """The path beside group commit (`Pipeline(group_commit=False)`; on PostgreSQL an update with
    a file): the same lock and dedupe statement, so a redelivery is answered with nothing and the
    conversation moves once."""
    pipeline = Pipeline(
        sessions,
        Dialogue(programmes=load_programmes(), files=FileStore(tmp_path / "files")),
        group_commit=False,
    )
    assert await pipeline.handle(_update("alone", 1, command="start"))
    after_start = await _step(sessions, "alone")
    assert await pipeline.handle(_update("alone", 1, command="start")) == []
    assert await _step(sessions, "alone") == after_start
    assert await pipeline.handle(_update("alone", 2, choice="consent:agree"))
    assert await _step(sessions, "alone") != after_start
