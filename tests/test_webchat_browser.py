"""The web chat's page in Chromium: the browser's language starts the chat, and files picked
together leave in one request and show as one message with a chip each."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import JPEG_BYTES
from tests.test_e2e_webchat import start_system

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed (dev extra)")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed"),
]


async def test_files_picked_together_leave_as_one_message(tmp_path: Path) -> None:
    photos = []
    for i in range(3):
        path = tmp_path / f"anh{i}.jpg"
        path.write_bytes(JPEG_BYTES + bytes([i]))
        photos.append(str(path))
    system = await start_system(tmp_path)
    try:
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            context = await browser.new_context(locale="en-US", viewport={"width": 390, "height": 844})
            page = await context.new_page()
            uploads: list[str] = []
            page.on(
                "request", lambda r: uploads.append(r.url) if r.url.endswith("/api/chat/upload") else None
            )
            await page.goto(f"http://127.0.0.1:{system.port}/")
            agree = page.get_by_role("button", name="I agree")  # English at once: the browser said so
            await agree.wait_for()
            assert await page.get_by_role("button", name="🌐 Tiếng Việt").count() == 1
            await agree.click()
            await page.get_by_text("name of your facility").last.wait_for()
            await page.set_input_files("#file", photos)
            await page.get_by_text("Only the first file was taken here").wait_for()
            assert len(uploads) == 1  # three files, one request
            mine = page.locator(".msg.user").last
            assert await mine.locator(".file-name").all_inner_texts() == ["anh0.jpg", "anh1.jpg", "anh2.jpg"]
            await browser.close()
    finally:
        await system.stop()
