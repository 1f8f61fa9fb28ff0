"""Several workers on PostgreSQL handle each user exactly as one worker would (issue 9 #4): the
user's updates are serialised across processes by an advisory lock taken before their state is
read, and a newcomer's account is created once even when two workers see them at once. Two real
`python -m bot run` processes on one throwaway database, started once (each start imports the
whole bot), reached through the web chat and through Telegram's webhook."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import ConversationState, Identity, ProcessedUpdate
from tests.conftest import throwaway_postgres
from tests.fake_telegram import FakeTelegram
from tests.test_flows import PROFILE_EN
from tests.two_workers import (
    APOLOGIES,
    REQUEST_TIMEOUT,
    TelegramUser,
    WebUser,
    converse,
    dead_letters,
    script,
    telegram_env,
    two_workers,
)

pytestmark = pytest.mark.slow

# Each proof is a race inside one user's updates, so a few users side by side already make the two
# workers contend; tests/trials/test_two_workers_trial.py runs 50 users x 10 with TRIALS_FULL=1.
USERS = 4
LENGTH = 8


async def test_two_workers_answer_each_user_as_one_worker_would(tmp_path: Path) -> None:
    """One pair of workers for both entries: the web chat first, then Telegram's webhook."""
    async with (
        FakeTelegram() as fake,
        throwaway_postgres() as engine,
        two_workers(engine, tmp_path, telegram_env(fake)) as bases,
    ):
        await _web_users(bases, engine)
        await _telegram_users(bases, engine, fake)


async def _web_users(bases: list[str], engine: AsyncEngine) -> None:
    # (a) every message to the other worker than the one before, each after the answer.
    alternating = await converse(bases, USERS, LENGTH, alternate=True)
    alone = await converse(bases, 1, LENGTH, alternate=False)
    assert all(transcript == alone[0] for transcript in alternating)
    assert not any(line in APOLOGIES for transcript in alternating for line in transcript)

    async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as http:
        # (b) a newcomer's /start and next message reach both workers at the same moment.
        async def start_and_help() -> list[dict]:
            user = WebUser(http)
            return list(
                await asyncio.gather(
                    user.post(bases[0], {"id": uuid.uuid4().hex, "text": "/start"}),
                    user.post(bases[1], {"id": uuid.uuid4().hex, "text": "/help"}),
                )
            )

        pairs = await asyncio.gather(*(start_and_help() for _ in range(USERS)))
        for pair in pairs:
            for data in pair:
                texts = [m["text"] for m in data["messages"]]
                assert texts and not data.get("duplicate") and not APOLOGIES & set(texts)

        # (c) one request (the same client id) delivered to both workers at once.
        async def same_update_twice() -> tuple[WebUser, list[dict]]:
            user = WebUser(http)
            for answer in ("/start", "I agree — continue in English"):
                await user.say(bases[0], answer)
            body = user.body_for("Cơ sở Mây tre Phú Vinh")
            return user, list(await asyncio.gather(user.post(bases[0], body), user.post(bases[1], body)))

        results = await asyncio.gather(*(same_update_twice() for _ in range(USERS)))
        for user, (first, second) in results:
            assert sorted([bool(first["messages"]), bool(second["messages"])]) == [False, True]
            async with http.get(
                bases[1] + "/api/chat/state", headers={"Cookie": f"kc_web={user.cookie}"}
            ) as r:
                shown = [m["text"] for m in (await r.json())["messages"]]
            answer = [m["text"] for m in (first["messages"] or second["messages"])]
            assert shown.count("Cơ sở Mây tre Phú Vinh") == 1  # the user's message, once
            assert shown[shown.index("Cơ sở Mây tre Phú Vinh") + 1 :] == answer  # the bot's answer, once

    assert await dead_letters(engine) == 0
    async with engine.connect() as conn:
        identities = (
            (await conn.execute(select(Identity.external_id).where(Identity.channel == "web")))
            .scalars()
            .all()
        )
        states = (await conn.execute(select(ConversationState.data))).scalars().all()
        processed = (await conn.execute(select(ProcessedUpdate.update_id))).scalars().all()
    assert len(identities) == len(set(identities)) == 3 * USERS + 1  # one account per newcomer
    assert len(processed) == len(set(processed))
    names = [s["answers"].get("facility_name") for s in states if s and "answers" in s]
    assert names.count("Cơ sở Mây tre Phú Vinh") == USERS


async def _telegram_users(bases: list[str], engine: AsyncEngine, fake: FakeTelegram) -> None:
    """The Telegram entry has no turn of its own across processes: only the runtime's advisory
    lock (taken before the state is read) and race-safe account creation keep this right."""
    from tests.fake_telegram import FakeUser

    async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as http:
        # (a) alternately to the two workers, each message after the previous answer.
        async def alternate(uid: int, *, both: bool) -> list[str]:
            user = TelegramUser(
                fake, http, FakeUser(uid, language_code=None)
            )  # no language told, as the script assumes
            for i, answer in enumerate(script(LENGTH)):
                await user.say(bases[i % 2] if both else bases[0], answer)
            return user.transcript

        alone = await alternate(700, both=False)
        alternating = await asyncio.gather(*(alternate(701 + n, both=True) for n in range(USERS)))
        assert all(transcript == alone for transcript in alternating)

        # (b) a newcomer's /start and next message reach both workers at the same moment.
        async def start_and_help(uid: int) -> None:
            user = TelegramUser(fake, http, FakeUser(uid, language_code=None))
            start, help_ = fake.message_update(user.user, "/start"), fake.message_update(user.user, "/help")
            await asyncio.gather(user.post(bases[0], start), user.post(bases[1], help_))

        await asyncio.gather(*(start_and_help(800 + n) for n in range(USERS)))
        for n in range(USERS):
            texts = fake.sent_texts(800 + n)
            assert not APOLOGIES & set(texts)
            assert any("/check" in t for t in texts)  # /help answered
            assert any("continue in English" in b["text"] for m in fake.messages[800 + n] for b in m.buttons)

        # (c) Telegram delivers one update to both workers at once (a retry racing the first).
        async def same_update_twice(uid: int) -> list[str]:
            user = TelegramUser(fake, http, FakeUser(uid, language_code=None))
            for answer in ("/start", "I agree — continue in English"):
                await user.say(bases[0], answer)
            mark = len(fake.messages[uid])
            update = user.update_for(PROFILE_EN[0][1])  # the name the script gives (answered alone)
            await asyncio.gather(user.post(bases[0], update), user.post(bases[1], update))
            return fake.sent_texts(uid)[mark:]

        answers = await asyncio.gather(*(same_update_twice(900 + n) for n in range(USERS)))
        assert all(answer == answers[0] and len(answer) == len(set(answer)) >= 1 for answer in answers)
        assert all(t in alone for t in answers[0])  # the very answer one worker gives to this step

        assert await dead_letters(engine) == 0
        async with engine.connect() as conn:
            identities = (
                (await conn.execute(select(Identity.external_id).where(Identity.channel == "telegram")))
                .scalars()
                .all()
            )
        assert len(identities) == len(set(identities)) == 3 * USERS + 1
