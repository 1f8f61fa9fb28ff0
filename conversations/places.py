"""Vietnam's 34 province-level units since 1 July 2025, and the 63 old provinces they replaced.

Facility owners still quote the province printed on their old certificates ("Thái Bình", "Bà
Rịa – Vũng Tàu"), type without accents ("Hung Yen") or abbreviate ("tp hcm", "brvt"). The bot
must map all of that to the current unit, and say so when an old name was used, because dossiers
now go to the merged province's Sở Công Thương.

The data is `programmes/provinces.yaml`; this module only reads and indexes it, so a rename or a
new alias is a data edit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal, cast, get_args

import yaml
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from conversations.i18n import N_
from conversations.validators import Invalid, Result, Valid, fold

__all__ = [
    "Province",
    "ProvinceDirectory",
    "ProvinceMatch",
    "find_province",
    "load_directory",
    "province_by_name",
    "province_validator",
    "provinces",
]

Kind = Literal["city", "province"]
Region = Literal["north", "central", "south"]

DATA_FILE = Path(__file__).resolve().parent / "programmes" / "provinces.yaml"

# Tolerant matching: a name counts as "close" to what was typed when rapidfuzz's ratio (the
# share of letters the two have in common, in order) reaches this, or when one letter is missing, extra, wrong or swapped. Short names (under 5 letters
# without spaces: "hue", "hn", "brvt") are matched exactly only; one typo there is another word.
FUZZY_SCORE = 85  # of 100
FUZZY_MIN_LENGTH = 5

# Words around a province name that carry no information: "tỉnh Thái Bình cũ", "TP. HCM",
# "Hung Yen province". Compared on folded text.
_PREFIXES = ("thanh pho ", "tinh ", "tp ", "province of ")
_SUFFIXES = (" cu", " province", " city")
_COUNTRY = frozenset({"viet nam", "vietnam", "vn"})


@dataclass(frozen=True)
class Province:
    """One current province-level unit. `merged_from` lists the old provinces that form it,
    its own predecessor included, so the 34 units together cover the 63 old names."""

    name: str
    kind: Kind
    region: Region
    aliases: tuple[str, ...]
    merged_from: tuple[str, ...]

    @property
    def is_city(self) -> bool:
        """Centrally-run cities matter for eligibility: a facility in one of their wards
        qualifies only inside a recognised craft village."""
        return self.kind == "city"


@dataclass(frozen=True)
class ProvinceMatch:
    """What the user meant. `old_name` is the pre-2025 province they typed when it has since been
    merged into another unit (so the bot can tell them); None for current names and aliases."""

    province: Province
    old_name: str | None


def _key(text: str) -> str:
    """Fold, turn punctuation into spaces and drop a leading "tỉnh"/"thành phố"/"TP": the form
    every name is indexed and looked up by."""
    key = " ".join(re.sub(r"[^0-9a-z]+", " ", fold(text)).split())
    for prefix in _PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            return key[len(prefix) :]
    return key


def _without_suffix(key: str) -> str | None:
    """What the user typed minus a trailing "cũ" or "province", tried after the whole text.

    Only applied to what users type, never to the data, so a unit officially named "... Cũ"
    would still be matched by its full name first."""
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return None


def _compact(key: str) -> str:
    return key.replace(" ", "")


def _one_edit_apart(a: str, b: str) -> bool:
    """True when b is a with one letter inserted, deleted, replaced or two neighbours swapped
    (optimal string alignment distance 1)."""
    return OSA.distance(a, b, score_cutoff=1) == 1


class ProvinceDirectory:
    """The provinces of one data file, indexed for lookup by any name people use."""

    def __init__(self, units: Iterable[Province], old_aliases: Mapping[str, Iterable[str]] | None = None):
        self.provinces: tuple[Province, ...] = tuple(units)
        self._by_name = {p.name: p for p in self.provinces}
        if len(self._by_name) != len(self.provinces):
            raise ValueError("two provinces share a name")
        old_aliases = old_aliases or {}

        self._exact: dict[str, ProvinceMatch] = {}
        self._compact: dict[str, ProvinceMatch] = {}
        owner_of_old: dict[str, Province] = {}
        for unit in self.provinces:
            current = ProvinceMatch(unit, None)
            for name in (unit.name, *unit.aliases):
                self._add(name, current)
            for old in unit.merged_from:
                if old in owner_of_old:
                    raise ValueError(f"old province {old!r} is listed under {owner_of_old[old].name!r} too")
                owner_of_old[old] = unit
                target = current if _key(old) == _key(unit.name) else ProvinceMatch(unit, old)
                for name in (old, *old_aliases.get(old, ())):
                    self._add(name, target)
        unknown = set(old_aliases) - set(owner_of_old)
        if unknown:
            raise ValueError(f"old_aliases for provinces not in any merged_from: {sorted(unknown)}")

    def _add(self, name: str, target: ProvinceMatch) -> None:
        key = _key(name)
        if not key:
            raise ValueError(f"empty name for {target.province.name!r}")
        for index, k in ((self._exact, key), (self._compact, _compact(key))):
            known = index.setdefault(k, target)
            if known != target:
                raise ValueError(
                    f"{name!r} would match both {known.province.name!r} and {target.province.name!r}"
                )

    def by_name(self, name: str) -> Province:
        """The unit with exactly this canonical name (as stored); KeyError otherwise."""
        return self._by_name[name]

    def find(self, text: str) -> ProvinceMatch | None:
        """The unit the user meant, or None when we cannot tell.

        Tries, in order: the whole answer, then the last part of an address ("xã Phú Vinh,
        Thái Bình"); each first exactly (accents, case, punctuation, prefixes ignored), then with
        one typo, but only when a single unit is that close: a wrong guess would send a dossier
        to the wrong province.
        """
        candidates = [_key(text)]
        if "," in text:
            parts = [_key(part) for part in text.split(",")]
            parts = [p for p in parts if p and p not in _COUNTRY]
            if parts:
                candidates.append(parts[-1])
        candidates = [c for key in candidates for c in (key, _without_suffix(key)) if c]
        for key in candidates:
            match = self._exact.get(key) or self._compact.get(_compact(key))
            if match is not None:
                return match
        for key in candidates:
            match = self._tolerant(_compact(key))
            if match is not None:
                return match
        return None

    def _tolerant(self, typed: str) -> ProvinceMatch | None:
        if len(typed) < FUZZY_MIN_LENGTH - 1:
            return None
        close: set[ProvinceMatch] = set()
        for known, target in self._compact.items():
            if len(known) < FUZZY_MIN_LENGTH:
                continue
            if len(typed) >= FUZZY_MIN_LENGTH and _one_edit_apart(typed, known):
                close.add(target)
            elif fuzz.ratio(typed, known, score_cutoff=FUZZY_SCORE):
                close.add(target)
        return close.pop() if len(close) == 1 else None


def _strings(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{where}: expected a list of names")
    return tuple(v.strip() for v in value)


def load_directory(path: Path = DATA_FILE) -> ProvinceDirectory:
    """Read and check a provinces file; errors name the file and the entry, so a data edit that
    breaks the file fails at start-up rather than in a conversation."""
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    entries = data.get("provinces") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected a non-empty 'provinces' list")
    units: list[Province] = []
    old_aliases: dict[str, tuple[str, ...]] = {}
    for number, entry in enumerate(entries, start=1):
        where = f"{path}: province #{number}"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ValueError(f"{where}: expected a mapping with a 'name'")
        name = entry["name"].strip()
        where = f"{path}: {name}"
        kind, region = entry.get("kind"), entry.get("region")
        if kind not in get_args(Kind):
            raise ValueError(f"{where}: kind must be one of {get_args(Kind)}, not {kind!r}")
        if region not in get_args(Region):
            raise ValueError(f"{where}: region must be one of {get_args(Region)}, not {region!r}")
        merged_from = _strings(entry.get("merged_from"), f"{where}: merged_from")
        if not merged_from:
            raise ValueError(f"{where}: merged_from must list at least the unit's own predecessor")
        extra = entry.get("old_aliases") or {}
        if not isinstance(extra, dict):
            raise ValueError(f"{where}: old_aliases must map an old province to a list of names")
        for old, names in extra.items():
            if old not in merged_from:
                raise ValueError(f"{where}: old_aliases names {old!r}, which is not in merged_from")
            old_aliases[old] = _strings(names, f"{where}: old_aliases[{old}]")
        units.append(
            Province(
                name=name,
                kind=cast(Kind, kind),
                region=cast(Region, region),
                aliases=_strings(entry.get("aliases"), f"{where}: aliases"),
                merged_from=merged_from,
            )
        )
    try:
        return ProvinceDirectory(units, old_aliases)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


@cache
def _directory() -> ProvinceDirectory:
    return load_directory(DATA_FILE)


def provinces() -> tuple[Province, ...]:
    """All current units, in the order of the data file."""
    return _directory().provinces


def find_province(text: str) -> ProvinceMatch | None:
    """The unit meant by a typed name (current, alias or pre-2025), or None; see `ProvinceDirectory.find`."""
    return _directory().find(text)


def province_by_name(name: str) -> Province:
    """The unit with this exact canonical name (what the database stores); KeyError otherwise."""
    return _directory().by_name(name)


_PROVINCE_EXAMPLE = N_("For example: Hưng Yên, Thái Bình, TP Hồ Chí Minh")


def province_validator(text: str) -> Result:
    """Validator for "which province is your facility in?".

    An old name is accepted with a warning telling the user which unit it now belongs to:
    the answer is right, but the user should know where their dossier goes.
    """
    raw = " ".join(text.split())
    if not raw:
        return Invalid(N_("Please type the name of your province or city."), _PROVINCE_EXAMPLE)
    match = find_province(raw)
    if match is None:
        return Invalid(
            N_("I could not find the province “{text}”. Please type the name of your province or city."),
            _PROVINCE_EXAMPLE,
            {"text": raw},
        )
    if match.old_name is not None:
        return Valid(
            match,
            warning=N_(
                "Since 1 July 2025, {old_name} has been part of {province}; I will record {province}."
            ),
            warning_values={"old_name": match.old_name, "province": match.province.name},
        )
    return Valid(match)


def province_name_validator(text: str) -> Result:
    """`province_validator` for an answer that is stored: the current province's name (what
    facilities and staff records keep), with the old-name warning kept for the user."""
    result = province_validator(text)
    if isinstance(result, Invalid):
        return result
    match = result.value
    assert isinstance(match, ProvinceMatch)  # province_validator accepts only with a match
    return Valid(match.province.name, warning=result.warning, warning_values=result.warning_values)
