"""The programmes' facts as data: the loader and typed view of `selection.yaml` and `support.yaml`.

Provinces differ and the legal texts change (they changed in 2025), so who may take part, which papers
a dossier needs, support levels and how long a certificate is valid live in YAML that a province can
edit without touching code. This module reads those two files, checks them strictly and hands out
frozen dataclasses. A mistake in a province's edit must stop the bot at start-up with the file and the
field (`selection.yaml: checks[3].when: unknown operator 'equal'`), never mislead a facility owner
later. How the data is applied (predicates, verdicts, checklists, estimates) lives in
`conversations.rules`, which also documents the predicate language used in every `when`.

Text fields (`name`, `label`, `prompt`, `reason`, `next`, `hint`, `help`, `note`, `example`) hold English
msgids; their translations live in the gettext catalogs (`extract.py` feeds them to Babel).

Two more rules the loader enforces, both because of how the flows use the data:
- question ids are unique across both programmes: the flows put both programmes' questions in one
  flow, and a step is found by its id;
- a question's `when` may name only profile facts and *earlier* questions, so evaluating it with
  `rules.matches` over the answers so far is always meaningful.

Other files in this directory (`provinces.yaml`) belong to other modules and are not read here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from string import Formatter
from types import MappingProxyType
from typing import Any, Literal

import yaml

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
            "choice", ("enterprise", "cooperative", "coop_union", "coop_group", "household")
        ),
        "province": FactSpec("text"),
        "province_is_city": FactSpec("bool"),
        "commune_kind": FactSpec("choice", ("commune", "ward", "special_zone")),
        "craft_village": FactSpec("bool"),
        "province_region": FactSpec("choice", ("north", "central", "south")),
    }
)

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
    kind: Literal["choice", "number"]
    options: tuple[Option, ...]  # empty for number questions
    when: Mapping[str, Any] | None = field(hash=False)  # ask only when it holds
    help: str | None  # msgid: the question explained differently, after three failed tries
    example: str | None  # msgid: a right answer to a number question


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
        return {**FACILITY_FACTS, **{q.id: _spec_of(q) for q in self.questions}}


def load_programmes(directory: Path | None = None) -> dict[str, Programme]:
    """Both programmes keyed by id, read once per directory (tests pass a temporary one)."""
    return dict(_load((directory or DATA_DIR).resolve()))


def reload_programmes() -> None:
    """Forget what was read (after a province edits a file, or in tests)."""
    _load.cache_clear()


@cache
def _load(directory: Path) -> Mapping[str, Programme]:
    programmes: dict[str, Programme] = {}
    asked_in: dict[str, str] = {}
    for programme_id in PROGRAMME_IDS:
        file = f"{programme_id}.yaml"
        path = directory / file
        if not path.is_file():
            raise ProgrammeDataError(f"{file}: file not found in {directory}")
        text = path.read_text(encoding="utf-8")
        try:
            # PyYAML keeps the last of two equal keys without a word; a province that adds a second
            # `when:` to a check must hear about it, so look at the raw structure first.
            _refuse_duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader), file, "")
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ProgrammeDataError(f"{file}: not valid YAML: {exc}") from exc
        from conversations.programmes.reader import _Reader  # it builds the types defined here

        programme = _Reader(file).programme(document, programme_id)
        for q in programme.questions:
            if q.id in asked_in:
                raise ProgrammeDataError(
                    f"{file}: questions: id {q.id!r} is already a question of {asked_in[q.id]}.yaml; "
                    "question ids must be unique across programmes"
                )
            asked_in[q.id] = programme_id
        programmes[programme_id] = programme
    return MappingProxyType(programmes)


def _refuse_duplicate_keys(node: yaml.Node | None, file: str, path: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                where = f"{file}: {path}" if path else file
                raise ProgrammeDataError(f"{where}: {name!r} appears twice (line {key.start_mark.line + 1})")
            seen.add(name)
            _refuse_duplicate_keys(value, file, _join(path, name))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _refuse_duplicate_keys(item, file, _join(path, i))


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
_SUPPORT_LEVEL_KEYS = ("share", "cap_vnd", "amount_vnd", "whole_line_multiplier")


def placeholders(text: str) -> list[str]:
    """The `{names}` a msgid expects to be filled (str.format style)."""
    return [name for _, name, _, _ in _FORMATTER.parse(text) if name is not None]


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def merge_support_level(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A province's level for one support type, over the national default.

    Setting `amount_vnd` replaces a share-based level and setting `share` replaces a fixed amount;
    either one also fills in a level the national text leaves to the province (`province_set`).
    """
    merged = {k: v for k, v in base.items() if k in (*_SUPPORT_LEVEL_KEYS, "province_set")}
    if "amount_vnd" in override:
        for key in ("share", "cap_vnd", "whole_line_multiplier", "province_set"):
            merged.pop(key, None)
    if "share" in override:
        for key in ("amount_vnd", "province_set"):
            merged.pop(key, None)
    merged.update(override)
    return merged


def _spec_of(question: Question) -> FactSpec:
    if question.kind == "number":
        return FactSpec("number")
    return FactSpec("choice", tuple(o.value for o in question.options))


def _required_facts(predicate: Mapping[str, Any]) -> set[str]:
    """Facts that must be present whenever the predicate holds (absent facts match only `missing`)."""
    if "fact" in predicate:
        return set() if "missing" in predicate else {predicate["fact"]}
    if "all" in predicate:
        return set().union(*(_required_facts(p) for p in predicate["all"]))
    if "any" in predicate:
        parts = [_required_facts(p) for p in predicate["any"]]
        return set.intersection(*parts) if parts else set()
    return set()


def facts_named(predicate: Mapping[str, Any] | None) -> set[str]:
    """Every fact a predicate mentions (used by tests and staff tools)."""
    if predicate is None:
        return set()
    if "fact" in predicate:
        return {predicate["fact"]}
    if "not" in predicate:
        return facts_named(predicate["not"])
    return set().union(*(facts_named(p) for p in next(iter(predicate.values()))))
