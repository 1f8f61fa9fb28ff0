"""The one-time upload page a Zalo user gets for a PDF: served by our aiohttp server on
127.0.0.1, the file filed on the same checklist item of the same draft, the link used up, and
the Zalo chat (the fake platform) told."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.assembly import System
from conversations.i18n import translator
from conversations.messages import ZALO
from handlers.channels.webchat import upload_page
from storage.models import Application, StoredDocument
from storage.upload_links import UploadLink
from tests.conftest import JPEG_BYTES, PDF_BYTES
from tests.fake_zalo import FakeZalo
from tests.test_linking import prepare_draft_at_documents
from tests.test_zalo import CHAT, ZaloUser, start_system, state_of

en = translator("en")
ITEM = "Registration form (form 01)"


@pytest.fixture
async def fake() -> AsyncIterator[FakeZalo]:
    server = FakeZalo()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def system(tmp_path: Path, fake: FakeZalo) -> AsyncIterator[System]:
    running = await start_system(tmp_path, fake, webhook=True)
    yield running
    await running.stop()


async def link_for(user: ZaloUser, item: str = ITEM) -> str:
    """A draft at its checklist on Zalo; the user picks `item` and gets an upload link."""
    await prepare_draft_at_documents(user.system.pipeline, ZALO, user.chat_id)
    await user.say("/documents")
    await user.say(user.number_of(item))
    assert "PDF" in user.text
    return user.upload_url()


async def post(
    http: aiohttp.ClientSession, url: str, name: str, data: bytes, content_type: str, *, js: bool = False
):  # type: ignore[no-untyped-def]
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type=content_type)
    headers = {"Accept": "application/json"} if js else {}
    async with http.post(url, data=form, headers=headers) as resp:
        return resp.status, (await resp.json() if js else await resp.text())


async def documents(system: System) -> list[tuple[str, str]]:
    async with system.sessions() as session:
        return [(d.doc_type, d.content_type) for d in await session.scalars(select(StoredDocument))]


async def test_page_shows_the_item_with_a_plain_form_and_keeps_the_token_private(
    system: System, fake: FakeZalo
) -> None:
    user = ZaloUser(fake, system)
    url = await link_for(user)
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            assert resp.status == 200
            page = await resp.text()
            assert resp.headers["Referrer-Policy"] == "no-referrer"
            assert resp.headers["Cache-Control"] == "no-store"
            assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        assert ITEM in page and en(upload_page.TITLE) in page
        assert '<form id="upload" method="post" enctype="multipart/form-data"' in page
        assert 'name="file"' in page and "application/pdf" in page
        assert "http://" not in page and "https://" not in page  # no external assets
        for asset in ("upload.js", "upload.css"):
            async with http.get(f"{user.local}/static/upload/{asset}") as resp:
                assert resp.status == 200


async def test_an_upload_is_filed_on_the_item_uses_the_link_up_and_continues_the_chat(
    system: System, fake: FakeZalo
) -> None:
    user = ZaloUser(fake, system)
    url = await link_for(user)
    before = len(fake.texts(CHAT))
    async with aiohttp.ClientSession() as http:
        status, page = await post(http, url, "mau-01.pdf", PDF_BYTES, "application/pdf")
        assert status == 200
        assert en(upload_page.RECEIVED, count=1, item=ITEM) in page.replace("&ldquo;", "“").replace(
            "&rdquo;", "”"
        )
        user.last = fake.texts(CHAT)[before:]
        assert f"✅ Received “{ITEM}”." in user.text and "Required documents: 1/4 ready" in user.text
        assert await documents(system) == [("registration_form", "application/pdf")]
        # The checklist the chat just got is the one its numbers now refer to.
        await user.say(user.number_of("Continue to the summary"))
        assert "Please check your dossier" in user.text
        async with http.get(url) as resp:
            assert resp.status == 410
            assert "used already or has expired" in await resp.text()
        status, page = await post(http, url, "mau-01.pdf", PDF_BYTES, "application/pdf")
        assert status == 410 and "used already or has expired" in page
    assert await documents(system) == [("registration_form", "application/pdf")]
    async with system.sessions() as session:
        link = await session.scalar(select(UploadLink))
    assert link is not None and link.used_at is not None and len(link.token_hash) == 64
    assert link.token_hash not in url  # only the digest is stored


async def test_a_refused_file_keeps_the_link_usable(system: System, fake: FakeZalo) -> None:
    user = ZaloUser(fake, system)
    url = await link_for(user)
    sent = len(fake.sent)
    async with aiohttp.ClientSession() as http:
        status, answer = await post(http, url, "don.docx", b"PK\x03\x04 word", "application/msword", js=True)
        assert status == 422 and answer["ok"] is False and answer["retry"] is True
        assert "PDF" in answer["message"]
        status, answer = await post(http, url, "fake.pdf", b"not a pdf", "application/pdf", js=True)
        assert status == 422
        system.context.dialogue.settings.max_file_bytes = 1024 * 1024
        status, answer = await post(
            http, url, "big.pdf", PDF_BYTES + b"0" * (1024 * 1024), "application/pdf", js=True
        )
        assert status == 422 and "1 MB" in answer["message"]
        assert fake.sent[sent:] == []  # nothing to tell the chat yet
        assert await documents(system) == []
        status, answer = await post(http, url, "mau-01.pdf", PDF_BYTES, "application/pdf", js=True)
        assert status == 200 and answer["ok"] is True and answer["title"] == en(upload_page.RECEIVED_TITLE)
    assert await documents(system) == [("registration_form", "application/pdf")]


async def test_an_upload_while_the_chat_is_elsewhere_leaves_its_menu_alone(
    system: System, fake: FakeZalo
) -> None:
    user = ZaloUser(fake, system)
    url = await link_for(user)
    await user.say("/menu")
    menu_number = user.number_of("Prepare or continue a dossier")
    before = len(fake.texts(CHAT))
    async with aiohttp.ClientSession() as http:
        status, _ = await post(http, url, "anh.jpg", JPEG_BYTES, "image/jpeg")
    assert status == 200
    user.last = fake.texts(CHAT)[before:]
    assert f"✅ Received “{ITEM}”." in user.text and "Required documents: 1/4 ready" in user.text
    assert "/apply" in user.text and "\n1. " not in user.text  # progress only, no menu
    assert (await state_of(system)).step is None
    await user.say(menu_number)  # still the main menu's number
    assert "Welcome back" in user.text
    assert await documents(system) == [("registration_form", "image/jpeg")]


async def test_expired_unknown_and_submitted_links_are_refused(
    system: System, fake: FakeZalo, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = ZaloUser(fake, system)
    url = await link_for(user)
    async with aiohttp.ClientSession() as http:
        async with http.get(user.local + "/upload/" + "x" * 32) as resp:
            assert resp.status == 410
        dialogue = system.context.dialogue
        real_clock = dialogue.clock
        monkeypatch.setattr(dialogue, "clock", lambda: real_clock() + timedelta(hours=25))
        status, page = await post(http, url, "mau-01.pdf", PDF_BYTES, "application/pdf")
        assert status == 410 and "used already or has expired" in page
        monkeypatch.undo()
        async with system.sessions() as session, session.begin():
            app = await session.scalar(select(Application))
            assert app is not None
            app.status = "submitted"
        status, page = await post(http, url, "mau-01.pdf", PDF_BYTES, "application/pdf")
        assert status == 410 and "has been submitted" in page
    async with system.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(StoredDocument)) == 0
