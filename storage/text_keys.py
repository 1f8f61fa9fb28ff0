"""Match keys: text folded in Python for case- and accent-insensitive comparisons in SQL.

SQLite's lower() folds ASCII only ("45/QĐ-UBND" keeps its Đ) while PostgreSQL's follows the
collation, so a comparison written with lower() answers differently on the two databases. Instead
a column that must be compared loosely gets a sibling `*_key` column holding `match_key(value)`,
computed here, in Python, the same for both; queries and unique indexes use the key.
"""

from __future__ import annotations

import unicodedata


def match_key(text: str) -> str:
    """Case-folded, without Vietnamese diacritics (đ → d) and without any whitespace.

    "45/QĐ-UBND", "45 / qđ-ubnd" and "45/QD-UBND" are one certificate number as people type it.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    stripped = stripped.replace("đ", "d").replace("Đ", "d").replace("Ð", "d")
    return "".join(stripped.casefold().split())
