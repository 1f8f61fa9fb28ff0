"""The staff console's questions to the dossier tables: a filtered, searched, sorted page of the
queue, its communes, and a dossier's history (the statistics: `storage.console_stats`).

Separate from `storage.review` (the chat's queue and the claims) because the console asks more of
the same rows: filters by commune and dates, search by name, tax code or phone, any sort order.
Search ignores Vietnamese accents ("non la" finds "Nón lá"): neither SQLite nor a plain PostgreSQL
has an unaccent function, so names are folded in Python over the facilities in scope, then
matched by id; for a province's tens of thousands of facilities that is a few milliseconds.
"""

from __future__ import annotations

import asyncio
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import Application, ApplicationEvent, Facility

STAFF_STATUSES = ("submitted", "resubmitted", "under_review", "returned", "approved", "rejected")
SORTS: dict[str, Any] = {
    "submitted": Application.submitted_at,
    "updated": Application.updated_at,
    "code": Application.receipt_code,
    "facility": Facility.name,
    "commune": Facility.commune,
    "status": Application.status,
}


def _fold_table() -> dict[int, str]:
    """Every precomposed Latin letter (Vietnamese included) to its base letter, for str.translate:
    folding 10,000 names this way takes milliseconds, where normalising each one takes ~70 ms."""
    table: dict[int, str] = {ord("đ"): "d", ord("Đ"): "d"}
    for code in range(0xC0, 0x2000):
        char = chr(code)
        base = "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c))
        if base != char and base.isascii():
            table[code] = base.lower()
    return table


_FOLD = _fold_table()
MAX_NAME_MATCHES = 5000  # beyond this, a plain LIKE (accents then count) instead of a huge IN list


def fold(text: str) -> str:
    """Lower case without accents; đ becomes d (it is a letter of its own, not an accent)."""
    return text.lower().translate(_FOLD)


@dataclass
class QueueFilter:
    """What the queue's form asks for; every field optional."""

    programme: str | None = None
    level: str | None = None
    statuses: tuple[str, ...] = STAFF_STATUSES
    commune: str | None = None
    submitted_from: datetime | None = None
    submitted_to: datetime | None = None
    held: str | None = None  # "me", "free"
    search: str | None = None
    sort: str = "submitted"
    descending: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _level_expr() -> Any:
    return Application.answers["level"].as_string()


@dataclass
class _Facilities:
    """What the queue needs of every facility in scope, read once and kept until one changes."""

    names: list[tuple[int, str]]  # (id, folded name)
    communes: list[str]


# By scope, with the (count, latest update) they were read at: re-read only when a facility was
# added, changed or deleted, so a page costs one small query here, not 10,000 rows.
_FACILITIES: dict[tuple[str, ...] | None, tuple[tuple[int, Any], _Facilities]] = {}


async def _facilities(session: AsyncSession, provinces: set[str] | None) -> _Facilities:
    key = tuple(sorted(provinces)) if provinces is not None else None
    where = [Facility.province.in_(key)] if key is not None else []
    count, latest = (
        await session.execute(select(func.count(), func.max(Facility.updated_at)).where(*where))
    ).one()
    stamp = (int(count or 0), latest)
    cached = _FACILITIES.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    rows = (await session.execute(select(Facility.id, Facility.name, Facility.commune).where(*where))).all()
    found = _Facilities(
        names=[(fid, fold(name)) for fid, name, _ in rows],
        communes=sorted({commune for _, _, commune in rows if commune}),
    )
    if len(_FACILITIES) > 64:
        _FACILITIES.clear()
    _FACILITIES[key] = (stamp, found)
    return found


async def _search_ids(session: AsyncSession, provinces: set[str] | None, term: str) -> Any:
    """A WHERE clause for the search box: receipt code, tax code, phone, or facility name."""
    term = term.strip()
    digits = "".join(c for c in term if c.isdigit())
    clauses: list[Any] = [Application.receipt_code.ilike(f"%{term.upper()}%")]
    if digits and len(digits) >= 4 and len(digits) >= len(term.replace(" ", "").replace("-", "")) - 1:
        clauses.append(Facility.tax_code.like(f"%{digits}%"))
        local = "0" + digits[2:] if digits.startswith("84") and len(digits) == 11 else digits
        clauses.append(Facility.phone.like(f"%{local}%"))
    folded = fold(term)
    if folded:
        ids = [fid for fid, name in (await _facilities(session, provinces)).names if folded in name]
        if len(ids) > MAX_NAME_MATCHES:
            clauses.append(func.lower(Facility.name).like(f"%{term.lower()}%"))
        elif ids:
            clauses.append(Facility.id.in_(ids))
    return or_(*clauses)


async def _filtered(
    session: AsyncSession, provinces: set[str] | None, actor: str, f: QueueFilter
) -> Select[Any]:
    where: list[Any] = [Application.status.in_(f.statuses), Application.status != "draft"]
    if provinces is not None:
        where.append(Facility.province.in_(sorted(provinces)))
    if f.programme:
        where.append(Application.programme == f.programme)
    if f.level:
        where.append(_level_expr() == f.level)
    if f.commune:
        where.append(Facility.commune == f.commune)
    if f.submitted_from:
        where.append(Application.submitted_at >= f.submitted_from)
    if f.submitted_to:
        where.append(Application.submitted_at < f.submitted_to)
    if f.held == "me":
        where.append(Application.reviewer == actor)
        where.append(Application.status == "under_review")
    elif f.held == "free":
        where.append(or_(Application.reviewer.is_(None), Application.status != "under_review"))
    if f.search and f.search.strip():
        where.append(await _search_ids(session, provinces, f.search))
    return select(Application).join(Facility, Facility.id == Application.facility_id).where(*where)


async def queue_page(
    session: AsyncSession,
    *,
    provinces: set[str] | None,
    actor: str,
    filters: QueueFilter,
    limit: int,
    offset: int,
) -> tuple[list[Application], int]:
    """One page of dossiers in scope matching the filters, and how many match in all.

    The page's ids and the total come from one narrow query (the sort carries ids and sort keys,
    not every row's answers), then those 50 dossiers are loaded by id: on SQLite with 10,000
    dossiers that halves the page's database time."""
    base = await _filtered(session, provinces, actor, filters)
    column = SORTS.get(filters.sort, Application.submitted_at)
    order = column.desc() if filters.descending else column.asc()
    found = (
        await session.execute(
            base.with_only_columns(Application.id, func.count().over())
            .order_by(order, Application.id.asc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    if found:
        total = int(found[0][1])
    else:  # past the last page: the window had no row to count on
        total = int(await session.scalar(base.with_only_columns(func.count())) or 0)
    ids = [row[0] for row in found]
    if not ids:
        return [], total
    loaded = await session.scalars(
        select(Application).options(selectinload(Application.facility)).where(Application.id.in_(ids))
    )
    by_id = {app.id: app for app in loaded}
    return [by_id[i] for i in ids if i in by_id], total


EXPORT_COLUMNS = (
    Application.receipt_code,
    Application.answers,
    Application.programme,
    Application.status,
    Application.submitted_at,
    Application.updated_at,
    Application.reviewer,
    Facility.name,
    Facility.tax_code,
    Facility.phone,
    Facility.commune,
    Facility.province,
)


async def all_matching(
    session: AsyncSession, *, provinces: set[str] | None, actor: str, filters: QueueFilter
) -> list[Any]:
    """Every dossier matching the filters, for an export: plain rows of `EXPORT_COLUMNS` (no ORM
    objects: 10,000 of them would cost a second)."""
    base = await _filtered(session, provinces, actor, filters)
    column = SORTS.get(filters.sort, Application.submitted_at)
    order = column.desc() if filters.descending else column.asc()
    query = base.with_only_columns(*EXPORT_COLUMNS).order_by(order, Application.id.asc())
    rows: list[Any] = []
    # In slices, so the event loop serves other requests between them while 10,000 rows are read.
    result = await session.stream(query)
    async for part in result.partitions(500):
        rows.extend(part)
        await asyncio.sleep(0)
    return rows


async def communes(session: AsyncSession, provinces: set[str] | None) -> list[str]:
    """The communes of the facilities in scope, for the filter's list."""
    return (await _facilities(session, provinces)).communes


async def history(session: AsyncSession, application_id: int) -> list[ApplicationEvent]:
    rows = await session.scalars(
        select(ApplicationEvent)
        .where(ApplicationEvent.application_id == application_id)
        .order_by(ApplicationEvent.id)
    )
    return list(rows)
