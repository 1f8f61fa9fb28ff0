"""The staff console's questions to the dossier tables: a filtered, searched, sorted page of the
queue, and the counts behind its statistics.

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
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, or_, select
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


# Folded facility names by scope, with the (count, latest update) they were read at: re-read only
# when a facility was added, changed or deleted, so a search costs one small query, not 10,000 rows.
_NAMES: dict[tuple[str, ...] | None, tuple[tuple[int, Any], list[tuple[int, str]]]] = {}


async def _folded_names(session: AsyncSession, provinces: set[str] | None) -> list[tuple[int, str]]:
    key = tuple(sorted(provinces)) if provinces is not None else None
    where = [Facility.province.in_(key)] if key is not None else []
    count, latest = (
        await session.execute(select(func.count(), func.max(Facility.updated_at)).where(*where))
    ).one()
    stamp = (int(count or 0), latest)
    cached = _NAMES.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    rows = (await session.execute(select(Facility.id, Facility.name).where(*where))).all()
    names = [(fid, fold(name)) for fid, name in rows]
    if len(_NAMES) > 64:
        _NAMES.clear()
    _NAMES[key] = (stamp, names)
    return names


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
        ids = [fid for fid, name in await _folded_names(session, provinces) if folded in name]
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
    """One page of dossiers in scope matching the filters, and how many match in all."""
    base = await _filtered(session, provinces, actor, filters)
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    column = SORTS.get(filters.sort, Application.submitted_at)
    order = column.desc() if filters.descending else column.asc()
    rows = await session.scalars(
        base.options(selectinload(Application.facility))
        .order_by(order, Application.id.asc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)


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
    query = select(Facility.commune).distinct().order_by(Facility.commune)
    if provinces is not None:
        query = query.where(Facility.province.in_(sorted(provinces)))
    return [c for c in (await session.scalars(query)).all() if c]


# --- statistics -------------------------------------------------------------------------------------


def _scoped(query: Any, provinces: set[str] | None) -> Any:
    if provinces is None:
        return query
    return (
        query.select_from(Application)
        .join(Facility, Facility.id == Application.facility_id)
        .where(Facility.province.in_(sorted(provinces)))
    )


@dataclass
class Overview:
    """One scan's worth of statistics: counts by (programme, status), submissions per week, and
    how many were ever submitted."""

    by_status: list[tuple[str, str, int]]
    weeks: list[int]
    submitted: int


async def overview(
    session: AsyncSession, provinces: set[str] | None, week_starts: list[datetime]
) -> Overview:
    """Counts by programme and status, with one SUM(CASE ...) per week (weeks start at the UTC
    instants of `week_starts`) and the ever-submitted count, in a single pass over the table:
    the same SQL on SQLite and PostgreSQL, and 100,000 applications read once, not three times."""
    bounds = [*week_starts, week_starts[-1] + timedelta(weeks=1)]
    weeks = [
        func.sum(case((and_(Application.submitted_at >= a, Application.submitted_at < b), 1), else_=0))
        for a, b in pairwise(bounds)
    ]
    sent = func.sum(case((Application.submitted_at.is_not(None), 1), else_=0))
    query = _scoped(
        select(Application.programme, Application.status, func.count(), sent, *weeks).group_by(
            Application.programme, Application.status
        ),
        provinces,
    )
    rows = (await session.execute(query)).all()
    return Overview(
        by_status=[(r[0], r[1], int(r[2])) for r in rows],
        weeks=[sum(int(r[4 + w] or 0) for r in rows) for w in range(len(week_starts))],
        submitted=sum(int(r[3] or 0) for r in rows),
    )


async def by_commune(
    session: AsyncSession, provinces: set[str] | None, top: int = 15
) -> list[tuple[str, int]]:
    query = (
        select(Facility.commune, func.count())
        .select_from(Application)
        .join(Facility, Facility.id == Application.facility_id)
        .where(Application.status != "draft")
        .group_by(Facility.commune)
        .order_by(func.count().desc(), Facility.commune)
        .limit(top)
    )
    if provinces is not None:
        query = query.where(Facility.province.in_(sorted(provinces)))
    return [(c, int(n)) for c, n in (await session.execute(query)).all()]


async def first_unanswered(
    session: AsyncSession, provinces: set[str] | None, questions: list[str]
) -> list[tuple[str, int]]:
    """How many open drafts stop at each question (the first of `questions`, in the flow's order,
    with no answer), counted in the database rather than by reading every draft."""
    if not questions:
        return []
    first = case(
        *((Application.answers[q].as_string().is_(None), q) for q in questions), else_=literal(None)
    ).label("first")
    query = _scoped(select(first, func.count()).where(Application.status == "draft"), provinces)
    rows = (await session.execute(query.group_by(first))).all()
    return [(q, int(n)) for q, n in rows if q is not None]


async def history(session: AsyncSession, application_id: int) -> list[ApplicationEvent]:
    rows = await session.scalars(
        select(ApplicationEvent)
        .where(ApplicationEvent.application_id == application_id)
        .order_by(ApplicationEvent.id)
    )
    return list(rows)
