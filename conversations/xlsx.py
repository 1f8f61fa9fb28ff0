"""Writing rows into the workbooks staff download, without letting a cell become a formula.

A facility name, product list or phone number is typed by the public. openpyxl stores any string
that begins with "=" as a formula, and Excel and LibreOffice also evaluate "+", "-" and "@" at the
start of a cell (CSV/formula injection, OWASP): "=HYPERLINK(...)" in a product name would run on
a staff computer. Every export appends its rows through `append_text_safe`, which keeps such a
cell a plain string and marks it quote-prefixed, so it stays text even after staff edit it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.worksheet.worksheet import Worksheet

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def append_text_safe(sheet: Worksheet, values: Iterable[Any]) -> None:
    sheet.append(list(values))
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS):
            cell.data_type = "s"
            cell.quotePrefix = True
