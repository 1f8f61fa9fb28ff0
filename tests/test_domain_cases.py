"""Domain cases of issue 11 #6 the conversation must get right, as rule and flow tests: old
province names, a province change clearing the commune, support verdicts' own disclaimer, amounts
as owners say them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations import rules
from conversations.flows.eligibility import DISCLAIMER, SUPPORT_DISCLAIMER, verdict_text
from conversations.flows.programme_questions import _positive_amount
from conversations.i18n import translator
from conversations.places import ProvinceMatch, province_validator
from conversations.programmes import load_programmes
from conversations.validators import Valid
from storage.models import Facility
from tests.conftest import Chat, Clock
from tests.test_flows import PROFILE_EN, SELECTION_ANSWERS, answer_current, onboard_english, state_of
from tests.test_flows_vi import onboard_vietnamese


def test_ha_tay_before_2008_is_recognised_as_ha_noi() -> None:
    for typed in ("Hà Tây", "ha tay", "tỉnh Hà Tây"):
        result = province_validator(typed)
        assert isinstance(result, Valid) and isinstance(result.value, ProvinceMatch), typed
        assert result.value.province.name == "Hà Nội", typed


def test_support_verdicts_carry_the_support_disclaimer_not_the_councils() -> None:
    programmes = load_programmes()
    run = SimpleNamespace(t=translator("en"))
    support = programmes["support"]
    verdict = rules.evaluate(support, {"facility_kind": "household", "support_type": "training"})
    text = verdict_text(run, support, verdict)  # type: ignore[arg-type]  # needs only run.t
    assert run.t(SUPPORT_DISCLAIMER) in text and "selection council" not in text
    selection = programmes["selection"]
    text = verdict_text(run, selection, rules.evaluate(selection, {"level": "province"}))  # type: ignore[arg-type]  # needs only run.t
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
    await chat.tap("Provincial level")
    await chat.tap("Processed agricultural")
    await chat.tap("Yes, all of it")
    assert (await state_of(sessions)).step == "food_safety"
    await chat.tap("No")  # no food-safety certificate
    assert "cannot go ahead yet" in chat.text and "→" in chat.text  # why, and what to do
    state = await state_of(sessions)
    assert state.flow is None  # not carried on as if nothing happened
    assert "Food-safety eligibility certificate" not in chat.text  # never asked for what is lacking
    await chat.send("/apply")  # coming back: the deciding question again, not past it
    assert (await state_of(sessions)).step == "food_safety"


# --- an unregistered artisan, and the lower certificate by the year it was issued -----------------

TODAY = date(2026, 11, 29)
REGION_READY = {"facility_kind": "household", "province": "Hưng Yên", "province_is_city": False,
                "commune_kind": "commune", "craft_village": True, "product_group": "handicraft",
                "made_in_house": "yes", "original": "yes", "series": "yes", "compliant": "yes",
                "market": "yes", "today": TODAY}  # fmt: skip


def _fired(verdict: rules.Verdict, programme_id: str, check_id: str) -> bool:
    check = next(c for c in load_programmes()[programme_id].checks if c.id == check_id)
    return any(f.reason == check.reason for f in verdict.findings)


TODAY_2026 = date(2026, 11, 29)


def test_a_certificate_counts_until_31_december_of_its_fourth_year() -> None:
    selection = load_programmes()["selection"]
    # 2023: the first year is 2023, the fourth 2026 -> still valid on 29/11/2026.
    valid = rules.evaluate(
        selection,
        {
            **REGION_READY,
            "today": TODAY_2026,
            "level": "region",
            "lower_cert": "has",
            "lower_cert_year": 2023,
        },
    )
    assert valid.outcome == "eligible" and _fired(valid, "selection", "lower_cert_ok")
    # 2022: valid through 31/12/2025 -> no longer valid, and the regional round says which one it needs.
    old = rules.evaluate(
        selection,
        {
            **REGION_READY,
            "today": TODAY_2026,
            "level": "region",
            "lower_cert": "has",
            "lower_cert_year": 2022,
        },
    )
    assert old.outcome == "not_yet"
    assert _fired(old, "selection", "lower_cert_expired") and _fired(old, "selection", "lower_cert_region")
    assert {"lower_cert_year": 2022} in [dict(f.values) for f in old.findings]
    # The same 2022 certificate on the last day of 2025 was still good.
    still = {
        **REGION_READY,
        "today": date(2025, 12, 31),
        "level": "region",
        "lower_cert": "has",
        "lower_cert_year": 2022,
    }
    assert rules.evaluate(selection, still).outcome == "eligible"


def test_each_round_names_the_certificate_it_needs() -> None:
    selection = load_programmes()["selection"]
    en = translator("en")
    national = rules.evaluate(selection, {**REGION_READY, "level": "nation", "lower_cert": "none"})
    assert _fired(national, "selection", "lower_cert_nation")
    assert "regional certificate" in " ".join(en(f.reason) for f in national.findings)
    regional = rules.evaluate(selection, {**REGION_READY, "level": "region", "lower_cert": "none"})
    assert "provincial certificate" in " ".join(en(f.reason) for f in regional.findings)
    assert "lower_cert_year" not in [
        q.id
        for q in rules.questions_to_ask(selection, {**REGION_READY, "level": "region", "lower_cert": "none"})
    ]


def test_an_unregistered_artisan_is_told_to_register_first_in_both_programmes() -> None:
    vi = translator("vi")
    for programme_id, programme in load_programmes().items():
        verdict = rules.evaluate(programme, {**REGION_READY, "facility_kind": "unregistered"})
        assert verdict.outcome == "not_yet", programme_id
        assert _fired(verdict, programme_id, "facility_kind_unregistered")
        nxt = " ".join(vi(f.next) for f in verdict.findings if f.next)
        assert "Bộ phận một cửa" in nxt and "căn cước" in nxt, programme_id  # where, and what to bring


async def test_an_unregistered_artisan_can_say_so_and_learns_how_to_register_vi(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await chat.send("/start")
    await chat.send("1")  # Tiếng Việt
    await chat.send("dong y")
    await chat.send("Xưởng gốm Bát Tràng")
    assert "Cá nhân làm nghề, chưa đăng ký kinh doanh" in chat.buttons  # an option, not a dead end
    await chat.send("tho thu cong")
    assert "đăng ký hộ kinh doanh" in chat.text and "Bộ phận một cửa của UBND xã" in chat.text
    assert "căn cước" in chat.text  # what to bring
    assert (await state_of(sessions)).step == "province"  # and the profile goes on
    for answer in (
        "Hà Nội",
        "Xã Bát Tràng",
        "co",
        "001085012345",
        "Lê Văn Bình",
        "0912345678",
        "Bát gốm",
    ):
        await chat.send(answer)
    assert "Đã lưu thông tin cơ sở" in chat.text
    async with sessions() as s:
        facility = await s.scalar(select(Facility))
    assert facility is not None and facility.kind == "unregistered"


async def test_an_unregistered_artisans_check_says_register_first_en(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await chat.send("/start")
    await chat.tap("continue in English")  # consent and language in one
    profile = [
        ("facility_name", "Phú Vinh rattan"),  # no legal form in the name: the type is asked
        ("facility_kind", "Individual artisan, not registered yet"),
        *PROFILE_EN[1:],
    ]
    for _, answer in profile:
        await (chat.tap(answer) if answer in chat.buttons else chat.send(answer))
    assert "profile is saved" in chat.text
    await chat.send("/check")
    await chat.tap("Provincial level")  # the programme and its level in one menu
    for _ in range(20):
        if (await state_of(sessions)).step == "after_check":
            break
        await answer_current(chat, sessions, SELECTION_ANSWERS)
    verdict = chat.last[0].text
    assert verdict.startswith("❌") and "one-stop desk" in verdict and "household business" in verdict


async def test_the_regional_round_asks_the_year_of_the_provincial_certificate_en(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_english(chat)
    await chat.send("/check")
    await chat.tap("Regional level")
    # one question: the year is the answer, "not recognised" the only button besides back
    assert "In which year was the product recognised at provincial level?" in chat.text
    assert "still valid" not in chat.text
    assert chat.buttons == ["Not recognised yet", "↩️ Back"]
    await chat.send("in 2019")
    for _ in range(20):
        if (await state_of(sessions)).step == "after_check":
            break
        await answer_current(chat, sessions, {**SELECTION_ANSWERS, "level": "region"})
    verdict = chat.last[0].text
    assert "issued in 2019 is no longer valid" in verdict
    assert "needs a still-valid provincial certificate" in verdict


async def test_the_certificate_rule_uses_the_local_new_year_not_the_utc_day_en(
    chat: Chat, clock: Clock, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """00:30 on 1 January 2027 in Hà Nội is still 31 December in UTC: a 2023 certificate (valid
    through 31/12/2026) has expired for the owner, whatever the server's own day is."""
    clock.now = datetime(2026, 12, 31, 17, 30, tzinfo=UTC)
    await onboard_english(chat)
    await chat.send("/check")
    await chat.tap("Regional level")
    await chat.send("2023")
    for _ in range(20):
        if (await state_of(sessions)).step == "after_check":
            break
        await answer_current(chat, sessions, {**SELECTION_ANSWERS, "level": "region"})
    assert "issued in 2023 is no longer valid" in chat.last[0].text


async def test_the_national_round_asks_the_year_of_the_regional_certificate_vi(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_vietnamese(chat)
    await chat.send("/check")
    await chat.send("quoc gia")  # the programme by its round's level, typed
    assert "Sản phẩm được công nhận cấp khu vực năm nào?" in chat.text
    assert chat.buttons == ["Chưa được công nhận", "↩️ Quay lại"]
    await chat.send(f"năm {date.today().year}")  # the year is the answer: one message
    state = await state_of(sessions)
    assert state.step == "product_group"  # the year was read, and on to the next question
    assert state.data["answers"]["lower_cert"] == "has"


async def test_a_typed_yes_to_the_certificate_year_then_asks_the_year_vi(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_vietnamese(chat)
    await chat.send("/check")
    await chat.send("quoc gia")  # the programme by its round's level, typed
    await chat.send("co roi")  # "yes" without the year: the year is asked, nothing is lost
    assert (await state_of(sessions)).step == "lower_cert_year"
    assert "Sản phẩm được công nhận cấp khu vực năm nào?" in chat.text
    await chat.send("2025")
    assert (await state_of(sessions)).step == "product_group"


async def test_not_recognised_is_one_tap_and_the_verdict_says_what_is_needed_vi(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_vietnamese(chat)
    await chat.send("/check")
    await chat.send("khu vuc")  # the programme by its round's level, typed
    await chat.send("1")  # the only numbered option: not recognised (never the hidden "yes")
    state = await state_of(sessions)
    assert state.data["answers"]["lower_cert"] == "none"
    assert "lower_cert_year" not in state.data["answers"]


async def test_a_year_then_not_recognised_drops_the_year_en(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_english(chat)
    await chat.send("/check")
    await chat.tap("Regional level")
    await chat.send("2024")
    await chat.tap("Back")  # the owner thinks again: it was never recognised
    await chat.tap("Not recognised yet")
    answers = (await state_of(sessions)).data["answers"]
    assert answers["lower_cert"] == "none" and "lower_cert_year" not in answers


async def test_a_needed_question_does_not_promise_a_skip_after_three_tries_en(chat: Chat) -> None:
    await chat.send("/start")
    await chat.tap("continue in English")  # consent and language in one
    await chat.send("Xưởng gốm Bát Tràng")
    for _ in range(3):
        await chat.send("zzz qqq")
    assert "Individual artisan, not registered yet" in chat.text  # the help names the artisan's option
    assert "skip" not in chat.text.lower() and "Skip this question" not in chat.buttons
    assert "Talk to staff" in chat.buttons
