"""The staff console's questions to the certificates registry: a filtered, searched page, every
matching row for an export, and expiries per quarter for the statistics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.certificates import Certificate


@dataclass
class CertificateFilter:
    search: str | None = None
    province: str | None = None
    level: str | None = None
    expiring_days: int | None = None
    expired: bool = False


def _query(provinces: set[str] | None, f: CertificateFilter, today: date) -> Any:
    query = select(Certificate)
    if provinces is not None:
        query = query.where(Certificate.province.in_(sorted(provinces)))
    if f.province:
        query = query.where(Certificate.province == f.province)
    if f.level:
        query = query.where(Certificate.level == f.level)
    if f.expired:
        query = query.where(Certificate.valid_until < today)
    elif f.expiring_days is not None:
        query = query.where(
            Certificate.valid_until >= today,
            Certificate.valid_until <= today + timedelta(days=f.expiring_days),
        )
    if f.search and f.search.strip():
        term = f"%{f.search.strip().lower()}%"
        query = query.where(
            or_(
                func.lower(Certificate.facility_name).like(term),
                func.lower(Certificate.product).like(term),
                func.lower(Certificate.number).like(term),
                Certificate.tax_code.like(term),
            )
        )
    return query


async def page(
    session: AsyncSession,
    *,
    provinces: set[str] | None,
    filters: CertificateFilter,
    today: date,
    limit: int,
    offset: int,
) -> tuple[list[Certificate], int]:
    query = _query(provinces, filters, today)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(Certificate.valid_until.asc(), Certificate.id.asc()).limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)


async def all_matching(
    session: AsyncSession, *, provinces: set[str] | None, filters: CertificateFilter, today: date
) -> list[Certificate]:
    query = _query(provinces, filters, today).order_by(Certificate.valid_until.asc(), Certificate.id.asc())
    return list(await session.scalars(query))
