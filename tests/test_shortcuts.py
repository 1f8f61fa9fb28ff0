"""Issue 11 journey cost: questions the bot can answer itself are not asked, each with a way to
correct it. A name that says its legal form ("HTX …") or its commune kind ("Xã Tân Lập") answers
that question; a new profile is saved with its last answer and shown once; the conditions nearly
every applicant meets are asked together; the last required document leads to the summary; the
consent notice is short, with the whole text one tap away."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Application, Facility
from tests.conftest import Chat
from tests.test_flows import (
    FORM_ANSWERS,
    SELECTION_ANSWERS,
    answer_current,
    onboard_english,
    state_of,
)
from tests.test_flows_vi import onboard_vietnamese


async def _consent_vi(chat: Chat) -> None:
    await chat.send("/start")  # no language told: Vietnamese
    await chat.send("dong y")


async def test_xa_tan_lap_sets_the_commune_kind_and_the_summary_changes_it_vi(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _consent_vi(chat)
    for answer in ["HTX Mây tre Tân Lập", "Phú Thọ", "Xã Tân Lập"]:
        await chat.send(answer)
    state = await state_of(sessions)
    assert state.step == "craft_village"  # neither the type nor the commune kind was asked
    assert state.data["answers"]["facility_kind"] == "cooperative"
    assert state.data["answers"]["commune_kind"] == "commune"
    for answer in ["co", "0100109106", "Nguyễn Văn An", "0912345678", "Giỏ mây"]:
        await chat.send(answer)
    assert "Đã lưu thông tin cơ sở" in chat.text and "Loại hình cơ sở: Hợp tác xã" in chat.text
    await chat.send("/profile")  # the way to correct what was noted
    await chat.tap("Sửa một câu trả lời")
    await chat.tap("Xã, phường hay đặc khu")
    await chat.tap("Phường")
    await chat.tap("Lưu thông tin")
    async with sessions() as s:
        facility = await s.scalar(select(Facility))
    assert facility is not None and facility.commune_kind == "ward" and facility.kind == "cooperative"


async def test_a_commune_without_its_kind_is_asked_and_a_ward_is_read_en(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await chat.send("/start")
    await chat.tap("continue in English")  # consent and language in one
    await chat.send("Phu Vinh rattan")  # no legal form: the type is asked
    assert "What type of facility" in chat.text
    await chat.tap("Household business")
    await chat.send("Ha Noi")
    await chat.send("Phu Nghia")  # no kind in the name: asked next
    assert "Is it a commune, a ward or a special zone?" in chat.text
    await chat.send("back")
    await chat.send("Phường Ba Đình")
    state = await state_of(sessions)
    assert state.step == "craft_village" and state.data["answers"]["commune_kind"] == "ward"


async def test_the_type_noted_from_the_name_can_be_changed_with_back_en(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await chat.send("/start")
    await chat.tap("continue in English")  # consent and language in one
    await chat.send("Công ty TNHH Gốm Bát Tràng")
    assert "Type of facility noted from the name: Small or medium enterprise" in chat.text
    await chat.tap("Back")
    assert "What type of facility" in chat.text
    await chat.tap("Cooperative")
    assert (await state_of(sessions)).data["answers"]["facility_kind"] == "cooperative"


async def test_consent_is_short_and_the_whole_notice_is_one_tap_away_vi(chat: Chat) -> None:
    await chat.send("/start")
    short = chat.text
    assert len(short) < 600 and "Trung tâm" in short and "/menu" in short
    await chat.tap("Đọc đầy đủ")
    assert "2 ngày làm việc" in chat.text and "Tôi đồng ý" in chat.buttons
    await chat.tap("Tôi đồng ý")
    assert "Tên cơ sở" in chat.text


async def test_all_conditions_at_once_and_no_asks_each_en(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_english(chat)
    await chat.send("/check")
    await chat.tap("Provincial level")
    await chat.tap("Handicrafts")
    assert "Made in series" in chat.text  # each condition shown by its short label
    await chat.tap("No, not all of it")
    assert (await state_of(sessions)).step == "made_in_house"  # then asked one by one
    for _ in range(10):
        if (await state_of(sessions)).step == "after_check":
            break
        await answer_current(chat, sessions, SELECTION_ANSWERS)
    assert chat.last[0].text.startswith("✅")


async def test_all_conditions_at_once_fill_each_answer_of_the_dossier_vi(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_vietnamese(chat)
    await chat.send("/apply")
    await chat.send("cap tinh")  # the programme and the round's level, typed
    await chat.tap("Thủ công")
    await chat.tap("Đúng cả")
    assert (await state_of(sessions)).step == "product_name"
    async with sessions() as s:
        app = await s.scalar(select(Application))
    assert app is not None
    assert all(
        app.answers[k] == "yes" for k in ("made_in_house", "original", "series", "market", "compliant")
    )


async def test_the_last_document_leads_to_the_summary_en(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    from tests.test_flows import upload_required

    await onboard_english(chat)
    await chat.send("/apply")
    await chat.tap("Provincial level")  # the programme and its level in one menu
    for _ in range(40):
        if (await state_of(sessions)).step == "documents":
            break
        await answer_current(chat, sessions, {**SELECTION_ANSWERS, **FORM_ANSWERS})
    await upload_required(chat, sessions)
    assert "Please check your dossier" in chat.text and "Submit the dossier" in " ".join(chat.buttons)
    assert (await state_of(sessions)).step == "summary"


async def test_the_programme_menu_offers_the_rounds_levels_and_support_en(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_english(chat)
    await chat.send("/apply")
    assert "For the Selection of typical rural industrial products, choose the round's level." in chat.text
    assert chat.buttons == [
        "Commune level",
        "Provincial level",
        "Regional level",
        "National level",
        "Industrial extension support",
    ]
    await chat.tap("Industrial extension support")  # a programme without levels: its own questions
    assert "What kind of support are you asking about?" in chat.text
    async with sessions() as s:
        app = await s.scalar(select(Application))
    assert app is not None and app.programme == "support" and "level" not in app.answers


async def test_the_round_typed_in_words_chooses_programme_and_level_vi(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_vietnamese(chat)
    await chat.send("/apply")
    await chat.send("cap khu vuc")  # the programme and the regional round in one answer
    async with sessions() as s:
        app = await s.scalar(select(Application))
    assert app is not None and app.programme == "selection" and app.answers["level"] == "region"
    assert "Sản phẩm được công nhận cấp tỉnh năm nào?" in chat.text  # what the regional round needs
