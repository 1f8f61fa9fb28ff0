"""Reviewing dossiers: the claim that lets one reviewer at a time decide a dossier, decisions as
conditional status changes, the flagged items of a returned dossier, and the audit trail.

Why conditional UPDATEs: two reviewers may open or decide the same dossier in the same second,
on two workers. `UPDATE applications SET ... WHERE id = :id AND status IN (...)` is atomic on
SQLite (one writer) and on PostgreSQL (the row is locked and the WHERE re-checked), so exactly
one of them changes the row; the other sees `rowcount == 0` and is told who holds it. Nothing
here trusts a status read earlier in the transaction.

The audit trail is append-only: `ApplicationEvent` for everything that happens to a dossier
(claims, decisions, certificates, the owner's submissions), `AuditEvent` for staff actions that
concern no single dossier (staff added or removed, a certificate list imported). A flush that
would change or delete a row of either table is refused.

Returned dossiers keep `Application.requested_changes`:
    {"answers": {question_id: comment}, "documents": {checklist_item_id: comment},
     "comment": general comment or None, "by": actor, "at": ISO time,
     "answers_before": every answer as it was returned, "documents_before": [document snapshot],
     "document_watermark": highest document id at the time}
The flagged answers are removed from `answers` so the owner's flow asks exactly those again;
documents uploaded after the watermark count as the owner's new files for a flagged item.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, and_, event, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column, selectinload

from storage.models import Application, ApplicationEvent, Base, Facility, StoredDocument, utcnow

CLAIMABLE = ("submitted", "resubmitted")
AWAITING = ("submitted", "resubmitted", "under_review")
DECISIONS = ("approved", "rejected", "returned")
FINAL = ("approved", "rejected")


class AuditEvent(Base):
    """A staff action that concerns no single dossier: who, when, what, and the before/after."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    # What it was done to: "staff:7", "certificates:import:<batch>".
    subject: Mapped[str] = mapped_column(String(120))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


@event.listens_for(Session, "before_flush")
def _append_only(session: Session, flush_context: Any, instances: Any) -> None:
    """History is never rewritten: refuse to flush a changed or deleted event row."""
    for obj in session.deleted:
        if isinstance(obj, ApplicationEvent | AuditEvent):
            raise ValueError(f"{type(obj).__name__} rows are append-only: not deleted")
    for obj in session.dirty:
        if isinstance(obj, ApplicationEvent | AuditEvent) and session.is_modified(obj):
            raise ValueError(f"{type(obj).__name__} rows are append-only: not changed")


def add_event(
    session: AsyncSession,
    application_id: int,
    *,
    actor: str,
    action: str,
    from_status: str | None,
    to_status: str | None,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> ApplicationEvent:
    """One row of a dossier's history; `to_status` None when the status did not change."""
    row = ApplicationEvent(
        application_id=application_id,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=to_status,
        detail=detail or {},
        at=at,
    )
    session.add(row)
    return row


def audit(
    session: AsyncSession, *, actor: str, action: str, subject: str, at: datetime, detail: dict[str, Any]
) -> AuditEvent:
    row = AuditEvent(actor=actor, action=action, subject=subject, detail=detail, at=at)
    session.add(row)
    return row


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
    result = await session.execute(
        update(Application)
        .where(Application.id == application.id, _claimable())
        .values(status="under_review", reviewer=reviewer, claimed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(application, _CLAIM_COLUMNS)
    if result.rowcount != 1:  # type: ignore[attr-defined]
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
    result = await session.execute(
        update(Application)
        .where(
            Application.id == application.id,
            Application.status == "under_review",
            Application.reviewer == holder,
        )
        .values(reviewer=None, claimed_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(application, _CLAIM_COLUMNS)
    if result.rowcount != 1:  # type: ignore[attr-defined]
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
    result = await session.execute(
        update(Application)
        .where(
            Application.id == application.id,
            Application.status == "under_review",
            Application.reviewer == reviewer,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(application, _CLAIM_COLUMNS)
    if result.rowcount != 1:  # type: ignore[attr-defined]
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


# --- returned dossiers ----------------------------------------------------------------------------------


def open_items(application: Application | None) -> dict[str, Any] | None:
    """The requested changes while the owner may act on them (the dossier is returned), else None:
    then every answer and document of a dossier in progress is the owner's to change."""
    if application is None or application.status != "returned":
        return None
    return application.requested_changes or None


async def document_snapshot(session: AsyncSession, application_id: int) -> list[dict[str, Any]]:
    """The dossier's files as they are now: enough to tell later what was added or removed."""
    rows = await session.scalars(
        select(StoredDocument)
        .where(StoredDocument.application_id == application_id)
        .order_by(StoredDocument.id)
    )
    return [
        {"id": d.id, "doc_type": d.doc_type, "filename": d.filename, "sha256": d.sha256, "key": d.storage_key}
        for d in rows
    ]


async def return_for_changes(
    session: AsyncSession,
    application: Application,
    *,
    reviewer: str,
    now: datetime,
    answers: dict[str, str],
    documents: dict[str, str],
    comment: str | None,
) -> ApplicationEvent | None:
    """Send the dossier back with comments on some answers and documents, unlocking only those;
    None when this reviewer no longer holds it."""
    if not answers and not documents:
        raise ValueError("a returned dossier names at least one item to change")
    before = dict(application.answers)
    snapshot = await document_snapshot(session, application.id)
    detail = {
        "answers": answers,
        "documents": documents,
        "comment": comment,
        "answers_before": {key: before.get(key) for key in answers},
    }
    event = await decide(
        session, application, reviewer=reviewer, to_status="returned", now=now, detail=detail
    )
    if event is None:
        return None
    application.requested_changes = {
        "answers": answers,
        "documents": documents,
        "comment": comment,
        "by": reviewer,
        "at": now.isoformat(),
        "answers_before": before,
        "documents_before": snapshot,
        "document_watermark": max((d["id"] for d in snapshot), default=0),
    }
    application.answers = {k: v for k, v in before.items() if k not in answers}
    return event


async def changes_since_return(session: AsyncSession, application: Application) -> dict[str, Any]:
    """What the owner changed after the dossier came back: answers before and after, files added and
    removed. Recorded on the resubmission event, where reviewers read it."""
    requested = application.requested_changes or {}
    before: dict[str, Any] = requested.get("answers_before", {})
    after = application.answers
    answers = {
        key: {"before": before.get(key), "after": after.get(key)}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }
    old = {d["id"]: d for d in requested.get("documents_before", [])}
    now = await document_snapshot(session, application.id)
    current = {d["id"] for d in now}
    return {
        "answers": answers,
        "documents_added": [d for d in now if d["id"] not in old],
        "documents_removed": [d for d in old.values() if d["id"] not in current],
        "flagged": {"answers": requested.get("answers", {}), "documents": requested.get("documents", {})},
    }
