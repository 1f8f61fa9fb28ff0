"""Reviewing dossiers: finding them, the claim that lets one reviewer at a time decide a dossier,
and decisions as conditional status changes.

Why conditional UPDATEs: two reviewers may open or decide the same dossier in the same second,
on two workers. `UPDATE applications SET ... WHERE id = :id AND status IN (...)` is atomic on
SQLite (one writer) and on PostgreSQL (the row is locked and the WHERE re-checked), so exactly
one of them changes the row; the other sees `rowcount == 0` and is told who holds it. Nothing
here trusts a status read earlier in the transaction.

Every claim and decision is written to the dossier's history (`storage.audit.add_event`); what a
returned dossier asks of its owner is in `storage.returned`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.audit import add_event
from storage.db import execute_dml
from storage.models import Application, ApplicationEvent, Facility

CLAIMABLE = ("submitted", "resubmitted")
AWAITING = ("submitted", "resubmitted", "under_review")
DECISIONS = ("approved", "rejected", "returned")
FINAL = ("approved", "rejected")


# --- finding dossiers -----------------------------------------------------------------------------------


async def load(session: AsyncSession, application_id: int) -> Application | None:
    """A dossier with its facility, documents and history, for a reviewer's screen."""
    return await session.scalar(
        select(Application)
        .where(Application.id == application_id)
        .options(
            selectinload(Application.facility),
            selectinload(Application.documents),
            selectinload(Application.events),
        )
        .execution_options(populate_existing=True)
    )


async def by_receipt_code(session: AsyncSession, code: str) -> Application | None:
    return await session.scalar(select(Application).where(Application.receipt_code == code.strip().upper()))


async def queue(
    session: AsyncSession,
    *,
    provinces: set[str] | None,
    statuses: tuple[str, ...],
    programme: str | None = None,
    limit: int = 8,
    offset: int = 0,
) -> tuple[list[Application], int]:
    """Dossiers of these provinces (None: all) in these statuses, oldest submission first, with the
    total count for paging. Drafts never reach staff: they are the owner's until submitted."""
    where = [Application.status.in_(statuses), Application.status != "draft"]
    if provinces is not None:
        where.append(Facility.province.in_(sorted(provinces)))
    if programme is not None:
        where.append(Application.programme == programme)
    base = select(Application).join(Facility, Facility.id == Application.facility_id).where(*where)
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    rows = await session.scalars(
        base.options(selectinload(Application.facility))
        .order_by(Application.submitted_at.asc(), Application.id.asc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)


# --- claims and decisions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """The outcome of trying to take a dossier: `taken` when this reviewer holds it now."""

    taken: bool
    holder: str | None
    status: str


# Refreshed after a conditional UPDATE; only these, so loaded relationships stay loaded.
_CLAIM_COLUMNS = ["status", "reviewer", "claimed_at", "updated_at"]


def _claimable() -> Any:
    return or_(
        Application.status.in_(CLAIMABLE),
        and_(Application.status == "under_review", Application.reviewer.is_(None)),
    )


async def claim(session: AsyncSession, application: Application, reviewer: str, now: datetime) -> Claim:
    """Take the dossier for review unless another reviewer holds it or it is decided."""
    if application.status == "under_review" and application.reviewer == reviewer:
        return Claim(True, reviewer, application.status)
    from_status = application.status
    result = await execute_dml(
        session,
        update(Application)
        .where(Application.id == application.id, _claimable())
        .values(status="under_review", reviewer=reviewer, claimed_at=now, updated_at=now)
        .execution_options(synchronize_session=False),
    )
    await session.refresh(application, _CLAIM_COLUMNS)
    if result.rowcount != 1:
        return Claim(False, application.reviewer, application.status)
    add_event(
        session,
        application.id,
        actor=reviewer,
        action="claimed",
        from_status=from_status,
        to_status="under_review" if from_status != "under_review" else None,
        at=now,
    )
    return Claim(True, reviewer, application.status)


async def release(
    session: AsyncSession, application: Application, *, holder: str, actor: str, now: datetime
) -> bool:
    """Put a dossier back in the queue (its holder stepping back, or an admin freeing a stale claim).
    The status stays "under review" for the owner; only the holder is cleared."""
    result = await execute_dml(
        session,
        update(Application)
        .where(
            Application.id == application.id,
            Application.status == "under_review",
            Application.reviewer == holder,
        )
        .values(reviewer=None, claimed_at=None, updated_at=now)
        .execution_options(synchronize_session=False),
    )
    await session.refresh(application, _CLAIM_COLUMNS)
    if result.rowcount != 1:
        return False
    add_event(
        session,
        application.id,
        actor=actor,
        action="released",
        from_status="under_review",
        to_status=None,
        at=now,
        detail={"holder": holder},
    )
    return True


async def decide(
    session: AsyncSession,
    application: Application,
    *,
    reviewer: str,
    to_status: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> ApplicationEvent | None:
    """Approve, reject or return a dossier this reviewer holds: the decision's event, or None (and
    nothing changed) when they no longer hold it: released by an admin, or decided already."""
    if to_status not in DECISIONS:
        raise ValueError(f"not a decision: {to_status}")
    values: dict[str, Any] = {"status": to_status, "updated_at": now}
    if to_status == "returned":
        values |= {"reviewer": None, "claimed_at": None}  # the owner has it now
    result = await execute_dml(
        session,
        update(Application)
        .where(
            Application.id == application.id,
            Application.status == "under_review",
            Application.reviewer == reviewer,
        )
        .values(**values)
        .execution_options(synchronize_session=False),
    )
    await session.refresh(application, _CLAIM_COLUMNS)
    if result.rowcount != 1:
        return None
    return add_event(
        session,
        application.id,
        actor=reviewer,
        action=to_status,
        from_status="under_review",
        to_status=to_status,
        at=now,
        detail=detail,
    )
