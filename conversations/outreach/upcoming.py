"""Staff tools around reminders: /reminders shows what is planned next; /rounds lists the
programme rounds and takes their deadlines (which plan the deadline reminders).

Every staff member sees the reminders of their province(s); only broadcasters and admins enter
rounds. A facility owner typing these commands gets the usual "unknown command".
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from conversations.i18n import N_
from conversations.messages import Choice
from conversations.outreach import managing, reminders
from conversations.outreach.common import (
    ANY_STAFF,
    LEVEL_LABELS,
    actor,
    date_value,
    local_today,
    menu_choice,
    refuse_unless_staff,
    scope,
    text_block,
)
from conversations.outreach.next_sends import next_sends, still_true
from conversations.payloads import go
from conversations.record_ids import record_id
from conversations.run import Run
from conversations.steps import AskChoice, AskText, EndFlow, Flow, Goto, Option, Transition
from conversations.validators import date_dmy
from storage.applications import OPEN_STATUSES
from storage.certificates import Certificate
from storage.models import Application, Facility
from storage.outreach import Fair, FairRegistration, ReminderPlan, Round

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue

LIST_LIMIT = 15  # one chat message stays readable; the rest is counted, never cut silently
KIND_LABELS = {
    "round": N_("round deadline"),
    "fair": N_("fair registration deadline"),
    "certificate": N_("certificate expiry"),
    "draft": N_("unfinished dossier"),
}
STEP_LABELS = {
    "7d": N_("7 days before"),
    "1d": N_("1 day before"),
    "90d": N_("90 days before"),
    "30d": N_("30 days before"),
}


def _settings(run: Run) -> reminders.ReminderSettings:
    from conversations.outreach.window import SendingWindow

    return reminders.ReminderSettings(window=SendingWindow(timezone=run.settings.timezone))


async def _subject(run: Run, plan: ReminderPlan) -> str:
    """What a plan row is about, with how many people it concerns now."""
    session = run.session
    if plan.kind == "round":
        rnd = await session.get(Round, plan.subject_id)
        if rnd is None:
            return "?"
        query = (
            select(func.count())
            .select_from(Application)
            .where(Application.status.in_(OPEN_STATUSES), Application.programme == rnd.programme)
        )
        if rnd.level is not None:
            query = query.where(Application.answers["level"].as_string() == rnd.level)
        if rnd.province is not None:
            query = query.join(Facility, Facility.id == Application.facility_id).where(
                Facility.province == rnd.province
            )
        count = await session.scalar(query) or 0
        return run.t(N_("“{name}”: {count} dossiers not sent"), name=rnd.name, count=count)
    if plan.kind == "fair":
        fair = await session.get(Fair, plan.subject_id)
        if fair is None:
            return "?"
        drafts = await session.scalar(
            select(func.count()).where(
                FairRegistration.fair_id == fair.id, FairRegistration.status == "draft"
            )
        )
        return run.t(N_("“{name}”: {count} unfinished registrations"), name=fair.name, count=drafts or 0)
    if plan.kind == "certificate":
        cert = await session.get(Certificate, plan.subject_id)
        return f"{cert.product} – {cert.facility_name}" if cert is not None else "?"
    app = await session.get(Application, plan.subject_id)
    facility = await session.get(Facility, app.facility_id) if app is not None else None
    return facility.name if facility is not None else "?"


async def cmd_reminders(run: Run, args: str, dialogue: Dialogue) -> None:
    if await refuse_unless_staff(run, dialogue, ANY_STAFF):
        return
    provinces = await scope(run, ANY_STAFF)
    settings = _settings(run)
    upcoming, more = await next_sends(run.session, run.now, provinces, settings, limit=LIST_LIMIT)
    week = run.now + timedelta(days=7)
    counts_query = (
        select(ReminderPlan.kind, func.count(func.distinct(ReminderPlan.subject_id)))
        .where(ReminderPlan.status == "planned", ReminderPlan.due_at <= week, still_true(run.today))
        .group_by(ReminderPlan.kind)
    )
    if provinces is not None:
        counts_query = counts_query.where(
            (ReminderPlan.province.is_(None)) | (ReminderPlan.province.in_(provinces))
        )
    counts = dict((await run.session.execute(counts_query)).all())
    lines = [run.t(N_("⏰ Reminders planned in the next 7 days:"))]
    for kind, label in KIND_LABELS.items():
        lines.append(f"• {run.t(label)}: {run.t.number(counts.get(kind, 0))}")
    window = settings.window
    lines += [
        "",
        run.t(
            N_("Next ones (sent between {start} and {end}):"),
            start=window.start.strftime("%H:%M"),
            end=window.end.strftime("%H:%M"),
        ),
    ]
    if not upcoming:
        lines.append(run.t(N_("Nothing is planned.")))
    for item in upcoming:
        plan = item.plan
        when = run.t.datetime(item.at, run.settings.timezone)
        step = (
            run.t(STEP_LABELS[plan.step])
            if plan.step in STEP_LABELS
            else run.t(N_("reminder {n} of 2"), n=plan.fired + 1)
        )
        lines.append(
            f"• {when} – {run.t(KIND_LABELS.get(plan.kind, plan.kind))} ({step}): {await _subject(run, plan)}"
        )
    if more:
        lines.append(run.t(N_("… and {count} more after these."), count=run.t.number(more)))
    run.say("\n".join(lines), [Choice(run.t(N_("📅 Programme rounds")), go("rounds")), menu_choice(run)])


# --- rounds --------------------------------------------------------------------------------------


async def cmd_rounds(run: Run, args: str, dialogue: Dialogue) -> None:
    if await refuse_unless_staff(run, dialogue):
        return
    provinces = await scope(run)
    action, _, ident = args.partition(":")
    dialogue.engine.leave(run, keep=True)
    if action == "new":
        fixed = next(iter(provinces)) if provinces is not None and len(provinces) == 1 else None
        await dialogue.engine.start(
            run, "round_new", {"rn_province": fixed, "rn_national": provinces is None}
        )
        return
    if action == "deadline" and (round_id := record_id(ident)) is not None:
        rnd = await run.session.get(Round, round_id)
        if rnd is not None and (provinces is None or rnd.province in provinces):
            await dialogue.engine.start(run, "round_deadline", {"round_id": rnd.id})
            return
    query = (
        select(Round).where(Round.deadline >= local_today(run) - timedelta(days=30)).order_by(Round.deadline)
    )
    if provinces is not None:
        query = query.where((Round.province.is_(None)) | (Round.province.in_(provinces)))
    rounds = list(await run.session.scalars(query.limit(15)))
    lines = [run.t(N_("Programme rounds:"))]
    choices = []
    for rnd in rounds:
        lines.append(run.t(N_("• {name}: deadline {date}"), name=rnd.name, date=run.t.date(rnd.deadline)))
        if provinces is None or rnd.province in provinces:
            choices.append(
                Choice(run.t(N_("📅 {name}"), name=rnd.name[:40]), go("rounds", "deadline", rnd.id))
            )
    if not rounds:
        lines.append(run.t(N_("No rounds entered yet.")))
    run.say(
        "\n".join(lines), [*choices, Choice(run.t(N_("➕ New round")), go("rounds", "new")), menu_choice(run)]
    )


async def _deadline_ok(run: Run, value: Any, step: str) -> bool:
    if date_value(value) < local_today(run):
        run.say(run.t(N_("The date cannot be earlier than {limit}."), limit=run.t.date(local_today(run))))
        run.drop_answer(step)
        return False
    return True


async def _round_created(run: Run, value: Any) -> Transition:
    if not await _deadline_ok(run, value, "rn_deadline"):
        return Goto("rn_deadline")
    answers = run.answers
    level = answers.get("rn_level")
    draft = managing.RoundDraft(
        programme=answers["rn_programme"],
        level=None if level in (None, "any") else level,
        province=run.state.data.get("rn_province"),
        name=answers["rn_name"],
        deadline=date_value(value),
    )
    if "province" in managing.check_round(draft, local_today(run), await scope(run)):
        run.say(run.t(managing.NOT_YOURS))  # a round for every province is a national admin's
        return EndFlow()
    rnd = await managing.save_round(run, draft, actor(run))
    run.say(
        run.t(
            N_(
                "Round “{name}” saved, deadline {date}. Facilities with a dossier not sent will be reminded 7 days and 1 day before."
            ),
            name=rnd.name,
            date=run.t.date(rnd.deadline),
        )
    )
    return EndFlow()


async def _round_moved(run: Run, value: Any) -> Transition:
    if not await _deadline_ok(run, value, "rd_date"):
        return Goto("rd_date")
    rnd = await run.session.get(Round, run.state.data.get("round_id"))
    if rnd is None:
        return EndFlow()
    draft = managing.round_draft_of(rnd)
    draft.deadline = date_value(value)
    await managing.save_round(run, draft, actor(run), rnd)
    run.say(
        run.t(N_("The deadline is now {date}; reminders follow the new date."), date=run.t.date(rnd.deadline))
    )
    return EndFlow()


def build_rounds() -> list[Flow]:
    levels = [*(Option(k, v) for k, v in LEVEL_LABELS.items())]
    new = Flow(
        id="round_new",
        version=1,
        steps=[
            AskChoice(
                id="rn_programme",
                prompt=N_("Which programme?"),
                options=[
                    Option("selection", N_("Selection of typical rural industrial products")),
                    Option("support", N_("Industrial extension support")),
                ],
            ),
            AskChoice(
                id="rn_level",
                when=lambda run: run.answers.get("rn_programme") == "selection",
                prompt=N_("Which level?"),
                options=levels,
            ),
            AskText(
                id="rn_name",
                prompt=N_("The round's name, as facilities know it?"),
                validate=text_block(3, 200),
            ),
            AskText(
                id="rn_deadline",
                prompt=N_("Deadline for dossiers (day/month/year)?"),
                validate=date_dmy,
                on_answer=_round_created,
            ),
        ],
    )
    move = Flow(
        id="round_deadline",
        version=1,
        steps=[
            AskText(
                id="rd_date",
                prompt=N_("The new deadline (day/month/year)?"),
                validate=date_dmy,
                on_answer=_round_moved,
            )
        ],
    )
    return [new, move]
