"""Rendering helpers every channel adapter shares: splitting long text, numbered menus.

Long text is split at paragraph, then line, then word boundaries so no message is cut in the
middle of a word; a message's buttons go with its last part (as RapidPro's courier does).
"""

from __future__ import annotations

from conversations.messages import Outgoing


def split_text(text: str, limit: int) -> list[str]:
    if limit < 50:
        raise ValueError("limit too small")
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), -1)
        if cut < limit // 3:
            cut = window.rfind("\n")
        if cut < limit // 3:
            cut = window.rfind(" ")
        if cut < limit // 3:
            cut = limit  # one very long word: a hard cut is the only way
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    if rest or not parts:
        parts.append(rest)
    return parts


def numbered(message: Outgoing) -> str:
    """The text with its choices as "1. ..." lines, for channels that cannot show buttons."""
    if not message.choices:
        return message.text
    lines = [f"{i}. {choice.label}" for i, choice in enumerate(message.choices, 1)]
    return message.text + "\n\n" + "\n".join(lines)
