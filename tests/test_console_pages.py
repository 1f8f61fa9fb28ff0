"""The console's pages over HTTP: the queue's filters and search, a dossier read without claiming it,
its files shown inline, the chat's decisions taken from the web (the owner is told through the
outbox), certificates imported with every bad row listed, statistics, and exports."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from io import BytesIO

import aiohttp
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.xlsx import active_sheet
from handlers.runtime import Pipeline
from storage.certificates import Certificate
from tests.conftest import Chat, Clock
from tests.console_support import console_client, csrf_of, sign_in
from tests.test_staff_support import add_staff, application, dossier, notice_for, outbox, submitted


def codes(html: str) -> list[str]:
    return re.findall(r'href="/staff/dossiers/(KC-[^"]+)"', html)


async def test_queue_filters_search_without_accents_and_sorts(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "hy", "reviewer", "Hưng Yên")
    non_la = await dossier(sessions, product="Nón lá", commune="Xã Phú Vinh", tax_code="0100109106")
    gio = await dossier(
        sessions,
        product="Giỏ mây",
        commune="Xã Tân Hưng",
        submitted_at=datetime(2026, 11, 10, 2, tzinfo=UTC),
        tax_code="0312345678",
    )
    done = await dossier(sessions, product="Chiếu cói", status="approved")
    async with console_client(pipeline, sessions) as client:
        html = await sign_in(client, sessions, "hy", clock)
        assert set(codes(html)) == {non_la.receipt_code, gio.receipt_code, done.receipt_code}
        page = await (await client.get("/staff/?q=co+so+non+la")).text()  # no accents
        assert codes(page) == [non_la.receipt_code]
        page = await (await client.get("/staff/?q=0312345678")).text()  # tax code
        assert codes(page) == [gio.receipt_code]
        assert gio.receipt_code is not None
        page = await (await client.get(f"/staff/?q={gio.receipt_code.lower()}")).text()
        assert codes(page) == [gio.receipt_code]
        page = await (await client.get("/staff/?commune=X%C3%A3+T%C3%A2n+H%C6%B0ng")).text()
        assert codes(page) == [gio.receipt_code]
        page = await (await client.get("/staff/?status=approved")).text()
        assert codes(page) == [done.receipt_code]
        page = await (await client.get("/staff/?status=open&from=2026-11-15")).text()  # an old link
        assert codes(page) == [non_la.receipt_code]
        # typed as an office writes it, shown back so, the range's last day included
        page = await (await client.get("/staff/?status=open&from=15/11/2026&to=9/11/2026")).text()
        assert codes(page) == [] and 'value="15/11/2026"' in page and 'value="09/11/2026"' in page
        page = await (await client.get("/staff/?status=open&to=10/11/2026")).text()
        assert codes(page) == [gio.receipt_code]
        # month first, as an English browser would: said beside the field, and nothing filtered by it
        page = await (await client.get("/staff/?status=open&from=11/15/2026")).text()
        assert "11/15/2026 is not a real date. Please check the day and the month." in page
        assert 'value="11/15/2026"' in page and set(codes(page)) == {non_la.receipt_code, gio.receipt_code}
        page = await (await client.get("/staff/?sort=submitted&dir=asc&status=open")).text()
        assert codes(page) == [gio.receipt_code, non_la.receipt_code]  # oldest first
        page = await (await client.get("/staff/?held=me")).text()
        assert codes(page) == []


async def test_review_from_the_web_return_then_approve_the_resubmitted_dossier(
    chat: Chat, pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    app = await submitted(chat, sessions)
    await add_staff(sessions, "r1", "reviewer", "Hưng Yên", name="Trần Thị Bình")
    async with console_client(pipeline, sessions) as client:
        html = await sign_in(client, sessions, "r1", clock)
        csrf = csrf_of(html)
        page = await (await client.get(f"/staff/dossiers/{app.receipt_code}")).text()
        assert "Hợp tác xã Mây tre đan Phú Vinh" in page and "Giỏ mây đan Phú Vinh" in page
        assert (await application(sessions, app.id)).status == "submitted"  # reading never claims
        files = re.findall(r"/staff/dossiers/[^/]+/files/\d+", page)
        assert files
        pdf = await client.get(files[0])
        assert pdf.status == 200 and pdf.headers["Content-Disposition"].startswith("inline")
        assert pdf.content_type in ("application/pdf", "image/jpeg")

        resp = await client.post(f"/staff/dossiers/{app.receipt_code}/claim", data={"csrf": csrf})
        assert resp.status == 200 and "taken this dossier" in await resp.text()
        assert (await application(sessions, app.id)).reviewer == "telegram:r1"
        resp = await client.post(
            f"/staff/dossiers/{app.receipt_code}/return",
            data={
                "csrf": csrf,
                "flag": "a:product_description",
                "comment:a:product_description": "Please say which materials you use.",
            },
        )
        assert resp.status == 200 and "Returned to the owner" in await resp.text()
        returned = await application(sessions, app.id)
        assert returned.status == "returned" and "product_description" not in returned.answers
        rows = await outbox(sessions)
        assert len(rows) == 1
        notice, identity = await notice_for(sessions, rows[0])
        assert identity.external_id == "u1"
        assert "• Short description: Please say which materials you use." in notice[0].text

        # the owner changes only that answer in chat and sends the dossier again
        await chat.send("/apply")
        await chat.send("Giỏ đan tay từ mây rừng, nhuộm bằng lá bàng, không dùng hoá chất.")
        await chat.tap("Submit")
        assert (await application(sessions, app.id)).status == "resubmitted"

        page = await (await client.get("/staff/?status=resubmitted")).text()
        assert codes(page) == [app.receipt_code]
        page = await (await client.get(f"/staff/dossiers/{app.receipt_code}")).text()
        assert "Changed since it was returned" in page and "nhuộm bằng lá bàng" in page
        await client.post(f"/staff/dossiers/{app.receipt_code}/claim", data={"csrf": csrf})
        resp = await client.post(f"/staff/dossiers/{app.receipt_code}/approve", data={"csrf": csrf})
        assert "the dossier is now frozen" in await resp.text()
        assert (await application(sessions, app.id)).status == "approved"
        assert len(await outbox(sessions)) == 2

        resp = await client.post(
            f"/staff/dossiers/{app.receipt_code}/certificate",
            data={
                "csrf": csrf,
                "level": "province",
                "number": "=123/QĐ",
                "issued": "20/11/2026",
                "body": "UBND tỉnh Hưng Yên",
            },
        )
        assert "Certificate recorded" in await resp.text()
        async with sessions() as s:
            assert await s.scalar(select(func.count()).select_from(Certificate)) == 1


async def test_reject_needs_a_reason_and_a_colleagues_claim_is_respected(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    app = await dossier(sessions, product="Giỏ mây")
    await add_staff(sessions, "r1", "reviewer", "Hưng Yên", name="Trần Thị Bình")
    await add_staff(sessions, "r2", "reviewer", "Hưng Yên")
    async with console_client(pipeline, sessions) as first:
        csrf = csrf_of(await sign_in(first, sessions, "r1", clock))
        await first.post(f"/staff/dossiers/{app.receipt_code}/claim", data={"csrf": csrf})
        short = await first.post(
            f"/staff/dossiers/{app.receipt_code}/reject", data={"csrf": csrf, "reason": "no"}
        )
        assert short.status == 422 and (await application(sessions, app.id)).status == "under_review"
    async with console_client(pipeline, sessions) as second:
        csrf2 = csrf_of(await sign_in(second, sessions, "r2", clock))
        taken = await second.post(f"/staff/dossiers/{app.receipt_code}/claim", data={"csrf": csrf2})
        assert taken.status == 422 and "Trần Thị Bình" in await taken.text()
        approve = await second.post(f"/staff/dossiers/{app.receipt_code}/approve", data={"csrf": csrf2})
        assert approve.status == 422
        assert (await application(sessions, app.id)).status == "under_review"


CERT_CSV = (
    "Tên cơ sở,Mã số thuế,Sản phẩm,Cấp,Số giấy chứng nhận,Ngày cấp,Cơ quan cấp,Tỉnh\n"
    "HTX Mây tre Phú Vinh,0100109106,Giỏ mây,tỉnh,12/GCN,15/09/2025,UBND tỉnh Hưng Yên,Hưng Yên\n"
    "Cơ sở Nón lá,0100109106,Nón lá,tỉnh,,15/09/2025,UBND tỉnh Hưng Yên,Hưng Yên\n"
)


def upload(csrf: str, text: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("csrf", csrf)
    form.add_field("file", text.encode(), filename="danh-sach.csv", content_type="text/csv")
    return form


async def test_certificate_import_lists_every_bad_row_and_imports_nothing(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "hy", "reviewer", "Hưng Yên")
    async with console_client(pipeline, sessions) as client:
        csrf = csrf_of(await sign_in(client, sessions, "hy", clock))
        resp = await client.post("/staff/certificates/import", data=upload(csrf, CERT_CSV))
        text = await resp.text()
        assert resp.status == 422, text
        assert "Nothing was imported." in text and "<td>3</td>" in text, text
        async with sessions() as s:
            assert await s.scalar(select(func.count()).select_from(Certificate)) == 0
        good = CERT_CSV.splitlines()[:2]
        resp = await client.post("/staff/certificates/import", data=upload(csrf, "\n".join(good)))
        assert resp.status == 200 and "Imported 1 certificates" in await resp.text()
        page = await (await client.get("/staff/certificates?q=gi%E1%BB%8F")).text()
        assert "12/GCN" in page
        export = await client.get("/staff/export/certificates.xlsx")
        sheet = active_sheet(load_workbook(BytesIO(await export.read())))
        assert sheet.cell(2, 1).value == "HTX Mây tre Phú Vinh"


async def test_exports_keep_vietnamese_and_never_write_formulas(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "hy", "reviewer", "Hưng Yên")
    await dossier(sessions, product='=HYPERLINK("http://x")')
    await dossier(sessions, product="Nón lá Chuông")
    async with console_client(pipeline, sessions) as client:
        await sign_in(client, sessions, "hy", clock)
        resp = await client.get("/staff/export/queue.xlsx?q=non+la")
        sheet = active_sheet(load_workbook(BytesIO(await resp.read())))
        assert [c.value for c in sheet[2]][1] == "Nón lá Chuông" and sheet.max_row == 2
        resp = await client.get("/staff/export/queue.xlsx")
        sheet = active_sheet(load_workbook(BytesIO(await resp.read())))
        cells = [
            c
            for row in sheet.iter_rows()
            for c in row
            if isinstance(c.value, str) and c.value.startswith("=")
        ]
        assert cells and all(c.data_type == "s" for c in cells)


async def test_stats_page_draws_every_chart_and_offers_its_table(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "hy", "reviewer", "Hưng Yên")
    await dossier(sessions, product="Giỏ mây", submitted_at=clock.now)
    await dossier(sessions, product="Nón lá", status="approved", submitted_at=clock.now)
    await dossier(sessions, province="Hà Nội", product="Gốm")
    async with console_client(pipeline, sessions) as client:
        await sign_in(client, sessions, "hy", clock)
        page = await (await client.get("/staff/stats")).text()
        assert page.count("<svg") >= 4
        for key in ("status", "communes", "weeks", "funnel", "abandon", "expiring"):
            assert f"/staff/stats/{key}.xlsx" in page
        resp = await client.get("/staff/stats/funnel.xlsx")
        rows = [
            [c.value for c in r] for r in active_sheet(load_workbook(BytesIO(await resp.read()))).iter_rows()
        ]
        assert rows[1][1] == 2 and rows[3][1] == 1  # Hà Nội's dossier is not counted
