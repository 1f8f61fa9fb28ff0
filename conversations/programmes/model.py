"""The programmes' data as typed, frozen values (what `reader` builds from the YAML files), and the
small pure helpers the rules and staff tools share. Nothing here reads a file.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Formatter
from types import MappingProxyType
from typing import Any, Literal

DATA_DIR = Path(__file__).resolve().parent
PROGRAMME_IDS = ("selection", "support")

LEAF_OPERATORS = ("is", "in", "is_not", "not_in", "gte", "lt", "missing")
COMBINATORS = ("all", "any", "not")
CHECK_OUTCOMES = ("not_yet", "needs_staff", "ok")
ACCEPT_KINDS = ("pdf", "image")
TEXT_KEYS = ("name", "label", "prompt", "reason", "next", "hint", "help", "note", "example")


class ProgrammeDataError(Exception):
    """A programme file is missing or wrong; the message names the file and the field."""


@dataclass(frozen=True)
class FactSpec:
    """What values a fact can take, so a `when` comparing it with a misspelt value fails at load."""

    kind: Literal["choice", "bool", "number", "text"]
    values: tuple[str, ...] = ()


# Facts the facility profile supplies (see conversations.run.Run.facts); the questions add the rest.
FACILITY_FACTS: Mapping[str, FactSpec] = MappingProxyType(
    {
        "facility_kind": FactSpec(
            "choice", ("enterprise", "cooperative", "coop_union", "coop_group", "household", "unregistered")
        ),
        "province": FactSpec("text"),
        "province_is_city": FactSpec("bool"),
        "commune_kind": FactSpec("choice", ("commune", "ward", "special_zone")),
        "craft_village": FactSpec("bool"),
        "province_region": FactSpec("choice", ("north", "central", "south")),
    }
)

# Facts rules.effective_facts works out from answers, so a `when` can use a rule the data states
# once (the certificate's validity) instead of an owner's guess ("is it still valid?").
DERIVED_FACTS: Mapping[str, FactSpec] = MappingProxyType({"lower_cert_valid": FactSpec("bool")})

# The only placeholder a question's prompt may hold: the level just below the chosen round, so
# the owner is asked about the certificate that round needs by its name.
PROMPT_PLACEHOLDERS = ("lower_level",)

# The flows and rules.py rely on these ids; a province may add questions, not remove these.
REQUIRED_QUESTIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "selection": (
            "level", "product_group", "made_in_house", "original", "series", "compliant", "market",
            "food_safety", "conformity", "lower_cert",
        ),
        "support": (
            "support_type", "registered", "counterpart", "no_duplicate", "cost_vnd", "whole_line",
            "disadvantaged_area",
        ),
    }
)  # fmt: skip


@dataclass(frozen=True)
class Option:
    value: str
    label: str  # msgid


@dataclass(frozen=True)
class Question:
    id: str
    prompt: str  # msgid
    kind: Literal["choice", "number", "year"]  # year: a calendar year, shown without thousands dots
    options: tuple[Option, ...]  # empty for number and year questions
    when: Mapping[str, Any] | None = field(hash=False)  # ask only when it holds
    help: str | None  # msgid: the question explained differently, after three failed tries
    example: str | None  # msgid: a right answer to a number question
    label: str | None = None  # msgid: the short name in summaries ("Level"), not the whole question


@dataclass(frozen=True)
class Check:
    id: str
    when: Mapping[str, Any] = field(hash=False)  # when it holds, the finding applies
    outcome: Literal["not_yet", "needs_staff", "ok"]
    reason: str  # msgid
    next: str | None  # msgid: what to do; always present for not_yet and needs_staff


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    label: str  # msgid
    hint: str | None  # msgid
    required: bool
    min_files: int
    accept: tuple[str, ...]  # subset of ("pdf", "image")
    when: Mapping[str, Any] | None = field(hash=False)


@dataclass(frozen=True)
class Programme:
    id: str  # "selection" | "support"
    version: str  # rules_version recorded on applications is f"{id}@{version}"
    name: str  # msgid
    questions: tuple[Question, ...]
    checks: tuple[Check, ...]
    dossier: tuple[ChecklistItem, ...]
    raw: Mapping[str, Any] = field(hash=False)  # the rest, read-only: levels, groups, support levels...

    @property
    def rules_version(self) -> str:
        return f"{self.id}@{self.version}"

    def question(self, question_id: str) -> Question:
        for q in self.questions:
            if q.id == question_id:
                return q
        raise KeyError(f"{self.id} has no question {question_id!r}")

    def known_facts(self) -> dict[str, FactSpec]:
        """Every fact a `when` of this programme may name: the profile's and the questions' answers."""
        return {**FACILITY_FACTS, **DERIVED_FACTS, **{q.id: spec_of(q) for q in self.questions}}


def normalise_province(name: str) -> str:
    """Compare province names regardless of Unicode composition, case and surrounding spaces."""
    return unicodedata.normalize("NFC", name).strip().casefold()


def freeze(value: Any) -> Any:
    """Read-only copies of parsed YAML, so no caller can change the rules everyone shares."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


_FORMATTER = Formatter()
SUPPORT_LEVEL_KEYS = ("share", "cap_vnd", "amount_vnd", "whole_line_multiplier")


def placeholders(text: str) -> list[str]:
    """The `{names}` a msgid expects to be filled (str.format style)."""
    return [name for _, name, _, _ in _FORMATTER.parse(text) if name is not None]


def merge_support_level(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A province's level for one support type, over the national default.

    Setting `amount_vnd` replaces a share-based level and setting `share` replaces a fixed amount;
    either one also fills in a level the national text leaves to the province (`province_set`).
    """
    merged = {k: v for k, v in base.items() if k in (*SUPPORT_LEVEL_KEYS, "province_set")}
    if "amount_vnd" in override:
        for key in ("share", "cap_vnd", "whole_line_multiplier", "province_set"):
            merged.pop(key, None)
    if "share" in override:
        for key in ("amount_vnd", "province_set"):
            merged.pop(key, None)
    merged.update(override)
    return merged


def facts_named(predicate: Mapping[str, Any] | None) -> set[str]:
    """Every fact a predicate mentions (used by tests and staff tools)."""
    if predicate is None:
        return set()
    if "fact" in predicate:
        return {predicate["fact"]}
    if "not" in predicate:
        return facts_named(predicate["not"])
    return set().union(*(facts_named(p) for p in next(iter(predicate.values()))))


def spec_of(question: Question) -> FactSpec:
    if question.kind in ("number", "year"):
        return FactSpec("number")
    return FactSpec("choice", tuple(o.value for o in question.options))
