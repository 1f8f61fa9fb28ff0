"""XLSX exports: the queue as filtered on screen, and a fair's registrations.

Rows are read on the event loop (the async database, in slices), then the workbook is written in a
worker process (`handlers.console.workbooks`): for 10,000 rows that is about a second of CPU the
web chat must not wait behind. Cells that look like formulas are written as text
(`conversations.xlsx.safe_cell`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from conversations.i18n import N_
from conversations.outreach.common import ANY_STAFF
from conversations.outreach.export import XLSX
from conversations.staff.access import REVIEW_ROLES
from conversations.staff.review import status_label
from handlers.console import workbooks
from handlers.console.auth import desk_page
from handlers.console.common import Desk
from handlers.console.queue import level_options, read_filters
from storage import dossier_queries

QUEUE_HEADERS = (
    N_("Receipt code"),
    N_("Product"),
    N_("Facility"),
    N_("Tax code"),
    N_("Phone"),
    N_("Commune"),
    N_("Province"),
    N_("Programme"),
    N_("Level"),
    N_("Status"),
    N_("Submitted"),
    N_("Updated"),
    N_("Held by"),
)


def xlsx_response(data: bytes, filename: str) -> web.Response:
    return web.Response(
        body=data,
        content_type=XLSX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
    )


@desk_page(REVIEW_ROLES)
async def queue_xlsx(desk: Desk) -> web.StreamResponse:
    filters, _ = read_filters(desk, desk.request.query)
    found = await dossier_queries.all_matching(
        desk.session, provinces=desk.member.scope(REVIEW_ROLES), actor=desk.member.actor, filters=filters
    )
    levels = dict(level_options(desk))
    t = desk.t
    names = {pid: t(p.name) for pid, p in desk.run.programmes.items()}
    statuses = {status: status_label(desk.run, status) for status in {row.status for row in found}}
    tz = desk.tz()

    def local(moment: datetime | None) -> datetime | None:
        """Excel has no time zones: the configured zone's wall-clock time, as a real date cell."""
        return moment.astimezone(tz).replace(tzinfo=None) if moment else None

    headers = [t(h) for h in QUEUE_HEADERS]

    rows: list[list[Any]] = []
    for start in range(0, len(found), 250):  # in slices, the loop serving others between them
        rows += [
            [
                row.receipt_code or "",
                str(row.answers.get("product_name") or ""),
                row.name,
                row.tax_code,
                row.phone,
                row.commune,
                row.province,
                names.get(row.programme, row.programme),
                levels.get(str(row.answers.get("level") or ""), ""),
                statuses[row.status],
                local(row.submitted_at),
                local(row.updated_at),
                (row.reviewer or "") if row.status == "under_review" else "",
            ]
            for row in found[start : start + 250]
        ]
        await asyncio.sleep(0)
    data = await workbooks.workbook(
        t(N_("Dossiers")), headers, rows, [16, 28, 32, 14, 13, 20, 14, 24, 14, 18, 17, 17, 18]
    )
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    return xlsx_response(data, f"ho-so-{stamp}.xlsx")


@desk_page(ANY_STAFF)
async def fair_xlsx(desk: Desk) -> web.StreamResponse:
    """A fair's registrations, the same workbook the chat sends (`registrations_xlsx`)."""
    from conversations.outreach.export import registrations_xlsx
    from storage.outreach import Fair

    fair = await desk.session.get(Fair, int(desk.request.match_info["fair"]))
    scope = desk.member.scope(ANY_STAFF)
    if fair is None or (scope is not None and fair.province not in scope):
        raise web.HTTPNotFound()
    document = await registrations_xlsx(desk.run, fair)
    data = await asyncio.to_thread(lambda: open(document.path, "rb").read())
    return xlsx_response(data, document.filename)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/staff/export/queue.xlsx", queue_xlsx)
    router.add_get(r"/staff/export/fairs/{fair:\d+}/registrations.xlsx", fair_xlsx)
