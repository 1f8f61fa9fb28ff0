"""Inputs the fuzz trial found breaking the system, pinned as plain tests: a Telegram update
whose ids are not integers or whose language code is not a string, and a translator asked for
a locale that is not a string."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.i18n import translator
from conversations.record_ids import record_id
from handlers.channels.telegram.registration import webhook_path
from storage.models import DeadLetter
from tests.conftest import Chat
from tests.fake_telegram import TOKEN
from tests.trials.fuzz import TELEGRAM_SECRET, Running, post


def update(**sender: object) -> bytes:
    person = {"id": 7, "is_bot": False, "first_name": "Lan", **sender}
    message = {
        "message_id": 1,
        "date": 1,
        "chat": {"id": 7, "type": "private"},
        "from": person,
        "text": "/start",
    }
    return json.dumps({"update_id": 5, "message": message}).encode()


@pytest.mark.parametrize(
    "body",
    [
        update(id=[7]),
        update(language_code={"vi": 1}),
        update(language_code=["en"]),
        update(first_name=12),
        update(last_name={"a": 1}),
        json.dumps({"update_id": 6, "message": {"message_id": 2, "date": 1, "text": "hi"}}).encode(),
        json.dumps(
            {
                "update_id": 8,
                "message": {
                    "message_id": 3,
                    "date": 1,
                    "chat": {"id": 7, "type": "private"},
                    "from": {"id": 7, "is_bot": False, "first_name": "L"},
                    "text": 12,
                },
            }
        ).encode(),
    ],
)
async def test_a_malformed_telegram_update_is_answered_and_skipped(tmp_path: Path, body: bytes) -> None:
    running = Running(tmp_path)
    await asyncio.to_thread(running.start)
    try:
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
        status = await asyncio.to_thread(post, running.base + webhook_path(TOKEN), body, headers)
        assert status in (200, 400)
        assert running.dead_letters() == 0
    finally:
        await asyncio.to_thread(running.stop)


@pytest.mark.parametrize("odd", [None, "", "fr", ["vi"], {"en": 1}, 7])
def test_an_odd_locale_gets_the_default_language(odd: object) -> None:
    assert translator(odd).locale == "vi"


@pytest.mark.parametrize("typed", ["²", "١", "1" * 5000, "৩"])
async def test_digits_that_are_not_a_menu_number_get_help_not_an_apology(
    chat: Chat, sessions: async_sessionmaker[AsyncSession], typed: str
) -> None:
    await chat.send("/start")
    await chat.send(typed)
    assert chat.text and "went wrong" not in chat.text and "trục trặc" not in chat.text
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(DeadLetter)) == 0


@pytest.mark.parametrize(
    ("text", "value"),
    [("12", 12), ("0", None), ("²", None), ("١٢", None), ("9" * 11, None), ("2147483648", None), ("", None)],
)
def test_record_ids_are_small_ascii_numbers(text: str, value: int | None) -> None:
    assert record_id(text) == value


@pytest.mark.parametrize(
    "payload", ["go:fairs:reg:²", "go:broadcast:stop:99999999999999999999", "go:rv:o:١", "go:apply:²"]
)
async def test_a_forged_button_payload_with_odd_digits_is_no_dead_letter(
    chat: Chat, sessions: async_sessionmaker[AsyncSession], payload: str
) -> None:
    from tests.test_staff_support import tap_payload

    await chat.send("/start")
    await tap_payload(chat, payload)
    assert chat.text and "went wrong" not in chat.text and "trục trặc" not in chat.text
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(DeadLetter)) == 0
