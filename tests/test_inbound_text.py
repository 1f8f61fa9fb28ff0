"""Inbound text is cleaned once, in the runtime, before the engine sees it (issue 9 #2): a NUL
typed into an answer used to be accepted and then fail every save on PostgreSQL (a dead letter
per retry); zero-width and bidirectional controls made equal-looking names differ. The channel
tests (test_telegram, test_zalo) send the same dirty answer through their adapters."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from conversations.dialogue import Dialogue
from conversations.programmes import load_programmes
from handlers.runtime import Pipeline, clean_text
from storage.db import session_factory
from storage.files import FileStore
from storage.models import DeadLetter
from tests.conftest import Chat, ChatLike
from tests.test_e2e_webchat import Browser, start_system
from tests.test_flows import state_of

# What a copy from a spreadsheet or a hostile client can carry: NUL, ESC, a C1 control, a
# zero-width space, a right-to-left override, a first-strong isolate; tab and newline stay.
DIRTY_NAME = "Hợp tác xã\x00 Mây\u200b tre\x1b đan\x85 Phú\u202e Vinh\u2068"
CLEAN_NAME = "Hợp tác xã Mây tre đan Phú Vinh"


def test_controls_and_invisible_marks_go_and_letters_tabs_newlines_stay() -> None:
    assert clean_text(DIRTY_NAME) == CLEAN_NAME
    assert clean_text("Giỏ mây\tkhay tre\r\nđĩa\rbát") == "Giỏ mây\tkhay tre\nđĩa\nbát"
    every_mark = "".join(map(chr, [*range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
    assert clean_text("a" + every_mark + "b") == "ab"
    controls = [*range(0, 9), 11, 12, *range(14, 32), *range(127, 160)]  # \r becomes a line end
    assert clean_text("".join(map(chr, controls))) == ""


async def answer_the_name(chat: ChatLike | Browser, name: str) -> None:
    await chat.send("/start")
    if any("continue in English" in b for b in chat.buttons):  # no language told: one input
        await chat.tap("continue in English")
    else:  # the platform said English
        await chat.tap("I agree")
    assert "name of your facility" in chat.text
    await chat.send(name)


async def test_a_nul_in_an_answer_is_removed_and_the_answer_saves(
    any_engine: AsyncEngine, tmp_path: Path
) -> None:
    """On PostgreSQL this used to end in `invalid byte sequence ... 0x00` and a dead letter."""
    sessions = session_factory(any_engine)
    pipeline = Pipeline(sessions, Dialogue(programmes=load_programmes(), files=FileStore(tmp_path / "f")))
    chat = Chat(pipeline)
    await answer_the_name(chat, DIRTY_NAME)
    assert "Type of facility noted from the name: Cooperative" in chat.text  # the next step came
    state = await state_of(sessions)
    assert state.data["answers"]["facility_name"] == CLEAN_NAME
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(DeadLetter)) == 0


async def test_web_chat_text_is_cleaned_before_the_engine(tmp_path: Path) -> None:
    system = await start_system(tmp_path)
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            browser = Browser(http, f"http://127.0.0.1:{system.port}")
            await browser.open()
            await answer_the_name(browser, DIRTY_NAME)
        async with system.sessions() as s:
            from storage.models import ConversationState

            state = await s.scalar(select(ConversationState))
        assert state is not None and state.data["answers"]["facility_name"] == CLEAN_NAME
    finally:
        await system.stop()
