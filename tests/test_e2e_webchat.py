"""End to end over HTTP: `python -m bot run`'s system on 127.0.0.1, driven like the browser does,
from /start to a submitted dossier with an uploaded PDF and photos, restarted mid-draft."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.assembly import System, build_system
from bot.config import Config
from tests.conftest import JPEG_BYTES, PDF_BYTES, sqlite_url
from tests.test_flows import FORM_ANSWERS, PROFILE_EN, SELECTION_ANSWERS


class Browser:
    """What chat.js does: keeps the cookie, posts messages, taps buttons, uploads files."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base
        self.last: list[dict[str, Any]] = []

    async def open(self) -> dict[str, Any]:
        async with self.session.get(self.base + "/") as resp:
            assert resp.status == 200
            assert "text/html" in resp.headers["Content-Type"]
        async with self.session.get(self.base + "/api/chat/state") as resp:
            assert resp.status == 200
            return await resp.json()

    async def send(self, text: str) -> list[dict[str, Any]]:
        return await self._post({"id": uuid.uuid4().hex, "text": text})

    async def tap(self, label_part: str) -> list[dict[str, Any]]:
        for message in reversed(self.last):
            for choice in message.get("choices") or []:
                if label_part.lower() in choice["label"].lower():
                    return await self._post(
                        {"id": uuid.uuid4().hex, "choice": choice["payload"], "label": choice["label"]}
                    )
        raise AssertionError(f"no button {label_part!r} in {self.buttons}")

    async def upload(self, name: str, data: bytes, content_type: str) -> list[dict[str, Any]]:
        form = aiohttp.FormData()
        form.add_field("id", uuid.uuid4().hex)
        form.add_field("file", data, filename=name, content_type=content_type)
        async with self.session.post(self.base + "/api/chat/upload", data=form) as resp:
            assert resp.status == 200, await resp.text()
            self.last = (await resp.json())["messages"]
            return self.last

    async def upload_together(self, files: list[tuple[str, bytes, str]]) -> list[dict[str, Any]]:
        """Several files picked at once: one request, as chat.js sends them."""
        form = aiohttp.FormData()
        form.add_field("id", uuid.uuid4().hex)
        for name, data, content_type in files:
            form.add_field("file", data, filename=name, content_type=content_type)
        async with self.session.post(self.base + "/api/chat/upload", data=form) as resp:
            assert resp.status == 200, await resp.text()
            self.last = (await resp.json())["messages"]
            return self.last

    async def _post(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        async with self.session.post(self.base + "/api/chat/send", json=body) as resp:
            assert resp.status == 200, await resp.text()
            self.last = (await resp.json())["messages"]
            return self.last

    @property
    def text(self) -> str:
        return "\n---\n".join(m["text"] for m in self.last)

    @property
    def buttons(self) -> list[str]:
        return [c["label"] for m in self.last for c in m.get("choices") or []]

    def payload_for_step(self, step: str, value: str | None) -> dict[str, str] | None:
        options = [
            c for m in self.last for c in m.get("choices") or [] if c["payload"].startswith(f"{step}:")
        ]
        if not options:
            return None
        return next((c for c in options if value and c["payload"] == f"{step}:{value}"), options[0])


async def start_system(tmp_path: Path) -> System:
    config = Config(
        database_url=sqlite_url(tmp_path / "bot.db"),
        http_host="127.0.0.1",
        http_port=0,
        files_dir=tmp_path / "files",
    )
    system = await build_system(config)
    await system.start()
    return system


async def current_step(system: System) -> str | None:
    from sqlalchemy import select

    from storage.models import ConversationState

    async with system.sessions() as s:
        state = await s.scalar(select(ConversationState))
        return state.step if state else None


@pytest.mark.slow
@pytest.mark.parametrize("restart_mid_draft", [True])
async def test_web_journey_from_start_to_submitted_with_restart(
    tmp_path: Path, restart_mid_draft: bool
) -> None:
    system = await start_system(tmp_path)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        browser = Browser(http, f"http://127.0.0.1:{system.port}")
        state = await browser.open()
        assert state["messages"] == []
        await browser.send("/start")
        assert "Tôi đồng ý" in browser.buttons  # no language told: Vietnamese
        await browser.tap("continue in English")  # consent and language in one
        for _, answer in PROFILE_EN:
            await (browser.tap(answer) if answer in browser.buttons else browser.send(answer))
        await browser.send("/apply")
        await browser.tap("Provincial level")  # the programme and its level in one menu
        answers = {**SELECTION_ANSWERS, **FORM_ANSWERS}
        restarted = False
        for _ in range(40):
            step = await current_step(system)
            if step == "documents":
                break
            if step == "capacity" and restart_mid_draft and not restarted:
                await system.stop()  # the server goes down mid-draft...
                system = await start_system(tmp_path)  # ...and comes back on the same database
                browser.base = f"http://127.0.0.1:{system.port}"
                history = await browser.open()
                assert any(
                    "Giỏ mây đan Phú Vinh" in m["text"] for m in history["messages"]
                )  # reload keeps history
                await browser.send("/apply")
                assert "Welcome back" in browser.text and "Giỏ mây đan Phú Vinh" in browser.text
                restarted = True
                continue
            choice = browser.payload_for_step(step or "", answers.get(step or ""))
            if choice:
                await browser._post(
                    {"id": uuid.uuid4().hex, "choice": choice["payload"], "label": choice["label"]}
                )
            else:
                await browser.send(answers[step or ""])
        assert restarted
        # documents: a PDF for each paper, three photos of the product
        for _ in range(10):
            found = re.search(r"Required documents: (\d+)/(\d+)", browser.text)
            assert found, browser.text
            if found.group(1) == found.group(2):
                break
            if "Please send" not in browser.text:  # the bot asks for the next one itself
                missing = [b for b in browser.buttons if b.startswith("📎")]
                await browser.tap(missing[0])
            if "photo of" in browser.text:  # three photos picked together: one message, one reply
                photos = [(f"anh{i}.jpg", JPEG_BYTES + bytes([i]), "image/jpeg") for i in range(3)]
                await browser.upload_together(photos)
                assert len(browser.last) == 1 and "✅ Received “Product photos”" in browser.text
                shown = (await browser.open())["messages"]
                sent = next(m for m in reversed(shown) if m["dir"] == "in")
                assert [sent["file"]["name"], *(f["name"] for f in sent["more_files"])] == [
                    "anh0.jpg",
                    "anh1.jpg",
                    "anh2.jpg",
                ]
            else:
                await browser.upload("giay-to.pdf", PDF_BYTES, "application/pdf")
        await browser.tap("Submit")
        code = re.search(r"KC-\d{4}-[A-Z0-9]{5}", browser.text)
        assert code, browser.text
        await browser.send("/status")
        assert code.group(0) in browser.text and "Submitted" in browser.text
    await system.stop()
    stored = list((tmp_path / "files").rglob("*.*"))
    assert any(p.suffix == ".pdf" for p in stored) and any(p.suffix == ".jpg" for p in stored)


async def test_the_browsers_language_starts_the_chat_with_a_one_tap_switch(tmp_path: Path) -> None:
    """Accept-Language says the owner's language: the consent notice comes at once in it, with
    the other language one tap away; the owner's tap wins over the browser."""
    system = await start_system(tmp_path)
    try:
        base = f"http://127.0.0.1:{system.port}"
        for header, agree, switch, other_agree in (
            ("vi-VN,vi;q=0.9,en;q=0.8", "Tôi đồng ý", "🌐 English", "I agree"),
            ("en-US,en;q=0.9", "I agree", "🌐 Tiếng Việt", "Tôi đồng ý"),
        ):
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(cookie_jar=jar, headers={"Accept-Language": header}) as http:
                browser = Browser(http, base)
                await browser.open()
                await browser.send("/start")
                assert browser.buttons[0] == agree and browser.buttons[-1] == switch  # no language question
                await browser.tap(switch)
                assert browser.buttons[0] == other_agree  # the same notice, in the other language
                await browser.tap(other_agree)
                assert "?" in browser.text and other_agree not in browser.buttons  # on to the profile
    finally:
        await system.stop()
