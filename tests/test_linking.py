"""Linking a facility's Zalo and Telegram through the real dialogue and pipeline: a one-time code
shown on one app and typed on the other, the merge rules, and resuming the draft across apps.
(The same journey through the fake Zalo platform is in test_zalo.py.)"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.i18n import translator
from conversations.messages import TELEGRAM, ZALO
from handlers.runtime import Pipeline
from storage import accounts
from storage.links import LinkCode
from storage.models import Account, Facility
from tests.conftest import Chat, Clock
from tests.test_flows import FORM_ANSWERS, SELECTION_ANSWERS, answer_current, onboard_english, state_of

en = translator("en")
vi = translator("vi")


async def answer_until(chat: Chat, sessions: async_sessionmaker[AsyncSession], step: str) -> None:
    """Answer the application's questions until the bot waits at `step`."""
    for _ in range(40):
        if (await state_of(sessions, chat.user_id)).step == step:
            return
        await answer_current(chat, sessions, {**SELECTION_ANSWERS, **FORM_ANSWERS})
    raise AssertionError(f"never reached {step}")


async def prepare_draft_at_documents(pipeline: Pipeline, channel: str, user_id: str) -> Chat:
    """A facility onboarded in English whose draft waits at the documents checklist."""
    chat = Chat(pipeline, user_id=user_id, channel=channel)
    await onboard_english(chat)
    await chat.send("/apply")
    await chat.tap("Provincial level")  # the programme and its level in one menu
    await answer_until(chat, pipeline.sessions, "documents")
    await chat.send("/menu")
    return chat


def code_in(chat: Chat) -> str:
    found = re.search(r"\b(\d{6})\b", chat.text)
    assert found, chat.text
    return found.group(1)


async def account_of(sessions: async_sessionmaker[AsyncSession], channel: str, user_id: str) -> int:
    async with sessions() as session:
        identity = await accounts.find_identity(session, channel, user_id)
        assert identity is not None
        return identity.account_id


async def test_code_typed_on_the_other_app_links_it_and_apply_resumes_the_draft(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    telegram = Chat(pipeline, user_id="tg-1", channel=TELEGRAM)
    await onboard_english(telegram)
    await telegram.send("/apply")
    await telegram.tap("Provincial level")  # the programme and its level in one menu
    await answer_until(telegram, sessions, "product_description")
    await telegram.send("/link")
    code = code_in(telegram)
    assert f"/link {code}" in telegram.text and "10 minutes" in telegram.text
    zalo = Chat(pipeline, user_id="zl-1", channel=ZALO)
    await zalo.send("xin chào")  # a new Zalo user: an account of its own, no profile yet
    await zalo.send(f"/link {code}")
    assert "Linked" in zalo.text and "Telegram" in zalo.text
    assert "Hợp tác xã Mây tre đan Phú Vinh" in zalo.text and "/apply" in zalo.text
    assert await account_of(sessions, ZALO, "zl-1") == await account_of(sessions, TELEGRAM, "tg-1")
    await zalo.send("/apply")
    assert "Welcome back" in zalo.text and "Giỏ mây đan Phú Vinh" in zalo.text
    assert (await state_of(sessions, "zl-1")).step == "product_description"
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Facility)) == 1


async def test_the_code_can_be_typed_when_asked(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    telegram = Chat(pipeline, user_id="tg-1", channel=TELEGRAM)
    await onboard_english(telegram)
    await telegram.send("/settings")
    await telegram.tap("Link Zalo and Telegram")
    code = code_in(telegram)
    zalo = Chat(pipeline, user_id="zl-1", channel=ZALO)
    await zalo.send("/link")
    own = code_in(zalo)
    assert own != code
    # the Zalo side has not chosen a language yet: it reads Vietnamese until linked
    await zalo.tap(vi("🔢 I have a code from the other app"))
    assert vi("Please type the 6-digit code the other app showed you.") in zalo.text
    await zalo.send("12 34")
    assert vi("A link code has 6 digits.") in zalo.text
    await zalo.send(f"{code[:3]} {code[3:]}")  # read off one phone, typed with a space
    assert "Linked" in zalo.text
    assert await account_of(sessions, ZALO, "zl-1") == await account_of(sessions, TELEGRAM, "tg-1")


async def test_two_profiles_are_never_merged(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    telegram = Chat(pipeline, user_id="tg-1", channel=TELEGRAM)
    await onboard_english(telegram)
    zalo = Chat(pipeline, user_id="zl-1", channel=ZALO)
    await onboard_english(zalo)
    await telegram.send("/link")
    await zalo.send(f"/link {code_in(telegram)}")
    assert "Nothing was changed" in zalo.text and "staff" in zalo.text
    assert await account_of(sessions, ZALO, "zl-1") != await account_of(sessions, TELEGRAM, "tg-1")
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Facility)) == 2


async def test_the_app_with_the_profile_keeps_it_whichever_shows_the_code(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    telegram = Chat(pipeline, user_id="tg-1", channel=TELEGRAM)
    await telegram.send("/start")
    await telegram.send("/link")  # Telegram has no profile yet: it shows the code...
    zalo = await prepare_draft_at_documents(pipeline, ZALO, "zl-1")
    await zalo.send(f"/link {code_in(telegram)}")  # ...and Zalo, which has one, types it
    assert "Linked" in zalo.text
    zalo_account = await account_of(sessions, ZALO, "zl-1")
    assert await account_of(sessions, TELEGRAM, "tg-1") == zalo_account
    await telegram.send("/apply")
    assert "Welcome back" in telegram.text
    assert (await state_of(sessions, "tg-1")).step == "documents"
    async with sessions() as session:
        orphans = await session.scalar(
            select(func.count()).select_from(Account).where(Account.id != zalo_account)
        )
    assert orphans == 1  # the empty account stays behind, with no channel and no profile


async def test_wrong_expired_reused_and_same_app_codes_are_refused(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    telegram = Chat(pipeline, user_id="tg-1", channel=TELEGRAM)
    await onboard_english(telegram)
    await telegram.send("/link")
    code = code_in(telegram)
    other_telegram = Chat(pipeline, user_id="tg-2", channel=TELEGRAM)
    await other_telegram.send(f"/link {code}")
    assert "cũng được tạo trên Telegram" in other_telegram.text  # a new user reads Vietnamese
    clock.now += timedelta(minutes=11)
    zalo = Chat(pipeline, user_id="zl-1", channel=ZALO)
    await zalo.send(f"/link {code}")
    assert "không đúng hoặc đã hết hạn" in zalo.text
    await telegram.send("/link")
    fresh = code_in(telegram)
    await zalo.send(f"/link {fresh}")
    assert "Linked" in zalo.text
    web = Chat(pipeline, user_id="web-1", channel="web")
    await web.send(f"/link {fresh}")  # used once already
    assert "không đúng hoặc đã hết hạn" in web.text
    async with sessions() as session:
        hashes = list(await session.scalars(select(LinkCode.code_hash)))
    assert hashes and all(fresh not in h and code not in h for h in hashes)  # only digests are kept


async def test_guessing_codes_is_stopped(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    telegram = Chat(pipeline, user_id="tg-1", channel=TELEGRAM)
    await onboard_english(telegram)
    await telegram.send("/link")
    code = code_in(telegram)
    zalo = Chat(pipeline, user_id="zl-1", channel=ZALO)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        await zalo.send(f"/link {wrong}")
        assert "không đúng hoặc đã hết hạn" in zalo.text
    await zalo.send(f"/link {code}")  # the right one, too late: the sixth try in the hour
    assert "nhập sai mã quá nhiều lần" in zalo.text
    assert await account_of(sessions, ZALO, "zl-1") != await account_of(sessions, TELEGRAM, "tg-1")
    clock.now += timedelta(minutes=61)
    await telegram.send("/link")
    await zalo.send(f"/link {code_in(telegram)}")
    assert "Linked" in zalo.text
