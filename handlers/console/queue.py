"""/staff/: the province's dossiers as a table with filters, search, sort and pages.

Opening a dossier from here never claims it (claiming is a button on the dossier). The filters
live in the query string, so a filtered view can be bookmarked, shared with a colleague, and
exported as it is (/staff/export/queue.xlsx?same filters).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiMapping

from conversations.i18n import N_
from conversations.staff.access import REVIEW_ROLES
from conversations.staff.review import status_label
from handlers.console.auth import desk_page
from handlers.console.common import Desk
from handlers.console.dates import TypedDay, read_day
from storage import dossier_queries, staff
from storage.dossier_queries import STAFF_STATUSES, QueueFilter
from storage.models import Application

PAGE = 50
WAITING = ("submitted", "resubmitted", "under_review")
SORT_LABELS = {
    "submitted": N_("Submitted"),
    "updated": N_("Updated"),
    "code": N_("Receipt code"),
    "facility": N_("Facility"),
    "commune": N_("Commune"),
    "status": N_("Status"),
}
FILTER_KEYS = ("programme", "level", "status", "commune", "from", "to", "held", "q", "sort", "dir")


def _days(query: MultiMapping[str]) -> dict[str, TypedDay]:
    """The submitted-date range as typed (dd/mm/yyyy; see handlers.console.dates)."""
    return {key: read_day(query.get(key, "")) for key in ("from", "to")}


def read_filters(desk: Desk, query: MultiMapping[str]) -> tuple[QueueFilter, dict[str, str]]:
    """The filter from the query string, and the cleaned values the form shows back."""
    shown = {key: query.get(key, "").strip()[:100] for key in FILTER_KEYS}
    f = QueueFilter()
    if shown["programme"] in desk.run.programmes:
        f.programme = shown["programme"]
    f.level = shown["level"] or None
    if shown["status"] == "open":
        f.statuses = WAITING
    elif shown["status"] in STAFF_STATUSES:
        f.statuses = (shown["status"],)
    f.commune = shown["commune"] or None
    days = _days(query)
    shown.update({key: day.shown for key, day in days.items()})
    start, end = days["from"].value, days["to"].value
    f.submitted_from = desk.start_of(start) if start else None
    f.submitted_to = desk.start_of(end + timedelta(days=1)) if end else None
    f.held = shown["held"] if shown["held"] in ("me", "free") else None
    f.search = shown["q"] or None
    f.sort = shown["sort"] if shown["sort"] in SORT_LABELS else "submitted"
    f.descending = shown["dir"] == "desc"
    return f, shown


def level_options(desk: Desk) -> list[tuple[str, str]]:
    """The levels the selection programme asks about, as (value, label)."""
    from conversations.staff.certificates import level_label
    from storage.certificates import LEVELS

    return [(level, level_label(desk.run, level)) for level in LEVELS]


async def row_of(desk: Desk, app: Application, holders: dict[str, str]) -> dict[str, Any]:
    facility = app.facility
    programme = desk.run.programmes.get(app.programme)
    level = app.answers.get("level")
    waiting = (desk.run.now - app.submitted_at).days if app.submitted_at and app.status in WAITING else None
    if app.status == "under_review" and app.reviewer and app.reviewer not in holders:
        holders[app.reviewer] = await staff.describe(desk.session, app.reviewer)
    return {
        "code": app.receipt_code,
        "product": app.answers.get("product_name") or "",
        "facility": facility.name,
        "commune": facility.commune,
        "province": facility.province,
        "programme": desk.t(programme.name) if programme else app.programme,
        "level": dict(level_options(desk)).get(level, "") if level else "",
        "status": app.status,
        "status_label": status_label(desk.run, app.status),
        "submitted": desk.day(app.submitted_at),
        "updated": desk.day(app.updated_at),
        "holder": holders.get(app.reviewer or "", "") if app.status == "under_review" else "",
        "mine": app.status == "under_review" and app.reviewer == desk.member.actor,
        "waiting": waiting,
    }


@desk_page(REVIEW_ROLES)
async def queue_page(desk: Desk) -> web.StreamResponse:
    filters, shown = read_filters(desk, desk.request.query)
    # A date that does not read as one filters nothing, and says why beside its field.
    date_errors = {key: day.problem(desk.t) for key, day in _days(desk.request.query).items()}
    try:
        page = max(0, int(desk.request.query.get("page", "1")) - 1)
    except ValueError:
        page = 0
    scope = desk.member.scope(REVIEW_ROLES)
    apps, total = await dossier_queries.queue_page(
        desk.session,
        provinces=scope,
        actor=desk.member.actor,
        filters=filters,
        limit=PAGE,
        offset=page * PAGE,
    )
    holders: dict[str, str] = {}
    rows = [await row_of(desk, app, holders) for app in apps]
    kept = {k: v for k, v in shown.items() if v}
    pages = max(1, -(-total // PAGE))
    return desk.render(
        "queue.html",
        rows=rows,
        total=total,
        page=page + 1,
        pages=pages,
        shown=shown,
        date_errors={key: problem for key, problem in date_errors.items() if problem},
        query=urlencode(kept),
        page_link=lambda n: "?" + urlencode({**kept, "page": n}),
        sort_link=lambda key: (
            "?"
            + urlencode(
                {
                    **kept,
                    "sort": key,
                    "dir": "asc"
                    if shown["sort"] == key and shown["dir"] == "desc"
                    else "desc"
                    if shown["sort"] == key
                    else "asc",
                }
            )
        ),
        programmes=[(pid, desk.t(p.name)) for pid, p in desk.run.programmes.items()],
        levels=level_options(desk),
        statuses=[("open", desk.t(N_("Waiting for a decision")))]
        + [(s, status_label(desk.run, s)) for s in STAFF_STATUSES],
        communes=await dossier_queries.communes(desk.session, scope),
        sorts=[(k, desk.t(v)) for k, v in SORT_LABELS.items()],
    )


async def to_queue(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/staff/")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/staff/", queue_page)
    router.add_get("/staff", to_queue)
