"""Planning reminders: a plan row per reminder, from the dates the database holds.

Staff setting or moving a round's or a fair's deadline re-plans it at once (`plan_round`,
`plan_fair`). Drafts and certificates are planned by each sweep from a watermark (the highest id
already planned), so a sweep plans only what appeared since the last one; a certificate whose
date staff correct can be re-planned at once with `plan_certificate`. Every plan row keeps the
date it was planned from (`basis`), which the sweep (conversations/outreach/reminders.py) compares
with the date in the database when the row falls due.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.outreach.window import SendingWindow
from storage import outreach
from storage.certificates import Certificate
from storage.models import Application, Facility
from storage.outreach import Fair, Round

DEADLINE_STEPS = (("7d", 7), ("1d", 1))
EXPIRY_STEPS = (("90d", 90), ("30d", 30))
STALE_AFTER = timedelta(days=3)
STALE_TIMES = 2


@dataclass(frozen=True)
class ReminderSettings:
    window: SendingWindow = field(default_factory=SendingWindow)
    send_at: time = time(8, 0)  # date-based reminders go out at this local time
    batch: int = 200  # plan rows fired per transaction
    max_per_sweep: int = 5_000  # beyond this, the next sweep goes on
    plan_chunk: int = 5_000  # new drafts or certificates planned per sweep


# --- planning ------------------------------------------------------------------------------------


def due_at(settings: ReminderSettings, day: date) -> datetime:
    return settings.window.at(day, settings.send_at)


async def plan_round(session: AsyncSession, rnd: Round, settings: ReminderSettings) -> None:
    for step, days in DEADLINE_STEPS:
        await outreach.upsert_plan(
            session, kind="round", subject_id=rnd.id, step=step,
            due_at=due_at(settings, rnd.deadline - timedelta(days=days)),
            basis=rnd.deadline.isoformat(), province=rnd.province,
        )  # fmt: skip


async def plan_fair(session: AsyncSession, fair: Fair, settings: ReminderSettings) -> None:
    for step, days in DEADLINE_STEPS:
        await outreach.upsert_plan(
            session, kind="fair", subject_id=fair.id, step=step,
            due_at=due_at(settings, fair.registration_deadline - timedelta(days=days)),
            basis=fair.registration_deadline.isoformat(), province=fair.province,
        )  # fmt: skip


def _certificate_rows(
    cert_id: int, valid_until: date, province: str | None, settings: ReminderSettings
) -> list[dict]:
    return [
        {
            "kind": "certificate",
            "subject_id": cert_id,
            "step": step,
            "due_at": due_at(settings, valid_until - timedelta(days=days)),
            "basis": valid_until.isoformat(),
            "province": province,
        }
        for step, days in EXPIRY_STEPS
    ]


async def plan_certificate(
    session: AsyncSession, certificate: Certificate, settings: ReminderSettings
) -> None:
    """Plan or re-plan a certificate's expiry reminders (call it when staff correct a date)."""
    for row in _certificate_rows(certificate.id, certificate.valid_until, certificate.province, settings):
        await outreach.upsert_plan(session, **row)


async def plan_new(session: AsyncSession, settings: ReminderSettings) -> int:
    """Plan what appeared since the last sweep: new drafts and new certificates."""
    planned = 0
    mark = await outreach.get_mark(session, "applications")
    rows = (
        await session.execute(
            select(Application.id, Application.status, Application.last_activity_at, Facility.province)
            .join(Facility, Facility.id == Application.facility_id)
            .where(Application.id > mark)
            .order_by(Application.id)
            .limit(settings.plan_chunk)
        )
    ).all()
    plans = [
        {
            "kind": "draft",
            "subject_id": app_id,
            "step": "stale",
            "due_at": last + STALE_AFTER,
            "basis": last.isoformat(),
            "province": province,
        }
        for app_id, status, last, province in rows
        if status == "draft"
    ]
    await outreach.insert_plans(session, plans)
    planned += len(plans)
    if rows:
        await outreach.set_mark(session, "applications", rows[-1][0])
    mark = await outreach.get_mark(session, "certificates")
    certs = (
        await session.execute(
            select(Certificate.id, Certificate.valid_until, Certificate.province)
            .where(Certificate.id > mark)
            .order_by(Certificate.id)
            .limit(settings.plan_chunk)
        )
    ).all()
    plans = [
        row
        for cert_id, until, province in certs
        for row in _certificate_rows(cert_id, until, province, settings)
    ]
    await outreach.insert_plans(session, plans)
    planned += len(plans)
    if certs:
        await outreach.set_mark(session, "certificates", certs[-1][0])
    return planned
