"""Writing rows into the workbooks staff download, without letting a cell become a formula.

A facility name, product list or phone number is typed by the public. openpyxl stores any string
that begins with "=" as a formula, and Excel and LibreOffice also evaluate "+", "-" and "@" at the
start of a cell (CSV/formula injection, OWASP): "=HYPERLINK(...)" in a product name would run on
a staff computer. Every export appends its rows through `append_text_safe` (or, write-only,
`safe_cell`), which keeps such a cell a plain string, so it stays text even after staff edit it.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def append_text_safe(sheet: Worksheet, values: Iterable[Any]) -> None:
    sheet.append(list(values))
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS):
            cell.data_type = "s"
            cell.quotePrefix = True


def active_sheet(book: Workbook) -> Worksheet:
    """The sheet a workbook opens on, as a worksheet: the one every export writes and staff read.

    openpyxl types `Workbook.active` loosely (a chartsheet, or none); ours are never either, and
    failing loudly here beats writing into the wrong kind of sheet.
    """
    sheet = book.active
    if not isinstance(sheet, Worksheet):
        raise TypeError(f"the active sheet is a {type(sheet).__name__}, not a worksheet")
    return sheet


def safe_cell(sheet: Any, value: Any) -> Any:
    """What to append for `value`: itself, or a write-only cell when it needs one: text that looks
    like a formula is kept as plain text, a date and time shows as dd/mm/yyyy hh:mm."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"
        return cell
    if isinstance(value, datetime):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "dd/mm/yyyy hh:mm"
        return cell
    return value


def xlsx_bytes(title: str, headers: list[str], rows: Iterable[list[Any]], widths: list[int]) -> bytes:
    """A one-sheet workbook, written row by row (write-only mode keeps 10,000 rows in a few MB).
    Large tables take a second of CPU: the console runs this in a worker process
    (`handlers.console.workbooks`), which is why it lives in this module, importing only openpyxl."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31] or "Sheet")
    for n, width in enumerate(widths):
        sheet.column_dimensions[get_column_letter(n + 1)].width = width
    head = []
    for text in headers:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = Font(bold=True)
        head.append(cell)
    sheet.append(head)
    for row in rows:
        sheet.append([safe_cell(sheet, value) for value in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def xlsx_from_slices(title: str, headers: list[str], slices: list[bytes], widths: list[int]) -> bytes:
    """`xlsx_bytes` of rows sent as pickled slices (by `handlers.console.workbooks`, in this same
    program: never data from outside). Handing 10,000 rows to a worker process as one object
    pickles them in one call that holds the GIL for ~0.1 s; slices pickled one by one, the
    event loop between them, do not."""
    rows = (row for part in slices for row in pickle.loads(part))
    return xlsx_bytes(title, headers, rows, widths)
