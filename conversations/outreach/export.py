"""A fair's registrations as an Excel workbook, for the centre's booth allocation.

Certified products come first (they have priority for funded booths), higher levels before lower,
then by registration time. The file goes to the file store and is sent as a document, so staff
get it in the chat they asked from.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Iterable
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import select

from conversations.i18n import N_
from conversations.messages import Document
from conversations.outreach.common import GROUP_LABELS, LEVEL_LABELS
from conversations.run import Run
from conversations.xlsx import active_sheet, append_text_safe
from storage.models import Facility
from storage.outreach import Fair, FairRegistration

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LEVEL_ORDER = {"nation": 0, "region": 1, "province": 2, "commune": 3}
HEADERS = (
    N_("No."),
    N_("Facility"),
    N_("Province"),
    N_("Commune"),
    N_("Tax code"),
    N_("Products"),
    N_("Product group"),
    N_("Certificate"),
    N_("Certificate number"),
    N_("Booths"),
    N_("Booth needs"),
    N_("Contact person"),
    N_("Phone"),
    N_("Registered at"),
)


async def registrations_xlsx(run: Run, fair: Fair) -> Document:
    rows = (
        await run.session.execute(
            select(FairRegistration, Facility)
            .join(Facility, Facility.id == FairRegistration.facility_id)
            .where(FairRegistration.fair_id == fair.id, FairRegistration.status == "registered")
        )
    ).all()
    rows = sorted(
        rows,
        key=lambda r: (
            LEVEL_ORDER.get(r[0].certificate_level or "", 9),
            r[0].registered_at or r[0].created_at,
        ),
    )
    t = run.t
    book = Workbook()
    sheet = active_sheet(book)
    sheet.title = t(N_("Registrations"))[:31]
    append_text_safe(sheet, [t(h) for h in HEADERS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for n, (reg, facility) in enumerate(rows, 1):
        append_text_safe(
            sheet,
            [
                n,
                facility.name,
                facility.province,
                facility.commune,
                facility.tax_code,
                reg.products,
                t(GROUP_LABELS[reg.product_group]) if reg.product_group in GROUP_LABELS else "",
                t(LEVEL_LABELS[reg.certificate_level]) if reg.certificate_level in LEVEL_LABELS else "",
                reg.certificate_number or "",
                reg.booths,
                reg.booth_needs or "",
                reg.contact_name,
                reg.phone,
                t.datetime(reg.registered_at, run.settings.timezone) if reg.registered_at else "",
            ],
        )
        keep_as_text(sheet[sheet.max_row])
    for column, width in zip(
        "ABCDEFGHIJKLMN", (5, 30, 14, 18, 14, 30, 24, 16, 16, 7, 24, 20, 13, 17), strict=True
    ):
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    stored = await asyncio.to_thread(run.files.save, buffer.getvalue(), ".xlsx")
    slug = re.sub(r"[^\w-]+", "-", fair.name, flags=re.UNICODE).strip("-")[:40] or "fair"
    return Document(path=str(run.files.path(stored.key)), filename=f"dang-ky-{slug}.xlsx", content_type=XLSX)


# --- cells a spreadsheet must never run ------------------------------------------------------------------

# A cell whose text starts with one of these is read by Excel and LibreOffice as a formula: a
# facility name "=HYPERLINK(...)" typed in chat would run on a staff computer (CSV/formula injection).
FORMULA_START = ("=", "+", "-", "@")


def keep_as_text(cells: Iterable[Any]) -> None:
    """In an ordinary (not write-only) sheet: formula-looking text just written stays text."""
    for cell in cells:
        if isinstance(cell.value, str) and cell.value.startswith(FORMULA_START):
            cell.data_type = "s"
