"""The staff console's questions to the dossier tables: a filtered, searched, sorted page of the
queue, and the counts behind its statistics.

Separate from `storage.review` (the chat's queue and the claims) because the console asks more of
the same rows: filters by commune and dates, search by name, tax code or phone, any sort order.
Search ignores Vietnamese accents ("non la" finds "Nón lá"): neither SQLite nor a plain PostgreSQL
has an unaccent function, so names are folded in Python over the facilities in scope, then
matched by id; for a province's tens of thousands of facilities that is a few milliseconds.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, or_, select
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


def fold(text: str) -> str:
    """Lower case without accents; đ becomes d (it is a letter of its own, not an accent)."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


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
        query = select(Facility.id, Facility.name)
        if provinces is not None:
            query = query.where(Facility.province.in_(sorted(provinces)))
        ids = [fid for fid, name in (await session.execute(query)).all() if folded in fold(name)]
        if ids:
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


async def all_matching(
    session: AsyncSession, *, provinces: set[str] | None, actor: str, filters: QueueFilter
) -> list[tuple[Application, Facility]]:
    """Every dossier matching the filters, for an export (no paging)."""
    base = await _filtered(session, provinces, actor, filters)
    column = SORTS.get(filters.sort, Application.submitted_at)
    order = column.desc() if filters.descending else column.asc()
    query = base.add_columns(Facility).order_by(order, Application.id.asc())
    return [(a, fac) for a, fac in (await session.execute(query)).all()]


async def communes(session: AsyncSession, provinces: set[str] | None) -> list[str]:
    """The communes that have sent dossiers, for the filter's list."""
    query = (
        select(Facility.commune)
        .join(Application, Application.facility_id == Facility.id)
        .where(Application.status != "draft")
        .distinct()
        .order_by(Facility.commune)
    )
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


async def by_status_and_programme(
    session: AsyncSession, provinces: set[str] | None
) -> list[tuple[str, str, int]]:
    query = _scoped(
        select(Application.programme, Application.status, func.count()).group_by(
            Application.programme, Application.status
        ),
        provinces,
    )
    return [(p, s, int(n)) for p, s, n in (await session.execute(query)).all()]


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


async def submission_dates(
    session: AsyncSession, provinces: set[str] | None, since: datetime
) -> list[datetime]:
    """Submission times since a date (weeks are counted in the caller's time zone)."""
    query = _scoped(
        select(Application.submitted_at).where(
            Application.submitted_at.is_not(None), Application.submitted_at >= since
        ),
        provinces,
    )
    return [d for d in (await session.scalars(query)).all() if d is not None]


async def funnel(session: AsyncSession, provinces: set[str] | None) -> dict[str, int]:
    """Dossiers started (draft or beyond), submitted at least once, and approved."""
    submitted = case((Application.submitted_at.is_not(None), 1), else_=0)
    approved = case((Application.status == "approved", 1), else_=0)
    query = _scoped(select(func.count(), func.sum(submitted), func.sum(approved)), provinces)
    started, sent, ok = (await session.execute(query)).one()
    return {"started": int(started or 0), "submitted": int(sent or 0), "approved": int(ok or 0)}


async def draft_answers(session: AsyncSession, provinces: set[str] | None) -> list[dict[str, Any]]:
    """The answers of every open draft: which question they stopped before is read by the caller,
    who knows the flow's order."""
    query = _scoped(select(Application.answers).where(Application.status == "draft"), provinces)
    return [a or {} for a in (await session.scalars(query)).all()]


async def history(session: AsyncSession, application_id: int) -> list[ApplicationEvent]:
    rows = await session.scalars(
        select(ApplicationEvent)
        .where(ApplicationEvent.application_id == application_id)
        .order_by(ApplicationEvent.id)
    )
    return list(rows)
