"""Translations and the Vietnamese way of writing dates and money.

Catalogs are the .po files in `locales/`; they are compiled in memory when first needed, so a
checkout never runs with stale compiled catalogs. Code marks msgids with `N_()` where they are
declared and translates them with a `Translator` once the user's language is known.
"""

from __future__ import annotations

import gettext
import io
import os
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal

LOCALES = ("vi", "en")
DEFAULT_LOCALE = "vi"
DOMAIN = "messages"
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
# The deployment's TIMEZONE, set once at start-up (bot.assembly). Every moment is stored in UTC;
# between 00:00 and 07:00 in Vietnam the UTC day is yesterday, so a date shown to a person must
# be taken in this zone, never from the UTC value.
_display_timezone = DEFAULT_TIMEZONE


def set_display_timezone(name: str) -> None:
    global _display_timezone
    _tz(name)  # an unknown zone fails here, not when the first date is shown
    _display_timezone = name


def local_moment(value: datetime, tz: str | None = None) -> datetime:
    """A stored moment in the display zone (naive values are UTC, as SQLite returns them)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(_tz(tz or _display_timezone))


def local_date(value: datetime, tz: str | None = None) -> date:
    """The calendar day a person in TIMEZONE lives at `value`: "today" for rules and reminders."""
    return local_moment(value, tz).date()


def local_today() -> date:
    """Today in TIMEZONE, for validators that see no `Run` (the machine's own zone is often UTC)."""
    return local_date(datetime.now(UTC))


def locales_dir() -> Path:
    """The catalogs live beside the packages in the repository (`locales/`)."""
    override = os.environ.get("LOCALES_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "locales"


def N_(msgid: str) -> str:
    """Mark a string for extraction without translating it yet."""
    return msgid


def normalise_locale(value: str | None) -> str | None:
    """Map "vi-VN", "en_US", "EN" to a supported locale, or None when unsupported."""
    if not value:
        return None
    base = value.replace("-", "_").split("_", 1)[0].lower()
    return base if base in LOCALES else None


@cache
def _catalog(locale: str) -> gettext.NullTranslations:
    po_path = locales_dir() / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.exists():
        return gettext.NullTranslations()
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


class Translator:
    """Everything locale-dependent a flow needs: text, dates, money, numbers."""

    __slots__ = ("_catalog", "locale")

    def __init__(self, locale: str) -> None:
        self.locale = normalise_locale(locale) or DEFAULT_LOCALE
        self._catalog = _catalog(self.locale)

    def __call__(self, msgid: str, /, **values: object) -> str:
        text = self._catalog.gettext(msgid)
        return text.format(**values) if values else text

    def plural(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        text = self._catalog.ngettext(singular, plural, n)
        return text.format(n=n, **values)

    def date(self, value: date | datetime | None) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = local_date(value)
        return format_date(value, "dd/MM/yyyy", locale=self.locale)

    def datetime(self, value: datetime, tz: str | None = None) -> str:
        return format_datetime(
            local_moment(value, tz),
            "HH:mm dd/MM/yyyy",
            tzinfo=_tz(tz or _display_timezone),
            locale=self.locale,
        )

    def money(self, amount: int | Decimal) -> str:
        """VND with Vietnamese grouping in both languages: 1.000.000 ₫."""
        return format_currency(amount, "VND", locale="vi_VN")

    def number(self, value: int | float | Decimal) -> str:
        return format_decimal(value, locale="vi_VN" if self.locale == "vi" else "en_US")


@cache
def _tz(name: str):  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def translator(locale: object) -> Translator:
    """The translator for a locale; anything that is not a supported locale (a platform's odd
    language code, even a non-string) gets the default language, never an error."""
    return _translator(normalise_locale(locale if isinstance(locale, str) else None) or DEFAULT_LOCALE)


@cache
def _translator(locale: str) -> Translator:
    return Translator(locale)
