"""The audit trail, append-only: `ApplicationEvent` (in `storage.models`) for everything that
happens to a dossier (claims, decisions, certificates, the owner's submissions), `AuditEvent` for
staff actions that concern no single dossier (staff added or removed, a certificate list imported).
A flush that would change or delete a row of either table is refused, whichever module made it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.models import ApplicationEvent, Base, utcnow


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


def record(
    session: AsyncSession, *, actor: str, action: str, subject: str, at: datetime, detail: dict[str, Any]
) -> AuditEvent:
    """A staff action that concerns no single dossier (`AuditEvent`)."""
    row = AuditEvent(actor=actor, action=action, subject=subject, detail=detail, at=at)
    session.add(row)
    return row
