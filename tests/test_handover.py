"""“Talk to staff”: the province's staff are told, see what the owner writes, reply, hand back."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.runtime import Pipeline
from storage.handover import HandoverCase
from storage.models import Account
from tests.conftest import Chat
from tests.test_flows import onboard_english
from tests.test_staff_support import add_staff, notice_for, outbox, staff_chat, tap_payload


async def owner_asks_for_staff(chat: Chat) -> None:
    """An onboarded owner (Hưng Yên) who fails a question three times and asks for staff."""
    await onboard_english(chat)
    await chat.send("/profile")  # the profile summary: change the phone, then type it wrong
    await chat.tap("Change an answer")
    await chat.tap("Mobile phone")
    for _ in range(3):
        await chat.send("12")
    await chat.tap("Talk to staff")
    assert "passed your conversation to the centre's staff" in chat.text


async def notices_to(sessions: async_sessionmaker[AsyncSession], external_id: str) -> list[str]:
    texts = []
    for row in await outbox(sessions):
        rendered, identity = await notice_for(sessions, row)
        if identity.external_id == external_id:
            texts += [m.text for m in rendered]
    return texts


async def test_the_provinces_staff_are_told_and_see_what_the_owner_writes(
    pipeline: Pipeline, chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_staff(sessions, "hy-1", "reviewer", "Hưng Yên")
    await add_staff(sessions, "hn-1", "reviewer", "Hà Nội")
    await add_staff(sessions, "adm-1", "admin", None)  # someone answers Hưng Yên: a national admin
    await owner_asks_for_staff(chat)
    told = await notices_to(sessions, "hy-1")
    assert any("Hợp tác xã Mây tre đan Phú Vinh (Hưng Yên) asks to talk to staff" in t for t in told)
    assert any("mobile phone number" in t for t in told)  # where they were stuck
    assert await notices_to(sessions, "hn-1") == []  # another province learns nothing

    await chat.send("Tôi không có số di động, chỉ có số bàn 0221 3862 123")
    assert "The Centre's staff have your conversation" in chat.text  # the bot stays out of it
    told = await notices_to(sessions, "hy-1")
    assert any("chỉ có số bàn 0221 3862 123" in t for t in told)


async def test_staff_reply_reaches_the_owner_and_hand_back_brings_the_bot_back(
    pipeline: Pipeline, chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_staff(sessions, "hy-1", "reviewer", "Hưng Yên", name="Trần Thị Bình")
    await owner_asks_for_staff(chat)
    async with sessions() as s:
        case = await s.scalar(select(HandoverCase))
    assert case is not None and case.closed_at is None

    reviewer = staff_chat(pipeline, "hy-1")
    await reviewer.send("/handovers")
    assert "Hợp tác xã Mây tre đan Phú Vinh" in reviewer.text
    await tap_payload(reviewer, f"go:ho:reply:{case.id}")
    await reviewer.send("Anh/chị ghi số di động của người thân cũng được ạ.")
    assert "Sent" in reviewer.text
    assert any(
        "Anh/chị ghi số di động của người thân cũng được ạ." in t for t in await notices_to(sessions, "u1")
    )

    await tap_payload(reviewer, f"go:ho:back:{case.id}")
    assert "handed back to the assistant" in reviewer.text
    async with sessions() as s:
        owner = await s.scalar(select(Account).where(Account.locale == "en", Account.consent_at.is_not(None)))
        closed = await s.get(HandoverCase, case.id)
    assert owner is not None and owner.handover_at is None
    assert closed is not None and closed.closed_by == "telegram:hy-1" and closed.taken_by == "telegram:hy-1"
    assert any("The assistant is back" in t for t in await notices_to(sessions, "u1"))
    await chat.send("/profile")  # the bot answers again
    assert "Please check your facility profile" in chat.text


async def test_menu_ends_the_wait_and_staff_are_told(
    pipeline: Pipeline, chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_staff(sessions, "hy-1", "admin", "Hưng Yên")
    await owner_asks_for_staff(chat)
    await chat.send("/menu")
    assert "What would you like to do?" in chat.text
    assert any("went back to the assistant" in t for t in await notices_to(sessions, "hy-1"))
    reviewer = staff_chat(pipeline, "hy-1")
    await reviewer.send("/handovers")
    assert "No facility is waiting" in reviewer.text


async def test_owners_and_other_provinces_cannot_use_the_staff_side(
    pipeline: Pipeline, chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_staff(sessions, "hn-1", "reviewer", "Hà Nội")
    await add_staff(sessions, "adm-1", "admin", None)  # someone answers Hưng Yên: a national admin
    await owner_asks_for_staff(chat)
    async with sessions() as s:
        case = await s.scalar(select(HandoverCase))
    assert case is not None
    outsider = Chat(pipeline, user_id="someone", channel="telegram")
    await outsider.send("/handovers")
    assert "Tôi chưa hiểu lệnh này" in outsider.text  # exactly what any unknown command gets
    other = staff_chat(pipeline, "hn-1")
    await tap_payload(other, f"go:ho:back:{case.id}")
    assert "not found" in other.text
    async with sessions() as s:
        still = await s.get(HandoverCase, case.id)
    assert still is not None and still.closed_at is None
