"""The shipped programme data is sound, and a province's mistake is caught with a useful message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from babel.messages.extract import extract

from conversations.programmes import (
    DATA_DIR,
    DERIVED_FACTS,
    FACILITY_FACTS,
    Programme,
    ProgrammeDataError,
    facts_named,
    load_programmes,
)
from conversations.programmes.extract import extract_yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def programmes() -> dict[str, Programme]:
    return load_programmes()


def test_both_programmes_load_with_their_versions(programmes) -> None:  # type: ignore[no-untyped-def]
    assert set(programmes) == {"selection", "support"}
    for programme in programmes.values():
        assert programme.version
        assert programme.rules_version == f"{programme.id}@{programme.version}"


def test_loading_is_cached(programmes) -> None:  # type: ignore[no-untyped-def]
    assert load_programmes()["selection"] is programmes["selection"]


def test_every_question_has_unique_options(programmes) -> None:  # type: ignore[no-untyped-def]
    for programme in programmes.values():
        for q in programme.questions:
            values = [o.value for o in q.options]
            assert len(values) == len(set(values)), q.id
            assert (q.kind == "choice") == bool(values), q.id
            assert q.help, f"{q.id} needs a help text for the third failed try"


def test_every_condition_names_only_known_facts(programmes) -> None:  # type: ignore[no-untyped-def]
    for programme in programmes.values():
        asked: set[str] = set()
        for q in programme.questions:
            # A question may depend on the profile and on questions asked before it.
            assert facts_named(q.when) <= set(FACILITY_FACTS) | asked, q.id
            asked.add(q.id)
        known = set(FACILITY_FACTS) | set(DERIVED_FACTS) | asked  # derived: worked out from answers
        for c in programme.checks:
            assert facts_named(c.when) <= known, c.id
        for item in programme.dossier:
            assert facts_named(item.when) <= known, item.id


def test_question_ids_do_not_clash_across_programmes(programmes) -> None:  # type: ignore[no-untyped-def]
    selection = {q.id for q in programmes["selection"].questions}
    support = {q.id for q in programmes["support"].questions}
    assert not selection & support


def test_every_blocking_check_says_what_to_do(programmes) -> None:  # type: ignore[no-untyped-def]
    for programme in programmes.values():
        for c in programme.checks:
            if c.outcome != "ok":
                assert c.next, c.id


def test_regional_and_national_rounds_require_the_lower_certificate(programmes) -> None:  # type: ignore[no-untyped-def]
    levels = programmes["selection"].raw["levels"]
    assert levels["region"]["requires_lower_cert"] is True
    assert levels["nation"]["requires_lower_cert"] is True
    assert levels["province"]["requires_lower_cert"] is False
    assert all(level["pass_score"] == 70 for level in levels.values())


def test_scoring_and_support_defaults(programmes) -> None:  # type: ignore[no-untyped-def]
    groups = {g["id"]: g["points"] for g in programmes["selection"].raw["scoring"]["groups"]}
    assert sorted(groups.values()) == [10, 10, 40, 40]
    types = programmes["support"].raw["support_types"]
    assert (types["machinery"]["share"], types["machinery"]["cap_vnd"]) == (0.5, 300_000_000)
    assert types["machinery"]["whole_line_multiplier"] == 1.5
    assert (types["demo_model"]["share"], types["demo_model"]["cap_vnd"]) == (0.3, 1_000_000_000)
    assert types["new_enterprise"]["amount_vnd"] == 10_000_000
    assert all(types[t]["province_set"] for t in ("training", "packaging_design", "fair_booth"))


def test_data_is_read_only(programmes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError):
        programmes["support"].raw["support_types"]["machinery"]["cap_vnd"] = 1  # type: ignore[index]


# --------------------------------------------------------------------------------------------
# A province's mistakes


def _data_with(tmp_path: Path, file: str, old: str, new: str) -> Path:
    data = tmp_path / "programmes"
    data.mkdir()
    for name in ("selection.yaml", "support.yaml"):
        shutil.copy(DATA_DIR / name, data / name)
    text = (data / file).read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {file}"
    (data / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    return data


BROKEN = [
    pytest.param(
        "selection.yaml", "when: {fact: product_group, is: food}\n    prompt",
        "when: {fact: product_group, equal: food}\n    prompt",
        r"selection\.yaml: questions\[\d+\]\.when: unknown operator 'equal'", id="unknown-operator",
    ),
    pytest.param(
        "selection.yaml", "- id: made_in_house_ok\n    when: {fact: made_in_house, is: 'yes'}",
        "- id: made_in_house_ok\n    when: {fact: made_in_house, is: yes}",
        r"selection\.yaml: checks\[\d+\]\.when: True is not a value of made_in_house .*quote",
        id="unquoted-yes",
    ),
    pytest.param(
        "selection.yaml", "when: {fact: food_safety, is: none}", "when: {fact: food_safty, is: none}",
        r"selection\.yaml: checks\[\d+\]\.when: unknown fact 'food_safty'", id="misspelt-fact",
    ),
    pytest.param(
        "selection.yaml", "when: {fact: food_safety, is: none}", "when: {fact: food_safety, is: nothing}",
        r"selection\.yaml: checks\[\d+\]\.when: 'nothing' is not a value of food_safety", id="misspelt-value",
    ),
    pytest.param(
        "selection.yaml",
        "    next: Enter a product you can make again in quantity, to the same standard.\n",
        "",
        r"selection\.yaml: checks\[\d+\]: a not_yet check needs a 'next'", id="blocking-check-without-next",
    ),
    pytest.param(
        "support.yaml", "    demo_model: {cap_vnd: 800000000}", "    demo_modle: {cap_vnd: 800000000}",
        r"support\.yaml: province_overrides\.Đắk Lắk\.demo_modle: unknown support type",
        id="unknown-support-type",
    ),
    pytest.param(
        "support.yaml", 'version: "2025.10"', "version: 2025.10",
        r"support\.yaml: version: must be a quoted text", id="unquoted-version",
    ),
    pytest.param(
        "selection.yaml", "  - id: product_photos\n    label: Product photos",
        "  - id: product_photos\n    lable: Product photos",
        r"selection\.yaml: dossier\[\d+\]\.lable: unknown field", id="misspelt-field",
    ),
    pytest.param(
        "selection.yaml", "in: levels_requiring_lower_cert}", "in: levels_needing_lower_cert}",
        r"selection\.yaml: questions\[\d+\]\.when: unknown list 'levels_needing_lower_cert'",
        id="unknown-list",
    ),
    pytest.param(
        "selection.yaml",
        "      points: 40\n    - id: economic_technical",
        "      points: 45\n    - id: economic_technical",
        r"selection\.yaml: scoring\.groups: points add up to 105", id="scores-not-100",
    ),
    pytest.param(
        "selection.yaml", "  until_day: 31", "  until_day: 32",
        r"selection\.yaml: certificate_validity\.until_day: must be between 1 and 31", id="bad-validity-day",
    ),
    pytest.param(
        "selection.yaml", "  - id: conformity\n",
        "  - id: registered\n    kind: number\n    prompt: Registered?\n  - id: conformity\n",
        r"support\.yaml: questions: id 'registered' is already a question of selection\.yaml",
        id="question-id-shared-across-programmes",
    ),
    pytest.param(
        "selection.yaml",
        "  - id: made_in_house\n",
        "  - id: made_in_house\n    when: {fact: market, is: 'yes'}\n",
        r"selection\.yaml: questions\[\d+\]\.when: unknown fact 'market'",
        id="question-depends-on-a-later-one",
    ),
    pytest.param(
        "selection.yaml", "  - id: lower_cert\n", "  - id: lower_cert\n    when: {fact: market, is: 'yes'}\n",
        r"selection\.yaml: questions\[\d+\]: 'when' appears twice", id="duplicate-key",
    ),
    pytest.param(
        "selection.yaml",
        "reason: Your product already has a market.",
        "reason: Your product sells in {province}.",
        r"selection\.yaml: checks\[\d+\]\.reason: placeholder \{province\}", id="unguaranteed-placeholder",
    ),
    pytest.param(
        "selection.yaml", "levels:\n  commune:", "levels:\n  comune:",
        r"selection\.yaml: levels\.comune: unknown field", id="misspelt-level",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("file", "old", "new", "message"), BROKEN)
def test_broken_data_names_the_file_and_the_field(tmp_path, file, old, new, message) -> None:  # type: ignore[no-untyped-def]
    data = _data_with(tmp_path, file, old, new)
    with pytest.raises(ProgrammeDataError, match=message):
        load_programmes(data)


def test_unreadable_yaml_names_the_file(tmp_path: Path) -> None:
    data = _data_with(tmp_path, "support.yaml", "questions:\n", "questions: [\n")
    with pytest.raises(ProgrammeDataError, match=r"^support\.yaml: not valid YAML"):
        load_programmes(data)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "selection.yaml").write_text((DATA_DIR / "selection.yaml").read_text(encoding="utf-8"))
    with pytest.raises(ProgrammeDataError, match=r"^support\.yaml: file not found"):
        load_programmes(tmp_path)


# --------------------------------------------------------------------------------------------
# Texts: extraction and translation


def _yaml_msgids() -> list[str]:
    msgids: list[str] = []
    for name in ("selection.yaml", "support.yaml"):
        with (DATA_DIR / name).open("rb") as fh:
            msgids += [message for _, message, _, _ in extract(extract_yaml, fh)]
    return msgids


def _rules_msgids() -> list[str]:
    with (ROOT / "conversations" / "rules.py").open("rb") as fh:
        return [message for _, message, _, _ in extract("python", fh, keywords={"N_": None})]


def test_extractor_yields_the_texts_users_read(programmes) -> None:  # type: ignore[no-untyped-def]
    msgids = set(_yaml_msgids())
    assert {"Product photos", "Registration form (form 01)", "Which group does the product belong to?",
            "For example: 350 triệu or 1,5 tỷ", "Industrial extension support"} <= msgids  # fmt: skip
    # Everything the loaded data shows a user is extracted.
    for programme in programmes.values():
        texts = {programme.name}
        for q in programme.questions:
            texts |= {q.prompt, q.help, q.example, *(o.label for o in q.options)}
        for c in programme.checks:
            texts |= {c.reason, c.next}
        for item in programme.dossier:
            texts |= {item.label, item.hint}
        texts.discard(None)
        assert texts <= msgids, texts - msgids
    # Ids and values are not texts.
    assert "handicraft" not in msgids and "selection" not in msgids


def test_extractor_reports_line_numbers() -> None:
    with (DATA_DIR / "selection.yaml").open("rb") as fh:
        lines = {message: line for line, _, message, _ in extract_yaml(fh, {}, [], {})}
    source = (DATA_DIR / "selection.yaml").read_text(encoding="utf-8").splitlines()
    assert "Product photos" in source[lines["Product photos"] - 1]


def test_extractor_leaves_other_yaml_alone(tmp_path: Path) -> None:
    """provinces.yaml sits beside the programmes; its proper names are not msgids."""
    other = tmp_path / "provinces.yaml"
    other.write_text("provinces:\n  - name: Hà Nội\n    kind: city\n", encoding="utf-8")
    with other.open("rb") as fh:
        assert list(extract_yaml(fh, {}, [], {})) == []
