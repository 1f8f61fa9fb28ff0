"""Reading what owners type where an option is expected, the way they really write it.

"HTX", "ho kinh doanh ca the", "Hop tac xaa", "doc ban", "tinh", "Chuẩn bị hồ sơ ngay" (a label
that starts with an emoji, typed without it) were all refused before. Matching here, in order:
1. the whole text equals a label, a value or an alias (`programmes/aliases.yaml`), compared
   folded: accents, case, emoji and punctuation ignored;
2. the text is a word or words inside exactly one label or alias ("tinh" → "Cấp tỉnh");
3. a typo: rapidfuzz's similarity over the whole text, accepted only at `FUZZY_MIN` and with a
   clear `FUZZY_MARGIN` over the runner-up option, so a guess never picks between two close ones.
When two or more options fit equally, the caller asks "Ý anh/chị là …?" with them.

Numbers are read out of short phrases ("6 người", "năm 2009", "khoảng 350 triệu") by dropping
the words around them before the amount validator reads what is left.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from rapidfuzz import fuzz

from conversations.intents import normalise
from conversations.validators import Invalid, Result, fold, number

ALIASES_FILE = Path(__file__).resolve().parent / "programmes" / "aliases.yaml"
FUZZY_MIN = 80  # rapidfuzz ratio (0-100): "hop tac xaa" → "hop tac xa" scores 95
FUZZY_MARGIN = 10  # over the best other option, else it is a guess between two


@dataclass(frozen=True)
class Candidate:
    """One thing the owner may mean: `key` is returned; `texts` are the ways to write it."""

    key: str
    texts: tuple[str, ...]


@dataclass(frozen=True)
class Ambiguous:
    keys: tuple[str, ...]


@cache
def aliases() -> Mapping[str, Mapping[str, tuple[str, ...]]]:
    """{question id: {option value: (alias, ...)}} from the programme data."""
    data = yaml.safe_load(ALIASES_FILE.read_text(encoding="utf-8")) or {}
    return {
        str(question): {str(value): tuple(str(a) for a in words) for value, words in options.items()}
        for question, options in data.items()
    }


def aliases_of(question_id: str, value: str) -> tuple[str, ...]:
    return aliases().get(question_id, {}).get(value, ())


def pick(typed: str, candidates: Sequence[Candidate], *, exact_only: bool = False) -> str | Ambiguous | None:
    """The key of the candidate `typed` means, `Ambiguous` with the close ones, or None.
    `exact_only` where free text is a likely answer (a name typed beside a "Back" button)."""
    wanted = normalise(typed)
    if not wanted or not candidates:
        return None
    forms = [(c.key, normalise(t)) for c in candidates for t in c.texts]
    forms = [(key, form) for key, form in forms if form]
    exact = _unique(key for key, form in forms if form == wanted)
    if exact:
        return exact[0] if len(exact) == 1 else Ambiguous(tuple(exact))
    if exact_only:
        return None
    padded = f" {wanted} "
    inside = _unique(key for key, form in forms if padded in f" {form} ")
    if len(wanted) >= 2 and inside:
        return inside[0] if len(inside) == 1 else Ambiguous(tuple(inside))
    if len(wanted) < 3:
        return None
    best: dict[str, float] = {}
    for key, form in forms:
        best[key] = max(best.get(key, 0.0), fuzz.ratio(wanted, form))
    ranked = sorted(best.items(), key=lambda kv: kv[1], reverse=True)
    top_key, top = ranked[0]
    if top < FUZZY_MIN:
        return None
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    if top - runner_up >= FUZZY_MARGIN:
        return top_key
    return Ambiguous(tuple(key for key, score in ranked if top - score < FUZZY_MARGIN))


def _unique(keys: object) -> list[str]:
    seen: list[str] = []
    for key in keys:  # type: ignore[attr-defined]  # an iterable of str
        if key not in seen:
            seen.append(key)
    return seen


# --- numbers in short phrases ---------------------------------------------------------------------

_BEFORE = re.compile(
    r"^(?:(?:khoang|tam|chung|gan|hon|tren|xap xi|co|la|nam|vao nam|tu nam|tu|about|around|"
    r"approximately|roughly|over|in|since|year)\s+)+"
)
_AFTER = re.compile(
    r"(?:\s+(?:nguoi|lao dong|cong nhan|nhan cong|thanh vien|nhan vien|ho|people|workers|persons|"
    r"staff|members|roi|a|thoi))+$"
)


def number_in_phrase(text: str, *, minimum: int | None = None, maximum: int | None = None) -> Result:
    """`validators.number` over the number in a short phrase: "6 người" → 6, "năm 2009" → 2009,
    "khoảng 350 triệu" → 350.000.000; the error of the whole text when no number is left."""
    result = number(text, minimum=minimum, maximum=maximum)
    if not isinstance(result, Invalid):
        return result
    core = _AFTER.sub("", _BEFORE.sub("", fold(text).strip(" .!?"))).strip()
    if not core or core == fold(text).strip() or not re.search(r"\d", core):
        return result
    inner = number(core, minimum=minimum, maximum=maximum)
    return inner if not _unreadable(inner) else result


def _unreadable(result: Result) -> bool:
    return isinstance(result, Invalid) and "{text}" in result.error
