"""Provinces as users type them: current names, pre-2025 names from old certificates, no accents,
abbreviations and typos, all mapped to one of the 34 units in force since 1 July 2025."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conversations.places import (
    DATA_FILE,
    ProvinceMatch,
    find_province,
    load_directory,
    province_by_name,
    province_validator,
    provinces,
)
from conversations.validators import Invalid, Valid

CITIES = {"Hà Nội", "Huế", "Hải Phòng", "Đà Nẵng", "TP Hồ Chí Minh", "Cần Thơ"}


def test_there_are_34_units_6_cities_and_63_old_names() -> None:
    units = provinces()
    assert len(units) == 34
    assert len({p.name for p in units}) == 34
    assert {p.name for p in units if p.is_city} == CITIES
    old_names = [old for p in units for old in p.merged_from]
    assert len(old_names) == 63
    assert len(set(old_names)) == 63


@pytest.mark.parametrize(
    ("unit", "merged_from"),
    [
        ("Hưng Yên", {"Hưng Yên", "Thái Bình"}),
        ("Ninh Bình", {"Ninh Bình", "Hà Nam", "Nam Định"}),
        ("TP Hồ Chí Minh", {"TP Hồ Chí Minh", "Bình Dương", "Bà Rịa – Vũng Tàu"}),
        ("Lâm Đồng", {"Lâm Đồng", "Đắk Nông", "Bình Thuận"}),
        ("Phú Thọ", {"Phú Thọ", "Vĩnh Phúc", "Hòa Bình"}),
        ("Cần Thơ", {"Cần Thơ", "Sóc Trăng", "Hậu Giang"}),
        ("Cao Bằng", {"Cao Bằng"}),
    ],
)
def test_mergers(unit: str, merged_from: set[str]) -> None:
    assert set(province_by_name(unit).merged_from) == merged_from


@pytest.mark.parametrize(
    ("typed", "unit", "old_name"),
    [
        ("Thái Bình", "Hưng Yên", "Thái Bình"),
        ("tỉnh Thái Bình cũ", "Hưng Yên", "Thái Bình"),
        ("thai binh", "Hưng Yên", "Thái Bình"),
        ("tp hcm", "TP Hồ Chí Minh", None),
        ("TP. HCM", "TP Hồ Chí Minh", None),
        ("TPHCM", "TP Hồ Chí Minh", None),
        ("Thành phố Hồ Chí Minh", "TP Hồ Chí Minh", None),
        ("Sài Gòn", "TP Hồ Chí Minh", None),
        ("ba ria vung tau", "TP Hồ Chí Minh", "Bà Rịa – Vũng Tàu"),
        ("Bà Rịa-Vũng Tàu", "TP Hồ Chí Minh", "Bà Rịa – Vũng Tàu"),
        ("brvt", "TP Hồ Chí Minh", "Bà Rịa – Vũng Tàu"),
        ("Bình Dương", "TP Hồ Chí Minh", "Bình Dương"),
        ("Thua Thien Hue", "Huế", None),
        ("Thành phố Huế", "Huế", None),
        ("Hung Yen", "Hưng Yên", None),
        ("HƯNG YÊN", "Hưng Yên", None),
        ("Hưng Yen", "Hưng Yên", None),
        ("Hà Nôi", "Hà Nội", None),
        ("Hanoi", "Hà Nội", None),
        ("Hoà Bình", "Phú Thọ", "Hòa Bình"),
        ("Daklak", "Đắk Lắk", None),
        ("Bắc Cạn", "Thái Nguyên", "Bắc Kạn"),
        ("Kontum", "Quảng Ngãi", "Kon Tum"),
        ("Thanh Hóa", "Thanh Hóa", None),
        ("Hung Yen province", "Hưng Yên", None),
    ],
)
def test_find_province_by_any_common_spelling(typed: str, unit: str, old_name: str | None) -> None:
    assert find_province(typed) == ProvinceMatch(province_by_name(unit), old_name)


@pytest.mark.parametrize(
    ("typed", "unit", "old_name"),
    [
        ("Hung Yenn", "Hưng Yên", None),
        ("Thai Bihn", "Hưng Yên", "Thái Bình"),
        ("Quang Ngia", "Quảng Ngãi", None),
        ("Ha Noj", "Hà Nội", None),
        ("Thanh Hoas", "Thanh Hóa", None),
    ],
)
def test_one_typo_is_forgiven_when_only_one_province_is_that_close(
    typed: str, unit: str, old_name: str | None
) -> None:
    assert find_province(typed) == ProvinceMatch(province_by_name(unit), old_name)


@pytest.mark.parametrize(
    "typed",
    [
        "Atlantis",
        "",
        "Quang Xinh",  # one letter from both Quảng Ninh and Quảng Bình
        "Ha Nom",  # one letter from both Hà Nội and Hà Nam
        "Hua",  # too short to guess
    ],
)
def test_unknown_or_ambiguous_names_are_not_guessed(typed: str) -> None:
    assert find_province(typed) is None


def test_the_province_at_the_end_of_an_address_is_found() -> None:
    match = find_province("xã Phú Vinh, Thái Bình, Việt Nam")
    assert match == ProvinceMatch(province_by_name("Hưng Yên"), "Thái Bình")


@pytest.mark.parametrize(
    ("unit", "region"),
    [
        ("Hà Nội", "north"),
        ("Cao Bằng", "north"),
        ("Ninh Bình", "north"),
        ("Thanh Hóa", "central"),
        ("Nghệ An", "central"),
        ("Hà Tĩnh", "central"),
        ("Huế", "central"),
        ("Lâm Đồng", "central"),
        ("Đắk Lắk", "central"),
        ("TP Hồ Chí Minh", "south"),
        ("Đồng Nai", "south"),
        ("Cà Mau", "south"),
    ],
)
def test_regions_for_regional_rounds(unit: str, region: str) -> None:
    assert province_by_name(unit).region == region


def test_every_unit_has_a_region_and_each_region_has_units() -> None:
    regions = {p.region for p in provinces()}
    assert regions == {"north", "central", "south"}


def test_province_by_name_needs_the_canonical_name() -> None:
    assert province_by_name("Huế").is_city
    with pytest.raises(KeyError):
        province_by_name("Thái Bình")


def test_validator_accepts_an_old_name_and_tells_the_user_where_it_belongs_now() -> None:
    result = province_validator("Thái Bình")
    assert isinstance(result, Valid)
    assert result.value == ProvinceMatch(province_by_name("Hưng Yên"), "Thái Bình")
    assert result.warning == (
        "Since 1 July 2025, {old_name} has been part of {province}; I will record {province}."
    )
    assert dict(result.warning_values) == {"old_name": "Thái Bình", "province": "Hưng Yên"}


def test_validator_accepts_a_current_name_silently() -> None:
    assert province_validator("Hưng Yên") == Valid(ProvinceMatch(province_by_name("Hưng Yên"), None))


def test_validator_refuses_an_unknown_name_with_an_example() -> None:
    result = province_validator("  Atlantis ")
    assert isinstance(result, Invalid)
    assert result.error == (
        "I could not find the province “{text}”. Please type the name of your province or city."
    )
    assert dict(result.values) == {"text": "Atlantis"}
    assert result.example == "For example: Hưng Yên, Thái Bình, TP Hồ Chí Minh"


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "provinces.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_renamed_province_needs_only_a_data_edit(tmp_path: Path) -> None:
    data = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    for entry in data["provinces"]:
        if entry["name"] == "Hưng Yên":
            entry["name"] = "Hưng Yên Mới"
            entry["aliases"] = ["Phố Hiến"]
    directory = load_directory(_write(tmp_path, data))
    renamed = directory.by_name("Hưng Yên Mới")
    assert directory.find("Thai Binh") == ProvinceMatch(renamed, "Thái Bình")
    assert directory.find("pho hien") == ProvinceMatch(renamed, None)
    # The unit's own predecessor now counts as an old name, since it differs from the new one.
    assert directory.find("Hưng Yên") == ProvinceMatch(renamed, "Hưng Yên")


def test_a_name_claimed_by_two_units_is_refused_at_load(tmp_path: Path) -> None:
    data = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    data["provinces"][0]["aliases"].append("Sai Gon")  # Hà Nội claiming Sài Gòn
    with pytest.raises(ValueError, match="would match both 'Hà Nội' and 'TP Hồ Chí Minh'"):
        load_directory(_write(tmp_path, data))


def test_an_unknown_region_is_refused_at_load(tmp_path: Path) -> None:
    data = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    data["provinces"][0]["region"] = "mekong"
    with pytest.raises(ValueError, match="region"):
        load_directory(_write(tmp_path, data))
