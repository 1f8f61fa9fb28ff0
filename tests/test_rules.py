"""What the bot decides from the shipped programme data: verdicts, estimates, checklists, validity.

Each case is something a facility owner would notice: being told "not yet" for the right reason,
an estimate that matches the national rules, the documents asked for their product and level.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from conversations import rules
from conversations.programmes import DATA_DIR, Programme, load_programmes, reload_programmes

HOUSEHOLD_IN_A_COMMUNE = {
    "facility_kind": "household",
    "province": "Hưng Yên",
    "province_is_city": False,
    "commune_kind": "commune",
    "craft_village": False,
    "province_region": "north",
}
WARD_OF_HANOI = {
    **HOUSEHOLD_IN_A_COMMUNE,
    "province": "Hà Nội",
    "province_is_city": True,
    "commune_kind": "ward",
}

GOOD_HANDICRAFT = {
    "level": "province",
    "product_group": "handicraft",
    "made_in_house": "yes",
    "original": "yes",
    "series": "yes",
    "market": "yes",
    "compliant": "yes",
}
GOOD_SUPPORT = {"registered": "yes", "no_duplicate": "yes"}
MACHINERY = {**GOOD_SUPPORT, "support_type": "machinery", "counterpart": "yes", "whole_line": "no"}


@pytest.fixture(scope="module")
def programmes() -> dict[str, Programme]:
    return load_programmes()


def check(programme: Programme, check_id: str):  # type: ignore[no-untyped-def]
    found = [c for c in programme.checks if c.id == check_id]
    assert found, f"{programme.id} has no check {check_id}"
    return found[0]


def fired(verdict: rules.Verdict, programme: Programme, check_id: str) -> bool:
    c = check(programme, check_id)
    return any(f.reason == c.reason and f.outcome == c.outcome for f in verdict.findings)


VERDICT_CASES = [
    pytest.param(
        "selection", HOUSEHOLD_IN_A_COMMUNE, GOOD_HANDICRAFT, "eligible", "made_in_house_ok",
        id="provincial-handicraft-eligible",
    ),
    pytest.param(
        "selection", HOUSEHOLD_IN_A_COMMUNE, {**GOOD_HANDICRAFT, "original": "no"}, "not_yet", "original_no",
        id="copied-product-not-yet",
    ),
    pytest.param(
        "selection", HOUSEHOLD_IN_A_COMMUNE,
        {**GOOD_HANDICRAFT, "product_group": "food", "food_safety": "none"}, "not_yet", "food_safety_none",
        id="food-without-food-safety-certificate-not-yet",
    ),
    pytest.param(
        "selection", {**WARD_OF_HANOI, "craft_village": False}, GOOD_HANDICRAFT, "needs_staff",
        "location_city_ward", id="hanoi-ward-outside-craft-village-needs-staff",
    ),
    pytest.param(
        "selection", {**WARD_OF_HANOI, "craft_village": True}, GOOD_HANDICRAFT, "eligible", "location_ok",
        id="hanoi-ward-inside-craft-village-eligible",
    ),
    pytest.param(
        "selection", HOUSEHOLD_IN_A_COMMUNE, {**GOOD_HANDICRAFT, "level": "region", "lower_cert": "has",
        "lower_cert_year": 2019, "today": date(2026, 11, 29)},
        "not_yet", "lower_cert_region", id="regional-entry-with-expired-provincial-certificate-not-yet",
    ),
    pytest.param(
        "selection", HOUSEHOLD_IN_A_COMMUNE, {**GOOD_HANDICRAFT, "compliant": "unsure"}, "needs_staff",
        "compliant_unsure", id="unsure-compliance-needs-staff",
    ),
    pytest.param(
        "selection", HOUSEHOLD_IN_A_COMMUNE,
        {**GOOD_HANDICRAFT, "product_group": "machinery", "conformity": "unsure"}, "needs_staff",
        "conformity_unsure", id="unsure-conformity-needs-staff",
    ),
    pytest.param(
        "selection", HOUSEHOLD_IN_A_COMMUNE,
        {**GOOD_HANDICRAFT, "product_group": "food", "food_safety": "exempt"},
        "eligible", "food_safety_exempt",
        id="exempt-food-producer-eligible",
    ),
    pytest.param(
        "support", HOUSEHOLD_IN_A_COMMUNE, {**MACHINERY, "cost_vnd": 400_000_000},
        "eligible", "counterpart_ok",
        id="machinery-support-eligible",
    ),
    pytest.param(
        "support", HOUSEHOLD_IN_A_COMMUNE, {**MACHINERY, "cost_vnd": 400_000_000, "counterpart": "no"},
        "not_yet", "counterpart_no", id="no-counterpart-funds-not-yet",
    ),
    pytest.param(
        "support", HOUSEHOLD_IN_A_COMMUNE, {**MACHINERY, "cost_vnd": 400_000_000, "no_duplicate": "no"},
        "not_yet", "no_duplicate_no", id="duplicate-support-not-yet",
    ),
    pytest.param(
        "support", {**HOUSEHOLD_IN_A_COMMUNE, "facility_kind": "enterprise"},
        {**MACHINERY, "cost_vnd": 400_000_000, "sme": "unsure"}, "needs_staff", "sme_unsure",
        id="unsure-sme-needs-staff",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("programme_id", "profile", "answers", "outcome", "check_id"), VERDICT_CASES)
def test_verdict(programmes, programme_id, profile, answers, outcome, check_id) -> None:  # type: ignore[no-untyped-def]
    programme = programmes[programme_id]
    verdict = rules.evaluate(programme, {**profile, **answers})
    assert verdict.outcome == outcome, [f.reason for f in verdict.findings]
    assert fired(verdict, programme, check_id)
    assert verdict.rules_version == f"{programme_id}@{programme.version}"


def test_every_finding_that_holds_a_facility_back_says_what_to_do(programmes) -> None:  # type: ignore[no-untyped-def]
    verdict = rules.evaluate(
        programmes["selection"],
        {**WARD_OF_HANOI, **GOOD_HANDICRAFT, "original": "no", "compliant": "unsure", "level": "nation",
         "lower_cert": "none"},
    )  # fmt: skip
    assert verdict.outcome == "not_yet"
    blocking = [f for f in verdict.findings if f.outcome != "ok"]
    assert len(blocking) >= 4
    assert all(f.next for f in blocking)


def test_passed_conditions_are_listed_too(programmes) -> None:  # type: ignore[no-untyped-def]
    selection = programmes["selection"]
    verdict = rules.evaluate(selection, {**HOUSEHOLD_IN_A_COMMUNE, **GOOD_HANDICRAFT})
    for check_id in ("facility_kind_ok", "location_ok", "made_in_house_ok", "original_ok", "series_ok",
                     "market_ok", "compliant_ok"):  # fmt: skip
        assert fired(verdict, selection, check_id), check_id


def test_regional_entry_with_a_valid_provincial_certificate_passes(programmes) -> None:  # type: ignore[no-untyped-def]
    selection = programmes["selection"]
    verdict = rules.evaluate(
        selection, {**HOUSEHOLD_IN_A_COMMUNE, **GOOD_HANDICRAFT, "level": "region", "lower_cert": "has",
                    "lower_cert_year": 2024, "today": date(2026, 11, 29)}
    )  # fmt: skip
    assert verdict.outcome == "eligible"
    assert fired(verdict, selection, "lower_cert_ok")


def test_national_entry_without_a_regional_certificate_says_enter_the_regional_round(programmes) -> None:  # type: ignore[no-untyped-def]
    selection = programmes["selection"]
    verdict = rules.evaluate(
        selection, {**HOUSEHOLD_IN_A_COMMUNE, **GOOD_HANDICRAFT, "level": "nation", "lower_cert": "none"}
    )
    assert verdict.outcome == "not_yet"
    assert fired(verdict, selection, "lower_cert_nation")
    assert "regional round first" in check(selection, "lower_cert_nation").next


def test_an_answer_that_no_longer_applies_does_not_count(programmes) -> None:  # type: ignore[no-untyped-def]
    """The owner said food with no certificate, then changed the product group to handicraft."""
    facts = {**HOUSEHOLD_IN_A_COMMUNE, **GOOD_HANDICRAFT, "food_safety": "none"}
    verdict = rules.evaluate(programmes["selection"], facts)
    assert verdict.outcome == "eligible"
    assert "food_safety_certificate" not in [i.id for i in rules.checklist(programmes["selection"], facts)]


def test_an_unanswered_question_never_gives_eligible(programmes) -> None:  # type: ignore[no-untyped-def]
    answers = {k: v for k, v in GOOD_HANDICRAFT.items() if k != "market"}
    verdict = rules.evaluate(programmes["selection"], {**HOUSEHOLD_IN_A_COMMUNE, **answers})
    assert verdict.outcome == "needs_staff"
    assert any(f.reason == rules.UNANSWERED_REASON and f.next for f in verdict.findings)


def test_a_missing_profile_is_flagged_for_staff_not_passed(programmes) -> None:  # type: ignore[no-untyped-def]
    selection = programmes["selection"]
    verdict = rules.evaluate(selection, GOOD_HANDICRAFT)
    assert verdict.outcome == "needs_staff"
    assert fired(verdict, selection, "facility_kind_unknown")
    assert fired(verdict, selection, "location_unknown")


def test_verdict_survives_a_json_round_trip(programmes) -> None:  # type: ignore[no-untyped-def]
    verdict = rules.evaluate(
        programmes["support"], {**HOUSEHOLD_IN_A_COMMUNE, **MACHINERY, "cost_vnd": 400_000_000}
    )
    again = rules.Verdict.from_json(json.loads(json.dumps(verdict.to_json())))
    assert again == verdict
    assert again.support_estimate_vnd == 200_000_000


# --------------------------------------------------------------------------------------------
# Support estimates


@pytest.mark.parametrize(
    ("province", "answers", "expected"),
    [
        pytest.param("Hưng Yên", {**MACHINERY, "cost_vnd": 400_000_000}, 200_000_000, id="half-of-400m"),
        pytest.param("Hưng Yên", {**MACHINERY, "cost_vnd": 1_000_000_000}, 300_000_000, id="capped-at-300m"),
        pytest.param(
            "Hưng Yên", {**MACHINERY, "cost_vnd": 1_000_000_000, "whole_line": "yes"}, 450_000_000,
            id="whole-line-cap-450m",
        ),
        pytest.param(
            "Hưng Yên", {**MACHINERY, "support_type": "demo_model", "cost_vnd": 10_000_000_000},
            1_000_000_000,
            id="demo-model-national-cap",
        ),
        pytest.param(
            "Đắk Lắk", {**MACHINERY, "support_type": "demo_model", "cost_vnd": 10_000_000_000}, 800_000_000,
            id="dak-lak-demo-model-cap",
        ),
        pytest.param(
            "Đắk Lắk", {**MACHINERY, "support_type": "demo_model", "cost_vnd": 1_000_000_000}, 300_000_000,
            id="dak-lak-demo-model-30-percent",
        ),
        pytest.param(
            "Hưng Yên", {**GOOD_SUPPORT, "support_type": "new_enterprise", "disadvantaged_area": "yes"},
            10_000_000, id="new-enterprise-fixed",
        ),
        pytest.param(
            "Hưng Yên", {**GOOD_SUPPORT, "support_type": "training"}, None, id="training-province-set"
        ),
    ],
)  # fmt: skip
def test_support_estimate(programmes, province, answers, expected) -> None:  # type: ignore[no-untyped-def]
    facts = {**HOUSEHOLD_IN_A_COMMUNE, "province": province, **answers}
    assert rules.support_estimate(programmes["support"], facts) == expected
    assert rules.evaluate(programmes["support"], facts).support_estimate_vnd == expected


def test_whole_line_answer_left_over_from_machinery_does_not_raise_a_demo_model_cap(programmes) -> None:  # type: ignore[no-untyped-def]
    facts = {**HOUSEHOLD_IN_A_COMMUNE, **MACHINERY, "support_type": "demo_model", "whole_line": "yes",
             "cost_vnd": 10_000_000_000}  # fmt: skip
    assert rules.support_estimate(programmes["support"], facts) == 1_000_000_000


def test_training_is_eligible_and_says_the_centre_will_advise_the_amount(programmes) -> None:  # type: ignore[no-untyped-def]
    """Training levels are set by the province. The conditions are met, so the verdict is eligible;
    only the amount is unknown, which a finding explains. needs_staff would flag every training
    request as a problem case although the owner did nothing wrong."""
    verdict = rules.evaluate(
        programmes["support"], {**HOUSEHOLD_IN_A_COMMUNE, **GOOD_SUPPORT, "support_type": "training"}
    )
    assert verdict.outcome == "eligible"
    assert verdict.support_estimate_vnd is None
    assert any(f.reason == rules.PROVINCE_SETS_LEVEL and f.outcome == "ok" for f in verdict.findings)


def test_a_province_that_enters_its_training_level_gets_an_estimate(tmp_path: Path) -> None:
    data = _copy_data(tmp_path)
    support = (data / "support.yaml").read_text(encoding="utf-8")
    support = support.replace(
        'province_overrides:\n  "Đắk Lắk":',
        'province_overrides:\n  "Hưng Yên":\n    training: {amount_vnd: 50000000}\n  "Đắk Lắk":',
    )
    (data / "support.yaml").write_text(support, encoding="utf-8")
    programme = load_programmes(data)["support"]
    facts = {**HOUSEHOLD_IN_A_COMMUNE, **GOOD_SUPPORT, "support_type": "training"}
    verdict = rules.evaluate(programme, facts)
    assert verdict.support_estimate_vnd == 50_000_000
    assert all(f.reason != rules.PROVINCE_SETS_LEVEL for f in verdict.findings)
    # Another province keeps the "centre will advise" answer.
    assert rules.support_estimate(programme, {**facts, "province": "Cao Bằng"}) is None


# --------------------------------------------------------------------------------------------
# Certificates


@pytest.mark.parametrize(
    ("issued", "valid_until"),
    [
        (date(2019, 9, 15), date(2022, 12, 31)),
        (date(2024, 1, 1), date(2027, 12, 31)),
        (date(2025, 12, 31), date(2028, 12, 31)),
    ],
)
def test_certificate_valid_until_31_december_of_the_fourth_year(programmes, issued, valid_until) -> None:  # type: ignore[no-untyped-def]
    assert rules.certificate_valid_until(issued, programmes["selection"]) == valid_until


def test_certificate_validity_is_data(programmes) -> None:  # type: ignore[no-untyped-def]
    selection = programmes["selection"]
    assert rules.certificate_valid_on(date(2019, 9, 15), date(2022, 12, 31), selection)
    assert not rules.certificate_valid_on(date(2019, 9, 15), date(2023, 1, 1), selection)
    with pytest.raises(ValueError):
        rules.certificate_valid_until(date(2019, 9, 15), programmes["support"])


# --------------------------------------------------------------------------------------------
# Checklist and questions


def test_checklist_for_food_at_regional_level(programmes) -> None:  # type: ignore[no-untyped-def]
    facts = {**HOUSEHOLD_IN_A_COMMUNE, **GOOD_HANDICRAFT, "product_group": "food", "food_safety": "cert",
             "level": "region", "lower_cert": "has", "lower_cert_year": 2025}  # fmt: skip
    ids = [item.id for item in rules.checklist(programmes["selection"], facts)]
    for expected in ("registration_form", "business_registration", "product_description", "product_photos",
                     "food_safety_certificate", "self_declaration", "test_report", "provincial_decision",
                     "provincial_certificate"):  # fmt: skip
        assert expected in ids, expected
    for absent in (
        "conformity_certificate",
        "food_safety_exemption",
        "regional_certificate",
        "commune_certificate",
    ):
        assert absent not in ids, absent


def test_exempt_food_producer_is_asked_for_the_exemption_paper_not_the_certificate(programmes) -> None:  # type: ignore[no-untyped-def]
    facts = {**HOUSEHOLD_IN_A_COMMUNE, **GOOD_HANDICRAFT, "product_group": "food", "food_safety": "exempt"}
    ids = [item.id for item in rules.checklist(programmes["selection"], facts)]
    assert "food_safety_exemption" in ids
    assert "food_safety_certificate" not in ids


def test_product_photos_are_three_images(programmes) -> None:  # type: ignore[no-untyped-def]
    photos = next(
        i for i in rules.checklist(programmes["selection"], GOOD_HANDICRAFT) if i.id == "product_photos"
    )
    assert photos.accept == ("image",)
    assert photos.min_files == 3
    assert photos.required


def test_machinery_support_needs_three_quotations(programmes) -> None:  # type: ignore[no-untyped-def]
    items = {i.id: i for i in rules.checklist(programmes["support"], {**MACHINERY, "cost_vnd": 400_000_000})}
    assert items["equipment_quotations"].min_files == 3
    training = [
        i.id for i in rules.checklist(programmes["support"], {**GOOD_SUPPORT, "support_type": "training"})
    ]
    assert "equipment_quotations" not in training


def test_questions_to_ask_skips_food_safety_for_handicraft(programmes) -> None:  # type: ignore[no-untyped-def]
    selection = programmes["selection"]
    asked = [q.id for q in rules.questions_to_ask(selection, {**HOUSEHOLD_IN_A_COMMUNE, **GOOD_HANDICRAFT})]
    assert "food_safety" not in asked
    assert "conformity" not in asked
    assert "lower_cert" not in asked  # provincial level: no lower certificate by default
    food = {**HOUSEHOLD_IN_A_COMMUNE, **GOOD_HANDICRAFT, "product_group": "food"}
    assert "food_safety" in [q.id for q in rules.questions_to_ask(selection, food)]


def test_lower_certificate_is_asked_from_the_regional_level_up(programmes) -> None:  # type: ignore[no-untyped-def]
    selection = programmes["selection"]
    for level, asked in (("commune", False), ("province", False), ("region", True), ("nation", True)):
        ids = [q.id for q in rules.questions_to_ask(selection, {"level": level})]
        assert ("lower_cert" in ids) is asked, level
        # The flows call matches() on a question's `when` directly; it must agree.
        assert rules.matches(selection.question("lower_cert").when, {"level": level}) is asked


def test_support_asks_cost_only_where_a_share_of_the_cost_is_paid(programmes) -> None:  # type: ignore[no-untyped-def]
    support = programmes["support"]
    machinery = [q.id for q in rules.questions_to_ask(support, {"support_type": "machinery"})]
    assert {"cost_vnd", "counterpart", "whole_line"} <= set(machinery)
    training = [q.id for q in rules.questions_to_ask(support, {"support_type": "training"})]
    assert not {"cost_vnd", "counterpart", "whole_line", "disadvantaged_area"} & set(training)


def test_a_province_requiring_the_commune_certificate_changes_question_check_and_dossier(
    tmp_path: Path,
) -> None:
    data = _copy_data(tmp_path)
    text = (data / "selection.yaml").read_text(encoding="utf-8")
    marker = "before the provincial round\n    requires_lower_cert: false"
    assert marker in text
    (data / "selection.yaml").write_text(text.replace(marker, marker[:-5] + "true"), encoding="utf-8")
    selection = load_programmes(data)["selection"]

    facts = {**HOUSEHOLD_IN_A_COMMUNE, **GOOD_HANDICRAFT}
    assert "lower_cert" in [q.id for q in rules.questions_to_ask(selection, facts)]
    verdict = rules.evaluate(selection, {**facts, "lower_cert": "none"})
    assert verdict.outcome == "not_yet"
    assert fired(verdict, selection, "lower_cert_province")
    assert "commune_certificate" in [
        i.id for i in rules.checklist(selection, {**facts, "lower_cert": "has", "lower_cert_year": 2025})
    ]


def _copy_data(tmp_path: Path) -> Path:
    data = tmp_path / "programmes"
    data.mkdir()
    for name in ("selection.yaml", "support.yaml"):
        shutil.copy(DATA_DIR / name, data / name)
    reload_programmes()
    return data


# --------------------------------------------------------------------------------------------
# Predicates


@pytest.mark.parametrize(
    ("predicate", "facts", "expected"),
    [
        ({"fact": "level", "is": "region"}, {"level": "region"}, True),
        ({"fact": "level", "is": "region"}, {"level": "nation"}, False),
        ({"fact": "level", "is": "region"}, {}, False),
        ({"fact": "level", "is": "region"}, {"level": None}, False),
        ({"fact": "craft_village", "is": True}, {"craft_village": True}, True),
        ({"fact": "craft_village", "is": True}, {"craft_village": 1}, False),
        ({"fact": "level", "is_not": "region"}, {"level": "nation"}, True),
        ({"fact": "level", "is_not": "region"}, {"level": "region"}, False),
        ({"fact": "level", "is_not": "region"}, {}, False),
        ({"fact": "level", "in": ["region", "nation"]}, {"level": "nation"}, True),
        ({"fact": "level", "in": ["region", "nation"]}, {"level": "province"}, False),
        ({"fact": "level", "in": ["region", "nation"]}, {}, False),
        ({"fact": "level", "not_in": ["region", "nation"]}, {"level": "province"}, True),
        ({"fact": "level", "not_in": ["region", "nation"]}, {"level": "region"}, False),
        ({"fact": "level", "not_in": ["region", "nation"]}, {}, False),
        ({"fact": "cost_vnd", "gte": 100}, {"cost_vnd": 100}, True),
        ({"fact": "cost_vnd", "gte": 100}, {"cost_vnd": 99}, False),
        ({"fact": "cost_vnd", "gte": 100}, {}, False),
        ({"fact": "cost_vnd", "gte": 100}, {"cost_vnd": "a lot"}, False),
        ({"fact": "cost_vnd", "lt": 100}, {"cost_vnd": 99}, True),
        ({"fact": "cost_vnd", "lt": 100}, {"cost_vnd": 100}, False),
        ({"fact": "cost_vnd", "lt": 100}, {}, False),
        ({"fact": "level", "missing": True}, {}, True),
        ({"fact": "level", "missing": True}, {"level": None}, True),
        ({"fact": "level", "missing": True}, {"level": "region"}, False),
        ({"all": [{"fact": "a", "is": "x"}, {"fact": "b", "is": "y"}]}, {"a": "x", "b": "y"}, True),
        ({"all": [{"fact": "a", "is": "x"}, {"fact": "b", "is": "y"}]}, {"a": "x"}, False),
        ({"any": [{"fact": "a", "is": "x"}, {"fact": "b", "is": "y"}]}, {"b": "y"}, True),
        ({"any": [{"fact": "a", "is": "x"}, {"fact": "b", "is": "y"}]}, {}, False),
        ({"not": {"fact": "a", "is": "x"}}, {"a": "z"}, True),
        ({"not": {"fact": "a", "is": "x"}}, {}, True),
        ({"not": {"fact": "a", "is": "x"}}, {"a": "x"}, False),
        (None, {}, True),
    ],
)
def test_matches(predicate, facts, expected) -> None:  # type: ignore[no-untyped-def]
    assert rules.matches(predicate, facts) is expected


def test_matches_refuses_an_unknown_operator() -> None:
    with pytest.raises(ValueError):
        rules.matches({"fact": "level", "equal": "region"}, {"level": "region"})
    with pytest.raises(ValueError):
        rules.matches({"either": []}, {})
