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

from pathlib import Path

from conversations.programmes.model import (
    ACCEPT_KINDS,
    CHECK_OUTCOMES,
    COMBINATORS,
    DATA_DIR,
    DERIVED_FACTS,
    FACILITY_FACTS,
    LEAF_OPERATORS,
    PROGRAMME_IDS,
    PROMPT_PLACEHOLDERS,
    REQUIRED_QUESTIONS,
    SUPPORT_LEVEL_KEYS,
    TEXT_KEYS,
    Check,
    ChecklistItem,
    FactSpec,
    Option,
    Programme,
    ProgrammeDataError,
    Question,
    facts_named,
    freeze,
    merge_support_level,
    normalise_province,
    placeholders,
)
from conversations.programmes.reader import load

__all__ = [
    "ACCEPT_KINDS",
    "CHECK_OUTCOMES",
    "COMBINATORS",
    "DATA_DIR",
    "DERIVED_FACTS",
    "FACILITY_FACTS",
    "LEAF_OPERATORS",
    "PROGRAMME_IDS",
    "PROMPT_PLACEHOLDERS",
    "REQUIRED_QUESTIONS",
    "SUPPORT_LEVEL_KEYS",
    "TEXT_KEYS",
    "Check",
    "ChecklistItem",
    "FactSpec",
    "Option",
    "Programme",
    "ProgrammeDataError",
    "Question",
    "facts_named",
    "freeze",
    "load_programmes",
    "merge_support_level",
    "normalise_province",
    "placeholders",
    "reload_programmes",
]


def load_programmes(directory: Path | None = None) -> dict[str, Programme]:
    """Both programmes keyed by id, read once per directory (tests pass a temporary one)."""
    return dict(load((directory or DATA_DIR).resolve()))


def reload_programmes() -> None:
    """Forget what was read (after a province edits a file, or in tests)."""
    load.cache_clear()
