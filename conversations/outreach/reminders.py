"""Reminders: planned as rows from the dates the database holds, fired by a sweep, never timers.

What is reminded, and when (local time, `ReminderSettings`):
- a round's deadline, 7 days and 1 day before, at 08:00: to every facility with a dossier for that
  round not sent yet (a draft, or one returned for changes);
- a fair's registration deadline, 7 days and 1 day before, at 08:00: to facilities whose
  registration is unfinished;
- a certificate's expiry, 90 and 30 days before, at 08:00: to the facility, with how to enter the
  next round;
- a draft left for 3 days: "shall we continue?", with one tap to resume; at most twice per draft.

Planning (conversations/outreach/planning.py, re-exported here) makes a plan row per reminder
and keeps the date it was planned from (`basis`): when the row falls due, the sweep compares it
with the date now in the database, and a moved date is re-planned instead of fired (a draft
touched since is simply due again 3 days after the last activity).

Firing. The sweep reads only plan rows due now, through the (status, due_at) index, a bounded
number at a time: its cost follows what is due, not the size of the tables. It fires only inside
the sending window (07:00–21:00); after downtime it catches up on what fell due meanwhile, and a
reminder overtaken by a later one of the same subject (the 7-day one when the 1-day one is due
too) is skipped. What is no longer true is skipped with the reason: the dossier was sent, the
certificate renewed, the registration finished, the deadline passed, the person opted out. Each
message is an outbox row whose purpose names the subject, the step and the date, so a sweep
repeated after a crash queues nothing twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.i18n import N_
from conversations.outreach.common import LEVEL_LABELS
from conversations.outreach.planning import (
    DEADLINE_STEPS,
    EXPIRY_STEPS,
    STALE_AFTER,
    STALE_TIMES,
    ReminderSettings,
    due_at,
    plan_certificate,
    plan_fair,
    plan_new,
    plan_round,
)
from conversations.payloads import go
from storage import outbox, outreach
from storage.applications import OPEN_STATUSES
from storage.certificates import Certificate
from storage.models import Account, Application, Facility
from storage.outreach import Fair, FairRegistration, ReminderPlan, Round

__all__ = [
    "ReminderSettings", "SweepResult", "plan_certificate", "plan_fair", "plan_new", "plan_round", "sweep",
]  # fmt: skip

ROUND_DUE = N_(
    "⏰ Reminder: {round} closes on {date} ({when}). Your dossier “{title}” has not been sent yet."
)
ROUND_NEXT = N_("Please finish it in good time: the centre cannot accept dossiers after the deadline.")
FAIR_DUE = N_(
    "⏰ Reminder: registration for the fair “{fair}” closes on {date} ({when}). Your registration is not "
    "finished yet."
)
CERT_DUE = N_(
    "🏅 Your certificate for “{product}” ({level}, number {number}) is valid until {date} ({when}). After "
    "that day the programme's logo may no longer be used on the product or its packaging."
)
CERT_NEXT_ROUND = N_(
    "To keep the recognition, enter the product in the next round: {round}, deadline {deadline}. I can "
    "guide you through the dossier step by step."
)
CERT_NO_ROUND = N_(
    "To keep the recognition, enter the product in the next round; the centre will announce it here. "
    "You can already prepare the dossier with me, step by step."
)
DRAFT_STALE = N_(
    "📝 Your dossier “{title}” has been waiting since {date}. Shall I help you finish it? Your "
    "answers are saved: you continue where you stopped."
)
EXPIRY_MIN_GAP = timedelta(days=30)  # half the 90/30-day spacing
IN_DAYS = N_("{days} days left")
TOMORROW = N_("tomorrow")
TODAY = N_("today")
CONTINUE_DOSSIER = N_("▶️ Continue my dossier")
FINISH_REGISTRATION = N_("▶️ Finish my registration")
PREPARE_DOSSIER = N_("📝 Prepare a dossier")


@dataclass
class SweepResult:
    planned: int = 0
    fired: int = 0
    queued: int = 0
    replanned: int = 0
    skipped: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)  # fired, per kind


# --- firing --------------------------------------------------------------------------------------


async def sweep(
    sessions: async_sessionmaker[AsyncSession], now: datetime, settings: ReminderSettings | None = None
) -> SweepResult:
    """Plan what is new, then fire what is due (inside the sending window only)."""
    settings = settings or ReminderSettings()
    result = SweepResult()
    while True:
        async with sessions() as session, session.begin():
            planned = await plan_new(session, settings)
        result.planned += planned
        if planned < settings.plan_chunk:
            break
    if not settings.window.contains(now):
        return result
    while result.fired + result.skipped + result.replanned < settings.max_per_sweep:
        async with sessions() as session, session.begin():
            plans = await outreach.due_plans(session, now, settings.batch)
            batch = _Batch(session, now, settings, result)
            await batch.prefetch(plans)
            for plan in plans:
                await _fire(batch, plan)
            await batch.flush()
        if len(plans) < settings.batch:
            break
    return result


class _Batch:
    """One transaction's worth of due plans, with what they need read in a few queries (not a
    few per reminder) and their messages queued together at the end."""

    def __init__(
        self, session: AsyncSession, now: datetime, settings: ReminderSettings, result: SweepResult
    ) -> None:
        self.session = session
        self.now = now
        self.settings = settings
        self.result = result
        self.today = settings.window.today(now)
        self.messages: list[tuple[int, str, dict[str, Any]]] = []  # (account, purpose, payload)
        self.certificates: dict[int, Certificate] = {}
        self.applications: dict[int, Application] = {}
        self.account_of: dict[int, int] = {}  # facility id -> account id
        self.opted_in: set[int] = set()
        self.latest: dict[tuple[int, str, str], date] = {}  # (facility, level, product) -> validity
        self.rounds: list[Round] = []

    async def prefetch(self, plans: list[ReminderPlan]) -> None:
        session = self.session
        cert_ids = [p.subject_id for p in plans if p.kind == "certificate"]
        app_ids = [p.subject_id for p in plans if p.kind == "draft"]
        if cert_ids:
            certificates = await session.scalars(select(Certificate).where(Certificate.id.in_(cert_ids)))
            self.certificates = {c.id: c for c in certificates}
            self.rounds = list(await session.scalars(select(Round).where(Round.deadline >= self.today)))
        if app_ids:
            drafts = await session.scalars(select(Application).where(Application.id.in_(app_ids)))
            self.applications = {a.id: a for a in drafts}
        facility_ids = {c.facility_id for c in self.certificates.values() if c.facility_id is not None}
        facility_ids |= {a.facility_id for a in self.applications.values()}
        if not facility_ids:
            return
        owners = await session.execute(
            select(Facility.id, Facility.account_id, Account.announcements_opt_in)
            .join(Account, Account.id == Facility.account_id)
            .where(Facility.id.in_(facility_ids))
        )
        for facility_id, account_id, opted_in in owners.all():
            self.account_of[facility_id] = account_id
            if opted_in:
                self.opted_in.add(account_id)
        holders = {c.facility_id for c in self.certificates.values() if c.facility_id is not None}
        if holders:
            held = await session.execute(
                select(
                    Certificate.facility_id, Certificate.level, Certificate.product, Certificate.valid_until
                ).where(Certificate.facility_id.in_(holders))
            )
            for holder, level, product, until in held.all():
                if holder is None:  # excluded by the query; the column itself is nullable
                    continue
                key = (holder, level, product.casefold())
                if until > self.latest.get(key, date.min):
                    self.latest[key] = until

    def queue(self, account_id: int, purpose: str, payload: dict[str, Any]) -> None:
        self.messages.append((account_id, purpose, payload))

    async def flush(self) -> None:
        """One outbox row per message, to each person's preferred app; one insert for them all."""
        if not self.messages:
            return
        identities = await outreach.preferred_identities(
            self.session, sorted({a for a, _, _ in self.messages})
        )
        rows = [
            (identities[account_id], purpose, payload)
            for account_id, purpose, payload in self.messages
            if account_id in identities
        ]
        self.result.queued += await outbox.enqueue_rows(self.session, rows, not_before=self.now)


def _skip(plan: ReminderPlan, note: str, result: SweepResult) -> None:
    plan.status = "skipped"
    plan.note = note
    result.skipped += 1


def _replan(plan: ReminderPlan, due_at: datetime, basis: str, result: SweepResult) -> None:
    plan.due_at = due_at
    plan.basis = basis
    result.replanned += 1


def _fired(plan: ReminderPlan, result: SweepResult, *, done: bool = True) -> None:
    plan.fired += 1
    if done:
        plan.status = "done"
    result.fired += 1
    result.by_kind[plan.kind] += 1


def _when(days: int) -> dict[str, Any]:
    if days <= 0:
        return {"msgid": TODAY}
    if days == 1:
        return {"msgid": TOMORROW}
    return {"msgid": IN_DAYS, "values": {"days": days}}


def _payload(
    msgid: str, values: dict[str, Any], *, parts: list[dict] | None = None, choices: list[dict]
) -> dict:
    return {
        "msgid": msgid,
        "values": values,
        "parts": parts or [],
        "choices": choices,
        "optout": True,
        "announcement": True,
        "quiet": True,
    }


def superseded(
    plan: ReminderPlan,
    steps: tuple[tuple[str, int], ...],
    basis: date,
    now: datetime,
    settings: ReminderSettings,
) -> bool:
    """A reminder is pointless when a later one of the same subject is already due. For a
    certificate also when the later one falls due within `EXPIRY_MIN_GAP`: one imported 50 days
    before it expires gets the 30-day reminder only, never the 90-day one today and the 30-day
    one days later. (Deadline reminders keep both: 2 days and then 1 day before a deadline are
    both still useful.)"""
    days = dict(steps)[plan.step]
    gap = EXPIRY_MIN_GAP if steps is EXPIRY_STEPS else timedelta(0)
    return any(d < days and now >= due_at(settings, basis - timedelta(days=d)) - gap for _, d in steps)


def _title(app: Application) -> Any:
    """A dossier as its owner knows it: the product's name, else the programme's."""
    from conversations.programmes import load_programmes

    name = app.answers.get("product_name")
    if isinstance(name, str) and name:
        return name
    programme = load_programmes().get(app.programme)
    return {"msgid": programme.name if programme is not None else N_("your dossier")}


def _dated(
    batch: _Batch, plan: ReminderPlan, steps: tuple[tuple[str, int], ...], current: date, note: str
) -> bool:
    """The checks every dated reminder makes; True when it should go now."""
    result, settings = batch.result, batch.settings
    if plan.basis != current.isoformat():
        days = dict(steps)[plan.step]
        _replan(plan, due_at(settings, current - timedelta(days=days)), current.isoformat(), result)
        return False
    if batch.today > current:
        _skip(plan, note, result)
        return False
    if superseded(plan, steps, current, batch.now, settings):
        _skip(plan, "a later reminder is due", result)
        return False
    return True


async def _fire(batch: _Batch, plan: ReminderPlan) -> None:
    if plan.kind == "round":
        await _fire_round(batch, plan)
    elif plan.kind == "fair":
        await _fire_fair(batch, plan)
    elif plan.kind == "certificate":
        _fire_certificate(batch, plan)
    elif plan.kind == "draft":
        _fire_draft(batch, plan)
    else:
        _skip(plan, "unknown kind", batch.result)


async def _fire_round(batch: _Batch, plan: ReminderPlan) -> None:
    rnd = await batch.session.get(Round, plan.subject_id)
    if rnd is None:
        _skip(plan, "the round was deleted", batch.result)
        return
    if not _dated(batch, plan, DEADLINE_STEPS, rnd.deadline, "the deadline has passed"):
        return
    query = (
        select(Facility.account_id, Application)
        .join(Facility, Facility.id == Application.facility_id)
        .join(Account, Account.id == Facility.account_id)
        .where(
            Application.status.in_(OPEN_STATUSES),
            Application.programme == rnd.programme,
            Account.announcements_opt_in.is_(True),
        )
        .order_by(Application.last_activity_at)
    )
    if rnd.level is not None:
        query = query.where(Application.answers["level"].as_string() == rnd.level)
    if rnd.province is not None:
        query = query.where(Facility.province == rnd.province)
    payloads: dict[int, dict] = {}
    when = _when((rnd.deadline - batch.today).days)
    for account_id, app in (await batch.session.execute(query)).all():
        # The most recently touched dossier wins the button.
        payloads[account_id] = _payload(
            ROUND_DUE,
            {
                "round": rnd.name,
                "date": {"date": rnd.deadline.isoformat()},
                "when": when,
                "title": _title(app),
            },
            parts=[{"msgid": ROUND_NEXT}],
            choices=[{"label": CONTINUE_DOSSIER, "payload": go("apply", app.id)}],
        )
    for account_id, payload in payloads.items():
        batch.queue(account_id, f"reminder:round:{rnd.id}:{plan.step}:{plan.basis}", payload)
    _fired(plan, batch.result)


async def _fire_fair(batch: _Batch, plan: ReminderPlan) -> None:
    fair = await batch.session.get(Fair, plan.subject_id)
    if fair is None or fair.status != "open":
        _skip(plan, "the fair is closed", batch.result)
        return
    deadline = fair.registration_deadline
    if not _dated(batch, plan, DEADLINE_STEPS, deadline, "the deadline has passed"):
        return
    rows = await batch.session.execute(
        select(Facility.account_id)
        .join(FairRegistration, FairRegistration.facility_id == Facility.id)
        .join(Account, Account.id == Facility.account_id)
        .where(
            FairRegistration.fair_id == fair.id,
            FairRegistration.status == "draft",
            Account.announcements_opt_in.is_(True),
        )
    )
    payload = _payload(
        FAIR_DUE,
        {
            "fair": fair.name,
            "date": {"date": deadline.isoformat()},
            "when": _when((deadline - batch.today).days),
        },
        choices=[{"label": FINISH_REGISTRATION, "payload": go("fairs", "reg", fair.id)}],
    )
    for account_id in rows.scalars():
        batch.queue(account_id, f"reminder:fair:{fair.id}:{plan.step}:{plan.basis}", payload)
    _fired(plan, batch.result)


def _fire_certificate(batch: _Batch, plan: ReminderPlan) -> None:
    cert = batch.certificates.get(plan.subject_id)
    result = batch.result
    if cert is None:
        _skip(plan, "the certificate was deleted", result)
        return
    if not _dated(batch, plan, EXPIRY_STEPS, cert.valid_until, "the certificate has expired"):
        return
    if cert.facility_id is None:
        _skip(plan, "no facility linked to the certificate", result)
        return
    if batch.latest.get((cert.facility_id, cert.level, cert.product.casefold()), date.min) > cert.valid_until:
        _skip(plan, "renewed", result)
        return
    account_id = batch.account_of.get(cert.facility_id)
    if account_id is None or account_id not in batch.opted_in:
        _skip(plan, "opted out", result)
        return
    following = [
        r
        for r in batch.rounds
        if r.programme == cert.programme and r.level == cert.level and r.province in (None, cert.province)
    ]
    next_round = min(following, key=lambda r: r.deadline, default=None)
    part = (
        {
            "msgid": CERT_NEXT_ROUND,
            "values": {"round": next_round.name, "deadline": {"date": next_round.deadline.isoformat()}},
        }
        if next_round is not None
        else {"msgid": CERT_NO_ROUND}
    )
    payload = _payload(
        CERT_DUE,
        {
            "product": cert.product,
            "level": {"msgid": LEVEL_LABELS.get(cert.level, cert.level)},
            "number": cert.number,
            "date": {"date": cert.valid_until.isoformat()},
            "when": _when((cert.valid_until - batch.today).days),
        },
        parts=[part],
        choices=[{"label": PREPARE_DOSSIER, "payload": go("apply", "new")}],
    )
    batch.queue(account_id, f"reminder:cert:{cert.id}:{plan.step}:{plan.basis}", payload)
    _fired(plan, result)


def _fire_draft(batch: _Batch, plan: ReminderPlan) -> None:
    app = batch.applications.get(plan.subject_id)
    result = batch.result
    if app is None or app.status != "draft":
        _skip(plan, "sent or deleted", result)
        return
    if plan.basis != app.last_activity_at.isoformat():
        # The owner came back since: three days after their last answer, if they stop again.
        _replan(plan, app.last_activity_at + STALE_AFTER, app.last_activity_at.isoformat(), result)
        return
    account_id = batch.account_of.get(app.facility_id)
    if account_id is None or account_id not in batch.opted_in:
        _skip(plan, "opted out", result)
        return
    payload = _payload(
        DRAFT_STALE,
        {
            "title": _title(app),
            "date": {"date": batch.settings.window.today(app.last_activity_at).isoformat()},
        },
        choices=[{"label": CONTINUE_DOSSIER, "payload": go("apply", app.id)}],
    )
    batch.queue(account_id, f"reminder:draft:{app.id}:{plan.fired + 1}", payload)
    _fired(plan, result, done=plan.fired + 1 >= STALE_TIMES)
    if plan.status == "planned":
        plan.due_at = batch.now + STALE_AFTER
