"""Keeps the gettext catalogs in step with the code: `python -m bot.catalogs` (run by `make i18n`).

Extracts every msgid (code and programme YAML), merges them into `locales/vi` and `locales/en`,
fills English entries from their English msgids, and takes Vietnamese translations handed over
as `locales/incoming/*.vi.json` ({msgid: translation}). What is still untranslated in Vietnamese
is listed, and the catalog test fails on it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}


def extract() -> Catalog:
    template = Catalog(project="khuyencong-bot", charset="utf-8")
    with (LOCALES / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True
    ):
        if message:
            template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def load(locale: str) -> Catalog:
    path = LOCALES / locale / "LC_MESSAGES" / "messages.po"
    if path.exists():
        with path.open("rb") as fh:
            return read_po(fh, locale=locale)
    return Catalog(locale=locale, project="khuyencong-bot", charset="utf-8")


def save(catalog: Catalog, locale: str) -> None:
    path = LOCALES / locale / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        write_po(
            fh,
            catalog,
            width=100,
            omit_header=False,
            sort_output=True,
            ignore_obsolete=True,
            include_previous=False,
            no_location=True,
        )


def incoming_translations() -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted((LOCALES / "incoming").glob("*.vi.json")):
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def sync() -> list[str]:
    handed_over = incoming_translations()
    untranslated: list[str] = []
    for locale in ("vi", "en"):
        # A fresh template each time: Catalog.update shares the template's message objects, so
        # filling one locale's strings would otherwise leak into the next.
        catalog = load(locale)
        catalog.update(extract(), no_fuzzy_matching=True)
        for message in catalog:
            if not message.id:
                continue
            if locale == "en" and not message.string:
                message.string = message.id
            if locale == "vi":
                if message.id in handed_over and not message.string:
                    message.string = handed_over[message.id]
                if not message.string:
                    untranslated.append(str(message.id))
            message.flags.discard("fuzzy")
        save(catalog, locale)
    return untranslated


def main() -> int:
    untranslated = sync()
    for msgid in untranslated:
        print(f"untranslated (vi): {msgid[:100]!r}")
    print(f"{len(untranslated)} msgids still need a Vietnamese translation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
