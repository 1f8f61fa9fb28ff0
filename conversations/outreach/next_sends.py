"""What /reminders lists: only reminders that will really be sent, each at the time it will go.

A plan row alone over-promises: a certificate that expired years ago still has its "planned"
rows until a sweep skips them, a due time before 07:00 is really sent when the sending window
opens, and a subject's early step is dropped when a later one follows soon (`superseded`). So
the list keeps the plans whose subject is still true (certificate still valid, deadline not
passed, draft still a draft), one per subject (the one that goes first), at
`window.next_open(due)`, and says how many more there are instead of cutting silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.outreach.planning import DEADLINE_STEPS, EXPIRY_STEPS, ReminderSettings
from conversations.outreach.reminders import superseded
from storage.certificates import Certificate
from storage.models import Application
from storage.outreach import Fair, ReminderPlan, Round

STEPS = {"round": DEADLINE_STEPS, "fair": DEADLINE_STEPS, "certificate": EXPIRY_STEPS}


@dataclass(frozen=True)
class NextSend:
    plan: ReminderPlan
    at: datetime  # when it will really go (UTC)


def still_true(today: date) -> ColumnElement[bool]:
    """Plans whose subject still calls for a reminder."""
    kind, subject = ReminderPlan.kind, ReminderPlan.subject_id
    return or_(
        and_(
            kind == "certificate", subject.in_(select(Certificate.id).where(Certificate.valid_until >= today))
        ),
        and_(kind == "round", subject.in_(select(Round.id).where(Round.deadline >= today))),
        and_(kind == "fair", subject.in_(select(Fair.id).where(Fair.registration_deadline >= today))),
        and_(kind == "draft", subject.in_(select(Application.id).where(Application.status == "draft"))),
    )


async def next_sends(
    session: AsyncSession,
    now: datetime,
    provinces: set[str] | None,
    settings: ReminderSettings,
    limit: int,
) -> tuple[list[NextSend], int]:
    """The next `limit` subjects' reminders, soonest first, and how many subjects are not shown."""
    where = [ReminderPlan.status == "planned", still_true(settings.window.today(now))]
    if provinces is not None:
        where.append(or_(ReminderPlan.province.is_(None), ReminderPlan.province.in_(provinces)))
    subjects = (
        select(ReminderPlan.kind, ReminderPlan.subject_id, func.min(ReminderPlan.due_at).label("first"))
        .where(*where)
        .group_by(ReminderPlan.kind, ReminderPlan.subject_id)
    )
    total = await session.scalar(select(func.count()).select_from(subjects.subquery())) or 0
    first = (await session.execute(subjects.order_by("first").limit(limit))).all()
    if not first:
        return [], 0
    wanted = {(kind, subject_id) for kind, subject_id, _ in first}
    plans = await session.scalars(
        select(ReminderPlan)
        .where(*where, ReminderPlan.subject_id.in_({s for _, s in wanted}))
        .order_by(ReminderPlan.due_at, ReminderPlan.id)
    )
    chosen: dict[tuple[str, int], NextSend] = {}
    for plan in plans:
        key = (plan.kind, plan.subject_id)
        if key not in wanted or key in chosen:
            continue
        at = settings.window.next_open(max(plan.due_at, now))
        steps = STEPS.get(plan.kind)
        if steps and plan.step in dict(steps):
            if superseded(plan, steps, date.fromisoformat(plan.basis), at, settings):
                continue
        chosen[key] = NextSend(plan, at)
    shown = sorted(chosen.values(), key=lambda n: (n.at, n.plan.id))
    return shown, total - len(first)
