"""The journey in Vietnamese, typed the way owners type on a phone: numbers, no diacritics."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Facility
from tests.conftest import Chat

PROFILE_TYPED = [
    "Co so may tre dan Phu Vinh",  # facility name, typed without accents
    "5",  # Hộ kinh doanh, by its number
    "thai binh",  # old province, no accents
    "Xã Phú Vinh",  # says it is a commune: that is not asked
    "co",  # yes, no accents
    "0100109106",
    "Nguyễn Văn An",
    "0912.345.678",
    "Mây tre đan",
]


async def onboard_vietnamese(chat: Chat) -> None:
    await chat.send("/start")  # no language told: Vietnamese from the first message
    assert "Tôi đồng ý" in chat.buttons
    await chat.send("dong y")
    assert "Tên cơ sở" in chat.text or "tên cơ sở" in chat.text.lower()
    for answer in PROFILE_TYPED:
        await chat.send(answer)
    assert "Đã lưu thông tin cơ sở" in chat.text and "Hộ kinh doanh" in chat.text


async def test_vietnamese_onboarding_typed_without_buttons(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_vietnamese(chat)
    async with sessions() as s:
        facility = await s.scalar(select(Facility))
    assert facility is not None
    assert facility.kind == "household" and facility.province == "Hưng Yên"
    assert facility.commune_kind == "commune" and facility.craft_village is True
    assert facility.phone == "0912345678"
    assert "Anh/chị muốn làm gì tiếp ạ?" in chat.text


async def test_vietnamese_verdict_for_food_without_safety_certificate(chat: Chat) -> None:
    await onboard_vietnamese(chat)
    await chat.send("/check")
    assert "Bình chọn sản phẩm công nghiệp nông thôn tiêu biểu: anh/chị chọn cấp bình chọn." in chat.text
    await chat.tap("Cấp tỉnh")  # the programme and the round's level in one tap
    await chat.tap("thực phẩm")
    # every remaining yes/no condition: yes; the food-safety certificate: none
    for _ in range(10):
        if "đủ điều kiện an toàn thực phẩm chưa" in chat.text:
            await chat.send("khong")  # typed, no accents
            break
        await chat.tap(chat.buttons[0])
    verdict = chat.last[0].text
    assert verdict.startswith("❌")
    assert "chỉ để anh/chị tham khảo" in verdict
    assert "Chuẩn bị hồ sơ ngay" not in " ".join(chat.buttons)


async def test_vietnamese_wrong_phone_gets_one_message_with_an_example(chat: Chat) -> None:
    await chat.send("/start")
    await chat.send("1")
    await chat.send("dong y")
    for answer in PROFILE_TYPED[:7]:
        await chat.send(answer)
    await chat.send("0212345678")  # a landline
    assert len(chat.last) == 1
    assert "Ví dụ" in chat.text
    assert "số điện thoại di động của người liên hệ" not in chat.text.lower()  # not asked again
