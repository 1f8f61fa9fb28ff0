"""/staff/stats: the province's figures as charts, each downloadable as the table behind it.

Dossiers by programme and status, by commune, submissions per week, the funnel from a started
dossier to an approved one, the question where owners most often stop filling in a draft, and
certificates expiring per quarter. Weeks and quarters are counted in the configured time zone.
The numbers come from one pass over the dossiers, kept briefly (`storage.console_stats`).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from aiohttp import web

from conversations.i18n import N_
from conversations.staff import dossier
from conversations.staff.access import ANY_ROLE
from conversations.staff.review import status_label
from handlers.console import charts, workbooks
from handlers.console.auth import desk_page
from handlers.console.common import Desk
from handlers.console.exports import xlsx_response
from storage import console_stats
from storage.dossier_queries import STAFF_STATUSES

WEEKS = 12
QUARTERS = 8


async def tables(desk: Desk) -> list[tuple[charts.Table, str]]:
    """Every chart as (table, svg), in the order the page shows them."""
    t, run, session = desk.t, desk.run, desk.session
    scope = desk.member.scope(ANY_ROLE)
    out: list[tuple[charts.Table, str]] = []

    today = desk.today()
    first = today - timedelta(days=today.weekday() + 7 * (WEEKS - 1))
    starts = [desk.start_of(first + timedelta(weeks=w)) for w in range(WEEKS)]
    quarter_start = today.replace(month=3 * ((today.month - 1) // 3) + 1, day=1)
    figures = await console_stats.figures(session, scope, starts, list(dossier.questions(run)), quarter_start)
    counts = figures.by_status
    statuses = [s for s in STAFF_STATUSES if any(c[1] == s for c in counts)]
    programmes = sorted({p for p, s, _ in counts if s in statuses})
    names = {pid: t(p.name) for pid, p in run.programmes.items()}
    table = charts.Table(
        "status",
        t(N_("Dossiers by programme and status")),
        [t(N_("Programme")), *(status_label(run, s) for s in statuses)],
    )
    grid = {(p, s): n for p, s, n in counts}
    for p in programmes:
        table.rows.append([names.get(p, p), *(grid.get((p, s), 0) for s in statuses)])
    svg = charts.stacked(
        [(str(r[0]), [charts.figure(v) for v in r[1:]]) for r in table.rows],
        [status_label(run, s) for s in statuses],
    )
    out.append((table, svg))

    communes = figures.by_commune
    table = charts.Table("communes", t(N_("Dossiers by commune")), [t(N_("Commune")), t(N_("Dossiers"))])
    table.rows = [[c, n] for c, n in communes]
    out.append((table, charts.bars([(c, float(n)) for c, n in communes])))

    weeks = figures.weeks
    table = charts.Table("weeks", t(N_("Submissions per week")), [t(N_("Week from")), t(N_("Dossiers"))])
    table.rows = [[desk.day(first + timedelta(weeks=w)), weeks[w]] for w in range(WEEKS)]
    out.append(
        (table, charts.bars([(str(r[0]), charts.figure(r[1])) for r in table.rows], colour=charts.PALETTE[2]))
    )

    approved = sum(n for _, status, n in counts if status == "approved")
    funnel = {"started": sum(n for _, _, n in counts), "submitted": figures.submitted, "approved": approved}
    table = charts.Table(
        "funnel", t(N_("From a started dossier to an approved one")), [t(N_("Stage")), t(N_("Dossiers"))]
    )
    table.rows = [
        [t(N_("Started (draft or sent)")), funnel["started"]],
        [t(N_("Sent")), funnel["submitted"]],
        [t(N_("Approved")), funnel["approved"]],
    ]
    out.append(
        (table, charts.bars([(str(r[0]), charts.figure(r[1])) for r in table.rows], colour=charts.PALETTE[1]))
    )

    stopped = list(figures.stopped)
    stopped.sort(key=lambda item: -item[1])
    table = charts.Table(
        "abandon",
        t(N_("Where owners stop filling in a draft")),
        [t(N_("First unanswered question")), t(N_("Drafts"))],
    )
    table.rows = [[dossier.answer_label(run, q), n] for q, n in stopped[:10]]
    out.append(
        (table, charts.bars([(str(r[0]), charts.figure(r[1])) for r in table.rows], colour=charts.PALETTE[3]))
    )

    expiries = figures.expiries
    per = Counter(
        (d.year - quarter_start.year) * 4 + (d.month - 1) // 3 - (quarter_start.month - 1) // 3
        for d in expiries
    )
    table = charts.Table(
        "expiring", t(N_("Certificates expiring per quarter")), [t(N_("Quarter")), t(N_("Certificates"))]
    )
    for q in range(QUARTERS):
        index = (quarter_start.month - 1) // 3 + q
        label = f"Q{index % 4 + 1}/{quarter_start.year + index // 4}"
        table.rows.append([label, per.get(q, 0)])
    out.append(
        (table, charts.bars([(str(r[0]), charts.figure(r[1])) for r in table.rows], colour=charts.PALETTE[4]))
    )
    return out


@desk_page(ANY_ROLE)
async def stats_page(desk: Desk) -> web.StreamResponse:
    return desk.render("stats.html", charts=await tables(desk))


@desk_page(ANY_ROLE)
async def stats_xlsx(desk: Desk) -> web.StreamResponse:
    key = desk.request.match_info["key"]
    found = next((table for table, _ in await tables(desk) if table.key == key), None)
    if found is None:
        raise web.HTTPNotFound()
    data = await workbooks.workbook(found.title, found.headers, found.rows, [40] + [16] * 8)
    return xlsx_response(data, f"thong-ke-{key}.xlsx")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/staff/stats", stats_page)
    router.add_get("/staff/stats/{key}.xlsx", stats_xlsx)
