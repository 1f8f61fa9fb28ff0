"""Web hardening (issue 9 #8): foreign pages cannot post as our user, cookies are Secure behind
https, downloads are never sniffed into pages, one upload limit for the page and the bot, and a
paste cut at the length limit says so. Driven over HTTP against the running system."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.assembly import System, build_system
from bot.config import Config
from conversations.messages import Document
from tests.conftest import PDF_BYTES, sqlite_url


async def running(tmp_path: Path, **settings: Any) -> System:
    config = Config(
        database_url=sqlite_url(tmp_path / "b.db"),
        http_port=0,
        files_dir=tmp_path / "f",
        **settings,
    )
    system = await build_system(config)
    await system.start()
    return system


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[System]:
    started = await running(tmp_path, public_base_url="https://khuyencong.example.vn")
    yield started
    await started.stop()


def base(system: System) -> str:
    return f"http://127.0.0.1:{system.port}"


def message() -> dict[str, str]:
    return {"id": uuid.uuid4().hex, "text": "/start"}


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:1"])
async def test_a_post_from_a_foreign_origin_is_refused(system: System, origin: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            base(system) + "/api/chat/send", json=message(), headers={"Origin": origin}
        ) as r:
            assert r.status == 403
            assert (await r.json())["error"]
        form = aiohttp.FormData()
        form.add_field("id", uuid.uuid4().hex)
        form.add_field("file", PDF_BYTES, filename="a.pdf", content_type="application/pdf")
        async with http.post(base(system) + "/api/chat/upload", data=form, headers={"Origin": origin}) as r:
            assert r.status == 403


async def test_our_own_origins_may_post(system: System) -> None:
    async with aiohttp.ClientSession() as http:
        for origin in (base(system), "https://khuyencong.example.vn"):
            async with http.post(
                base(system) + "/api/chat/send", json=message(), headers={"Origin": origin}
            ) as r:
                assert r.status == 200, await r.text()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_a_state_change_not_sent_as_json_is_refused(system: System, content_type: str) -> None:
    import json

    async with (
        aiohttp.ClientSession() as http,
        http.post(
            base(system) + "/api/chat/send",
            data=json.dumps(message()),
            headers={"Content-Type": content_type},
        ) as r,
    ):
        assert r.status == 415
    async with aiohttp.ClientSession() as http, http.get(base(system) + "/api/chat/state") as r:
        assert (await r.json())["messages"] == []  # nothing was run


async def test_the_cookie_is_secure_when_the_public_address_is_https(system: System, tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as http, http.get(base(system) + "/") as r:
        assert "Secure" in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
    plain = await running(tmp_path / "plain")
    try:
        async with aiohttp.ClientSession() as http, http.get(base(plain) + "/") as r:
            assert "Secure" not in r.headers["Set-Cookie"]
    finally:
        await plain.stop()


async def test_signed_download_links_are_never_sniffed(system: System) -> None:
    stored = system.context.files.save(PDF_BYTES, ".pdf")
    assert system.context.file_links is not None
    url = system.context.file_links.url(Document(stored.key, "x.pdf", "application/pdf"))
    async with aiohttp.ClientSession() as http, http.get(base(system) + str(url)) as r:
        assert r.status == 200 and r.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_page_and_the_bot_share_one_upload_limit(tmp_path: Path) -> None:
    small = await running(tmp_path, max_upload_mb=3)
    try:
        assert small.context.dialogue.settings.max_file_bytes == 3 * 1024 * 1024
        async with aiohttp.ClientSession() as http:
            async with http.get(base(small) + "/api/chat/state") as r:
                boot = await r.json()
            assert boot["max_upload_bytes"] == 3 * 1024 * 1024
            assert "3 MB" in boot["ui"]["too_large"]
            form = aiohttp.FormData()
            form.add_field("id", uuid.uuid4().hex)
            form.add_field("file", b"%PDF-" + b"0" * (3 * 1024 * 1024), filename="a.pdf")
            async with http.post(base(small) + "/api/chat/upload", data=form) as r:
                assert r.status == 413
    finally:
        await small.stop()


async def test_the_page_knows_how_to_say_a_paste_was_cut(system: System) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(base(system) + "/api/chat/state") as r:
            boot = await r.json()
        async with http.get(base(system) + "/static/webchat/chat.js") as r:
            script = await r.text()
    assert boot["ui"]["text_cut"] == (
        "Nội dung của anh/chị đã bị cắt ở 4.000 ký tự, mức tối đa của một tin nhắn. "
        "Anh/chị vui lòng gửi phần còn lại trong tin nhắn sau."
    )
    assert boot["max_text"] == 4000
    assert 'addEventListener("paste"' in script and "ui.text_cut" in script
