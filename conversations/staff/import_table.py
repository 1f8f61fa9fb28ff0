"""Reading an imported list's cells, CSV or Excel, before anything is checked: the first sheet of
a workbook, or a CSV in UTF-8 or Windows Vietnamese (cp1258), as provinces save them."""

from __future__ import annotations

import csv
import io
from typing import Any

from conversations.i18n import N_

UNREADABLE = N_("The file could not be read as a CSV or Excel (.xlsx) table.")


class TableError(Exception):
    """The file as a whole cannot be imported (unreadable, no header, a column missing)."""

    def __init__(self, msgid: str, **values: Any) -> None:
        super().__init__(msgid)
        self.msgid = msgid
        self.values = values


def read_table(data: bytes, filename: str) -> list[list[Any]]:
    """The cells of the file's first sheet, row by row (CSV: UTF-8, or Windows Vietnamese)."""
    if filename.lower().endswith(".xlsx") or data[:4] == b"PK\x03\x04":
        return _read_xlsx(data)
    return _read_csv(data)


def _read_xlsx(data: bytes) -> list[list[Any]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet = workbook.worksheets[0]
            return [list(row) for row in sheet.iter_rows(values_only=True)]
        finally:
            workbook.close()
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise TableError(UNREADABLE) from exc


def _read_csv(data: bytes) -> list[list[Any]]:
    for encoding in ("utf-8-sig", "cp1258"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise TableError(UNREADABLE)
    if "\x00" in text:
        raise TableError(UNREADABLE)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return [list(row) for row in csv.reader(io.StringIO(text), dialect)]
