"""Typed navigation words (issue 11 #2): back, menu, stop, help and talk to staff work at every
question, with or without accents, and are never stored as answers; every question offers one
step back, always as its last button (a numbered line on Zalo)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.intents import intent_of
from handlers.runtime import Pipeline
from storage.models import Application, Facility
from tests.conftest import Chat
from tests.test_flows import PROFILE_EN, onboard_english, state_of
from tests.test_flows_vi import onboard_vietnamese


async def start_profile_vi(chat: Chat) -> None:
    await chat.send("/start")  # no language told: Vietnamese
    await chat.send("dong y")


@pytest.mark.parametrize(
    ("typed", "intent"),
    [
        ("quay lại", "back"),
        ("quay lai", "back"),
        ("Trở lại", "back"),
        ("back", "back"),
        ("⬅️ Quay lại!", "back"),
        ("menu", "menu"),
        ("Danh mục", "menu"),
        ("huỷ", "stop"),
        ("hủy", "stop"),
        ("thôi", "stop"),
        ("dừng", "stop"),
        ("dừng lại ạ", "stop"),
        ("giúp", "help"),
        ("help", "help"),
        ("hỏi cán bộ", "staff"),
        ("gặp cán bộ", "staff"),
        ("cho hỏi", "staff"),
        ("tư vấn", "staff"),
        ("đúng", None),  # "right": folded like "dừng" but an answer
        ("Menu mây tre Phú Vinh", None),
        ("Nguyễn Văn Huy", None),
        ("Thôi Văn Hùng", None),
    ],
)
def test_navigation_words_are_recognised_only_as_whole_messages(typed: str, intent: str | None) -> None:
    assert intent_of(typed) == intent


async def test_quay_lai_at_the_contact_name_goes_back_and_is_not_stored_vi(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await start_profile_vi(chat)
    for answer in ["Cơ sở mây tre Phú Vinh", "5", "thai binh", "Xã Phú Vinh", "co", "0100109106"]:
        await chat.send(answer)
    assert (await state_of(sessions)).step == "contact_name"
    await chat.send("quay lai")
    state = await state_of(sessions)
    assert state.step == "tax_code"  # one question back
    assert "0100109106" in chat.text  # the answer given there is shown, not lost
    assert "contact_name" not in state.data["answers"]
    await chat.send("0100109106")
    assert (await state_of(sessions)).step == "contact_name"  # and on to where the owner was


async def test_menu_typed_as_the_product_name_opens_the_menu_and_names_nothing_en(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_english(chat)
    await chat.send("/apply")
    await chat.tap("Provincial level")  # the programme and its level in one menu
    for label in ["Handicrafts", "Yes, all of it"]:
        await chat.tap(label)
    assert (await state_of(sessions)).step == "product_name"
    await chat.send("menu")
    assert "What would you like to do?" in chat.text
    async with sessions() as s:
        draft = await s.scalar(select(Application))
    assert draft is not None and "product_name" not in draft.answers


async def test_stop_word_stops_and_keeps_the_answers_vi(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await start_profile_vi(chat)
    await chat.send("Cơ sở mây tre Phú Vinh")
    await chat.send("thôi")
    state = await state_of(sessions)
    assert state.flow is None
    assert "Anh/chị muốn làm gì tiếp ạ?" in chat.text or "/start" in chat.text


async def test_every_question_offers_back_as_its_last_button_en(chat: Chat) -> None:
    await chat.send("/start")
    await chat.tap("continue in English")  # consent and language in one
    assert "↩️ Back" not in chat.buttons  # the first profile question has nothing before it
    for _, answer in PROFILE_EN[:3]:
        await (chat.tap(answer) if answer in chat.buttons else chat.send(answer))
        assert chat.last[-1].choices[-1].label == "↩️ Back"
    await chat.tap("Back")  # the kind noted from "Xã Phú Vinh" is the answer before: correctable
    assert "Is it a commune, a ward or a special zone?" in chat.text and "Commune (xã)" in chat.text


async def test_back_is_the_last_numbered_line_on_zalo_vi(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    from handlers.channels.zalo.client import render

    chat = Chat(pipeline, user_id="z1", channel="zalo", has_buttons=False)
    await start_profile_vi(chat)
    await chat.send("Cơ sở mây tre Phú Vinh")
    shown = render(chat.last, "http://127.0.0.1")[-1]
    assert shown.splitlines()[-1].endswith("↩️ Quay lại")
    back_number = shown.splitlines()[-1].split(".")[0]
    await chat.send(back_number)
    assert (await state_of(sessions, "z1")).step == "facility_name"


async def test_navigation_words_keep_the_saved_profile_untouched_vi(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_vietnamese(chat)
    await chat.send("/profile")
    await chat.send("quay lại")
    await chat.send("menu")
    async with sessions() as s:
        facility = await s.scalar(select(Facility))
    assert facility is not None and facility.name == "Co so may tre dan Phu Vinh"
