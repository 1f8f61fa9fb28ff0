"""Inputs the fuzz trial found breaking the system, pinned as plain tests: a Telegram update
whose ids are not integers or whose language code is not a string, and a translator asked for
a locale that is not a string."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from conversations.i18n import translator
from handlers.telegram import webhook_path
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
