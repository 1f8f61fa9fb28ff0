"""The outbox: every proactive message (status notice, reminder, broadcast) is a row here first.

One row per (purpose, recipient identity), unique, so nothing is ever queued twice; a delivery
worker (handlers/workers/delivery.py) drains it under each channel's limits and records what happened to
each row. A message is queued in the same transaction as the change it announces (a decision, a
reminder's plan), so neither exists without the other.

Payload contract (what `conversations.outreach.render.render_payload(payload, translator)` turns
into `Outgoing` messages in the recipient's language when the row is sent):
    {"msgid": str, "values": {...}}   a catalog sentence and its placeholders; a value may itself
                                      be {"msgid": m} (translated), {"date": "YYYY-MM-DD"} (written
                                      dd/mm/yyyy) or {"number": n}; plain strings and ints as they are
    {"text": str}                     sent as written (a broadcast staff composed)
    "parts": [ {...}, ... ]           optional further paragraphs, each a msgid or text as above
    "choices": [{"label": msgid, "payload": "go:..."}]   buttons; labels are msgids
    "optout": true                    adds the one-tap "stop announcements" button
    "announcement": true              not sent to accounts that opted out (checked at send time)
    "quiet": true                     held outside quiet hours (reminders)

Row lifecycle:
    pending -> claimed (a worker reserved it, nothing sent yet) -> sending (the request is out)
    -> sent | pending again (429 or a transient error, with `not_before`) | failed | unreachable;
    held (its broadcast is paused), skipped (no longer true, or opted out), cancelled.
A worker that dies leaves `claimed` rows (safe to hand out again) and `sending` rows: those are
the only messages whose fate is unknown, because no channel lets us ask whether a request that
got no answer was delivered. `recover` sends them again (at least once) and marks them
`doubtful`, so a report can say how many may have arrived twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import execute_dml, insert_for
from storage.models import Account, Base, Identity, utcnow

STATUSES = (
    "pending",
    "claimed",
    "sending",
    "sent",
    "failed",
    "unreachable",
    "skipped",
    "cancelled",
    "held",
)
# Rows a worker still has to do something with.
OPEN_STATUSES = ("pending", "claimed", "sending", "held")
# Personal messages (a decision on a dossier, a reminder) go before a broadcast's thousands.
PRIORITY_PERSONAL = 0
PRIORITY_BULK = 1


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("purpose", "identity_id"),
        Index("ix_outbox_due", "status", "channel", "priority", "not_before"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # What this message is for, e.g. "status:42:approved", "broadcast:7", "reminder:cert:15:90d".
    purpose: Mapped[str] = mapped_column(String(120))
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    # The rendered-later message (see the module docstring).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    priority: Mapped[int] = mapped_column(SmallInteger, default=PRIORITY_PERSONAL)
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Which broadcast (or other batch) it belongs to, for progress and reports.
    batch: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # The worker holding a claimed or sending row, and until when its claim stands.
    claimed_by: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[datetime | None]
    # Sent again after a worker died mid-request: may have reached the user twice.
    doubtful: Mapped[bool] = mapped_column(Boolean, default=False)


def _row(
    identity_id: int,
    channel: str,
    purpose: str,
    payload: dict[str, Any],
    *,
    priority: int,
    not_before: datetime,
    batch: str | None,
    now: datetime,
) -> dict[str, Any]:
    """One outbox row as the insert statements take it."""
    return {
        "purpose": purpose,
        "identity_id": identity_id,
        "channel": channel,
        "payload": payload,
        "status": "pending",
        "priority": priority,
        "not_before": not_before,
        "attempts": 0,
        "batch": batch,
        "created_at": now,
        "doubtful": False,
    }


async def enqueue(
    session: AsyncSession,
    *,
    purpose: str,
    identity: Identity,
    payload: dict[str, Any],
    not_before: datetime | None = None,
    batch: str | None = None,
    priority: int = PRIORITY_PERSONAL,
) -> bool:
    """Queue a message unless one with this purpose is already queued for this identity.

    Returns whether a row was added. Uses the database's own "insert ... on conflict do nothing"
    so two workers queuing the same purpose at once still produce one row.
    """
    added = await enqueue_many(
        session,
        [(identity.id, identity.channel)],
        purpose=purpose,
        payload=payload,
        not_before=not_before,
        batch=batch,
        priority=priority,
    )
    return added > 0


async def enqueue_many(
    session: AsyncSession,
    recipients: list[tuple[int, str]],
    *,
    purpose: str,
    payload: dict[str, Any],
    not_before: datetime | None = None,
    batch: str | None = None,
    priority: int = PRIORITY_PERSONAL,
    chunk: int = 500,
) -> int:
    """Queue one message for many (identity id, channel) recipients; returns how many rows were
    added (recipients who already have this purpose are left alone)."""
    insert = insert_for(session)
    now = utcnow()
    added = 0
    # One statement for all the rows (executemany), compiled once: a broadcast to 10,000 people is
    # one round of inserts, not 10,000 statements to compile.
    stmt = insert(OutboxMessage).on_conflict_do_nothing(index_elements=["purpose", "identity_id"])
    for start in range(0, len(recipients), chunk):
        rows = [
            _row(
                identity_id,
                channel,
                purpose,
                payload,
                priority=priority,
                not_before=not_before or now,
                batch=batch,
                now=now,
            )
            for identity_id, channel in recipients[start : start + chunk]
        ]
        # A single row goes alone, so its rowcount says whether it was new on every driver.
        connection = await session.connection()  # Core: executemany with a rowcount
        result = await connection.execute(stmt, rows[0] if len(rows) == 1 else rows)
        added += max(result.rowcount or 0, 0)
    return added


async def enqueue_rows(
    session: AsyncSession,
    rows: list[tuple[tuple[int, str], str, dict[str, Any]]],
    *,
    not_before: datetime,
    priority: int = PRIORITY_PERSONAL,
) -> int:
    """Queue different messages at once: ((identity id, channel), purpose, payload) each; one
    insert for all. Returns how many were offered (duplicates are silently left out)."""
    if not rows:
        return 0
    insert = insert_for(session)
    now = utcnow()
    stmt = insert(OutboxMessage).on_conflict_do_nothing(index_elements=["purpose", "identity_id"])
    values = [
        _row(
            identity_id,
            channel,
            purpose,
            payload,
            priority=priority,
            not_before=not_before,
            batch=None,
            now=now,
        )
        for (identity_id, channel), purpose, payload in rows
    ]
    await (await session.connection()).execute(stmt, values)
    return len(values)


async def identities_for_account(session: AsyncSession, account_id: int) -> list[Identity]:
    """Where an account can be reached: every reachable channel identity."""
    rows = await session.scalars(
        select(Identity).where(Identity.account_id == account_id, Identity.reachable.is_(True))
    )
    return list(rows)


# --- the delivery worker's side ----------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A claimed row with what sending it needs: the address, the language, the account's choices."""

    id: int
    purpose: str
    payload: dict[str, Any]
    attempts: int
    batch: str | None
    identity_id: int
    external_id: str
    reachable: bool
    locale: str | None
    opted_in: bool


async def claim(
    session: AsyncSession,
    *,
    channel: str,
    worker: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
) -> list[Claimed]:
    """Reserve up to `limit` due rows of a channel for `worker`, personal messages first.

    On PostgreSQL the candidate rows are locked with FOR UPDATE SKIP LOCKED, so workers running
    side by side take disjoint rows without waiting on each other; SQLite has one writer at a
    time, which makes the same UPDATE atomic (the FOR UPDATE clause is not rendered there).
    """
    candidates = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.channel == channel,
            OutboxMessage.not_before <= now,
        )
        .order_by(OutboxMessage.priority, OutboxMessage.not_before, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(candidates.scalar_subquery()))
        .values(status="claimed", claimed_by=worker, lease_until=lease_until)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    ids = list(result.scalars().all())
    if not ids:
        return []
    rows = await session.execute(
        select(
            OutboxMessage,
            Identity.external_id,
            Identity.reachable,
            Account.locale,
            Account.announcements_opt_in,
        )
        .join(Identity, Identity.id == OutboxMessage.identity_id)
        .join(Account, Account.id == Identity.account_id)
        .where(OutboxMessage.id.in_(ids))
        .order_by(OutboxMessage.priority, OutboxMessage.not_before, OutboxMessage.id)
    )
    claimed = [
        Claimed(
            id=row.id,
            purpose=row.purpose,
            payload=row.payload or {},
            attempts=row.attempts,
            batch=row.batch,
            identity_id=row.identity_id,
            external_id=external_id,
            reachable=reachable,
            locale=locale,
            opted_in=opted_in,
        )
        for row, external_id, reachable, locale, opted_in in rows
    ]
    return claimed


async def mark_sending(session: AsyncSession, row_id: int, worker: str, lease_until: datetime) -> bool:
    """The request is about to go out. False when the row was taken back meanwhile (its
    broadcast paused or cancelled): then it must not be sent."""
    result = await execute_dml(
        session,
        update(OutboxMessage)
        .where(
            OutboxMessage.id == row_id, OutboxMessage.status == "claimed", OutboxMessage.claimed_by == worker
        )
        .values(status="sending", attempts=OutboxMessage.attempts + 1, lease_until=lease_until)
        .execution_options(synchronize_session=False),
    )
    return bool(result.rowcount)


async def finish(
    session: AsyncSession,
    row_id: int,
    status: str,
    *,
    error: str | None = None,
    sent_at: datetime | None = None,
) -> None:
    """A final state: sent, failed, unreachable or skipped."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id)
        .values(status=status, last_error=error, sent_at=sent_at, claimed_by=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


async def release(
    session: AsyncSession, row_ids: list[int], *, not_before: datetime, error: str | None = None, worker: str
) -> None:
    """Hand rows back for a later try (a 429, a transient error, a chat not ready yet)."""
    if not row_ids:
        return
    values: dict[str, Any] = {
        "status": "pending",
        "not_before": not_before,
        "claimed_by": None,
        "lease_until": None,
    }
    if error is not None:
        values["last_error"] = error
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(row_ids),
            OutboxMessage.status.in_(("claimed", "sending")),
            OutboxMessage.claimed_by == worker,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def recover(session: AsyncSession, now: datetime, *, all_workers_dead: bool = False) -> tuple[int, int]:
    """Take back what dead workers held: claimed rows simply become pending; sending rows (a
    request was out, its answer never recorded) are sent again and marked doubtful.

    With `all_workers_dead` (a SQLite process starting: it is the only worker) every such row is
    taken back at once; otherwise only rows whose lease has run out. Returns (released, in doubt).
    """
    expired = true() if all_workers_dead else OutboxMessage.lease_until < now
    released = await execute_dml(
        session,
        update(OutboxMessage)
        .where(OutboxMessage.status == "claimed", expired)
        .values(status="pending", claimed_by=None, lease_until=None)
        .execution_options(synchronize_session=False),
    )
    doubtful = await execute_dml(
        session,
        update(OutboxMessage)
        .where(OutboxMessage.status == "sending", expired)
        .values(
            status="pending",
            claimed_by=None,
            lease_until=None,
            doubtful=True,
            last_error="in doubt: the worker stopped while sending; sent again",
        )
        .execution_options(synchronize_session=False),
    )
    return released.rowcount or 0, doubtful.rowcount or 0


async def next_due(session: AsyncSession, channel: str) -> datetime | None:
    """When the earliest pending row of a channel becomes due (for an idle worker's nap)."""
    return await session.scalar(
        select(func.min(OutboxMessage.not_before)).where(
            OutboxMessage.status == "pending", OutboxMessage.channel == channel
        )
    )


# --- batches (broadcasts) ----------------------------------------------------------------------


async def batch_counts(session: AsyncSession, batch: str) -> dict[str, int]:
    rows = await session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.batch == batch)
        .group_by(OutboxMessage.status)
    )
    return {status: count for status, count in rows}


async def batch_doubtful(session: AsyncSession, batch: str) -> int:
    return (
        await session.scalar(
            select(func.count()).where(OutboxMessage.batch == batch, OutboxMessage.doubtful.is_(True))
        )
        or 0
    )


async def hold_batch(session: AsyncSession, batch: str) -> int:
    """Pause: rows not yet out wait; a claimed row whose request has not started is taken back too."""
    result = await execute_dml(
        session,
        update(OutboxMessage)
        .where(OutboxMessage.batch == batch, OutboxMessage.status.in_(("pending", "claimed")))
        .values(status="held", claimed_by=None, lease_until=None)
        .execution_options(synchronize_session=False),
    )
    return result.rowcount or 0


async def resume_batch(session: AsyncSession, batch: str, now: datetime) -> int:
    result = await execute_dml(
        session,
        update(OutboxMessage)
        .where(OutboxMessage.batch == batch, OutboxMessage.status == "held")
        .values(status="pending", not_before=now)
        .execution_options(synchronize_session=False),
    )
    return result.rowcount or 0


async def cancel_batch(session: AsyncSession, batch: str) -> int:
    result = await execute_dml(
        session,
        update(OutboxMessage)
        .where(OutboxMessage.batch == batch, OutboxMessage.status.in_(("pending", "claimed", "held")))
        .values(status="cancelled", claimed_by=None, lease_until=None)
        .execution_options(synchronize_session=False),
    )
    return result.rowcount or 0


async def newest_menu_sent(
    session: AsyncSession, identity_id: int, *, after: datetime | None
) -> dict[str, Any] | None:
    """The payload of the newest message sent to this identity that carried buttons, if sent
    after `after`: a typed "1" then means that message's first button (a notice's menu, not an
    older one). Recent rows only, compared in Python: a JSON filter and the way a timestamp is
    stored differ per dialect."""
    query = (
        select(OutboxMessage.payload, OutboxMessage.sent_at)
        .where(OutboxMessage.identity_id == identity_id, OutboxMessage.status == "sent")
        .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc())
        .limit(20)
    )
    for payload, sent_at in (await session.execute(query)).all():
        if not payload or not payload.get("choices") or sent_at is None:
            continue
        sent = sent_at if sent_at.tzinfo is not None else sent_at.replace(tzinfo=UTC)
        return dict(payload) if after is None or sent > after else None
    return None
