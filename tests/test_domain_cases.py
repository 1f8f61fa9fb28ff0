"""Domain cases of issue 11 #6 the conversation must get right, as rule and flow tests: old
province names, a province change clearing the commune, support verdicts' own disclaimer, amounts
as owners say them."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations import rules
from conversations.flows.eligibility import DISCLAIMER, SUPPORT_DISCLAIMER, verdict_text
from conversations.flows.programme_questions import _positive_amount
from conversations.i18n import translator
from conversations.places import province_validator
from conversations.programmes import load_programmes
from conversations.validators import Valid
from storage.models import Facility
from tests.conftest import Chat
from tests.test_flows import onboard_english, state_of


def test_ha_tay_before_2008_is_recognised_as_ha_noi() -> None:
    for typed in ("Hà Tây", "ha tay", "tỉnh Hà Tây"):
        result = province_validator(typed)
        assert isinstance(result, Valid) and result.value.province.name == "Hà Nội", typed


def test_support_verdicts_carry_the_support_disclaimer_not_the_councils() -> None:
    programmes = load_programmes()
    run = SimpleNamespace(t=translator("en"))
    support = programmes["support"]
    verdict = rules.evaluate(support, {"facility_kind": "household", "support_type": "training"})
    text = verdict_text(run, support, verdict)  # type: ignore[arg-type]  # needs only run.t
    assert run.t(SUPPORT_DISCLAIMER) in text and "selection council" not in text
    selection = programmes["selection"]
    text = verdict_text(run, selection, rules.evaluate(selection, {"level": "province"}))  # type: ignore[arg-type]
    assert run.t(DISCLAIMER) in text


def test_amounts_are_read_the_way_owners_say_them() -> None:
    for typed, value in (
        ("300 triệu đồng", 300_000_000),
        ("khoảng 350 triệu", 350_000_000),
        ("1,5 tỷ", 1_500_000_000),
    ):
        result = _positive_amount(typed)
        assert isinstance(result, Valid) and result.value == value, typed


async def test_changing_the_province_asks_the_commune_again_en(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_english(chat)  # Thái Bình → Hưng Yên, Xã Phú Vinh
    await chat.send("/profile")
    await chat.tap("Change an answer")
    await chat.tap("Province / city")
    await chat.send("Quảng Ngãi")
    assert (await state_of(sessions)).step == "commune"  # the old commune is not kept
    await chat.send("Xã Bình Sơn")
    await chat.tap("Save the profile")
    async with sessions() as s:
        facility = await s.scalar(select(Facility))
    assert facility is not None and (facility.province, facility.commune) == ("Quảng Ngãi", "Xã Bình Sơn")


async def test_apply_stops_at_an_answer_that_rules_the_facility_out_en(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_english(chat)
    await chat.send("/apply")
    await chat.tap("typical rural industrial products")
    await chat.tap("Provincial")
    await chat.tap("Processed agricultural")
    for label in ["ourselves", "Yes", "series", "sells", "Yes"]:
        await chat.tap(label)
    assert (await state_of(sessions)).step == "food_safety"
    await chat.tap("No")  # no food-safety certificate
    assert "cannot go ahead yet" in chat.text and "→" in chat.text  # why, and what to do
    state = await state_of(sessions)
    assert state.flow is None  # not carried on as if nothing happened
    assert "Food-safety eligibility certificate" not in chat.text  # never asked for what is lacking
    await chat.send("/apply")  # coming back: the deciding question again, not past it
    assert (await state_of(sessions)).step == "food_safety"
