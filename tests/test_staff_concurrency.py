"""Two reviewers on one dossier at the same moment: exactly one holds it, exactly one decides.

Through the pipeline (two Telegram users tapping at once) and at the storage level on SQLite and,
when 127.0.0.1:5432 answers, PostgreSQL, with every transaction having read the dossier as
claimable before any of them writes: the conditional UPDATE must still let only one through.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from handlers.runtime import Pipeline
from storage import review
from storage.db import session_factory
from storage.models import Application, ApplicationEvent
from tests.test_staff_support import add_staff, application, dossier, staff_chat

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


async def test_two_reviewers_opening_at_once_one_takes_it_the_other_is_told_who(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    app = await dossier(sessions)
    await add_staff(sessions, "r1", "reviewer", "Hưng Yên", name="Trần Thị Bình")
    await add_staff(sessions, "r2", "reviewer", "Hưng Yên", name="Phạm Văn Đức")
    first, second = staff_chat(pipeline, "r1"), staff_chat(pipeline, "r2")
    await asyncio.gather(
        first.send(f"/review {app.receipt_code}"), second.send(f"/review {app.receipt_code}")
    )
    replies = {"r1": first.text, "r2": second.text}
    holder = (await application(sessions, app.id)).reviewer
    assert holder in ("telegram:r1", "telegram:r2")
    winner, loser = ("r1", "r2") if holder == "telegram:r1" else ("r2", "r1")
    assert "You have taken this dossier for review" in replies[winner]
    name = "Trần Thị Bình" if winner == "r1" else "Phạm Văn Đức"
    assert f"{name} (Telegram {winner}) has been reviewing this dossier" in replies[loser]
    async with sessions() as s:
        claims = list(await s.scalars(select(ApplicationEvent).where(ApplicationEvent.action == "claimed")))
    assert len(claims) == 1 and claims[0].actor == holder


async def test_five_concurrent_claims_one_wins_on_each_database(any_engine: AsyncEngine) -> None:
    sessions = session_factory(any_engine)
    app = await dossier(sessions)
    everyone_read = asyncio.Barrier(5)

    async def claim(who: str) -> review.Claim:
        async with sessions() as s, s.begin():
            loaded = await s.get(Application, app.id)
            assert loaded is not None and loaded.status == "submitted"
            await everyone_read.wait()  # all five saw it claimable before anyone writes
            return await review.claim(s, loaded, f"telegram:{who}", NOW)

    results = await asyncio.gather(*(claim(f"r{i}") for i in range(5)))
    winners = [r for r in results if r.taken]
    assert len(winners) == 1
    assert all(r.holder == winners[0].holder and r.status == "under_review" for r in results)
    async with sessions() as s:
        stored = await s.get(Application, app.id)
        claims = list(await s.scalars(select(ApplicationEvent).where(ApplicationEvent.action == "claimed")))
    assert stored is not None and stored.reviewer == winners[0].holder
    assert len(claims) == 1


async def test_a_decision_and_a_release_at_once_only_one_happens(any_engine: AsyncEngine) -> None:
    sessions = session_factory(any_engine)
    app = await dossier(sessions)
    async with sessions() as s, s.begin():
        loaded = await s.get(Application, app.id)
        assert loaded is not None
        assert (await review.claim(s, loaded, "telegram:r1", NOW)).taken
    both_read = asyncio.Barrier(2)

    async def approve() -> bool:
        async with sessions() as s, s.begin():
            loaded = await s.get(Application, app.id)
            assert loaded is not None
            await both_read.wait()
            return (
                await review.decide(s, loaded, reviewer="telegram:r1", to_status="approved", now=NOW)
                is not None
            )

    async def free() -> bool:
        async with sessions() as s, s.begin():
            loaded = await s.get(Application, app.id)
            assert loaded is not None
            await both_read.wait()
            return await review.release(s, loaded, holder="telegram:r1", actor="telegram:a1", now=NOW)

    approved, freed = await asyncio.gather(approve(), free())
    assert approved != freed
    async with sessions() as s:
        stored = await s.get(Application, app.id)
    assert stored is not None
    assert (stored.status, stored.reviewer) == (
        ("approved", "telegram:r1") if approved else ("under_review", None)
    )
