"""Navigation words people type instead of commands: back, main menu, stop, help, talk to staff.

Owners rarely know `/cancel`; they write "quay lại", "thôi", "menu" or "cho hỏi", with or
without accents, sometimes with an emoji or "ạ". A message that is *only* such words is a wish to
move, never an answer: without this, "quay lai" became a contact person's name and "menu" a
product's name. Matching is on the whole message (folded, punctuation and emoji dropped), so
"Menu mây tre" or "Thôi Văn Hùng" stay answers.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from conversations.validators import fold

Intent = Literal["back", "menu", "stop", "help", "staff"]

# Folded phrases (no accents, lower case). Polite particles are dropped before matching.
_PHRASES: dict[Intent, tuple[str, ...]] = {
    "back": (
        "quay lai",
        "tro lai",
        "lui lai",
        "quay lai buoc truoc",
        "quay lai cau truoc",
        "cau truoc",
        "back",
        "go back",
        "previous",
    ),
    "menu": ("menu", "danh muc", "menu chinh", "trang chu", "main menu", "home", "ve menu", "ve trang chu"),
    "stop": ("huy", "huy bo", "thoi", "dung lai", "thoi khong lam nua", "stop", "cancel", "quit"),
    "help": ("help", "giup", "giup do", "tro giup", "huong dan", "can giup", "?"),
    "staff": (
        "hoi can bo",
        "gap can bo",
        "gap nguoi",
        "cho hoi",
        "cho toi hoi",
        "xin hoi",
        "tu van",
        "can tu van",
        "noi chuyen voi can bo",
        "gap nhan vien",
        "talk to staff",
        "ask the centre",
        "ask the center",
        "staff",
    ),
}
# Folded alike but meaning something else without the accent: "dung" is "đúng" (right, yes) as
# often as "dừng" (stop), so it counts only when typed with the accent of "dừng".
_ACCENTED_ONLY: dict[str, tuple[Intent, str]] = {"dung": ("stop", "dừng")}
_POLITE = re.compile(r"\b(a|nhe|nha|voi|di|oi|ban oi|bot oi|please)\b")
_NOT_WORD = re.compile(r"[^\w?]+")
_INDEX = {phrase: intent for intent, phrases in _PHRASES.items() for phrase in phrases}


def normalise(text: str) -> str:
    """Folded words only: accents, case, emoji and punctuation dropped ("⬅️ Quay lại!" → "quay lai")."""
    return " ".join(_NOT_WORD.sub(" ", fold(text)).replace("_", " ").split())


def intent_of(text: str | None) -> Intent | None:
    """The navigation wish a whole message expresses, or None when it is (or may be) an answer."""
    if not text or len(text) > 40:
        return None
    words = normalise(text)
    if words in _ACCENTED_ONLY:
        intent, accented = _ACCENTED_ONLY[words]
        return intent if accented in unicodedata.normalize("NFC", text).lower() else None
    if words in _INDEX:
        return _INDEX[words]
    without_particles = " ".join(_POLITE.sub(" ", words).split())
    return _INDEX.get(without_particles) if without_particles else None
