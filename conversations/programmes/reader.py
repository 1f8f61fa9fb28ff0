"""Reading and checking one programme file: every field, every predicate, every placeholder.

Strict on purpose: a province's editing mistake must stop the bot at start-up with the file and the
field that is wrong, never mislead a facility owner later. `conversations.programmes` calls this
for each file and keeps the result.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from conversations.programmes.fields import FieldReader, is_number, join_path
from conversations.programmes.model import (
    ACCEPT_KINDS,
    CHECK_OUTCOMES,
    COMBINATORS,
    DERIVED_FACTS,
    FACILITY_FACTS,
    LEAF_OPERATORS,
    PROGRAMME_IDS,
    PROMPT_PLACEHOLDERS,
    REQUIRED_QUESTIONS,
    SUPPORT_LEVEL_KEYS,
    Check,
    ChecklistItem,
    FactSpec,
    Option,
    Programme,
    ProgrammeDataError,
    Question,
    freeze,
    merge_support_level,
    normalise_province,
    placeholders,
    spec_of,
)

# --------------------------------------------------------------------------------------------
# Reading and checking one file

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_COMMON_TOP = ("id", "version", "name", "questions", "checks", "dossier")
_RAW_TOP = {
    "selection": ("levels", "product_groups", "scoring", "certificate_validity", "notes"),
    "support": ("support_types", "province_overrides", "notes"),
}


class _Reader(FieldReader):
    """Validates one programme document; every error names the file and the path of the bad field."""

    def programme(self, document: object, programme_id: str) -> Programme:
        if document is None:
            self.fail("", "file is empty")
        doc = self.mapping(document, "", _COMMON_TOP, (*_RAW_TOP[programme_id], "asked_together"))
        if doc["id"] != programme_id:
            self.fail("id", f"must be {programme_id!r} in {self.file}")
        version = doc["version"]
        if not isinstance(version, str) or not version.strip():
            self.fail("version", f'must be a quoted text such as "2025.10"; got {version!r}')
        name = self.text(doc["name"], "name")

        raw = {k: v for k, v in doc.items() if k not in _COMMON_TOP}
        if programme_id == "selection":
            self.selection_raw(raw)
        else:
            self.support_raw(raw)

        questions = self.questions(self.seq(doc["questions"], "questions"))
        facts = {**FACILITY_FACTS, **DERIVED_FACTS}
        for q in questions:
            facts[q.id] = spec_of(q)
        missing = [q for q in REQUIRED_QUESTIONS[programme_id] if q not in facts]
        if missing:
            self.fail("questions", f"missing question {missing[0]!r}, which the flows rely on")
        self.cross_check(programme_id, raw, questions)
        if "asked_together" in raw:
            self.asked_together(raw["asked_together"], questions)

        checks = self.checks(self.seq(doc["checks"], "checks"), facts)
        dossier = self.dossier(self.seq(doc["dossier"], "dossier"), facts)
        return Programme(
            id=programme_id,
            version=version,
            name=name,
            questions=questions,
            checks=checks,
            dossier=dossier,
            raw=freeze(raw),
        )

    def questions(self, items: list) -> tuple[Question, ...]:
        self.unique_ids(items, "questions")
        facts = dict(FACILITY_FACTS)
        result: list[Question] = []
        for i, item in enumerate(items):
            path = join_path("questions", i)
            q = self.mapping(
                item, path, ("id", "prompt", "kind"), ("options", "when", "help", "example", "label")
            )
            qid = self.ident(q["id"], join_path(path, "id"))
            if qid in FACILITY_FACTS:
                self.fail(join_path(path, "id"), f"{qid!r} is a facility profile fact, not a question")
            kind = q["kind"]
            if kind not in ("choice", "number", "year"):
                self.fail(join_path(path, "kind"), f"must be choice, number or year; got {kind!r}")
            options: tuple[Option, ...] = ()
            if kind == "choice":
                options = self.options(q.get("options"), join_path(path, "options"))
            elif "options" in q:
                self.fail(join_path(path, "options"), "a number question has no options")
            # Only profile facts and earlier questions: later answers do not exist yet when asking.
            when = self.predicate(q["when"], join_path(path, "when"), facts) if "when" in q else None
            prompt = self.text(q["prompt"], join_path(path, "prompt"), fill=True)
            for name in placeholders(prompt):
                if name not in PROMPT_PLACEHOLDERS:
                    self.fail(
                        join_path(path, "prompt"), f"a prompt may only hold {{lower_level}}; got {{{name}}}"
                    )
            question = Question(
                id=qid,
                prompt=prompt,
                kind=kind,
                options=options,
                when=when,
                help=self.text(q["help"], join_path(path, "help")) if "help" in q else None,
                example=self.text(q["example"], join_path(path, "example")) if "example" in q else None,
                label=self.text(q["label"], join_path(path, "label")) if "label" in q else None,
            )
            facts[qid] = spec_of(question)
            result.append(question)
        return tuple(result)

    def options(self, value: object, path: str) -> tuple[Option, ...]:
        items = self.seq(value, path)
        seen: set[str] = set()
        options = []
        for i, item in enumerate(items):
            o = self.mapping(item, join_path(path, i), ("value", "label"))
            ovalue = self.ident(o["value"], join_path(join_path(path, i), "value"))
            if ovalue in seen:
                self.fail(join_path(join_path(path, i), "value"), f"duplicate option {ovalue!r}")
            seen.add(ovalue)
            options.append(Option(ovalue, self.text(o["label"], join_path(join_path(path, i), "label"))))
        return tuple(options)

    def checks(self, items: list, facts: Mapping[str, FactSpec]) -> tuple[Check, ...]:
        self.unique_ids(items, "checks")
        result = []
        for i, item in enumerate(items):
            path = join_path("checks", i)
            c = self.mapping(item, path, ("id", "when", "outcome", "reason"), ("next",))
            outcome = c["outcome"]
            if outcome not in CHECK_OUTCOMES:
                self.fail(
                    join_path(path, "outcome"), f"must be one of {', '.join(CHECK_OUTCOMES)}; got {outcome!r}"
                )
            when = self.predicate(c["when"], join_path(path, "when"), facts)
            reason = self.text(c["reason"], join_path(path, "reason"), fill=True)
            nxt = self.text(c["next"], join_path(path, "next"), fill=True) if "next" in c else None
            if outcome != "ok" and nxt is None:
                self.fail(path, f"a {outcome} check needs a 'next': what the facility should do")
            # A placeholder is filled from a fact; the `when` must guarantee the fact is there.
            present = _required_facts(when)
            for text_key, text in (("reason", reason), ("next", nxt)):
                for placeholder in placeholders(text or ""):
                    if placeholder not in present:
                        self.fail(
                            join_path(path, text_key),
                            f"placeholder {{{placeholder}}} must be a fact this check's when requires",
                        )
            result.append(Check(self.ident(c["id"], join_path(path, "id")), when, outcome, reason, nxt))
        return tuple(result)

    def dossier(self, items: list, facts: Mapping[str, FactSpec]) -> tuple[ChecklistItem, ...]:
        self.unique_ids(items, "dossier")
        result = []
        for i, item in enumerate(items):
            path = join_path("dossier", i)
            d = self.mapping(item, path, ("id", "label"), ("hint", "required", "min_files", "accept", "when"))
            accept = tuple(self.seq(d.get("accept", list(ACCEPT_KINDS)), join_path(path, "accept")))
            for j, kind in enumerate(accept):
                if kind not in ACCEPT_KINDS:
                    self.fail(join_path(join_path(path, "accept"), j), f"must be pdf or image; got {kind!r}")
            if len(set(accept)) != len(accept):
                self.fail(join_path(path, "accept"), "lists a kind twice")
            result.append(
                ChecklistItem(
                    id=self.ident(d["id"], join_path(path, "id")),
                    label=self.text(d["label"], join_path(path, "label")),
                    hint=self.text(d["hint"], join_path(path, "hint")) if "hint" in d else None,
                    required=self.boolean(d.get("required", True), join_path(path, "required")),
                    min_files=self.integer(d.get("min_files", 1), join_path(path, "min_files"), minimum=1),
                    accept=accept,
                    when=self.predicate(d["when"], join_path(path, "when"), facts) if "when" in d else None,
                )
            )
        return tuple(result)

    # --- predicates ----------------------------------------------------------------------------------
    def predicate(self, value: object, path: str, facts: Mapping[str, FactSpec]) -> Mapping[str, Any]:
        """Check one predicate against the known facts; return it frozen, named lists expanded."""
        if not isinstance(value, dict) or not value:
            self.fail(path, "must be a predicate such as {fact: level, is: region}")
        if "fact" in value:
            operators = [k for k in value if k != "fact"]
            for op in operators:
                if op not in LEAF_OPERATORS:
                    self.fail(path, f"unknown operator {op!r}")
            if len(operators) != 1:
                self.fail(path, f"a fact test takes exactly one of {', '.join(LEAF_OPERATORS)}")
            name, op = value["fact"], operators[0]
            if not isinstance(name, str) or name not in facts:
                self.fail(path, f"unknown fact {name!r}")
            return freeze({"fact": name, op: self.operand(value[op], op, facts[name], name, path)})
        if len(value) != 1:
            self.fail(path, f"combine predicates with one of {', '.join(COMBINATORS)}, or test one fact")
        op, operand = next(iter(value.items()))
        if op not in COMBINATORS:
            self.fail(path, f"unknown operator {op!r}")
        sub = join_path(path, op)
        if op == "not":
            return freeze({"not": self.predicate(operand, sub, facts)})
        parts = self.seq(operand, sub)
        return freeze({op: [self.predicate(p, join_path(sub, i), facts) for i, p in enumerate(parts)]})

    def operand(self, operand: object, op: str, spec: FactSpec, name: str, path: str) -> object:
        if op == "missing":
            if operand is not True:
                self.fail(path, "missing takes true: {fact: x, missing: true}")
            return True
        if op in ("gte", "lt"):
            if spec.kind != "number":
                self.fail(path, f"{op} compares numbers, and {name} is not a number")
            if not is_number(operand):
                self.fail(path, f"{op} needs a number; got {operand!r}")
            return operand
        if op in ("in", "not_in"):
            if isinstance(operand, str) and operand in self.lists:
                # A list the data defines, e.g. levels_requiring_lower_cert.
                operand = list(self.lists[operand])
            elif isinstance(operand, str):
                known = ", ".join(sorted(self.lists)) or "none"
                self.fail(path, f"unknown list {operand!r} (lists this file defines: {known})")
            if not isinstance(operand, list):
                self.fail(path, f"{op} needs a list such as [a, b]")
            for item in operand:
                self.value(item, spec, name, path)
            return operand
        self.value(operand, spec, name, path)
        return operand

    def value(self, item: object, spec: FactSpec, name: str, path: str) -> None:
        if spec.kind == "choice":
            if item not in spec.values or not isinstance(item, str):
                hint = " (quote yes/no/on/off, e.g. 'yes')" if isinstance(item, bool) else ""
                self.fail(path, f"{item!r} is not a value of {name} ({', '.join(spec.values)}){hint}")
        elif spec.kind == "bool" and not isinstance(item, bool):
            self.fail(path, f"{name} is true or false; got {item!r}")
        elif spec.kind == "number" and not is_number(item):
            self.fail(path, f"{name} is a number; got {item!r}")
        elif spec.kind == "text" and not isinstance(item, str):
            self.fail(path, f"{name} is a text; got {item!r}")

    # --- the rest of each programme ------------------------------------------------------------------
    def selection_raw(self, raw: dict) -> None:
        for key in _RAW_TOP["selection"]:
            if key not in raw:
                self.fail("", f"missing field {key!r}")
        levels = self.mapping(raw["levels"], "levels", ("commune", "province", "region", "nation"))
        orders: set[int] = set()
        for level_id, level in levels.items():
            path = join_path("levels", level_id)
            self.mapping(level, path, ("label", "order", "pass_score", "requires_lower_cert"), ("note",))
            self.text(level["label"], join_path(path, "label"))
            if "note" in level:
                self.text(level["note"], join_path(path, "note"))
            order = self.integer(level["order"], join_path(path, "order"), minimum=1)
            if order in orders:
                self.fail(join_path(path, "order"), f"order {order} is used twice")
            orders.add(order)
            self.integer(level["pass_score"], join_path(path, "pass_score"), minimum=0, maximum=100)
            self.boolean(level["requires_lower_cert"], join_path(path, "requires_lower_cert"))
        self.lists["levels_requiring_lower_cert"] = tuple(
            lid for lid, level in levels.items() if level["requires_lower_cert"]
        )

        groups = self.seq(raw["product_groups"], "product_groups")
        self.unique_ids(groups, "product_groups")
        for i, group in enumerate(groups):
            path = join_path("product_groups", i)
            self.mapping(group, path, ("id", "label"))
            self.ident(group["id"], join_path(path, "id"))
            self.text(group["label"], join_path(path, "label"))

        scoring = self.mapping(raw["scoring"], "scoring", ("total", "groups"))
        total = self.integer(scoring["total"], "scoring.total", minimum=1)
        parts = self.seq(scoring["groups"], "scoring.groups")
        self.unique_ids(parts, "scoring.groups")
        points = 0
        for i, part in enumerate(parts):
            path = join_path("scoring.groups", i)
            self.mapping(part, path, ("id", "label", "points"))
            self.ident(part["id"], join_path(path, "id"))
            self.text(part["label"], join_path(path, "label"))
            points += self.integer(part["points"], join_path(path, "points"), minimum=0)
        if points != total:
            self.fail("scoring.groups", f"points add up to {points}, not the total {total}")

        validity = self.mapping(
            raw["certificate_validity"], "certificate_validity", ("years", "until_month", "until_day")
        )
        self.integer(validity["years"], "certificate_validity.years", minimum=1, maximum=20)
        month = self.integer(
            validity["until_month"], "certificate_validity.until_month", minimum=1, maximum=12
        )
        # Leap year 2000, so 29 February is accepted (and clamped to the 28th in other years).
        last = calendar.monthrange(2000, month)[1]
        self.integer(validity["until_day"], "certificate_validity.until_day", minimum=1, maximum=last)
        self.notes(raw["notes"])

    def support_raw(self, raw: dict) -> None:
        for key in _RAW_TOP["support"]:
            if key not in raw:
                self.fail("", f"missing field {key!r}")
        types = self.table(raw["support_types"], "support_types")
        if not types:
            self.fail("support_types", "must not be empty")
        for type_id, entry in types.items():
            path = join_path("support_types", str(type_id))
            self.ident(type_id, path)
            self.mapping(entry, path, ("label",), (*SUPPORT_LEVEL_KEYS, "province_set", "note"))
            self.text(entry["label"], join_path(path, "label"))
            if "note" in entry:
                self.text(entry["note"], join_path(path, "note"))
            if "province_set" in entry:
                self.boolean(entry["province_set"], join_path(path, "province_set"))
            self.support_level(entry, path)

        overrides = raw["province_overrides"]
        if overrides is None:
            raw["province_overrides"] = overrides = {}
        self.table(overrides, "province_overrides")
        seen: dict[str, str] = {}
        for province, by_type in overrides.items():
            path = join_path("province_overrides", str(province))
            if not isinstance(province, str) or not province.strip():
                self.fail(path, "must be a province name")
            key = normalise_province(province)
            if key in seen:
                self.fail(path, f"same province as {seen[key]!r}")
            seen[key] = province
            self.table(by_type, path)
            for type_id, override in by_type.items():
                opath = join_path(path, str(type_id))
                if type_id not in types:
                    self.fail(opath, f"unknown support type {type_id!r}")
                self.mapping(override, opath, (), SUPPORT_LEVEL_KEYS)
                if not override:
                    self.fail(opath, "must set at least one of " + ", ".join(SUPPORT_LEVEL_KEYS))
                self.support_level(merge_support_level(types[type_id], override), opath)
        self.notes(raw["notes"])

    def support_level(self, entry: Mapping[str, Any], path: str) -> None:
        """Exactly one way to know the amount: a share with a cap, a fixed amount, or set by the province."""
        share, cap, amount = ("share" in entry), ("cap_vnd" in entry), ("amount_vnd" in entry)
        province_set = entry.get("province_set") is True
        if share != cap:
            self.fail(path, "share and cap_vnd go together")
        if share + amount + province_set != 1:
            self.fail(path, "give either share with cap_vnd, or amount_vnd, or province_set: true")
        if share:
            self.number(entry["share"], join_path(path, "share"), above=0, at_most=1)
            self.integer(entry["cap_vnd"], join_path(path, "cap_vnd"), minimum=1)
        if amount:
            self.integer(entry["amount_vnd"], join_path(path, "amount_vnd"), minimum=1)
        if "whole_line_multiplier" in entry:
            if not share:
                self.fail(join_path(path, "whole_line_multiplier"), "only applies to a share with a cap")
            self.number(entry["whole_line_multiplier"], join_path(path, "whole_line_multiplier"), above=0)

    def notes(self, value: object) -> None:
        items = self.seq(value, "notes", empty=True)
        self.unique_ids(items, "notes")
        for i, item in enumerate(items):
            path = join_path("notes", i)
            self.mapping(item, path, ("id", "note"))
            self.ident(item["id"], join_path(path, "id"))
            self.text(item["note"], join_path(path, "note"))

    def asked_together(self, value: object, questions: tuple[Question, ...]) -> None:
        """Questions asked as one "all true?" must each have a 'yes' to give and a label to show."""
        entry = self.mapping(value, "asked_together", ("prompt", "questions"))
        self.text(entry["prompt"], "asked_together.prompt")
        ids = self.seq(entry["questions"], "asked_together.questions")
        if len(ids) < 2 or len(set(map(str, ids))) != len(ids):
            self.fail("asked_together.questions", "must list at least two different question ids")
        by_id = {q.id: q for q in questions}
        for i, qid in enumerate(ids):
            path = join_path("asked_together.questions", i)
            question = by_id.get(qid) if isinstance(qid, str) else None
            if question is None:
                self.fail(path, f"unknown question {qid!r}")
            elif question.kind != "choice" or "yes" not in {o.value for o in question.options}:
                self.fail(path, f"{qid!r} must be a choice question with a 'yes' option")
            elif question.label is None:
                self.fail(path, f"{qid!r} needs a label: it is the statement shown")

    def cross_check(self, programme_id: str, raw: Mapping[str, Any], questions: tuple[Question, ...]) -> None:
        """A question's options must list exactly what the data defines, or a label would be missing."""
        by_id = {q.id: (i, q) for i, q in enumerate(questions)}
        if programme_id == "selection":
            pairs = [
                ("level", set(raw["levels"]), "levels"),
                ("product_group", {g["id"] for g in raw["product_groups"]}, "product_groups"),
            ]
        else:
            pairs = [("support_type", set(raw["support_types"]), "support_types")]
        for qid, defined, source in pairs:
            i, q = by_id[qid]
            if q.kind != "choice" or {o.value for o in q.options} != defined:
                self.fail(
                    join_path(join_path("questions", i), "options"),
                    f"the options of {qid} must be exactly the ids in {source}: {', '.join(sorted(defined))}",
                )


# --------------------------------------------------------------------------------------------
# Reading both files (cached per directory) and the helpers only reading needs


@cache
def load(directory: Path) -> Mapping[str, Programme]:
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
            _refuse_duplicate_keys(value, file, join_path(path, name))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _refuse_duplicate_keys(item, file, join_path(path, i))


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
