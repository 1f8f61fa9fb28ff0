"""/staff/certificates: the registry with search and filters, importing a province's list, the
export, and recording the certificate of an approved dossier.

Import and recording go through the chat's own functions (`conversations.staff.importer`,
`conversations.staff.certificates.record`): every row checked first, nothing half-imported,
each wrong row listed with its number as the spreadsheet shows it.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from conversations.i18n import N_
from conversations.staff import importer
from conversations.staff.access import REVIEW_ROLES
from conversations.staff.certificates import importing_as, level_label, record, today
from conversations.staff.desk import dossier_in_scope
from handlers.console import workbooks
from handlers.console.auth import desk_page
from handlers.console.common import Desk
from handlers.console.dates import read_day
from handlers.console.exports import xlsx_response
from handlers.web_common import clean_filename
from storage import certificate_queries, certificates
from storage.certificate_queries import CertificateFilter
from storage.certificates import LEVELS
from storage.db import claim_writer

PAGE = 50
MAX_IMPORT_BYTES = 10 * 1024 * 1024
NDJSON = "application/x-ndjson"
HEADERS = (
    N_("Facility"),
    N_("Tax code"),
    N_("Product"),
    N_("Level"),
    N_("Certificate number"),
    N_("Issued"),
    N_("Valid until"),
    N_("Issued by"),
    N_("Province"),
)


def _filters(desk: Desk) -> tuple[CertificateFilter, dict[str, str]]:
    q = desk.request.query
    shown = {k: q.get(k, "").strip()[:100] for k in ("q", "province", "level", "expiring", "expired")}
    f = CertificateFilter(search=shown["q"] or None, province=shown["province"] or None)
    f.level = shown["level"] if shown["level"] in LEVELS else None
    f.expiring_days = int(shown["expiring"]) if shown["expiring"].isdigit() else None
    f.expired = shown["expired"] == "1"
    return f, shown


def _row(desk: Desk, c: certificates.Certificate, today_: date) -> dict[str, Any]:
    return {
        "facility": c.facility_name,
        "tax_code": c.tax_code or "",
        "product": c.product,
        "level": desk.t(level_label(desk.run, c.level)),
        "number": c.number,
        "issued": desk.day(c.issue_date),
        "valid_until": desk.day(c.valid_until),
        "body": c.issuing_body,
        "province": c.province,
        "expired": c.valid_until < today_,
    }


async def _page(
    desk: Desk, *, report: importer.ImportReport | None = None, status: int = 200
) -> web.StreamResponse:
    filters, shown = _filters(desk)
    try:
        page = max(0, int(desk.request.query.get("page", "1")) - 1)
    except ValueError:
        page = 0
    today_ = today(desk.run)
    scope = desk.member.scope(REVIEW_ROLES)
    rows, total = await certificate_queries.page(
        desk.session, provinces=scope, filters=filters, today=today_, limit=PAGE, offset=page * PAGE
    )
    kept = {k: v for k, v in shown.items() if v}
    errors = []
    problem = None
    if report is not None and report.problem is not None:
        msgid, values = report.problem
        problem = desk.t(msgid, **values)
    if report is not None:
        for error in report.errors:
            reasons = "; ".join(desk.t(m, **v) for m, v in error.reasons)
            errors.append((error.row, reasons))
    return desk.render(
        "certificates.html",
        status=status,
        rows=[_row(desk, c, today_) for c in rows],
        total=total,
        page=page + 1,
        pages=max(1, -(-total // PAGE)),
        shown=shown,
        query=urlencode(kept),
        page_link=lambda n: "?" + urlencode({**kept, "page": n}),
        levels=[(lv, desk.t(level_label(desk.run, lv))) for lv in LEVELS],
        provinces=sorted(scope) if scope is not None else [],
        report=report,
        problem=problem,
        errors=errors,
    )


@desk_page(REVIEW_ROLES)
async def registry(desk: Desk) -> web.StreamResponse:
    return await _page(desk)


@desk_page(REVIEW_ROLES, own_writes=True)
async def import_list(desk: Desk) -> web.StreamResponse:
    """Import a list. A plain form post gets the page with the outcome; the page's script asks for
    `application/x-ndjson` and reads one line per slice of rows checked or saved, then the page."""
    if NDJSON in desk.request.headers.get("Accept", ""):
        return await _import_streamed(desk)
    report = await _import(desk, None)
    return await _page(desk, report=report, status=200 if report.ok else 422)


async def _import(desk: Desk, progress: importer.Progress | None) -> importer.ImportReport:
    form = await desk.request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return importer.ImportReport(problem=(N_("Please send the list as a .csv or .xlsx file."), {}))
    filename = clean_filename(upload.filename)
    data = await asyncio.to_thread(upload.file.read, MAX_IMPORT_BYTES + 1)
    if not filename.lower().endswith((".csv", ".xlsx")):
        return importer.ImportReport(problem=(N_("Please send the list as a .csv or .xlsx file."), {}))
    if len(data) > MAX_IMPORT_BYTES:
        return importer.ImportReport(
            problem=(N_("This file is too large; please split the list into smaller files."), {})
        )
    # desk_page(own_writes=True): until the save below this request holds no write transaction,
    # and owners' messages are saved meanwhile.
    sessions = desk.console.sessions
    async with sessions() as reading:  # reads only: no write lock, on SQLite (WAL) or PostgreSQL
        checked = await importer.check_certificates(
            reading, data, filename, importing_as(desk.run, desk.member), progress
        )
    if not checked.report.ok:
        return checked.report
    if progress is not None:
        await progress("save", 0, len(checked))
    # One short write: the lock taken up front (SQLite) and held only while inserting.
    async with sessions() as writing, writing.begin():
        await claim_writer(writing)
        report = await importer.save_checked(writing, checked)
    if progress is not None and report.ok:
        await progress("save", report.imported, len(checked))
    return report


async def _import_streamed(desk: Desk) -> web.StreamResponse:
    """The import as it goes: {"phase", "done", "total"} lines (rows checked slice by slice, then
    saving begun and done), then {"html"}: the page with the outcome, once the import is committed.
    A connection dropped while rows are checked stops the import before anything is saved."""
    response = web.StreamResponse(
        headers={"Content-Type": f"{NDJSON}; charset=utf-8", "Cache-Control": "no-store"}
    )
    await response.prepare(desk.request)

    async def line(value: dict[str, Any]) -> None:
        await response.write(json.dumps(value, ensure_ascii=False).encode() + b"\n")

    async def progress(phase: str, done: int, total: int) -> None:
        await line({"phase": phase, "done": done, "total": total})

    report = await _import(desk, progress)
    page = await _page(desk, report=report, status=200 if report.ok else 422)
    assert isinstance(page, web.Response) and page.text is not None
    await line({"ok": report.ok, "html": page.text})
    return response


@desk_page(REVIEW_ROLES)
async def export(desk: Desk) -> web.StreamResponse:
    filters, _ = _filters(desk)
    found = await certificate_queries.all_matching(
        desk.session, provinces=desk.member.scope(REVIEW_ROLES), filters=filters, today=today(desk.run)
    )
    t = desk.t
    rows = [
        [
            c.facility_name,
            c.tax_code or "",
            c.product,
            t(level_label(desk.run, c.level)),
            c.number,
            desk.day(c.issue_date),
            desk.day(c.valid_until),
            c.issuing_body,
            c.province,
        ]
        for c in found
    ]
    data = await workbooks.workbook(
        t(N_("Certificates")), [t(h) for h in HEADERS], rows, [32, 14, 28, 14, 18, 12, 12, 30, 14]
    )
    return xlsx_response(data, "chung-nhan.xlsx")


@desk_page(REVIEW_ROLES)
async def record_for_dossier(desk: Desk) -> web.StreamResponse:
    """The certificate of an approved dossier, from the form on its page."""
    application = await dossier_in_scope(desk.session, desk.member, desk.request.match_info["code"])
    if application is None:
        raise web.HTTPNotFound()
    form = await desk.request.post()
    back = f"/staff/dossiers/{application.receipt_code}"
    number = str(form.get("number", "")).strip()[:64]
    body = str(form.get("body", "")).strip()[:200]
    level = str(form.get("level", ""))
    issued = read_day(str(form.get("issued", ""))).value  # dd/mm/yyyy, as typed at the desk
    if (
        application.status != "approved"
        or await certificates.of_application(desk.session, application.id)
        or not number
        or not body
        or level not in LEVELS
        or issued is None
        or issued > today(desk.run)
        or await certificates.numbers_taken(desk.session, {(body, number)})
    ):
        raise web.HTTPSeeOther(f"{back}?done=cert_refused")
    await record(
        desk.run,
        desk.member,
        application,
        level=level,
        number=number,
        body=body,
        issued=issued,
        product=str(application.answers.get("product_name") or application.facility.products),
    )
    raise web.HTTPSeeOther(f"{back}?done=cert")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/staff/certificates", registry)
    router.add_post("/staff/certificates/import", import_list)
    router.add_get("/staff/export/certificates.xlsx", export)
    router.add_post("/staff/dossiers/{code}/certificate", record_for_dossier)
