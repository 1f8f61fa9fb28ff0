"""Importing a province's existing list of recognised products (CSV or Excel) into the registry.

Provinces already keep these lists in spreadsheets, with their own headings and habits (a tax
code typed as a number loses its leading 0; "Cấp tỉnh" or just "tỉnh"), so headings are matched
by their words, accents or not, and values are read the way people write them. Every row is
checked before anything is written; if any row is wrong, nothing is imported and each wrong row
is reported with its row number as the spreadsheet shows it, so staff fix the file and send it
again. A list is imported whole (in a savepoint) or not at all.

Checking and saving are two steps. `check_certificates` reads the file and checks every row,
looking up what the registry already holds (reads only), and computes every value to insert;
`save_checked` then inserts them in one short write. The console runs the check outside any
write transaction and the save in a transaction of its own, so a 20,000-row list holds SQLite's
write lock only while it is inserted, not while it is read and checked (owners' messages wait
for that lock). `import_certificates` does both in the caller's transaction (the chat's). Work
is done in a thread or in slices, so the event loop keeps serving others.
"""

from __future__ import annotations

import asyncio
import functools
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from conversations import rules
from conversations.i18n import N_
from conversations.places import find_province
from conversations.programmes import Programme
from conversations.staff.import_table import UNREADABLE, TableError, read_table  # noqa: F401 (importer.UNREADABLE)
from conversations.validators import Valid, date_dmy, fold, tax_code
from storage import audit, certificates
from storage.certificates import Certificate
from storage.text_keys import match_key

MAX_ROWS = 20_000  # a province's whole registry in one file; beyond it, split the list
SLICE = 500  # rows checked between two progress reports (and two turns of the event loop)
SAVE_SLICE = 2_000  # rows in one INSERT's parameters: the loop turns between two, the lock still held
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

EMPTY = N_("The file has no certificates under its header row.")
MISSING_COLUMNS = N_("The header row lacks these columns: {columns}.")
TOO_MANY = N_("The file has {count} rows; please import at most {max} at a time.")
CLASH = N_(
    "Another list with some of the same certificates was imported at the same moment; nothing was imported."
)


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


@dataclass
class CheckedList:
    """A list checked without writing anything: `report` says what is wrong (its rows, or the
    file's problem); when nothing is, `values` are the rows ready for the INSERT, every value
    computed, so that saving them takes the database's write lock only while inserting."""

    report: ImportReport
    filename: str = ""
    values: list[dict[str, Any]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # each value's row number in the file

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class ImportBy:
    """Who imports a list and when: the provinces its rows must fall in, the programme whose rules
    date the certificates, and the actor and time the audit trail and every row are stamped with."""

    programme: Programme
    provinces: set[str] | None  # None: every province (a national admin)
    actor: str
    now: datetime
    today: date


async def import_certificates(
    session: AsyncSession, data: bytes, filename: str, by: ImportBy, progress: Progress | None = None
) -> ImportReport:
    """Check every row, then import them all, or nothing and the reasons row by row, in the
    caller's transaction (the chat's); `progress` hears how far the check is."""
    return await save_checked(session, await check_certificates(session, data, filename, by, progress))


async def check_certificates(
    session: AsyncSession, data: bytes, filename: str, by: ImportBy, progress: Progress | None = None
) -> CheckedList:
    """Read the file and check every row, looking up the certificates already recorded and the
    facilities to link: reads only, so the console runs it outside any write transaction (in WAL
    an owner's message is saved meanwhile). `progress` hears the rows checked, slice by slice."""

    async def report_progress(done: int, total: int) -> None:
        if progress is not None:
            await progress("check", done, total)
        await asyncio.sleep(0)  # writing a line need not suspend: let the loop serve others here

    try:
        table = await asyncio.to_thread(read_table, data, filename)
        if not table:
            raise TableError(EMPTY)
        columns = header_map(table[0])
    except TableError as exc:
        return CheckedList(ImportReport(problem=(exc.msgid, exc.values)))
    data_rows = list(_data_rows(table))
    if len(data_rows) > MAX_ROWS:
        return CheckedList(ImportReport(problem=(TOO_MANY, {"count": len(data_rows), "max": MAX_ROWS})))
    rows: list[_Row] = []
    report = ImportReport()
    seen: dict[tuple[str, str], int] = {}
    await report_progress(0, len(data_rows))
    for index, (number, cells) in enumerate(data_rows, 1):
        row, reasons = check_row(number, cells, columns, provinces=by.provinces, today=by.today)
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
            await report_progress(index, len(data_rows))
    report.errors += await _recorded_already(session, [(r.row, r.issuing_body, r.number) for r in rows])
    report.errors.sort(key=lambda e: e.row)
    if report.errors:
        return CheckedList(report)
    if not rows:
        return CheckedList(ImportReport(problem=(EMPTY, {})))
    facilities = await certificates.facilities_by_tax_code(session, {r.tax_code for r in rows if r.tax_code})
    batch = f"{by.now:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
    checked = CheckedList(report, filename, rows=[row.row for row in rows])
    for start in range(0, len(rows), SLICE):  # about 10 ms a slice: the loop turns between two
        checked.values += [_values(row, by, facilities, batch) for row in rows[start : start + SLICE]]
        await asyncio.sleep(0)
    return checked


async def _recorded_already(session: AsyncSession, rows: list[tuple[int, str, str]]) -> list[RowError]:
    """Of these (row number, issuing body, number), the rows whose certificate is already recorded."""
    pairs, taken = sorted({(body, number) for _, body, number in rows}), set()
    for start in range(0, len(pairs), SAVE_SLICE):  # 20,000 at once kept the loop ~0.1 s
        taken |= await certificates.numbers_taken(session, set(pairs[start : start + SAVE_SLICE]))
    already = N_("certificate {number} of {body} is already recorded")
    return [
        RowError(row, ((already, {"number": number, "body": body}),))
        for row, body, number in rows
        if (body, number) in taken
    ]


def _values(row: _Row, by: ImportBy, facilities: dict[str, int], batch: str) -> dict[str, Any]:
    return {
        "programme": by.programme.id,
        "facility_id": facilities.get(row.tax_code) if row.tax_code else None,
        "facility_name": row.facility_name,
        "tax_code": row.tax_code,
        "province": row.province,
        "product": row.product,
        "level": row.level,
        "number": row.number,
        "number_key": match_key(row.number),
        "issue_date": row.issue_date,
        "valid_until": rules.certificate_valid_until(row.issue_date, by.programme),
        "issuing_body": row.issuing_body,
        "issuing_body_key": match_key(row.issuing_body),
        "source": "import",
        "import_batch": batch,
        "recorded_by": by.actor,
        "recorded_at": by.now,
    }


async def save_checked(session: AsyncSession, checked: CheckedList) -> ImportReport:
    """Insert a checked list, all of it or nothing, in a savepoint of the caller's transaction:
    multi-row INSERTs (SQLAlchemy Core's executemany) of values computed beforehand, so the write
    lock is held only while inserting. A certificate of the list recorded by someone else since the
    check (the registry's unique index refuses it) makes nothing saved and that row listed."""
    if not checked.report.ok or not checked.values:
        return checked.report
    first = checked.values[0]
    batch, actor, now = first["import_batch"], first["recorded_by"], first["recorded_at"]
    try:
        async with session.begin_nested():
            for start in range(0, len(checked.values), SAVE_SLICE):
                await session.execute(insert(Certificate), checked.values[start : start + SAVE_SLICE])
                await asyncio.sleep(0)  # the loop serves others between two slices
            ids = list(
                await session.scalars(
                    select(Certificate.id).where(Certificate.import_batch == batch).order_by(Certificate.id)
                )
            )
    except IntegrityError:
        return await _changed_since_check(session, checked)
    linked = sum(1 for v in checked.values if v["facility_id"] is not None)
    audit.record(
        session,
        actor=actor,
        action="certificates_imported",
        subject=f"certificates:import:{batch}",
        at=now,
        detail={"filename": checked.filename[:120], "count": len(ids), "linked": linked, "ids": ids},
    )
    return ImportReport(imported=len(ids), linked=linked, batch=batch)


async def _changed_since_check(session: AsyncSession, checked: CheckedList) -> ImportReport:
    """Why the INSERT was refused: the rows whose certificate was recorded since the check, or,
    when none is found (a list saved at the same moment and not yet committed), the clash."""
    rows = [(n, v["issuing_body"], v["number"]) for n, v in zip(checked.rows, checked.values, strict=True)]
    errors = await _recorded_already(session, rows)
    return ImportReport(errors=errors) if errors else ImportReport(problem=(CLASH, {}))
