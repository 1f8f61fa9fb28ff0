"""Signed download links: how a Zalo user (a reviewer opening a dossier) gets a stored document."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from conversations.messages import Document, Outgoing
from handlers.channels.zalo.client import render
from handlers.file_links import LINK_LIFETIME, FileLinks, load_secret
from storage.files import FileStore
from tests.conftest import PDF_BYTES, sqlite_url


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def client_for(links: FileLinks) -> TestClient:
    app = web.Application()
    links.attach(app)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_a_signed_link_downloads_the_document_under_its_name(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files")
    stored = store.save(PDF_BYTES, ".pdf")
    links = FileLinks(store, load_secret(tmp_path / "files"))
    url = links.url(
        Document(
            path=str(store.path(stored.key)), filename="Phiếu đăng ký.pdf", content_type="application/pdf"
        )
    )
    assert url is not None and url.startswith("/files/")
    client = await client_for(links)
    try:
        response = await client.get(url)
        assert response.status == 200
        assert await response.read() == PDF_BYTES
        assert "Phi%E1%BA%BFu" in response.headers["Content-Disposition"]  # the Vietnamese name survives
    finally:
        await client.close()


async def test_changed_or_expired_links_are_refused(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files")
    stored = store.save(PDF_BYTES, ".pdf")
    clock = Clock()
    links = FileLinks(store, load_secret(tmp_path / "files"), clock=clock)
    url = links.url(Document(path=stored.key, filename="a.pdf", content_type="application/pdf"))
    assert url is not None
    client = await client_for(links)
    try:
        assert (await client.get(url.replace("name=a.pdf", "name=b.pdf"))).status == 403
        assert (await client.get(url[:-2] + ("AA" if not url.endswith("AA") else "BB"))).status == 403
        other = store.save(b"%PDF-1.4 another", ".pdf")
        assert (await client.get(url.replace(stored.key, other.key))).status == 403  # not its signature
        clock.now += LINK_LIFETIME + 1
        expired = await client.get(url)
        assert expired.status == 410 and "hết hạn" in await expired.text()
    finally:
        await client.close()


def test_only_files_of_the_store_get_a_link(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files")
    links = FileLinks(store, load_secret(tmp_path / "files"))
    assert links.url(Document(path="/etc/passwd", filename="passwd", content_type="text/plain")) is None


def test_the_secret_is_made_once_and_kept(tmp_path: Path) -> None:
    first = load_secret(tmp_path)
    assert len(first) == 32 and load_secret(tmp_path) == first
    assert (tmp_path / ".link-secret").stat().st_mode & 0o077 == 0  # readable by this user only


def test_zalo_shows_a_document_as_a_download_link(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files")
    stored = store.save(PDF_BYTES, ".pdf")
    links = FileLinks(store, load_secret(tmp_path / "files"))
    message = Outgoing(
        text="Hồ sơ KC-2611-ABCDE", document=Document(stored.key, "mau01.pdf", "application/pdf")
    )
    [text] = render([message], "https://khuyencong.example.vn", links)
    assert "📄 mau01.pdf: https://khuyencong.example.vn/files/" in text
    [plain] = render([message], "https://khuyencong.example.vn")  # without links: the name only
    assert plain.endswith("📄 mau01.pdf")


async def test_the_running_system_serves_the_links(tmp_path: Path) -> None:
    from bot.assembly import build_system
    from bot.config import Config

    config = Config(database_url=sqlite_url(tmp_path / "b.db"), http_port=0, files_dir=tmp_path / "f")
    system = await build_system(config)
    await system.start()
    try:
        stored = system.context.files.save(PDF_BYTES, ".pdf")
        assert system.context.file_links is not None
        url = system.context.file_links.url(Document(stored.key, "x.pdf", "application/pdf"))
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{system.port}{url}") as response,
        ):
            assert response.status == 200 and await response.read() == PDF_BYTES
    finally:
        await system.stop()
