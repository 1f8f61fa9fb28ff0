"""Helpers the console tests share (no tests here): the console app on loopback, and signing in
with a one-time link as a staff member would."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.staff.web_login import login_link
from handlers.console import setup_console
from handlers.runtime import Pipeline
from tests.conftest import Clock

BASE = "http://console.test"


@contextlib.asynccontextmanager
async def console_client(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], public_base_url: str = BASE
) -> AsyncIterator[TestClient]:
    app = web.Application()
    setup_console(app, sessions=sessions, dialogue=pipeline.dialogue, public_base_url=public_base_url)
    client = TestClient(TestServer(app, host="127.0.0.1"), cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with client:
        yield client


async def new_link(sessions: async_sessionmaker[AsyncSession], user_id: str, clock: Clock) -> str:
    """The path of a fresh sign-in link for a Telegram staff member."""
    async with sessions() as s, s.begin():
        link = await login_link(s, "telegram", user_id, BASE, clock())
    assert link is not None
    return link.removeprefix(BASE)


async def sign_in(
    client: TestClient, sessions: async_sessionmaker[AsyncSession], user_id: str, clock: Clock
) -> str:
    """Open the link; returns the HTML of the page it lands on (the queue for reviewers)."""
    link = await new_link(sessions, user_id, clock)
    page = await client.get(link)  # what a chat app's link preview also does: uses nothing up
    assert page.status == 200, await page.text()
    resp = await client.post(link)
    assert resp.status == 200, await resp.text()
    assert "/staff/" in str(resp.url)
    return await resp.text()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)
