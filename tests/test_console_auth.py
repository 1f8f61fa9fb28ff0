"""Signing in to the staff console: one-time links, sessions, CSRF, removed staff, province scope."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.__main__ import main
from handlers.runtime import Pipeline
from storage import staff
from tests.conftest import Clock
from tests.console_support import console_client, csrf_of, new_link, sign_in
from tests.test_staff_support import add_staff, application, dossier, staff_chat

SIGN_IN_WORDS = "/web"  # the page says how to get a link, in the browser's language


async def test_web_in_chat_gives_staff_a_link_and_owners_nothing(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_staff(sessions, "hy", "reviewer", "Hưng Yên")
    reviewer = staff_chat(pipeline, "hy")
    await reviewer.send("/web")
    assert "/staff/login/" in reviewer.text and "15 minutes" in reviewer.text
    assert reviewer.last[-1].url and "/staff/login/" in reviewer.last[-1].url
    stranger = staff_chat(pipeline, "nobody")
    await stranger.send("/web")
    assert "/staff/login/" not in stranger.text


async def test_a_link_signs_in_once_and_the_cookie_is_httponly(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "hy", "reviewer", "Hưng Yên")
    await dossier(sessions, product="Giỏ mây")
    async with console_client(pipeline, sessions) as client:
        link = await new_link(sessions, "hy", clock)
        for _ in range(2):  # opening the link (or a chat app's preview of it) does not use it up
            shown = await client.get(link)
            assert shown.status == 200 and 'method="post"' in await shown.text()
        resp = await client.post(link, allow_redirects=False)
        assert resp.status == 303
        cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
        page = await client.get("/staff/")
        assert "Giỏ mây" in await page.text()
        client.session.cookie_jar.clear()
        for again in (await client.get(link), await client.post(link)):
            assert again.status == 403
            assert "Giỏ mây" not in await again.text()


async def test_cookies_are_secure_behind_https(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "hy", "reviewer", "Hưng Yên")
    async with console_client(pipeline, sessions, public_base_url="https://kc.example.vn") as client:
        resp = await client.post(await new_link(sessions, "hy", clock), allow_redirects=False)
        assert "Secure" in resp.headers["Set-Cookie"]


async def test_a_link_expires_after_15_minutes(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "hy", "reviewer", "Hưng Yên")
    async with console_client(pipeline, sessions) as client:
        link = await new_link(sessions, "hy", clock)
        clock.now += timedelta(minutes=16)
        assert (await client.get(link)).status == 403
        resp = await client.post(link)
        assert resp.status == 403
        assert "/web" in await resp.text()


async def test_sessions_end_after_8_idle_hours_and_on_sign_out(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "hy", "reviewer", "Hưng Yên")
    await dossier(sessions, product="Giỏ mây")
    async with console_client(pipeline, sessions) as client:
        html = await sign_in(client, sessions, "hy", clock)
        clock.now += timedelta(hours=7)
        assert "Giỏ mây" in await (await client.get("/staff/")).text()  # used: the clock restarts
        clock.now += timedelta(hours=8, minutes=1)
        idle = await client.get("/staff/")
        assert idle.status == 401 and "Giỏ mây" not in await idle.text()

        html = await sign_in(client, sessions, "hy", clock)
        out = await client.post("/staff/logout", data={"csrf": csrf_of(html)})
        assert out.status == 200
        after = await client.get("/staff/")
        assert after.status == 401 and SIGN_IN_WORDS in await after.text()


async def test_removed_staff_see_no_data_at_once(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "hy", "reviewer", "Hưng Yên")
    await dossier(sessions, product="Giỏ mây")
    async with console_client(pipeline, sessions) as client:
        await sign_in(client, sessions, "hy", clock)
        async with sessions() as s, s.begin():
            await staff.remove_staff(s, channel="telegram", external_id="hy")
        resp = await client.get("/staff/")
        assert resp.status == 401
        assert "Giỏ mây" not in await resp.text()


async def test_a_post_without_the_csrf_token_changes_nothing(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "hy", "reviewer", "Hưng Yên")
    app = await dossier(sessions, product="Giỏ mây")
    async with console_client(pipeline, sessions) as client:
        await sign_in(client, sessions, "hy", clock)
        for data in ({}, {"csrf": "forged-token"}):
            resp = await client.post(f"/staff/dossiers/{app.receipt_code}/claim", data=data)
            assert resp.status == 403
        assert (await application(sessions, app.id)).status == "submitted"


async def test_another_provinces_dossier_is_404_and_none_of_its_rows_show(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "hy", "reviewer", "Hưng Yên")
    mine = await dossier(sessions, province="Hưng Yên", product="Giỏ mây")
    other = await dossier(sessions, province="Hà Nội", product="Gốm Bát Tràng", tax_code="0101234567")
    async with console_client(pipeline, sessions) as client:
        html = await sign_in(client, sessions, "hy", clock)
        assert "Giỏ mây" in html and "Gốm Bát Tràng" not in html and other.receipt_code not in html
        found = await (await client.get("/staff/?q=Gom+Bat")).text()
        assert "Gốm Bát Tràng" not in found
        assert (await client.get(f"/staff/dossiers/{other.receipt_code}")).status == 404
        assert (await client.get(f"/staff/dossiers/{mine.receipt_code}")).status == 200
        claim = await client.post(f"/staff/dossiers/{other.receipt_code}/claim", data={"csrf": csrf_of(html)})
        assert claim.status == 404
        assert (await application(sessions, other.id)).status == "submitted"
        export = await client.get("/staff/export/queue.xlsx")
        assert export.status == 200
        cells = [
            c.value for row in load_workbook(BytesIO(await export.read())).active.iter_rows() for c in row
        ]
        assert "Cơ sở Giỏ mây" in cells and "Cơ sở Gốm Bát Tràng" not in cells


def test_an_admin_on_the_server_prints_a_link_for_staff_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://kc.hungyen.gov.vn/")
    add = [
        "staff",
        "add",
        "--channel",
        "telegram",
        "--user-id",
        "42",
        "--role",
        "reviewer",
        "--province",
        "Hưng Yên",
    ]
    assert main(add) == 0
    capsys.readouterr()
    assert main(["staff", "login-link", "--channel", "telegram", "--user-id", "42"]) == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith("https://kc.hungyen.gov.vn/staff/login/") and len(link) > 70
    assert main(["staff", "login-link", "--channel", "telegram", "--user-id", "99"]) == 2
    assert "not active staff" in capsys.readouterr().err
