"""Typed variants → chosen option (issue 11 #3), table-driven from how owners really write:
abbreviations, no accents, typos, a word of the label, emoji labels typed without the emoji,
numbers inside short phrases; ambiguity is asked about, never guessed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.dialogue import Dialogue
from conversations.engine import match_option
from conversations.i18n import translator
from conversations.matching import Ambiguous, Candidate, aliases, number_in_phrase, pick
from conversations.programmes import load_programmes
from conversations.steps import AskChoice, Option
from conversations.validators import Invalid, Valid
from storage.files import FileStore
from tests.conftest import Chat
from tests.test_flows import state_of

AMBIGUOUS = "?"


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, AskChoice]:
    dialogue = Dialogue(programmes=load_programmes(), files=FileStore(tmp_path_factory.mktemp("f")))
    found: dict[str, AskChoice] = {}
    for flow in ("onboarding", "apply"):
        for step in dialogue.engine.flows[flow].steps:
            if isinstance(step, AskChoice):
                found[step.id] = step
    return found


ROWS = [
    # facility kind: abbreviations, legal names, no accents, typos
    ("vi", "facility_kind", "HTX", "cooperative"),
    ("vi", "facility_kind", "htx", "cooperative"),
    ("vi", "facility_kind", "Hợp tác xã", "cooperative"),
    ("vi", "facility_kind", "hop tac xa", "cooperative"),
    ("vi", "facility_kind", "Hop tac xaa", "cooperative"),
    ("vi", "facility_kind", "hợp tác xã.", "cooperative"),
    ("vi", "facility_kind", "DN", "enterprise"),
    ("vi", "facility_kind", "doanh nghiep", "enterprise"),
    ("vi", "facility_kind", "công ty TNHH", "enterprise"),
    ("vi", "facility_kind", "cty", "enterprise"),
    ("vi", "facility_kind", "THT", "coop_group"),
    ("vi", "facility_kind", "to hop tac", "coop_group"),
    ("vi", "facility_kind", "lien hiep htx", "coop_union"),
    ("vi", "facility_kind", "ho kinh doanh ca the", "household"),
    ("vi", "facility_kind", "Hộ kinh doanh cá thể", "household"),
    ("vi", "facility_kind", "HKD", "household"),
    ("vi", "facility_kind", "ho kinh doanh", "household"),
    ("vi", "facility_kind", "hộ gia đình", "household"),
    ("vi", "facility_kind", "5", "household"),
    ("en", "facility_kind", "cooperative", "cooperative"),
    ("en", "facility_kind", "Cooperatve", "cooperative"),
    ("en", "facility_kind", "household", "household"),
    ("en", "facility_kind", "HTX", "cooperative"),
    # consent: yes words, typos
    ("vi", "consent", "dong y", "agree"),
    ("vi", "consent", "dong yy", "agree"),
    ("vi", "consent", "Đồng ý ạ", "agree"),
    ("vi", "consent", "ok", "agree"),
    ("vi", "consent", "OK!", "agree"),
    ("vi", "consent", "tôi đồng ý", "agree"),
    ("vi", "consent", "khong dong y", "decline"),
    ("vi", "consent", "không", "decline"),
    ("en", "consent", "I agree", "agree"),
    ("en", "consent", "yes", "agree"),
    ("vi", "consent", "i agree, continue in english", "agree_en"),  # no language told: one input
    ("vi", "consent", "I agree", "agree"),  # the English words of "Đồng ý" keep the notice's language
    # commune kind, yes/no
    ("vi", "commune_kind", "xa", "commune"),
    ("vi", "commune_kind", "phuong", "ward"),
    ("vi", "commune_kind", "dac khu", "special_zone"),
    ("vi", "craft_village", "co", "yes"),
    ("vi", "craft_village", "Có ạ", "yes"),
    ("vi", "craft_village", "ko", "no"),
    ("vi", "craft_village", "k", "no"),
    ("vi", "craft_village", "khong", "no"),
    # selection questions
    ("vi", "level", "tinh", "province"),
    ("vi", "level", "cấp tỉnh", "province"),
    ("vi", "level", "cap tinh", "province"),
    ("vi", "level", "khu vuc", "region"),
    ("vi", "level", "quoc gia", "nation"),
    ("vi", "level", "cap xa", "commune"),
    ("en", "level", "provincial", "province"),
    ("en", "level", "Provincial level", "province"),
    ("vi", "product_group", "thu cong", "handicraft"),
    ("vi", "product_group", "thuc pham", "food"),
    ("vi", "product_group", "nước mắm", "food"),
    ("vi", "product_group", "co khi", "machinery"),
    ("vi", "product_group", "khac", "other"),
    ("vi", "series", "doc ban", "no"),
    ("vi", "series", "hang loat", "yes"),
    ("vi", "original", "sao chep", "no"),
    ("vi", "original", "co", "yes"),
    ("vi", "made_in_house", "tu san xuat", "yes"),
    ("vi", "made_in_house", "co", "yes"),
    ("vi", "market", "da ban", "yes"),
    ("vi", "market", "chua ban", "no"),
    ("vi", "compliant", "chua ro", "unsure"),
    ("vi", "food_safety", "da co", "cert"),
    ("vi", "revenue_band", "duoi 1 ty", "lt1"),
    ("vi", "revenue_band", "tu 1 den 3 ty", "1to3"),
    ("vi", "lower_cert", "co roi", "has"),
    ("vi", "lower_cert", "chua co", "none"),
    ("vi", "facility_kind", "tho thu cong", "unregistered"),
    ("vi", "facility_kind", "chua dang ky", "unregistered"),
    # refused: nothing close, or too short to guess
    ("vi", "facility_kind", "xyz", None),
    ("vi", "level", "a", None),
    # ambiguous: asked, never guessed
    ("vi", "compliant", "chua", "no"),  # "not yet" is the owner's "no"
    ("vi", "conformity", "danh muc", AMBIGUOUS),  # "không thuộc danh mục" or "thuộc danh mục..."
    ("vi", "revenue_band", "ty dong", AMBIGUOUS),
]


@pytest.mark.parametrize(("locale", "step_id", "typed", "expected"), ROWS)
def test_typed_variant_chooses_the_option(
    steps: dict[str, AskChoice], locale: str, step_id: str, typed: str, expected: str | None
) -> None:
    run = SimpleNamespace(
        t=translator(locale),
        incoming=SimpleNamespace(locale_hint=None),
        account=SimpleNamespace(locale=locale),
    )
    found = match_option(run, steps[step_id], typed)  # type: ignore[arg-type]  # needs run.t, the hint
    if expected == AMBIGUOUS:
        assert isinstance(found, Ambiguous) and len(found.keys) >= 2
    elif expected is None:
        assert found is None
    else:
        assert isinstance(found, Option), found
        assert found.value == expected


def test_the_table_has_at_least_sixty_rows() -> None:
    assert len(ROWS) >= 60


@pytest.mark.parametrize(
    ("typed", "payload"),
    [
        ("Chuẩn bị hồ sơ ngay", "go:apply"),  # the label typed exactly, without its emoji
        ("chuan bi ho so ngay", "go:apply"),
        ("sua", "summary:edit"),
        ("nop ho so", "summary:confirm"),
    ],
)
def test_menu_labels_typed_in_words(typed: str, payload: str) -> None:
    menu = [
        Candidate("go:apply", ("📝 Chuẩn bị hồ sơ ngay",)),
        Candidate("go:menu", ("🏠 Về menu chính",)),
        Candidate("summary:edit", ("✏️ Sửa một câu trả lời",)),
        Candidate("summary:confirm", ("✅ Nộp hồ sơ",)),
    ]
    assert pick(typed, menu) == payload


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("6 người", 6),
        ("năm 2009", 2009),
        ("nam 2009", 2009),
        ("khoảng 350 triệu", 350_000_000),
        ("300 triệu đồng", 300_000_000),
        ("hơn 20 lao động", 20),
        ("12", 12),
    ],
)
def test_numbers_are_read_out_of_short_phrases(typed: str, value: int) -> None:
    result = number_in_phrase(typed)
    assert isinstance(result, Valid) and result.value == value


def test_a_phrase_without_a_number_keeps_the_number_error() -> None:
    assert isinstance(number_in_phrase("nhiều người"), Invalid)


def test_every_alias_names_a_real_question_and_option(steps: dict[str, AskChoice]) -> None:
    for question, options in aliases().items():
        assert question in steps, question
        offered = steps[question].options
        assert not callable(offered), f"{question}: options built at run time cannot carry aliases"
        values = {o.value for o in offered}
        assert set(options) <= values, (question, set(options) - values)


async def test_owner_types_abbreviations_and_typos_through_onboarding_vi(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await chat.send("/start")
    await chat.send("1")
    await chat.send("dong yy")  # a typo of "Đồng ý"
    await chat.send("HTX Mây tre Phú Vinh")
    await chat.send("Hop tac xaa")
    assert (await state_of(sessions)).step == "province"
    assert (await state_of(sessions)).data["answers"]["facility_kind"] == "cooperative"


async def test_an_ambiguous_word_is_asked_about_not_guessed_en(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await chat.send("/start")
    await chat.tap("continue in English")  # consent and language in one
    await chat.send("Phu Vinh rattan")
    await chat.send("cooperative")
    await chat.send("Ha Noi")
    await chat.send("Phu Nghia")  # no "Xã" in it: the kind is asked
    await chat.send("Commune")
    await chat.send("Yes")
    for answer in ["0100109106", "Nguyen Van An", "0912345678", "baskets"]:
        await chat.send(answer)
    await chat.send("/check")
    await chat.tap("Provincial level")
    await chat.tap("Equipment")
    await chat.tap("Yes, all of it")
    assert (await state_of(sessions)).step == "conformity"
    await chat.send("list")  # "It is not on that list" or "It is on the list, but..."
    assert "Did you mean one of these?" in chat.text
    assert len(chat.buttons) == 2
    assert (await state_of(sessions)).step == "conformity"
