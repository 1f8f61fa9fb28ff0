"""Outreach tables: programme rounds, trade fairs and their registrations, broadcasts, and the
reminder plan.

Reminders are rows (`ReminderPlan`), planned from the dates these tables (and applications,
certificates) hold and fired by a sweep; nothing waits in a process's memory. A plan row names
its subject (a round, a fair, a certificate, a draft), the step ("7d", "1d", "90d", "30d",
"stale") and when it is due; `basis` is the source date it was planned from, so the sweep can
tell that a date moved and re-plan instead of firing. The due index (status, due_at) is what
keeps a sweep's cost proportional to what is due, however large the tables grow.

This module only stores and queries; what is said to whom lives in conversations/outreach/.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import insert_for
from storage.models import Base, Identity, utcnow

# --- rounds ----------------------------------------------------------------------------------


class Round(Base):
    """A programme round announced by a year's plan, with the deadline staff entered.

    `level` is the selection level (commune, province, regional, national) or None for a
    programme without levels; `province` None means every province (a regional or national round).
    """

    __tablename__ = "rounds"
    __table_args__ = (Index("ix_rounds_programme_level", "programme", "level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme: Mapped[str] = mapped_column(String(32))
    level: Mapped[str | None] = mapped_column(String(16))
    province: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    opens_on: Mapped[date | None] = mapped_column(Date)  # when dossiers are first accepted, if the plan says
    deadline: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- fairs -----------------------------------------------------------------------------------

FAIR_STATUSES = ("open", "closed", "cancelled")
REGISTRATION_STATUSES = ("draft", "registered", "withdrawn")


class Fair(Base):
    """A trade fair staff announce; `province` None: open to facilities of every province."""

    __tablename__ = "fairs"
    __table_args__ = (Index("ix_fairs_status_deadline", "status", "registration_deadline"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    province: Mapped[str | None] = mapped_column(String(64))
    place: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    registration_deadline: Mapped[date] = mapped_column(Date)
    funded_booths: Mapped[int] = mapped_column(Integer, default=0)
    conditions: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="open")
    created_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class FairRegistration(Base):
    """A facility's registration for a fair: a draft from the first answer (so an unfinished
    one can be reminded of), registered once confirmed, withdrawn before the deadline."""

    __tablename__ = "fair_registrations"
    __table_args__ = (
        UniqueConstraint("fair_id", "facility_id"),
        Index("ix_fair_registrations_fair_status", "fair_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fair_id: Mapped[int] = mapped_column(ForeignKey("fairs.id", ondelete="CASCADE"))
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="draft")
    products: Mapped[str] = mapped_column(String(400), default="")
    product_group: Mapped[str | None] = mapped_column(String(32))
    certificate_level: Mapped[str | None] = mapped_column(String(16))
    certificate_number: Mapped[str | None] = mapped_column(String(64))
    booths: Mapped[int] = mapped_column(Integer, default=1)
    booth_needs: Mapped[str | None] = mapped_column(String(400))
    contact_name: Mapped[str] = mapped_column(String(120), default="")
    phone: Mapped[str] = mapped_column(String(15), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    registered_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]


async def open_fairs(session: AsyncSession, today: date, province: str | None) -> list[Fair]:
    """Fairs still taking registrations that a facility of `province` may join."""
    query = select(Fair).where(Fair.status == "open", Fair.registration_deadline >= today)
    if province is not None:
        query = query.where((Fair.province.is_(None)) | (Fair.province == province))
    return list(await session.scalars(query.order_by(Fair.registration_deadline, Fair.id)))


async def fairs_for_staff(session: AsyncSession, provinces: set[str] | None) -> list[Fair]:
    """Fairs a staff member looks after: those of their provinces (None: every fair)."""
    query = select(Fair).where(Fair.status != "cancelled")
    if provinces is not None:
        query = query.where(Fair.province.in_(provinces))
    return list(await session.scalars(query.order_by(Fair.starts_on.desc(), Fair.id.desc()).limit(20)))


async def registration_of(session: AsyncSession, fair_id: int, facility_id: int) -> FairRegistration | None:
    return await session.scalar(
        select(FairRegistration).where(
            FairRegistration.fair_id == fair_id, FairRegistration.facility_id == facility_id
        )
    )


async def registration_counts(session: AsyncSession, fair_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(FairRegistration.status, func.count())
        .where(FairRegistration.fair_id == fair_id)
        .group_by(FairRegistration.status)
    )
    return {status: count for status, count in rows}


# --- broadcasts ------------------------------------------------------------------------------

BROADCAST_STATUSES = ("running", "paused", "cancelled", "done")


class Broadcast(Base):
    """One announcement staff sent: who chose which audience, what every recipient gets (the
    outbox payload), and where its progress message is, so it can be edited in place."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_channel: Mapped[str] = mapped_column(String(16))
    staff_external_id: Mapped[str] = mapped_column(String(128))
    staff_locale: Mapped[str] = mapped_column(String(8), default="vi")
    province: Mapped[str | None] = mapped_column(String(64))
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fair_id: Mapped[int | None] = mapped_column(ForeignKey("fairs.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(12), default="running", index=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    channels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The progress message: the id the channel returned for it, and when it was last shown.
    progress_ref: Mapped[str | None] = mapped_column(String(64))
    progress_text: Mapped[str | None] = mapped_column(Text)
    progress_at: Mapped[datetime | None]
    # Sent so far at the last progress update, for the rate.
    progress_sent: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    report_sent: Mapped[bool] = mapped_column(default=False)

    @property
    def batch(self) -> str:
        return batch_of(self.id)


def batch_of(broadcast_id: int) -> str:
    """The outbox `batch` of a broadcast's rows."""
    return f"broadcast:{broadcast_id}"


async def broadcasts_to_watch(session: AsyncSession) -> list[Broadcast]:
    """Broadcasts whose progress is still shown: running, paused, or ended without a report."""
    return list(
        await session.scalars(
            select(Broadcast)
            .where((Broadcast.status.in_(("running", "paused"))) | (Broadcast.report_sent.is_(False)))
            .order_by(Broadcast.id)
        )
    )


# --- reminders -------------------------------------------------------------------------------

REMINDER_KINDS = ("round", "fair", "certificate", "draft")
PLAN_STATUSES = ("planned", "done", "skipped")


class ReminderPlan(Base):
    """One planned reminder. Fan-out kinds (round, fair) find their recipients when they fire;
    per-account kinds (certificate, draft) name the account. `province` lets staff see the
    reminders of their province."""

    __tablename__ = "reminder_plans"
    __table_args__ = (
        UniqueConstraint("kind", "subject_id", "step"),
        Index("ix_reminder_plans_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(8))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    province: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[datetime]
    basis: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10), default="planned")
    # How many times it fired (stale drafts fire up to twice).
    fired: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SweepMark(Base):
    """Watermarks of the reminder planner ("the last application id planned"), so each sweep
    plans only what appeared since the previous one."""

    __tablename__ = "sweep_marks"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


async def get_mark(session: AsyncSession, key: str) -> int:
    mark = await session.get(SweepMark, key)
    return mark.value if mark is not None else 0


async def set_mark(session: AsyncSession, key: str, value: int) -> None:
    mark = await session.get(SweepMark, key)
    if mark is None:
        session.add(SweepMark(key=key, value=value))
    else:
        mark.value = value


async def upsert_plan(
    session: AsyncSession,
    *,
    kind: str,
    subject_id: int,
    step: str,
    due_at: datetime,
    basis: str,
    account_id: int | None = None,
    province: str | None = None,
) -> ReminderPlan:
    """Plan (or re-plan) a reminder. A moved date makes a fired reminder planned again: its
    outbox purpose names the date, so the reminder for the new date is a new message."""
    plan = await session.scalar(
        select(ReminderPlan).where(
            ReminderPlan.kind == kind, ReminderPlan.subject_id == subject_id, ReminderPlan.step == step
        )
    )
    if plan is None:
        plan = ReminderPlan(
            kind=kind,
            subject_id=subject_id,
            step=step,
            due_at=due_at,
            basis=basis,
            account_id=account_id,
            province=province,
            status="planned",
            fired=0,
        )
        session.add(plan)
        return plan
    if plan.basis != basis or plan.status == "planned":
        plan.due_at = due_at
        if plan.basis != basis:
            plan.status = "planned"
            plan.note = None
        plan.basis = basis
    plan.province = province
    return plan


async def due_plans(session: AsyncSession, now: datetime, limit: int) -> list[ReminderPlan]:
    """What is due now, oldest first; reads only the due part of the (status, due_at) index."""
    return list(
        await session.scalars(
            select(ReminderPlan)
            .where(ReminderPlan.status == "planned", ReminderPlan.due_at <= now)
            .order_by(ReminderPlan.due_at, ReminderPlan.id)
            .limit(limit)
        )
    )


async def cancel_plans(session: AsyncSession, kind: str, subject_id: int, note: str) -> None:
    await session.execute(
        update(ReminderPlan)
        .where(
            ReminderPlan.kind == kind, ReminderPlan.subject_id == subject_id, ReminderPlan.status == "planned"
        )
        .values(status="skipped", note=note)
    )


async def insert_plans(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Plan many reminders at once (new drafts, imported certificates); existing ones are kept."""
    if not rows:
        return
    now = utcnow()
    stmt = insert_for(session)(ReminderPlan).on_conflict_do_nothing(
        index_elements=["kind", "subject_id", "step"]
    )
    # One statement for all the rows (executemany): compiled once, however many rows.
    connection = await session.connection()
    await connection.execute(
        stmt,
        [
            {"status": "planned", "fired": 0, "updated_at": now, "account_id": None, "note": None, **row}
            for row in rows
        ],
    )


# --- recipients ------------------------------------------------------------------------------

# Where a person is reached when they use several apps: the one that can carry buttons first.
CHANNEL_PREFERENCE = ("telegram", "zalo", "web")


async def preferred_identities(session: AsyncSession, account_ids: list[int]) -> dict[int, tuple[int, str]]:
    """One reachable (identity id, channel) per account: a person linked on two apps gets an
    announcement once, on the app that shows it best."""
    found: dict[int, tuple[int, str]] = {}
    rank = {channel: i for i, channel in enumerate(CHANNEL_PREFERENCE)}
    for start in range(0, len(account_ids), 900):
        chunk = account_ids[start : start + 900]
        rows = await session.execute(
            select(Identity.account_id, Identity.id, Identity.channel).where(
                Identity.account_id.in_(chunk), Identity.reachable.is_(True)
            )
        )
        for account_id, identity_id, channel in rows:
            best = found.get(account_id)
            if best is None or (rank.get(channel, 99), -identity_id) < (rank.get(best[1], 99), -best[0]):
                found[account_id] = (identity_id, channel)
    return found
