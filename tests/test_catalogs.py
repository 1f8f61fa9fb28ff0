"""Every sentence a user can read exists in Vietnamese and English, with the same placeholders."""

from __future__ import annotations

import re
from datetime import date

import pytest
from babel.messages.pofile import read_po

from bot.catalogs import LOCALES, extract
from conversations.i18n import translator

PLACEHOLDER = re.compile(r"\{(\w+)\}")


@pytest.fixture(scope="module")
def msgids() -> set[str]:
    return {str(m.id) for m in extract() if m.id}


@pytest.mark.parametrize("locale", ["vi", "en"])
def test_every_msgid_is_translated(locale: str, msgids: set[str]) -> None:
    with (LOCALES / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    translated = {str(m.id): m.string for m in catalog if m.id}
    missing = sorted(m for m in msgids if not translated.get(m))
    assert not missing, f"{len(missing)} msgids lack a {locale} translation (run `make i18n`): {missing[:5]}"
    fuzzy = [str(m.id) for m in catalog if m.id and m.fuzzy]
    assert not fuzzy, f"fuzzy {locale} entries need a review: {fuzzy[:5]}"


@pytest.mark.parametrize("locale", ["vi", "en"])
def test_translations_keep_placeholders(locale: str) -> None:
    with (LOCALES / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    wrong = [
        str(m.id)
        for m in catalog
        if m.id
        and m.string
        and set(PLACEHOLDER.findall(str(m.id))) != set(PLACEHOLDER.findall(str(m.string)))
    ]
    assert not wrong, f"placeholders differ: {wrong[:5]}"


def test_vietnamese_catalog_is_used() -> None:
    t = translator("vi")
    assert t("Yes") == "Có"
    assert t("Receipt code: {code}", code="KC-2611-ABCDE") == "Mã biên nhận: KC-2611-ABCDE"


def test_money_and_dates_are_written_the_vietnamese_way() -> None:
    for locale in ("vi", "en"):
        t = translator(locale)
        assert t.money(1_500_000) == "1.500.000\xa0₫"
        assert t.date(date(2026, 3, 9)) == "09/03/2026"


def test_english_catalog_holds_no_vietnamese_text() -> None:
    """A Vietnamese sentence in the English catalog would greet an English speaker in Vietnamese."""
    viet = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.IGNORECASE)
    with (LOCALES / "en" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale="en")
    leaked = [
        str(m.id) for m in catalog if m.id and viet.search(str(m.string or "")) and not viet.search(str(m.id))
    ]
    assert not leaked, leaked[:5]
