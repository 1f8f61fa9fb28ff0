"""Issue 9 #4 at size: 50 users x 10 messages through two PostgreSQL workers, on the Telegram
webhook entry (serialised only by the runtime's advisory lock) and the web chat, each user's
transcript the same as on one worker; then 50 newcomers whose first two messages reach both
workers at once, and 50 updates delivered to both. TRIALS_FULL=1 runs it at full size (`make
trials`). Its short sample in `make test` is tests/test_two_workers.py, the same proofs (a), (b)
and (c) on the same two real workers with 4 users, so this file is not run a second time there."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import throwaway_postgres
from tests.two_workers import (
    APOLOGIES,
    REQUEST_TIMEOUT,
    TelegramUser,
    converse,
    dead_letters,
    script,
    telegram_env,
    two_workers,
)

FULL = os.environ.get("TRIALS_FULL") == "1"
USERS = 50
MESSAGES = 10

pytestmark = [
    pytest.mark.trial,
    pytest.mark.skipif(not FULL, reason="full size only (TRIALS_FULL=1); sample: tests/test_two_workers.py"),
]


async def test_fifty_users_ten_messages_on_two_workers(tmp_path: Path) -> None:
    from tests.fake_telegram import FakeTelegram, FakeUser

    async with (
        FakeTelegram() as fake,
        throwaway_postgres() as engine,
        two_workers(engine, tmp_path, telegram_env(fake)) as bases,
        aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as http,
    ):

        async def telegram(uid: int, *, both: bool) -> list[str]:
            user = TelegramUser(
                fake, http, FakeUser(uid, language_code=None)
            )  # no language told, as the script assumes
            for i, answer in enumerate(script(MESSAGES)):
                await user.say(bases[i % 2] if both else bases[0], answer)
            return user.transcript

        alone = await telegram(10_000, both=False)
        on_two = await asyncio.gather(*(telegram(10_001 + n, both=True) for n in range(USERS)))
        assert all(transcript == alone for transcript in on_two)

        web_alone = (await converse(bases, 1, MESSAGES, alternate=False))[0]
        web_on_two = await converse(bases, USERS, MESSAGES, alternate=True)
        assert all(transcript == web_alone for transcript in web_on_two)

        async def start_and_next(uid: int) -> None:
            user = TelegramUser(fake, http, FakeUser(uid, language_code=None))
            start, help_ = fake.message_update(user.user, "/start"), fake.message_update(user.user, "/help")
            await asyncio.gather(user.post(bases[0], start), user.post(bases[1], help_))

        await asyncio.gather(*(start_and_next(20_000 + n) for n in range(USERS)))

        async def twice(uid: int) -> list[str]:
            user = TelegramUser(fake, http, FakeUser(uid, language_code=None))
            for answer in script(3)[:-1]:
                await user.say(bases[0], answer)
            mark = len(fake.messages[uid])
            update = user.update_for(script(3)[-1])
            await asyncio.gather(user.post(bases[0], update), user.post(bases[1], update))
            return fake.sent_texts(uid)[mark:]

        answers = await asyncio.gather(*(twice(30_000 + n) for n in range(USERS)))
        assert all(answer == answers[0] and answer for answer in answers)
        for uid in [*range(20_000, 20_000 + USERS), *range(30_000, 30_000 + USERS)]:
            assert not APOLOGIES & set(fake.sent_texts(uid))
        assert await dead_letters(engine) == 0
