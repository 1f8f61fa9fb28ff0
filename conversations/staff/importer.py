"""Importing a province's existing list of recognised products (CSV or Excel) into the registry.

Provinces already keep these lists in spreadsheets, with their own headings and habits (a tax
code typed as a number loses its leading 0; "Cấp tỉnh" or just "tỉnh"), so headings are matched
by their words, accents or not, and values are read the way people write them. Every row is
checked before anything is written; if any row is wrong, nothing is imported and each wrong row
is reported with its row number as the spreadsheet shows it, so staff fix the file and send it
again. The insert runs in a savepoint: a list is imported whole or not at all.

`import_certificates` is the whole job and takes bytes, so it is called the same way from the
chat (a staff member sends the file) and from the console, which passes `progress` to show how
far a large file (20,000 rows) is checked and saved. The file is read in a thread and rows are
checked and written in slices, so the event loop keeps serving others meanwhile.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from conversations import rules
from conversations.i18n import N_
from conversations.places import find_province
from conversations.programmes import Programme
from conversations.validators import Valid, date_dmy, fold, tax_code
from storage import audit, certificates
from storage.certificates import Certificate
from storage.text_keys import match_key

MAX_ROWS = 20_000  # a province's whole registry in one file; beyond it, split the list
SLICE = 500  # rows checked or written between two progress reports (and two turns of the event loop)
# Reports how far an import is: phase ("check" or "save"), rows done, rows in all.
Progress = Callable[[str, int, int], Awaitable[None]]

# Field -> headings it is known by (folded: lower case, no accents, single spaces).
COLUMNS: dict[str, tuple[str, ...]] = {
    "tax_code": ("ma so thue", "mst", "ma so doanh nghiep", "ma so", "tax code"),
    "facility_name": (
        "ten co so",
        "co so",
        "ten doanh nghiep",
        "ten don vi",
        "don vi",
        "facility",
        "facility name",
    ),
    "product": ("san pham", "ten san pham", "product", "product name"),
    "level": ("cap", "cap cong nhan", "cap binh chon", "level"),
    "number": ("so giay chung nhan", "so gcn", "so chung nhan", "so", "certificate number", "number"),
    "issue_date": ("ngay cap", "ngay cap gcn", "ngay cong nhan", "issue date", "date of issue"),
    "issuing_body": ("co quan cap", "noi cap", "don vi cap", "issuing body", "issued by"),
    "province": ("tinh", "tinh thanh pho", "tinh thanh", "province"),
}
REQUIRED = ("facility_name", "product", "level", "number", "issue_date", "issuing_body")
COLUMN_NAMES = {
    "tax_code": "Mã số thuế",
    "facility_name": "Tên cơ sở",
    "product": "Sản phẩm",
    "level": "Cấp",
    "number": "Số giấy chứng nhận",
    "issue_date": "Ngày cấp",
    "issuing_body": "Cơ quan cấp",
    "province": "Tỉnh",
}
# Folded words of a level -> its id; the district level (cấp huyện) was replaced by the commune
# level in July 2025, so old district certificates count as the level below the province.
LEVEL_WORDS = {
    "commune": ("xa", "phuong", "dac khu", "huyen", "quan", "thi xa", "commune", "district"),
    "province": ("tinh", "thanh pho", "province", "provincial"),
    "region": ("khu vuc", "vung", "mien", "region", "regional"),
    "nation": ("quoc gia", "toan quoc", "trung uong", "nation", "national"),
}

UNREADABLE = N_("The file could not be read as a CSV or Excel (.xlsx) table.")
EMPTY = N_("The file has no certificates under its header row.")
MISSING_COLUMNS = N_("The header row lacks these columns: {columns}.")
TOO_MANY = N_("The file has {count} rows; please import at most {max} at a time.")
CLASH = N_(
    "Another list with some of the same certificates was imported at the same moment; nothing was imported."
)


class TableError(Exception):
    """The file as a whole cannot be imported (unreadable, no header, a column missing)."""

    def __init__(self, msgid: str, **values: Any) -> None:
        super().__init__(msgid)
        self.msgid = msgid
        self.values = values


@dataclass(frozen=True)
class RowError:
    """One wrong row: its number as the spreadsheet shows it, and each reason (msgid, values)."""

    row: int
    reasons: tuple[tuple[str, dict[str, Any]], ...]


@dataclass
class ImportReport:
    imported: int = 0
    linked: int = 0
    errors: list[RowError] = field(default_factory=list)
    problem: tuple[str, dict[str, Any]] | None = None  # the whole file was refused
    batch: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.errors


@dataclass(frozen=True)
class _Row:
    row: int
    facility_name: str
    product: str
    level: str
    number: str
    issue_date: date
    issuing_body: str
    province: str
    tax_code: str | None


# --- reading the table ------------------------------------------------------------------------------


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


def _heading(value: Any) -> str:
    text = re.sub(r"\(.*?\)", " ", str(value or ""))
    return " ".join(re.sub(r"[^\w ]", " ", fold(text)).split())


def header_map(header: list[Any]) -> dict[str, int]:
    """Column index of each field found in the header row; TableError when a needed one is missing."""
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        heading = _heading(cell)
        for name, words in COLUMNS.items():
            if name not in found and heading in words:
                found[name] = index
                break
    missing = [COLUMN_NAMES[name] for name in REQUIRED if name not in found]
    if missing:
        raise TableError(MISSING_COLUMNS, columns=", ".join(missing))
    return found


# --- checking rows ----------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def _tax_code(value: Any) -> str:
    text = _text(value).replace(" ", "").replace(".", "")
    # A tax code typed into Excel as a number loses its leading zero: 0100109106 -> 100109106,
    # and a CSV saved by Excel keeps it lost ("100109106", "100109106-001"). Every real code (10
    # digits, 10+3 for a branch, the 12-digit personal number) is that long, so one digit short
    # with the leading zero gone is restored, from an XLSX cell or a CSV field alike.
    if re.fullmatch(r"[1-9]\d{8}(-\d{3})?|[1-9]\d{10}", text):
        text = "0" + text
    return text


def parse_level(value: Any) -> str | None:
    words = _heading(value).removeprefix("cap ").removesuffix(" level").strip()
    for level, names in LEVEL_WORDS.items():
        if words in names or words == level:
            return level
    return None


def parse_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    result = date_dmy(_text(value))
    return result.value if isinstance(result, Valid) and isinstance(result.value, date) else None


def check_row(
    row_number: int,
    cells: list[Any],
    columns: dict[str, int],
    *,
    provinces: set[str] | None,
    today: date,
) -> tuple[_Row | None, list[tuple[str, dict[str, Any]]]]:
    """The row as a certificate, or the reasons it cannot be one."""

    def cell(name: str) -> Any:
        index = columns.get(name)
        return cells[index] if index is not None and index < len(cells) else None

    reasons: list[tuple[str, dict[str, Any]]] = []
    facility_name = _text(cell("facility_name"))[:200]
    product = _text(cell("product"))[:200]
    number = _text(cell("number"))
    body = _text(cell("issuing_body"))[:200]
    if not facility_name:
        reasons.append((N_("the facility name is empty"), {}))
    if not product:
        reasons.append((N_("the product is empty"), {}))
    level = parse_level(cell("level"))
    if level is None:
        reasons.append(
            (
                N_("the level “{value}” is not one of: commune, province, region, nation"),
                {"value": _text(cell("level"))},
            )
        )
    if not number:
        reasons.append((N_("the certificate number is empty"), {}))
    elif len(number) > 64:
        reasons.append((N_("the certificate number is longer than 64 characters"), {}))
    issued = parse_date(cell("issue_date"))
    if issued is None:
        reasons.append(
            (
                N_("the issue date “{value}” is not a date written dd/mm/yyyy"),
                {"value": _text(cell("issue_date"))},
            )
        )
    elif issued > today:
        reasons.append(
            (N_("the issue date {value} is in the future"), {"value": issued.strftime("%d/%m/%Y")})
        )
    if not body:
        reasons.append((N_("the issuing body is empty"), {}))
    province = _province(_text(cell("province")), provinces, reasons)
    code: str | None = _tax_code(cell("tax_code")) or None
    if code is not None:
        checked = tax_code(code)
        if isinstance(checked, Valid):
            code = str(checked.value)
        else:
            reasons.append((N_("the tax code “{value}” is not valid"), {"value": code}))
    if reasons or level is None or issued is None or province is None:
        return None, reasons
    return _Row(row_number, facility_name, product, level, number, issued, body, province, code), []


_find_province = functools.lru_cache(maxsize=512)(find_province)  # a list names a few provinces, 20,000 times


def _province(text: str, provinces: set[str] | None, reasons: list[tuple[str, dict[str, Any]]]) -> str | None:
    """The row's province by its current name; an empty cell means the importer's one province."""
    if not text:
        if provinces is not None and len(provinces) == 1:
            return next(iter(provinces))
        reasons.append((N_("the province is empty"), {}))
        return None
    match = _find_province(text)
    if match is None:
        reasons.append((N_("the province “{value}” is unknown"), {"value": text}))
        return None
    name = match.province.name
    if provinces is not None and name not in provinces:
        reasons.append((N_("{value} is not one of your provinces"), {"value": name}))
        return None
    return name


def _data_rows(table: list[list[Any]]) -> Iterable[tuple[int, list[Any]]]:
    for number, cells in enumerate(table[1:], start=2):
        if any(_text(c) for c in cells):
            yield number, cells


# --- the import ---------------------------------------------------------------------------------------


async def import_certificates(
    session: AsyncSession,
    data: bytes,
    filename: str,
    *,
    programme: Programme,
    provinces: set[str] | None,
    actor: str,
    now: datetime,
    today: date,
    progress: Progress | None = None,
) -> ImportReport:
    """Check every row, then import them all, or nothing and the reasons row by row; `progress`
    hears how far the check and the saving are."""

    async def report_progress(phase: str, done: int, total: int) -> None:
        if progress is not None:
            await progress(phase, done, total)
        await asyncio.sleep(0)  # writing a line need not suspend: let the loop serve others here

    try:
        table = await asyncio.to_thread(read_table, data, filename)
        if not table:
            raise TableError(EMPTY)
        columns = header_map(table[0])
    except TableError as exc:
        return ImportReport(problem=(exc.msgid, exc.values))
    data_rows = list(_data_rows(table))
    if len(data_rows) > MAX_ROWS:
        return ImportReport(problem=(TOO_MANY, {"count": len(data_rows), "max": MAX_ROWS}))
    rows: list[_Row] = []
    report = ImportReport()
    seen: dict[tuple[str, str], int] = {}
    await report_progress("check", 0, len(data_rows))
    for index, (number, cells) in enumerate(data_rows, 1):
        row, reasons = check_row(number, cells, columns, provinces=provinces, today=today)
        if row is not None:
            key = certificates.certificate_key(row.issuing_body, row.number)
            if key in seen:
                reasons = [(N_("the same certificate number as row {row}"), {"row": seen[key]})]
                row = None
            else:
                seen[key] = number
        if row is None:
            report.errors.append(RowError(number, tuple(reasons)))
        else:
            rows.append(row)
        if index % SLICE == 0 or index == len(data_rows):
            await report_progress("check", index, len(data_rows))
    taken = await certificates.numbers_taken(session, {(r.issuing_body, r.number) for r in rows})
    for row in rows:
        if (row.issuing_body, row.number) in taken:
            reason = (
                N_("certificate {number} of {body} is already recorded"),
                {"number": row.number, "body": row.issuing_body},
            )
            report.errors.append(RowError(row.row, (reason,)))
    report.errors.sort(key=lambda e: e.row)
    if report.errors:
        return report
    if not rows:
        return ImportReport(problem=(EMPTY, {}))
    return await _insert(
        session, rows, programme=programme, actor=actor, now=now, filename=filename, progress=report_progress
    )


async def _insert(
    session: AsyncSession,
    rows: list[_Row],
    *,
    programme: Programme,
    actor: str,
    now: datetime,
    filename: str,
    progress: Progress,
) -> ImportReport:
    batch = f"{now:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
    facilities = await certificates.facilities_by_tax_code(session, {r.tax_code for r in rows if r.tax_code})

    def values_of(chunk: list[_Row]) -> list[dict[str, Any]]:
        return [
            {
                "programme": programme.id,
                "facility_id": facilities.get(row.tax_code) if row.tax_code else None,
                "facility_name": row.facility_name,
                "tax_code": row.tax_code,
                "province": row.province,
                "product": row.product,
                "level": row.level,
                "number": row.number,
                "number_key": match_key(row.number),
                "issue_date": row.issue_date,
                "valid_until": rules.certificate_valid_until(row.issue_date, programme),
                "issuing_body": row.issuing_body,
                "issuing_body_key": match_key(row.issuing_body),
                "source": "import",
                "import_batch": batch,
                "recorded_by": actor,
                "recorded_at": now,
            }
            for row in chunk
        ]

    ids: list[int] = []
    linked = 0
    try:
        async with session.begin_nested():
            await progress("save", 0, len(rows))
            # Plain INSERTs in slices (not 20,000 ORM objects: those held the event loop for
            # seconds), with the new ids back for the audit trail.
            for start in range(0, len(rows), SLICE):
                part = values_of(rows[start : start + SLICE])
                linked += sum(1 for v in part if v["facility_id"] is not None)
                ids += await session.scalars(insert(Certificate).returning(Certificate.id), part)
                await progress("save", start + len(part), len(rows))
    except IntegrityError:
        return ImportReport(problem=(CLASH, {}))
    audit.record(
        session,
        actor=actor,
        action="certificates_imported",
        subject=f"certificates:import:{batch}",
        at=now,
        detail={"filename": filename[:120], "count": len(ids), "linked": linked, "ids": sorted(ids)},
    )
    return ImportReport(imported=len(ids), linked=linked, batch=batch)
