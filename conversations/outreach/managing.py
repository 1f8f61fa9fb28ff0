"""Creating and changing programme rounds and trade fairs: the one place both the chat (/rounds,
/fairs) and the staff console (/staff/fairs) go through, so a round entered at a desk plans the
same reminders as one entered in chat, and the same checks refuse the same mistakes.

Each change is checked as a whole first (`check_round`, `check_fair` return every problem by
field, so a web form can show them beside the fields and keep what was typed), then written, and
its deadline reminders re-planned in the same transaction. Who may act for which province is the
caller's to decide with `may_manage` (broadcasters and admins, for their provinces; a round or
fair open to every province only by a national admin), as the chat's commands always did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from conversations.i18n import N_
from conversations.outreach import reminders
from conversations.outreach.common import LEVEL_LABELS
from conversations.outreach.window import SendingWindow
from conversations.run import Run
from storage import outreach
from storage.outreach import Fair, Round

PROGRAMMES = ("selection", "support")
NATIONWIDE_LEVELS = ("region", "nation")  # rounds run above any one province

NAME_LENGTH = N_("Please type between {min} and {max} characters.")
DATE_NEEDED = N_("Please give the date.")
NOT_BEFORE = N_("The date cannot be earlier than {limit}.")
NOT_AFTER = N_("The date cannot be later than {limit}.")
NOT_YOURS = N_("You cannot act for this province.")
BAD_CHOICE = N_("Please choose one of the options.")
BOOTHS = N_("Please type a whole number from {min} to {max}.")

Problems = dict[str, tuple[str, dict[str, object]]]  # field -> (msgid, values)


def settings_of(run: Run) -> reminders.ReminderSettings:
    return reminders.ReminderSettings(window=SendingWindow(timezone=run.settings.timezone))


def may_manage(scope: set[str] | None, province: str | None) -> bool:
    """Whether staff with this scope (None: every province) may create or change a round or fair
    of `province` (None: open to every province)."""
    if scope is None:
        return True
    return province is not None and province in scope


def _text(problems: Problems, key: str, value: str, low: int, high: int) -> None:
    if not (low <= len(value) <= high):
        problems[key] = (NAME_LENGTH, {"min": low, "max": high})


# --- rounds --------------------------------------------------------------------------------------


@dataclass
class RoundDraft:
    """A round as a form or a chat flow states it; `opens_on` is optional (the plan may not say)."""

    programme: str
    level: str | None
    province: str | None
    name: str
    deadline: date | None
    opens_on: date | None = None


def check_round(
    draft: RoundDraft, today: date, scope: set[str] | None, before: Round | None = None
) -> Problems:
    """Every problem of this round by field; a deadline already passed is kept only when unchanged."""
    problems: Problems = {}
    if draft.programme not in PROGRAMMES:
        problems["programme"] = (BAD_CHOICE, {})
    if draft.level is not None and draft.level not in LEVEL_LABELS:
        problems["level"] = (BAD_CHOICE, {})
    _text(problems, "name", draft.name, 3, 200)
    if draft.deadline is None:
        problems["deadline"] = (DATE_NEEDED, {})
    elif draft.deadline < today and (before is None or before.deadline != draft.deadline):
        problems["deadline"] = (NOT_BEFORE, {"limit": today})
    elif draft.opens_on is not None and draft.opens_on > draft.deadline:
        problems["opens_on"] = (NOT_AFTER, {"limit": draft.deadline})
    province = None if draft.level in NATIONWIDE_LEVELS else draft.province
    if not may_manage(scope, province) or (before is not None and not may_manage(scope, before.province)):
        problems["province"] = (NOT_YOURS, {})
    return problems


async def save_round(run: Run, draft: RoundDraft, actor: str, rnd: Round | None = None) -> Round:
    """Create the round (or change `rnd`) and plan its deadline reminders 7 days and 1 day before.
    Call `check_round` first: this writes what it is given."""
    assert draft.deadline is not None
    if rnd is None:
        rnd = Round(created_by=actor, created_at=run.now)
        run.session.add(rnd)
    rnd.programme = draft.programme
    rnd.level = draft.level if draft.programme == "selection" else None
    rnd.province = None if draft.level in NATIONWIDE_LEVELS else draft.province
    rnd.name = draft.name
    rnd.opens_on = draft.opens_on
    rnd.deadline = draft.deadline
    await run.session.flush()
    await reminders.plan_round(run.session, rnd, settings_of(run))
    return rnd


# --- fairs ---------------------------------------------------------------------------------------


@dataclass
class FairDraft:
    name: str
    province: str | None
    place: str
    starts_on: date | None
    ends_on: date | None
    registration_deadline: date | None
    funded_booths: int | None
    conditions: str | None = None
    status: str = "open"


MAX_BOOTHS = 5000


def check_fair(draft: FairDraft, today: date, scope: set[str] | None, before: Fair | None = None) -> Problems:
    """Every problem of this fair by field. Dates already passed are kept only when unchanged (a
    fair under way can still have its place corrected)."""
    problems: Problems = {}
    _text(problems, "name", draft.name, 3, 200)
    _text(problems, "place", draft.place, 3, 200)
    if draft.conditions is not None and len(draft.conditions) > 600:
        problems["conditions"] = (NAME_LENGTH, {"min": 0, "max": 600})

    def new(field: str, value: date | None) -> bool:
        return before is None or getattr(before, field) != value

    for field in ("starts_on", "ends_on", "registration_deadline"):
        value = getattr(draft, field)
        if value is None:
            problems[field] = (DATE_NEEDED, {})
        elif value < today and new(field, value):
            problems[field] = (NOT_BEFORE, {"limit": today})
    if "ends_on" not in problems and draft.starts_on and draft.ends_on and draft.ends_on < draft.starts_on:
        problems["ends_on"] = (NOT_BEFORE, {"limit": draft.starts_on})
    deadline = draft.registration_deadline
    if (
        "registration_deadline" not in problems
        and deadline
        and draft.starts_on
        and deadline > draft.starts_on
    ):
        problems["registration_deadline"] = (NOT_AFTER, {"limit": draft.starts_on})
    if draft.funded_booths is None or not (0 <= draft.funded_booths <= MAX_BOOTHS):
        problems["funded_booths"] = (BOOTHS, {"min": 0, "max": MAX_BOOTHS})
    if draft.status not in ("open", "closed"):
        problems["status"] = (BAD_CHOICE, {})
    if not may_manage(scope, draft.province) or (
        before is not None and not may_manage(scope, before.province)
    ):
        problems["province"] = (NOT_YOURS, {})
    return problems


async def save_fair(run: Run, draft: FairDraft, actor: str, fair: Fair | None = None) -> Fair:
    """Create the fair (or change `fair`); an open fair's deadline reminders are re-planned, a
    closed one's cancelled. Call `check_fair` first."""
    assert (
        draft.starts_on and draft.ends_on and draft.registration_deadline and draft.funded_booths is not None
    )
    if fair is None:
        fair = Fair(created_by=actor, created_at=run.now)
        run.session.add(fair)
    fair.name = draft.name
    fair.province = draft.province
    fair.place = draft.place
    fair.starts_on = draft.starts_on
    fair.ends_on = draft.ends_on
    fair.registration_deadline = draft.registration_deadline
    fair.funded_booths = draft.funded_booths
    fair.conditions = draft.conditions or None
    fair.status = draft.status
    await run.session.flush()
    await replan_fair(run, fair)
    return fair


async def replan_fair(run: Run, fair: Fair) -> None:
    if fair.status == "open":
        await reminders.plan_fair(run.session, fair, settings_of(run))
    else:
        await outreach.cancel_plans(run.session, "fair", fair.id, "registration closed")


def draft_of(fair: Fair) -> FairDraft:
    """The fair as it stands, to change one thing (the chat's "change the deadline")."""
    return FairDraft(
        name=fair.name,
        province=fair.province,
        place=fair.place,
        starts_on=fair.starts_on,
        ends_on=fair.ends_on,
        registration_deadline=fair.registration_deadline,
        funded_booths=fair.funded_booths,
        conditions=fair.conditions,
        status=fair.status,
    )


def round_draft_of(rnd: Round) -> RoundDraft:
    return RoundDraft(
        programme=rnd.programme,
        level=rnd.level,
        province=rnd.province,
        name=rnd.name,
        deadline=rnd.deadline,
        opens_on=rnd.opens_on,
    )
