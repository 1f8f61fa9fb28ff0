"""The outbox: every proactive message (status notice, reminder, broadcast) is a row here first.

One row per (purpose, recipient identity), unique, so nothing is ever queued twice; a delivery
worker drains it under each channel's limits and records what happened to each row. A message
is queued in the same transaction as the change it announces (a decision, a reminder's plan),
so neither exists without the other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, Identity, utcnow

# pending: waiting to be sent; sending: claimed by a worker; sent; failed (gave up, reason kept);
# unreachable (the user blocked us); skipped (no longer true when its time came); cancelled.
STATUSES = ("pending", "sending", "sent", "failed", "unreachable", "skipped", "cancelled")


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("purpose", "identity_id"),
        Index("ix_outbox_due", "status", "channel", "not_before"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # What this message is for, e.g. "status:42:approved", "broadcast:7", "reminder:cert:15:90d".
    purpose: Mapped[str] = mapped_column(String(120))
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    # The rendered-later message: {"msgid": ..., "values": {...}} or {"text": ...}, plus choices.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Which broadcast (or other batch) it belongs to, for progress and reports.
    batch: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


async def enqueue(
    session: AsyncSession,
    *,
    purpose: str,
    identity: Identity,
    payload: dict[str, Any],
    not_before: datetime | None = None,
    batch: str | None = None,
) -> bool:
    """Queue a message unless one with this purpose is already queued for this identity.

    Returns whether a row was added. Uses the database's own "insert ... on conflict do nothing"
    so two workers queuing the same purpose at once still produce one row.
    """
    values = {
        "purpose": purpose,
        "identity_id": identity.id,
        "channel": identity.channel,
        "payload": payload,
        "status": "pending",
        "not_before": not_before or utcnow(),
        "attempts": 0,
        "batch": batch,
        "created_at": utcnow(),
    }
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(OutboxMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["purpose", "identity_id"])
    )
    result = await session.execute(stmt)
    return bool(result.rowcount)


async def identities_for_account(session: AsyncSession, account_id: int) -> list[Identity]:
    """Where an account can be reached: every reachable channel identity."""
    rows = await session.scalars(
        select(Identity).where(Identity.account_id == account_id, Identity.reachable.is_(True))
    )
    return list(rows)
