"""Certificates: importing a province's list (CSV and XLSX), bad rows reported row by row with
nothing half-imported, the import in the chat, and an owner's /certificates with days left."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.i18n import translator
from conversations.programmes import load_programmes
from conversations.staff import importer
from conversations.xlsx import active_sheet
from handlers.runtime import Pipeline
from storage.audit import AuditEvent
from storage.certificates import Certificate
from tests.conftest import Chat
from tests.test_flows import onboard_english
from tests.test_staff_support import add_staff, staff_chat

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
TODAY = date(2026, 11, 22)
HEADER = "STT,Tên cơ sở,Mã số thuế,Sản phẩm,Cấp,Số giấy chứng nhận,Ngày cấp,Cơ quan cấp,Tỉnh"
GOOD_ROWS = [
    "1,HTX Mây tre đan Phú Vinh,0100109106,Giỏ mây Phú Vinh,Cấp tỉnh,15/GCN-UBND,15/09/2019,UBND tỉnh Thái Bình,Thái Bình",
    "2,Cơ sở Nón lá Chuông,,Nón lá,tỉnh,16/GCN-UBND,20/10/2024,UBND tỉnh Hưng Yên,Hưng Yên",
    "3,Cơ sở Tương Bần,,Tương Bần,cấp huyện,02/GCN,01/03/2023,UBND huyện Văn Lâm,",
]


def csv_bytes(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode("utf-8-sig")


async def run_import(
    sessions: async_sessionmaker[AsyncSession], data: bytes, filename: str, provinces: set[str] | None = None
) -> importer.ImportReport:
    async with sessions() as s, s.begin():
        return await importer.import_certificates(
            s,
            data,
            filename,
            importer.ImportBy(
                programme=load_programmes()["selection"],
                provinces={"Hưng Yên"} if provinces is None else provinces,
                actor="telegram:r1",
                now=NOW,
                today=TODAY,
            ),
        )


async def stored(sessions: async_sessionmaker[AsyncSession]) -> list[Certificate]:
    async with sessions() as s:
        return list(await s.scalars(select(Certificate).order_by(Certificate.id)))


async def test_a_csv_list_is_imported_with_expiry_by_the_programmes_rule(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    report = await run_import(sessions, csv_bytes(*GOOD_ROWS), "danh_sach.csv")
    assert report.ok and report.imported == 3
    rows = await stored(sessions)
    assert [(c.product, c.level, c.province, c.issue_date, c.valid_until) for c in rows] == [
        (
            "Giỏ mây Phú Vinh",
            "province",
            "Hưng Yên",
            date(2019, 9, 15),
            date(2022, 12, 31),
        ),  # old name mapped
        ("Nón lá", "province", "Hưng Yên", date(2024, 10, 20), date(2027, 12, 31)),
        (
            "Tương Bần",
            "commune",
            "Hưng Yên",
            date(2023, 3, 1),
            date(2026, 12, 31),
        ),  # the district level, empty province
    ]
    assert all(
        c.source == "import" and c.import_batch == report.batch and c.recorded_by == "telegram:r1"
        for c in rows
    )
    async with sessions() as s:
        audit = await s.scalar(select(AuditEvent))
    assert audit is not None and audit.action == "certificates_imported" and audit.actor == "telegram:r1"
    assert audit.detail["count"] == 3 and audit.detail["ids"] == [c.id for c in rows]


async def test_an_xlsx_list_with_excel_dates_and_numeric_tax_codes(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    book = Workbook()
    sheet = active_sheet(book)
    sheet.append(["Tên cơ sở", "Mã số thuế", "Sản phẩm", "Cấp", "Số GCN", "Ngày cấp", "Cơ quan cấp", "Tỉnh"])
    sheet.append(
        [
            "HTX Gốm",
            100109106,
            "Bình gốm men lam",
            "Cấp khu vực",
            "7/QĐ-BCT",
            datetime(2021, 6, 1),
            "Bộ Công Thương",
            "Hưng Yên",
        ]
    )
    sheet.append(
        ["Cơ sở Chiếu", None, "Chiếu cói", "Quốc gia", "8/QĐ-BCT", "01/07/2022", "Bộ Công Thương", "Hưng Yên"]
    )
    buffer = io.BytesIO()
    book.save(buffer)
    report = await run_import(sessions, buffer.getvalue(), "ds.xlsx")
    assert report.ok, report
    rows = await stored(sessions)
    assert [(c.tax_code, c.level, c.issue_date, c.valid_until) for c in rows] == [
        ("0100109106", "region", date(2021, 6, 1), date(2024, 12, 31)),  # the leading 0 Excel dropped
        (None, "nation", date(2022, 7, 1), date(2025, 12, 31)),
    ]


async def test_bad_rows_are_reported_row_by_row_and_nothing_is_imported(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await run_import(sessions, csv_bytes(GOOD_ROWS[1]), "first.csv")  # 16/GCN-UBND is already recorded
    report = await run_import(
        sessions,
        csv_bytes(
            GOOD_ROWS[0],
            "2,,,Nón,tỉnh,17/GCN,32/01/2024,UBND tỉnh Hưng Yên,Hưng Yên",  # no name, impossible date
            "3,Cơ sở B,12345,Mành tre,cấp phường xóm,18/GCN,01/01/2030,UBND tỉnh Hưng Yên,Hưng Yên",
            "",  # blank lines are skipped, not errors
            "4,Cơ sở C,,Đũa tre,tỉnh,19/GCN,01/01/2024,UBND TP Hà Nội,Hà Nội",  # another province
            "5,Cơ sở D,,Quạt giấy,tỉnh,15/gcn-ubnd,01/01/2024,UBND tỉnh Thái Bình,Hưng Yên",  # same as row 2
            "6,Cơ sở E,,Chổi đót,tỉnh,16/GCN-UBND,01/01/2024,UBND tỉnh Hưng Yên,Hưng Yên",  # recorded before
            "7,Cơ sở F,,Rổ rá,tỉnh,20/GCN,01/01/2024,UBND tỉnh Hưng Yên,Tỉnh Không Có",
        ),
        "second.csv",
    )
    assert not report.ok and report.imported == 0
    t = translator("en")
    by_row = {e.row: "; ".join(t(m, **v) for m, v in e.reasons) for e in report.errors}
    assert sorted(by_row) == [3, 4, 6, 7, 8, 9]  # spreadsheet rows: the header is row 1
    assert (
        by_row[3]
        == "the facility name is empty; the issue date “32/01/2024” is not a date written dd/mm/yyyy"
    )
    assert "the level “cấp phường xóm” is not one of" in by_row[4]
    assert "the issue date 01/01/2030 is in the future" in by_row[4]
    assert "the tax code “12345” is not valid" in by_row[4]
    assert by_row[6] == "Hà Nội is not one of your provinces"
    assert by_row[7] == "the same certificate number as row 2"
    assert by_row[8] == "certificate 16/GCN-UBND of UBND tỉnh Hưng Yên is already recorded"
    assert by_row[9] == "the province “Tỉnh Không Có” is unknown"
    assert len(await stored(sessions)) == 1  # only the earlier import: row 2 here was good, yet not imported


async def test_a_file_without_the_needed_columns_is_refused_whole(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    report = await run_import(sessions, "Tên cơ sở,Sản phẩm\nA,B\n".encode(), "x.csv")
    assert report.problem is not None
    msgid, values = report.problem
    assert translator("en")(msgid, **values) == (
        "The header row lacks these columns: Cấp, Số giấy chứng nhận, Ngày cấp, Cơ quan cấp."
    )
    report = await run_import(sessions, b"PK\x03\x04 not really a workbook", "x.xlsx")
    assert report.problem is not None and report.problem[0] == importer.UNREADABLE
    assert await stored(sessions) == []


async def test_staff_import_a_list_in_the_chat_and_fix_it_after_the_report(
    chat: Chat, pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_english(chat)  # tax code 0100109106, in Hưng Yên
    await add_staff(sessions, "r1", "reviewer", "Hưng Yên")
    reviewer = staff_chat(pipeline, "r1")
    await reviewer.send("/certificates")
    await reviewer.tap("Import a list of certificates")
    assert "CSV or Excel (.xlsx)" in reviewer.text
    await reviewer.send("here it comes")
    assert "Please send the file here" in reviewer.text
    await reviewer.upload("ds.docx", b"PK\x03\x04", "application/msword")
    assert "as a .csv or .xlsx file" in reviewer.text
    bad = GOOD_ROWS[1].replace("20/10/2024", "20/13/2024")
    await reviewer.upload("ds.csv", csv_bytes(GOOD_ROWS[0], bad), "text/csv")
    assert "Nothing was imported: 1 rows need correcting" in reviewer.text
    assert "Row 3: the issue date “20/13/2024” is not a date written dd/mm/yyyy" in reviewer.text
    assert await stored(sessions) == []
    await reviewer.upload("ds.csv", csv_bytes(*GOOD_ROWS), "text/csv")  # still waiting for the fixed file
    assert "Imported 3 certificates; 1 of them belong to facilities that use the assistant." in reviewer.text

    await chat.send("/certificates")
    assert "Giỏ mây Phú Vinh" in chat.text and "Expired on 31/12/2022" in chat.text
    assert "logo may no longer be printed" in chat.text
    assert "Nón lá" not in chat.text  # someone else's certificate


async def test_a_certificate_imported_before_the_owner_came_is_found_by_tax_code(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await run_import(sessions, csv_bytes(GOOD_ROWS[0].replace("15/09/2019", "15/09/2025")), "ds.csv")
    async with sessions() as s:
        assert (
            await s.scalar(
                select(func.count()).select_from(Certificate).where(Certificate.facility_id.is_(None))
            )
            == 1
        )
    await onboard_english(chat)
    await chat.send("/certificates")
    days = (date(2028, 12, 31) - TODAY).days
    assert f"Valid until 31/12/2028: {days} days left" in chat.text
    assert "Provincial level · number 15/GCN-UBND" in chat.text
    assert "Issued on 15/09/2025 by UBND tỉnh Thái Bình" in chat.text
    async with sessions() as s:
        assert (
            await s.scalar(
                select(func.count()).select_from(Certificate).where(Certificate.facility_id.is_(None))
            )
            == 0
        )


async def test_an_owner_without_certificates_is_told_so(chat: Chat) -> None:
    await onboard_english(chat)
    await chat.send("/certificates")
    assert "No certificate is recorded for your facility yet" in chat.text
    assert chat.buttons == ["🏠 Main menu"]
