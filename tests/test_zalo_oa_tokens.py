"""Zalo OA tokens against the fake OAuth server: single-use refresh tokens rotated under a
database lock (SQLite and PostgreSQL), refreshed before expiry and after an invalid-token answer,
seeded once from the environment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from handlers.channels.zalo_oa.tokens import TokenKeeper
from storage import zalo_oa
from storage.db import session_factory
from tests.conftest import Clock
from tests.fake_zalo_oa import FIRST_REFRESH, FakeZaloOa
from tests.test_zalo_oa_delivery import client_for


@pytest.fixture
async def fake(clock: Clock) -> AsyncIterator[FakeZaloOa]:
    server = FakeZaloOa(clock=clock)
    await server.start()
    yield server
    await server.stop()


async def test_two_workers_refreshing_at_once_spend_the_refresh_token_once(
    any_engine: AsyncEngine, fake: FakeZaloOa, clock: Clock
) -> None:
    fake.refresh_delay = 0.3  # both wait on the same refresh
    clients = [client_for(fake), client_for(fake)]
    keepers = [TokenKeeper(session_factory(any_engine), c, FIRST_REFRESH, clock=clock) for c in clients]
    for c in clients:
        await c.open()
    try:
        first = await asyncio.gather(*(k.access_token() for k in keepers))
        assert first[0] == first[1] and fake.refreshes == 1 and fake.spent_refresh_uses == 0
        # Zalo calls the token invalid in both workers at once: one refresh again, nothing lost.
        fake.expire_all_access_tokens()
        second = await asyncio.gather(*(k.invalid(first[0]) for k in keepers))
        assert second[0] == second[1] != first[0]
        assert fake.refreshes == 2 and fake.spent_refresh_uses == 0
        async with session_factory(any_engine)() as session:
            row = await zalo_oa.read_token(session)
        assert row is not None and row.refresh_token in fake.valid_refresh  # the one that still works
        # A third worker starting later with the (spent) env token uses the stored one.
        later = TokenKeeper(session_factory(any_engine), clients[0], FIRST_REFRESH, clock=clock)
        assert await later.access_token() == second[0]
    finally:
        for c in clients:
            await c.close()


async def test_the_access_token_is_refreshed_before_it_expires(
    sessions: async_sessionmaker[AsyncSession], fake: FakeZaloOa, clock: Clock
) -> None:
    fake.expires_in = 3600
    client = client_for(fake)
    await client.open()
    try:
        keeper = TokenKeeper(sessions, client, FIRST_REFRESH, clock=clock, margin=timedelta(minutes=10))
        token = await keeper.access_token()
        clock.now += timedelta(minutes=45)
        assert await keeper.access_token() == token  # 15 minutes left: still good
        clock.now += timedelta(minutes=6)
        renewed = await keeper.access_token()  # 9 minutes left: renewed before it runs out
        assert renewed != token and fake.refreshes == 2
    finally:
        await client.close()


async def test_a_new_refresh_token_in_the_environment_replaces_a_dead_stored_one(
    sessions: async_sessionmaker[AsyncSession], fake: FakeZaloOa, clock: Clock
) -> None:
    client = client_for(fake)
    await client.open()
    try:
        first = await TokenKeeper(sessions, client, FIRST_REFRESH, clock=clock).access_token()
        fake.valid_refresh.clear()  # revoked at Zalo (the stored refresh token is dead)
        fake.valid_refresh.add("reauthorised")
        fake.expire_all_access_tokens()
        restarted = TokenKeeper(sessions, client, "reauthorised", clock=clock)
        renewed = await restarted.invalid(first)
        assert renewed != first and fake.spent_refresh_uses == 0
        again = TokenKeeper(sessions, client, "reauthorised", clock=clock)  # the same env: not reused
        fake.expire_all_access_tokens()
        await again.invalid(renewed)
        assert fake.spent_refresh_uses == 0 and fake.refreshes == 3
    finally:
        await client.close()
