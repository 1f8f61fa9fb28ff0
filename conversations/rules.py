"""Applying a programme's data to a facility's facts: predicates, verdicts, the dossier checklist,
certificate validity and the support estimate.

The rules themselves are data (`conversations/programmes/*.yaml`); this module only knows how to apply
them, so a province changes what the bot decides by editing YAML, never code. Every verdict is
informative, not an authority's decision: the flows say so beside it, it is not part of the findings.

Facts
    A flat mapping of fact id -> value: the facility profile's facts (`facility_kind`, `province`,
    `province_is_city`, `commune_kind`, `craft_village`, `province_region`) and the answers to the
    programme's questions (the question id is the fact id). A fact whose value is None counts as
    absent: a skipped question is unknown, not "no".

Predicate language (every `when` in the YAML; checked when the data is loaded)
    {fact: name, is: value}         the fact equals value
    {fact: name, is_not: value}     the fact is present and differs from value
    {fact: name, in: [a, b]}        the fact equals one of the values
    {fact: name, not_in: [a, b]}    the fact is present and equals none of them
    {fact: name, gte: n}            the fact is a number >= n
    {fact: name, lt: n}             the fact is a number < n
    {fact: name, missing: true}     the fact is absent
    {all: [p, q, ...]}              every predicate holds
    {any: [p, q, ...]}              at least one holds
    {not: p}                        p does not hold
    An absent fact matches nothing but `missing` (so `{not: {fact: x, is: a}}` holds when x is
    absent, while `{fact: x, is_not: a}` does not). Values compare strictly: true is not 1.
    In the YAML, `in` and `not_in` may also name a list the file defines instead of spelling it
    out; selection.yaml defines `levels_requiring_lower_cert` from the levels'
    `requires_lower_cert` settings, so switching that setting changes which rounds ask for the
    lower certificate, its check and its dossier item together. The loader expands the name, so
    the predicates this module sees are always plain.

Answers that no longer apply
    Before deciding anything, answers to questions whose `when` does not hold (the owner changed
    the product group from food to handicraft, say) and choice answers that are no longer an
    option are set aside (`effective_facts`): a stale "no food-safety certificate" must not keep
    a handicraft out.

Findings
    Every check whose `when` holds gives a finding, `ok` ones included, so the owner sees what
    passed as well as what did not. The verdict is `not_yet` if any finding is, else `needs_staff`
    if any finding is, else `eligible`. A question that applies but has no answer gives a
    `needs_staff` finding: a verdict is never `eligible` by default. `Finding.values` holds the
    facts a reason's or next step's `{placeholders}` name, taken as they are.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from types import MappingProxyType
from typing import Any, Literal, get_args

from conversations.i18n import N_
from conversations.programmes import (
    DERIVED_FACTS,
    ChecklistItem,
    Programme,
    Question,
    merge_support_level,
    normalise_province,
    placeholders,
)

Outcome = Literal["eligible", "not_yet", "needs_staff"]
FindingOutcome = Literal["ok", "not_yet", "needs_staff"]

UNANSWERED_REASON = N_("Some questions are not answered yet, so this check is not complete.")
UNANSWERED_NEXT = N_("Answer the remaining questions, or ask the centre's staff for help.")
PROVINCE_SETS_LEVEL = N_(
    "The support level for this is set by your province; the centre will tell you the amount."
)
AMOUNT_FROM_COSTS = N_("The amount depends on the project's costs; the centre will work it out with you.")


@dataclass(frozen=True)
class Finding:
    outcome: FindingOutcome
    reason: str  # msgid
    next: str | None  # msgid
    values: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}), hash=False)


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    findings: tuple[Finding, ...]
    rules_version: str  # f"{programme.id}@{programme.version}", recorded on the application
    support_estimate_vnd: int | None = None  # support programme only, when computable

    def to_json(self) -> dict[str, Any]:
        """A plain dict for a JSON column: the verdict as the owner saw it, kept with the dossier."""
        return {
            "outcome": self.outcome,
            "rules_version": self.rules_version,
            "support_estimate_vnd": self.support_estimate_vnd,
            "findings": [
                {"outcome": f.outcome, "reason": f.reason, "next": f.next, "values": dict(f.values)}
                for f in self.findings
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        outcome = data["outcome"]
        if outcome not in get_args(Outcome):
            raise ValueError(f"unknown verdict outcome {outcome!r}")
        findings = []
        for f in data.get("findings", []):
            if f["outcome"] not in get_args(FindingOutcome):
                raise ValueError(f"unknown finding outcome {f['outcome']!r}")
            findings.append(
                Finding(
                    f["outcome"], f["reason"], f.get("next"), MappingProxyType(dict(f.get("values") or {}))
                )
            )
        estimate = data.get("support_estimate_vnd")
        return cls(
            outcome, tuple(findings), data["rules_version"], int(estimate) if estimate is not None else None
        )


# --------------------------------------------------------------------------------------------
# Predicates


def matches(predicate: Mapping[str, Any] | None, facts: Mapping[str, object]) -> bool:
    """Whether the predicate holds for these facts; no predicate always holds."""
    if predicate is None:
        return True
    if "fact" in predicate:
        return _leaf(predicate, facts)
    if "all" in predicate:
        return all(matches(p, facts) for p in predicate["all"])
    if "any" in predicate:
        return any(matches(p, facts) for p in predicate["any"])
    if "not" in predicate:
        return not matches(predicate["not"], facts)
    raise ValueError(f"not a predicate: {dict(predicate)!r}")


def _leaf(predicate: Mapping[str, Any], facts: Mapping[str, object]) -> bool:
    name = predicate["fact"]
    value = facts.get(name)
    present = value is not None
    if "missing" in predicate:
        return not present if predicate["missing"] else present
    if not present:
        return False
    if "is" in predicate:
        return _same(value, predicate["is"])
    if "is_not" in predicate:
        return not _same(value, predicate["is_not"])
    if "in" in predicate:
        return any(_same(value, v) for v in predicate["in"])
    if "not_in" in predicate:
        return not any(_same(value, v) for v in predicate["not_in"])
    if "gte" in predicate:
        return _is_number(value) and value >= predicate["gte"]  # type: ignore[operator]
    if "lt" in predicate:
        return _is_number(value) and value < predicate["lt"]  # type: ignore[operator]
    raise ValueError(f"no known operator in {dict(predicate)!r}")


def _same(a: object, b: object) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------
# Questions, verdict, checklist


def effective_facts(programme: Programme, facts: Mapping[str, object]) -> dict[str, object]:
    """The facts with answers that no longer apply set aside (see the module docstring).

    One pass in question order is enough: the loader allows a question's `when` to name only
    profile facts and earlier questions.
    """
    own = {q.id: q for q in programme.questions}
    known: dict[str, object] = {
        k: v for k, v in facts.items() if k not in own and k not in DERIVED_FACTS and v is not None
    }
    for q in programme.questions:
        answer = facts.get(q.id)
        if answer is None or not _valid_answer(q, answer):
            continue
        if matches(q.when, known):
            known[q.id] = answer
    _derive_certificate_validity(programme, known, facts.get("today"))
    return known


def _derive_certificate_validity(programme: Programme, known: dict[str, object], today: object) -> None:
    """`lower_cert_valid` from the year the lower certificate was issued, by the certificate rule.

    Owners know the year on the paper, not whether "valid until 31 December of the fourth year"
    still covers it; deciding here keeps the rule in selection.yaml the only place it is stated.
    `today` (a date) comes in the facts: `Run.facts` gives the day in TIMEZONE; rule tests pass one.
    """
    year = known.get("lower_cert_year")
    if "certificate_validity" not in programme.raw or not _is_number(year):
        return
    day = today if isinstance(today, date) else date.today()
    issued = date(int(year), 1, 1)  # type: ignore[call-overload]  # the year is what decides
    known["lower_cert_valid"] = certificate_valid_until(issued, programme) >= day


def _valid_answer(question: Question, answer: object) -> bool:
    if question.kind in ("number", "year"):
        return _is_number(answer)
    return any(_same(answer, o.value) for o in question.options)


def questions_to_ask(programme: Programme, facts: Mapping[str, object]) -> list[Question]:
    """The questions that apply to these facts, in order (answered ones included)."""
    known = effective_facts(programme, facts)
    return [q for q in programme.questions if matches(q.when, known)]


def evaluate(programme: Programme, facts: Mapping[str, object]) -> Verdict:
    """Apply every check; the verdict follows the most serious finding."""
    known = effective_facts(programme, facts)
    findings = [
        Finding(check.outcome, check.reason, check.next, _values(known, check.reason, check.next))
        for check in programme.checks
        if matches(check.when, known)
    ]
    estimate = support_estimate(programme, known) if programme.id == "support" else None
    if programme.id == "support":
        findings += _support_level_findings(programme, known, estimate)
    if any(q.id not in known for q in questions_to_ask(programme, known)):
        findings.append(Finding("needs_staff", UNANSWERED_REASON, UNANSWERED_NEXT))

    outcomes = {f.outcome for f in findings}
    outcome: Outcome = (
        "not_yet" if "not_yet" in outcomes else "needs_staff" if "needs_staff" in outcomes else "eligible"
    )
    return Verdict(outcome, tuple(findings), programme.rules_version, estimate)


def _values(known: Mapping[str, object], *texts: str | None) -> Mapping[str, object]:
    names = {name for text in texts if text for name in placeholders(text)}
    values = {}
    for name in sorted(names):
        value = known.get(name)
        if isinstance(value, Decimal):  # keep values JSON-able for Verdict.to_json
            value = int(value) if value == value.to_integral_value() else float(value)
        values[name] = value
    return MappingProxyType(values)


def checklist(programme: Programme, facts: Mapping[str, object]) -> list[ChecklistItem]:
    """The dossier items these facts call for, in the data's order."""
    known = effective_facts(programme, facts)
    return [item for item in programme.dossier if matches(item.when, known)]


# --------------------------------------------------------------------------------------------
# Certificates


def certificate_valid_until(issue_date: date, programme: Programme) -> date:
    """The last day a selection certificate is valid, by the rule in selection.yaml.

    Default rule: until 31 December of the fourth year, the year of issue counting as the first
    (issued 15/09/2019 -> valid through 31/12/2022). A 29 February end falls back to the 28th in
    a common year.
    """
    rule = programme.raw.get("certificate_validity")
    if rule is None:
        raise ValueError(f"{programme.id} has no certificate validity rule")
    year = issue_date.year + rule["years"] - 1
    month = rule["until_month"]
    day = min(rule["until_day"], calendar.monthrange(year, month)[1])
    return date(year, month, day)


def certificate_valid_on(issue_date: date, day: date, programme: Programme) -> bool:
    """Whether a certificate issued on `issue_date` is still valid on `day`."""
    return issue_date <= day <= certificate_valid_until(issue_date, programme)


# --------------------------------------------------------------------------------------------
# Support


def support_level(
    programme: Programme, support_type: str, province: object = None
) -> Mapping[str, Any] | None:
    """The level of one support type: the national default with the province's override over it.

    The result has either `share` and `cap_vnd` (maybe `whole_line_multiplier`), or `amount_vnd`,
    or `province_set: true` when only the province can say. None for an unknown type.
    """
    types = programme.raw.get("support_types", {})
    if support_type not in types:
        return None
    override: Mapping[str, Any] = {}
    if isinstance(province, str):
        wanted = normalise_province(province)
        for name, by_type in programme.raw.get("province_overrides", {}).items():
            if normalise_province(name) == wanted:
                override = by_type.get(support_type, {})
                break
    return MappingProxyType(merge_support_level(types[support_type], override))


def support_estimate(programme: Programme, facts: Mapping[str, object]) -> int | None:
    """The most the state may pay, in VND, or None when the data or the answers cannot tell.

    Share-based types: min(share x cost, cap), the cap multiplied for a whole technology line;
    a fixed amount (new enterprise): that amount; levels the province sets and has not entered: None.
    Informative only: the real level is fixed when the project is approved.
    """
    known = effective_facts(programme, facts)
    support_type = known.get("support_type")
    if not isinstance(support_type, str):
        return None
    level = support_level(programme, support_type, known.get("province"))
    if level is None or level.get("province_set"):
        return None
    if "amount_vnd" in level:
        return int(level["amount_vnd"])
    cost = known.get("cost_vnd")
    if not _is_number(cost) or cost <= 0:  # type: ignore[operator]
        return None
    cap = Decimal(level["cap_vnd"])
    if known.get("whole_line") == "yes" and "whole_line_multiplier" in level:
        cap *= Decimal(str(level["whole_line_multiplier"]))
    share = Decimal(str(level["share"])) * Decimal(str(cost))
    return int(min(share, cap).to_integral_value(rounding=ROUND_FLOOR))


def _support_level_findings(
    programme: Programme, known: Mapping[str, object], estimate: int | None
) -> list[Finding]:
    """Say why no amount is shown, rather than leave the owner guessing."""
    support_type = known.get("support_type")
    if estimate is not None or not isinstance(support_type, str):
        return []
    level = support_level(programme, support_type, known.get("province"))
    if level is None:
        return []
    if level.get("province_set"):
        return [Finding("ok", PROVINCE_SETS_LEVEL, None)]
    if "cost_vnd" not in known and not any(q.id == "cost_vnd" for q in questions_to_ask(programme, known)):
        # A share the province entered for a type whose cost the bot does not ask.
        return [Finding("ok", AMOUNT_FROM_COSTS, None)]
    return []
