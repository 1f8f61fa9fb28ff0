"""The OA's access token: kept fresh, shared by every worker, and refreshed by one at a time.

Zalo's access token lasts 25 h and every refresh returns a new, single-use refresh token
(platforms.md D5): two workers refreshing with the same refresh token would leave one of them,
and after a restart all of them, with a spent token and a dead channel. So a refresh happens
inside a transaction that holds the token row (FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on
SQLite) while the request is out; a worker that waited for the lock finds the fresh token
there and does not refresh again. The first start seeds the row from ZALO_OA_REFRESH_TOKEN;
later starts use the stored, rotated one.

The token is refreshed `margin` before it expires, and again when Zalo calls it invalid (unless
another worker already replaced it). Nothing here logs a token.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.channels.zalo_oa.client import OaClient
from storage import zalo_oa
from storage.db import claim_writer

log = logging.getLogger(__name__)

REFRESH_MARGIN = timedelta(minutes=30)


class NoRefreshToken(RuntimeError):
    """Neither the database nor ZALO_OA_REFRESH_TOKEN holds a refresh token."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TokenKeeper:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: OaClient,
        seed_refresh_token: str | None,
        *,
        clock: Callable[[], datetime] = _utcnow,
        margin: timedelta = REFRESH_MARGIN,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.seed = seed_refresh_token
        self.clock = clock
        self.margin = margin
        self._cached: tuple[str, datetime] | None = None
        self._lock = asyncio.Lock()  # one refresh per process; the row lock does it across them
        self.refreshes = 0  # refreshes this process made (tests and the start-up log read it)

    def _fresh(self, expires_at: datetime | None) -> bool:
        return expires_at is not None and expires_at - self.margin > self.clock()

    async def access_token(self) -> str:
        cached = self._cached
        if cached is not None and self._fresh(cached[1]):
            return cached[0]
        async with self._lock:
            async with self.sessions() as session:
                row = await zalo_oa.read_token(session)
            if row is not None and row.access_token and self._fresh(row.access_expires_at):
                assert row.access_expires_at is not None
                self._cached = (row.access_token, row.access_expires_at)
                return row.access_token
            return await self._refresh(failed=None)

    async def invalid(self, failed: str) -> str:
        """Zalo refused `failed`: a new token, refreshed here unless another worker did already."""
        async with self._lock:
            return await self._refresh(failed=failed)

    async def _refresh(self, failed: str | None) -> str:
        async with self.sessions() as session, session.begin():
            await claim_writer(session)
            row = await zalo_oa.token_for_update(session, self.seed)
            if row is None:
                raise NoRefreshToken("set ZALO_OA_REFRESH_TOKEN (from the OA's OAuth authorisation)")
            if row.access_token and row.access_token != failed and self._fresh(row.access_expires_at):
                token, expires = row.access_token, row.access_expires_at  # another worker refreshed
            else:
                grant = await self.client.refresh(row.refresh_token)
                now = self.clock()
                token, expires = grant.access_token, now + timedelta(seconds=grant.expires_in)
                row.access_token, row.access_expires_at = token, expires
                row.refresh_token, row.updated_at = grant.refresh_token, now
                self.refreshes += 1
                log.info("zalo oa: access token refreshed; valid for %d s", grant.expires_in)
        assert expires is not None
        self._cached = (token, expires)
        return token
