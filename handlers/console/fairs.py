"""/staff/fairs and /staff/rounds: trade fairs and programme rounds with their deadlines.

Every staff member sees the fairs and rounds of their provinces; broadcasters and admins create
and change them here (as with /fairs and /rounds in chat), through the chat's own functions
(`conversations.outreach.managing`): the same checks, and the deadline reminders re-planned in the
same transaction. A form with a mistake comes back with every problem beside its field and
everything typed kept. A fair's registrations export as XLSX (`exports.fair_xlsx`).
"""

from __future__ import annotations

from datetime import date
from typing import Any, TypeVar

from aiohttp import web
from multidict import MultiMapping
from sqlalchemy import select

from conversations.i18n import N_
from conversations.outreach import managing
from conversations.outreach.common import ANY_STAFF, LEVEL_LABELS, OUTREACH_ROLES
from conversations.places import provinces as all_provinces
from handlers.console.auth import desk_page
from handlers.console.common import Desk
from handlers.console.dates import TypedDay, read_day, show_day
from storage import outreach
from storage.outreach import Fair, Round

ALL = "all"  # the province select's value for "every province"
PROGRAMME_IDS = managing.PROGRAMMES
Managed = TypeVar("Managed", Fair, Round)


def _days(form: MultiMapping[Any], keys: tuple[str, ...]) -> dict[str, TypedDay]:
    """The form's date fields as typed (dd/mm/yyyy; see handlers.console.dates)."""
    return {key: read_day(str(form.get(key, ""))) for key in keys}


def _shown(form: MultiMapping[Any], keys: tuple[str, ...], days: dict[str, TypedDay]) -> dict[str, str]:
    """What the form shows back: as typed, a date that reads as one as dd/mm/yyyy."""
    shown = {k: str(form.get(k, "")).strip()[:700] for k in keys}
    shown.update({k: day.shown for k, day in days.items()})
    return shown


def _date_problems(desk: Desk, days: dict[str, TypedDay], errors: dict[str, str]) -> dict[str, str]:
    """A date typed wrong: its own reason beside it, rather than the domain's "give the date"."""
    for key, day in days.items():
        problem = day.problem(desk.t)
        if problem is not None:
            errors[key] = problem
    return errors


def _problems(desk: Desk, problems: managing.Problems) -> dict[str, str]:
    return {
        key: desk.t(msgid, **{k: desk.day(v) if isinstance(v, date) else v for k, v in values.items()})
        for key, (msgid, values) in problems.items()
    }


def _province_choices(desk: Desk) -> list[tuple[str, str]]:
    scope = desk.member.scope(OUTREACH_ROLES)
    if scope is None:
        return [(ALL, desk.t(N_("All provinces"))), *((p.name, p.name) for p in all_provinces())]
    return [(p, p) for p in sorted(scope)]


def _province(value: str) -> str | None:
    return None if value in ("", ALL) else value


async def _in_scope(desk: Desk, model: type[Managed]) -> Managed:
    """The fair or round the URL names, if this staff member may change it; another province's
    is not found, never "forbidden" (its existence is not theirs to learn)."""
    found = await desk.session.get(model, int(desk.request.match_info["id"]))
    if found is None or not managing.may_manage(desk.member.scope(OUTREACH_ROLES), found.province):
        raise web.HTTPNotFound()
    return found


# --- the list ------------------------------------------------------------------------------------


@desk_page(ANY_STAFF)
async def fairs_page(desk: Desk) -> web.StreamResponse:
    scope = desk.member.scope(ANY_STAFF)
    manager = desk.member.scope(OUTREACH_ROLES) if desk.member.has(OUTREACH_ROLES) else set()
    fairs = []
    for fair in await outreach.fairs_for_staff(desk.session, scope):
        counts = await outreach.registration_counts(desk.session, fair.id)
        fairs.append(
            {
                "fair": fair,
                "dates": f"{desk.day(fair.starts_on)} – {desk.day(fair.ends_on)}",
                "deadline": desk.day(fair.registration_deadline),
                "registered": counts.get("registered", 0),
                "editable": manager != set() and managing.may_manage(manager, fair.province),
            }
        )
    query = select(Round).order_by(Round.deadline.desc(), Round.id.desc()).limit(50)
    rounds = [
        {
            "round": r,
            "opens": desk.day(r.opens_on),
            "deadline": desk.day(r.deadline),
            "programme": desk.t(desk.run.programmes[r.programme].name)
            if r.programme in desk.run.programmes
            else r.programme,
            "level": desk.t(LEVEL_LABELS[r.level]) if r.level in LEVEL_LABELS else "",
            "editable": manager != set() and managing.may_manage(manager, r.province),
        }
        for r in await desk.session.scalars(query)
        if scope is None or r.province is None or r.province in scope
    ]
    saved = desk.request.query.get("saved", "")
    return desk.render(
        "fairs.html",
        nav="fairs",
        fairs=fairs,
        rounds=rounds,
        manager=manager != set(),
        saved=saved if saved in ("fair", "round") else None,
    )


# --- fairs ---------------------------------------------------------------------------------------

FAIR_FIELDS = (
    "name",
    "province",
    "place",
    "starts_on",
    "ends_on",
    "registration_deadline",
    "funded_booths",
    "conditions",
    "status",
)


def _fair_form(
    desk: Desk, fair: Fair | None, shown: dict[str, str], errors: dict[str, str], status: int = 200
) -> web.Response:
    return desk.render(
        "fair_form.html",
        status=status,
        nav="fairs",
        fair=fair,
        shown=shown,
        errors=errors,
        provinces=_province_choices(desk),
    )


def _fair_shown(fair: Fair | None, desk: Desk) -> dict[str, str]:
    if fair is None:
        choices = _province_choices(desk)
        return {
            "province": choices[0][0] if len(choices) == 1 else "",
            "funded_booths": "0",
            "status": "open",
        }
    return {
        "name": fair.name,
        "province": fair.province or ALL,
        "place": fair.place,
        "starts_on": show_day(fair.starts_on),
        "ends_on": show_day(fair.ends_on),
        "registration_deadline": show_day(fair.registration_deadline),
        "funded_booths": str(fair.funded_booths),
        "conditions": fair.conditions or "",
        "status": fair.status,
    }


@desk_page(OUTREACH_ROLES)
async def new_fair(desk: Desk) -> web.StreamResponse:
    return _fair_form(desk, None, _fair_shown(None, desk), {})


@desk_page(OUTREACH_ROLES)
async def edit_fair(desk: Desk) -> web.StreamResponse:
    fair = await _in_scope(desk, Fair)
    return _fair_form(desk, fair, _fair_shown(fair, desk), {})


@desk_page(OUTREACH_ROLES)
async def save_fair(desk: Desk) -> web.StreamResponse:
    fair = await _in_scope(desk, Fair) if "id" in desk.request.match_info else None
    form = await desk.request.post()
    days = _days(form, ("starts_on", "ends_on", "registration_deadline"))
    shown = _shown(form, FAIR_FIELDS, days)
    booths = shown["funded_booths"]
    draft = managing.FairDraft(
        name=" ".join(shown["name"].split()),
        province=_province(shown["province"]),
        place=" ".join(shown["place"].split()),
        starts_on=days["starts_on"].value,
        ends_on=days["ends_on"].value,
        registration_deadline=days["registration_deadline"].value,
        funded_booths=int(booths) if booths.isdigit() else None,
        conditions=shown["conditions"] or None,
        status=shown["status"] or "open",
    )
    problems = managing.check_fair(draft, desk.today(), desk.member.scope(OUTREACH_ROLES), fair)
    errors = _date_problems(desk, days, _problems(desk, problems))
    if errors:
        return _fair_form(desk, fair, shown, errors, status=422)
    await managing.save_fair(desk.run, draft, desk.member.actor, fair)
    raise web.HTTPSeeOther("/staff/fairs?saved=fair")


# --- rounds --------------------------------------------------------------------------------------

ROUND_FIELDS = ("programme", "level", "province", "name", "opens_on", "deadline")


def _round_form(
    desk: Desk, rnd: Round | None, shown: dict[str, str], errors: dict[str, str], status: int = 200
) -> web.Response:
    programmes = [
        (pid, desk.t(desk.run.programmes[pid].name) if pid in desk.run.programmes else pid)
        for pid in PROGRAMME_IDS
    ]
    return desk.render(
        "round_form.html",
        status=status,
        nav="fairs",
        round=rnd,
        shown=shown,
        errors=errors,
        programmes=programmes,
        levels=[(k, desk.t(v)) for k, v in LEVEL_LABELS.items()],
        provinces=_province_choices(desk),
    )


def _round_shown(rnd: Round | None, desk: Desk) -> dict[str, str]:
    if rnd is None:
        choices = _province_choices(desk)
        return {"programme": "selection", "province": choices[0][0] if len(choices) == 1 else ""}
    return {
        "programme": rnd.programme,
        "level": rnd.level or "",
        "province": rnd.province or ALL,
        "name": rnd.name,
        "opens_on": show_day(rnd.opens_on),
        "deadline": show_day(rnd.deadline),
    }


@desk_page(OUTREACH_ROLES)
async def new_round(desk: Desk) -> web.StreamResponse:
    return _round_form(desk, None, _round_shown(None, desk), {})


@desk_page(OUTREACH_ROLES)
async def edit_round(desk: Desk) -> web.StreamResponse:
    rnd = await _in_scope(desk, Round)
    return _round_form(desk, rnd, _round_shown(rnd, desk), {})


@desk_page(OUTREACH_ROLES)
async def save_round(desk: Desk) -> web.StreamResponse:
    rnd = await _in_scope(desk, Round) if "id" in desk.request.match_info else None
    form = await desk.request.post()
    days = _days(form, ("opens_on", "deadline"))
    shown = _shown(form, ROUND_FIELDS, days)
    draft = managing.RoundDraft(
        programme=shown["programme"],
        level=shown["level"] or None if shown["programme"] == "selection" else None,
        province=_province(shown["province"]),
        name=" ".join(shown["name"].split()),
        deadline=days["deadline"].value,
        opens_on=days["opens_on"].value,
    )
    problems = managing.check_round(draft, desk.today(), desk.member.scope(OUTREACH_ROLES), rnd)
    errors = _date_problems(desk, days, _problems(desk, problems))
    if errors:
        return _round_form(desk, rnd, shown, errors, status=422)
    await managing.save_round(desk.run, draft, desk.member.actor, rnd)
    raise web.HTTPSeeOther("/staff/fairs?saved=round")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/staff/fairs", fairs_page)
    router.add_get("/staff/fairs/new", new_fair)
    router.add_post("/staff/fairs/new", save_fair)
    router.add_get(r"/staff/fairs/{id:\d+}/edit", edit_fair)
    router.add_post(r"/staff/fairs/{id:\d+}/edit", save_fair)
    router.add_get("/staff/rounds/new", new_round)
    router.add_post("/staff/rounds/new", save_round)
    router.add_get(r"/staff/rounds/{id:\d+}/edit", edit_round)
    router.add_post(r"/staff/rounds/{id:\d+}/edit", save_round)
