"""Dates typed into the console's forms, and shown back, as a Vietnamese office writes them.

A provincial officer at a Windows PC with an English Chrome who met `<input type=date>` saw
mm/dd/yyyy (the browser's locale, not the page's), and typed 05/09 for 5 September would have
saved 9 May. So the console's date fields are text: dd/mm/yyyy, as on every paper of the office
(d/m/yyyy and "ngày 5 tháng 9 năm 2025" too, through the chat's own `date_dmy`), or yyyy-mm-dd
as a machine writes it (old links), read on the server; a wrong one gets its reason beside the
field. Whatever was read is shown back as dd/mm/yyyy, in the Vietnamese and the English pages
alike (the programme's dates are Vietnamese ones).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from babel.dates import format_date

from conversations.validators import Invalid, date_dmy

_ISO = re.compile(r"(?a)(\d{4})-(\d{1,2})-(\d{1,2})")
PATTERN = "dd/MM/yyyy"  # Babel's pattern: the same digits whatever the page's language


@dataclass(frozen=True)
class TypedDay:
    """A date field as typed: its day when it reads as one; otherwise, when something was typed,
    why not (a msgid with its values, and an example)."""

    text: str
    value: date | None = None
    error: Invalid | None = None

    @property
    def shown(self) -> str:
        """What the field shows back: the day as dd/mm/yyyy, or the text as typed when wrong."""
        return show_day(self.value) if self.value is not None else self.text

    def problem(self, t: Any) -> str | None:
        """The reason to show beside the field, in the page's language."""
        if self.error is None:
            return None
        return f"{t(self.error.error, **self.error.values)} {t(self.error.example, **self.error.values)}"


def read_day(text: str) -> TypedDay:
    text = " ".join(text.split())[:40]
    if not text:
        return TypedDay(text)
    iso = _ISO.fullmatch(text)
    if iso is not None:
        year, month, day = (int(part) for part in iso.groups())
        try:
            return TypedDay(text, date(year, month, day))
        except ValueError:
            text_dmy = f"{day}/{month}/{year}"  # the same reasons as a date typed dd/mm/yyyy
            result = date_dmy(text_dmy)
            return TypedDay(text, error=result if isinstance(result, Invalid) else None)
    result = date_dmy(text)
    if isinstance(result, Invalid):
        return TypedDay(text, error=result)
    assert isinstance(result.value, date)
    return TypedDay(text, result.value)


def show_day(value: date | None) -> str:
    return format_date(value, PATTERN, locale="vi") if value is not None else ""
