"""Spreadsheets staff open: no cell typed by the public becomes a formula, and a tax code that a
CSV saved by Excel stripped of its leading zero is restored (issue 9 #9)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from openpyxl import Workbook, load_workbook
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.xlsx import append_text_safe
from handlers.runtime import Pipeline
from tests.test_broadcasts import Person, make_staff
from tests.test_fairs import clock, create_fair, pipe  # noqa: F401  (fixtures)
from tests.test_outbox_delivery import add_people
from tests.test_staff_certificates import HEADER, csv_bytes, run_import, stored

INJECTIONS = ['=HYPERLINK("http://evil.example","x")', "+1+2", "-2+3", "@SUM(A1:A2)"]


def test_every_formula_start_is_written_as_text() -> None:
    book = Workbook()
    append_text_safe(book.active, [*INJECTIONS, "Giỏ mây", 7])
    buffer = io.BytesIO()
    book.save(buffer)
    cells = list(load_workbook(io.BytesIO(buffer.getvalue())).active[1])
    assert [c.value for c in cells] == [*INJECTIONS, "Giỏ mây", 7]
    assert [c.data_type for c in cells[:4]] == ["s"] * 4
    assert all(c.quotePrefix for c in cells[:4]) and not cells[4].quotePrefix


async def test_a_fair_export_keeps_a_typed_formula_as_text(
    sessions: async_sessionmaker[AsyncSession],
    pipe: Pipeline,  # noqa: F811
) -> None:
    await make_staff(sessions)
    await add_people(sessions, 1, first_id=1)
    staffer = Person(pipe, "9001", [])
    await create_fair(staffer)
    owner = Person(pipe, "1", [])
    await owner.send("/fairs")
    await owner.tap("go:fairs:reg:1")
    await owner.send(INJECTIONS[0])
    await owner.tap("fr_group:handicraft")
    await owner.tap("fr_level:province")
    await owner.send("@125/QĐ-UBND")
    await owner.send("2")
    await owner.send("=1+1")
    await owner.tap("fr_summary:confirm")
    await staffer.tap("go:fairs:xlsx:1")
    document = staffer.last[0].document
    assert document is not None
    data = await asyncio.to_thread(Path(document.path).read_bytes)
    row = list(load_workbook(io.BytesIO(data)).active[2])
    typed = {c.value: c.data_type for c in row if isinstance(c.value, str) and c.value[:1] in "=+-@"}
    assert typed == {INJECTIONS[0]: "s", "@125/QĐ-UBND": "s", "=1+1": "s"}


async def test_a_csv_tax_code_that_lost_its_leading_zero_is_restored(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    assert HEADER.split(",")[2] == "Mã số thuế"
    report = await run_import(
        sessions,
        csv_bytes(
            "1,HTX Mây tre,100109106,Giỏ mây,Cấp tỉnh,15/GCN-UBND,15/09/2019,UBND tỉnh Thái Bình,Hưng Yên",
            "2,Chi nhánh Gốm,100109106-001,Bình gốm,Cấp tỉnh,17/GCN-UBND,15/09/2020,UBND tỉnh Hưng Yên,Hưng Yên",
        ),
        "list.csv",
    )
    assert report.ok, report
    assert [c.tax_code for c in await stored(sessions)] == ["0100109106", "0100109106-001"]
