"""The staff console in a real browser (Playwright driving the system's Chromium), at an office
screen's size and a phone's: sign in from a link, filter and search the queue, open a dossier and
its PDF and photo, return it with a comment on one answer (the owner's web chat receives the
notice), approve it once resubmitted, import a certificate list with a bad row, export the queue
and read it with openpyxl, and look at the statistics. Screenshots go to test-artifacts/console/.

Skipped, saying why, where Chromium is not installed (`.ci/run` installs it with apt; never
`playwright install`, which needs the internet).
"""

from __future__ import annotations

import contextlib
import shutil
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.xlsx import active_sheet
from handlers.channels.webchat.transcript import WebSender
from handlers.console import setup_console
from handlers.runtime import Pipeline
from handlers.workers.delivery import DeliveryWorker
from storage import transcripts
from storage.models import StoredDocument
from tests import loopback
from tests.conftest import Chat, Clock
from tests.console_support import new_link
from tests.test_staff_support import add_staff, application, dossier, submitted

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "console"
playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed (dev extra)")
expect = playwright_api.expect
expect.set_options(timeout=30_000)  # a loaded CI machine renders a dossier with three PDFs slowly
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Chromium is not installed (apt-get install chromium); .ci/run installs it",
    ),
]
VIEWPORTS = [(1366, 768), (390, 844)]


def png(width: int = 120, height: int = 80) -> bytes:
    """A real PNG (a colour gradient), so the thumbnail shows an image in the screenshots."""
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (40 + x, 120, 80 + y)) for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def delivered_to_web_chat(sessions: async_sessionmaker[AsyncSession], web_user: str) -> list[str]:
    """What the owner's web chat shows of the bot's own messages: the outbox delivered by the
    delivery worker into the web chat's transcript, as the running bot does."""
    worker = DeliveryWorker(sessions, {"web": WebSender(sessions)})
    await worker.drain(follow=False)
    async with sessions() as s:
        shown = await transcripts.history(s, web_user)
    return [str(m["payload"].get("text", "")) for m in shown if m["dir"] == transcripts.OUT]


@contextlib.asynccontextmanager
async def serve(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], client_max_size: int = 1024**2
) -> AsyncIterator[str]:
    app = web.Application(client_max_size=client_max_size)
    setup_console(app, sessions=sessions, dialogue=pipeline.dialogue, public_base_url="http://127.0.0.1")
    runner, port = await loopback.serve(app)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def real_photos(pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]) -> None:
    """The test uploads stand-in JPEG bytes; make the photos real images for the screenshots."""
    async with sessions() as s, s.begin():
        for doc in await s.scalars(select(StoredDocument).where(StoredDocument.content_type == "image/jpeg")):
            pipeline.dialogue.files.path(doc.storage_key).write_bytes(png())
            doc.content_type = "image/png"


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=lambda v: f"{v[0]}x{v[1]}")
async def test_a_reviewer_works_a_round_in_the_browser(
    viewport: tuple[int, int],
    chat: Chat,
    pipeline: Pipeline,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    tmp_path: Path,
) -> None:
    width, height = viewport
    size = f"{width}x{height}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    app = await submitted(chat, sessions)
    await real_photos(pipeline, sessions)
    await dossier(sessions, product="Nón lá Chuông", commune="Xã Phương Trung")
    await dossier(sessions, product="Chiếu cói Kim Sơn", commune="Xã Kim Sơn", status="approved")
    await add_staff(sessions, "r1", "reviewer", "Hưng Yên", name="Trần Thị Bình")

    async with serve(pipeline, sessions) as base, playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = await browser.new_context(
            viewport={"width": width, "height": height}, accept_downloads=True
        )
        page = await context.new_page()

        async def accept(dialog: Any) -> None:
            await dialog.accept()

        page.on("dialog", accept)

        # sign in from the link (the reviewer chose English in chat)
        await page.goto(base + await new_link(sessions, "r1", clock))
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url("**/staff/")
        await page.screenshot(path=ARTIFACTS / f"queue-{size}.png", full_page=True)

        # search without accents, then filter by status
        await page.fill("input[name=q]", "non la chuong")
        await page.get_by_role("button", name="Filter").click()
        await expect(page.locator("table.queue tbody tr")).to_have_count(1)
        await expect(page.locator("table.queue")).to_contain_text("Nón lá Chuông")
        await page.goto(base + "/staff/")
        await page.select_option("select[name=status]", "approved")
        await page.get_by_role("button", name="Filter").click()
        await expect(page.locator("table.queue tbody tr")).to_have_count(1)
        await expect(page.locator("table.queue")).to_contain_text("Chiếu cói Kim Sơn")

        # export the queue as filtered and read it
        async with page.expect_download() as download_info:
            await page.get_by_role("link", name="Export to Excel").click()
        download = await download_info.value
        saved = tmp_path / "queue.xlsx"
        await download.save_as(saved)
        sheet = active_sheet(load_workbook(saved))
        assert sheet.max_row == 2 and "Cơ sở Chiếu cói Kim Sơn" in [c.value for c in sheet[2]]

        # open the dossier: nothing is claimed; the PDF and a photo are shown
        await page.goto(base + "/staff/")
        await page.get_by_role("link", name=app.receipt_code).click()
        await expect(page.locator("main")).to_contain_text("Number of workers")
        assert (await application(sessions, app.id)).status == "submitted"
        assert await page.locator("iframe.pdf").count() >= 1
        pdf_url = await page.locator("iframe.pdf").first.get_attribute("src")
        pdf = await page.request.get(base + pdf_url)
        assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
        thumb = page.locator(".thumb img").first
        await thumb.scroll_into_view_if_needed()
        loaded = "img => img.complete ? img.naturalWidth : new Promise(done => img.onload = () => done(img.naturalWidth))"
        assert await thumb.evaluate(loaded) == 120
        await page.screenshot(path=ARTIFACTS / f"dossier-{size}.png", full_page=True)
        link = page.locator(".thumb").first
        assert await link.get_attribute("target") == "_blank"  # opens large beside the dossier
        large = await context.new_page()
        await large.goto(base + str(await link.get_attribute("href")))
        assert await large.evaluate("document.images[0].naturalWidth") == 120
        await large.close()

        # claim, then return it with a comment on one answer
        await page.get_by_role("button", name="Take for review").click()
        await expect(page.locator("main")).to_contain_text("You have taken this dossier")
        await page.get_by_text("Return for changes", exact=True).click()
        flag = page.locator(".flag", has_text="Short description")
        box = flag.locator("input[type=checkbox]")
        assert await box.get_attribute("value") == "a:product_description"
        await box.check()
        comment = page.locator('textarea[name="comment:a:product_description"]')
        await comment.fill("Please say which materials you use.")
        assert await box.is_checked() and await comment.input_value() == "Please say which materials you use."
        await page.screenshot(path=ARTIFACTS / f"return-{size}.png", full_page=True)
        await page.get_by_role("button", name="Return to the owner").click()
        await expect(page.locator("main")).to_contain_text("Returned to the owner")
        received = await delivered_to_web_chat(sessions, chat.user_id)
        assert any("Short description: Please say which materials you use." in text for text in received)

        # the owner changes that answer in chat and sends it again; the reviewer approves
        await chat.send("/apply")
        await chat.send("Giỏ đan tay từ mây rừng, nhuộm bằng lá bàng, không dùng hoá chất.")
        await chat.tap("Submit")
        await page.reload(wait_until="domcontentloaded")
        await expect(page.locator("main")).to_contain_text("Changed since it was returned")
        await page.get_by_role("button", name="Take for review").click()
        await expect(page.locator("main")).to_contain_text("You have taken this dossier")
        await page.get_by_role("button", name="Approve").click()
        await expect(page.locator("main")).to_contain_text("now frozen")
        assert (await application(sessions, app.id)).status == "approved"

        # import a certificate list with a bad row: every bad row listed, nothing imported
        await page.goto(base + "/staff/certificates")
        await page.get_by_text("Import a list").click()
        bad = (
            "Tên cơ sở,Mã số thuế,Sản phẩm,Cấp,Số giấy chứng nhận,Ngày cấp,Cơ quan cấp,Tỉnh\n"
            "HTX Mây tre,0100109106,Giỏ mây,tỉnh,12/GCN,15/09/2025,UBND tỉnh Hưng Yên,Hưng Yên\n"
            "Cơ sở Nón lá,0100109106,Nón lá,tỉnh,13/GCN,31/02/2025,UBND tỉnh Hưng Yên,Hưng Yên\n"
        )
        await page.set_input_files(
            "input[type=file]", files=[{"name": "ds.csv", "mimeType": "text/csv", "buffer": bad.encode()}]
        )
        await page.get_by_role("button", name="Import", exact=True).click()
        await page.wait_for_selector(".import-errors")
        errors = await page.inner_text(".import-errors")
        assert "Nothing was imported." in errors and "3" in errors
        await page.screenshot(path=ARTIFACTS / f"import-{size}.png", full_page=True)

        # the statistics: charts drawn, each with its table
        await page.goto(base + "/staff/stats")
        assert await page.locator("svg.chart").count() >= 4
        chart = await page.locator("svg.chart").first.bounding_box()
        assert chart is not None and chart["width"] <= width
        await page.screenshot(path=ARTIFACTS / f"stats-{size}.png", full_page=True)
        assert await page.evaluate("document.documentElement.scrollWidth") <= width

        # Vietnamese, as most staff will read it
        await page.get_by_role("button", name="Tiếng Việt").click()
        await expect(page.locator("header")).to_contain_text("Thống kê")
        await page.screenshot(path=ARTIFACTS / f"stats-vi-{size}.png", full_page=True)
        await page.goto(base + f"/staff/dossiers/{app.receipt_code}", wait_until="domcontentloaded")
        await page.screenshot(path=ARTIFACTS / f"dossier-vi-{size}.png", full_page=True)
        await browser.close()
