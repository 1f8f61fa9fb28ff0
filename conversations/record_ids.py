"""Numbers read from what a user sends: a record id in a button payload or a command, a page.

Button payloads come back from the client and can be forged; commands are typed. `str.isdigit()`
accepts "²" and "١" (which int() refuses) and any length (int() refuses 5,000 digits, and an id
past 2³¹−1 makes PostgreSQL's integer columns raise): either would turn one odd message into a
dead letter. These return None instead, and the caller answers as for an unknown id.
"""

from __future__ import annotations

MAX_ID = 2**31 - 1  # the largest value of an INTEGER column on PostgreSQL


def ascii_number(text: str, maximum: int) -> int | None:
    """0..maximum written in ASCII digits, else None."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(maximum)):
        return None
    value = int(text)
    return value if value <= maximum else None


def record_id(text: str) -> int | None:
    """A database id (1..2³¹−1), else None."""
    value = ascii_number(text, MAX_ID)
    return value if value else None
