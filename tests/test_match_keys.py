"""Case- and accent-insensitive matching the same on SQLite and PostgreSQL (issue 9 #3): the
certificate re-import with "45/QĐ-UBND" names the row already recorded, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from conversations.programmes import load_programmes
from conversations.staff import importer
from storage.certificates import Certificate
from storage.db import session_factory
from storage.text_keys import match_key
from tests.test_staff_certificates import csv_bytes

ROW = "1,HTX Mây tre,0100109106,Giỏ mây,Cấp tỉnh,{number},15/09/2019,{body},Hưng Yên"


async def import_rows(engine: AsyncEngine, *rows: str) -> importer.ImportReport:
    async with session_factory(engine)() as s, s.begin():
        return await importer.import_certificates(
            s,
            csv_bytes(*rows),
            "list.csv",
            importer.ImportBy(
                programme=load_programmes()["selection"],
                provinces={"Hưng Yên"},
                actor="telegram:r1",
                now=datetime(2026, 11, 22, 3, tzinfo=UTC),
                today=date(2026, 11, 22),
            ),
        )


@pytest.mark.parametrize(
    ("again", "body_again"),
    [
        ("45/QĐ-UBND", "UBND tỉnh Hưng Yên"),  # the same list imported twice
        ("45/qđ-ubnd", "ubnd tỉnh hưng yên"),  # retyped in lower case
        ("45/QD-UBND", "UBND tinh Hung Yen"),  # retyped without accents
        ("45 / QĐ-UBND", "UBND  tỉnh Hưng Yên"),
    ],
)
async def test_reimporting_a_number_with_d_stroke_names_the_row(
    any_engine: AsyncEngine, again: str, body_again: str
) -> None:
    first = await import_rows(any_engine, ROW.format(number="45/QĐ-UBND", body="UBND tỉnh Hưng Yên"))
    assert first.ok and first.imported == 1
    report = await import_rows(any_engine, ROW.format(number=again, body=body_again))
    assert report.problem is None  # not "another import ran at the same moment"
    assert [e.row for e in report.errors] == [2]
    [(msgid, values)] = report.errors[0].reasons
    assert "already recorded" in msgid and values["number"] == again
    async with session_factory(any_engine)() as s:
        assert len(list(await s.scalars(select(Certificate)))) == 1


async def test_the_database_refuses_a_second_row_with_the_same_keys(any_engine: AsyncEngine) -> None:
    def certificate(number: str) -> Certificate:
        return Certificate(
            facility_name="HTX",
            province="Hưng Yên",
            product="Giỏ",
            level="province",
            number=number,
            issue_date=date(2019, 9, 15),
            valid_until=date(2022, 12, 31),
            issuing_body="UBND tỉnh Hưng Yên",
            source="import",
            recorded_by="test",
        )

    async with session_factory(any_engine)() as s, s.begin():
        s.add(certificate("45/QĐ-UBND"))
    with pytest.raises(IntegrityError):
        async with session_factory(any_engine)() as s, s.begin():
            s.add(certificate("45/qđ-ubnd"))


def test_match_keys_fold_case_accents_and_spaces() -> None:
    assert match_key("45/QĐ-UBND") == match_key("45 / qd-ubnd") == "45/qd-ubnd"
    assert match_key("UBND tỉnh Thái Bình") == match_key("ubnd tinh thai binh")
