"""A large certificate list imported from the console reports its progress from the server: rows
checked, then rows saved, slice by slice, before the page with the outcome; a bad row anywhere
means every bad row listed with its number and nothing imported."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.staff import importer
from handlers.runtime import Pipeline
from storage.certificates import Certificate
from tests.conftest import Clock
from tests.console_support import console_client, csrf_of, sign_in
from tests.test_staff_support import add_staff

HEADER = "Tên cơ sở,Mã số thuế,Sản phẩm,Cấp,Số giấy chứng nhận,Ngày cấp,Cơ quan cấp,Tỉnh"
STREAM = {"Accept": "application/x-ndjson"}


def big_list(rows: int, bad: tuple[int, ...] = ()) -> str:
    """`rows` certificates; the rows numbered in `bad` (as the spreadsheet numbers them) with an
    impossible issue date."""
    lines = [HEADER]
    for n in range(2, rows + 2):
        day = "31/02/2025" if n in bad else "15/09/2025"
        lines.append(f"Cơ sở số {n},,Sản phẩm {n},tỉnh,{n}/GCN,{day},UBND tỉnh Hưng Yên,Hưng Yên")
    return "\n".join(lines) + "\n"


def upload(csrf: str, text: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("csrf", csrf)
    form.add_field("file", text.encode(), filename="so-chung-nhan.csv", content_type="text/csv")
    return form


async def streamed(client: Any, csrf: str, text: str) -> list[dict[str, Any]]:
    resp = await client.post("/staff/certificates/import", data=upload(csrf, text), headers=STREAM)
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in (await resp.text()).splitlines()]


async def certificates(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(Certificate)) or 0)


async def test_a_large_list_reports_rows_checked_then_saved_and_ends_with_the_outcome(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "hy", "reviewer", "Hưng Yên")
    rows = 2 * importer.SLICE + 200
    async with console_client(pipeline, sessions) as client:
        csrf = csrf_of(await sign_in(client, sessions, "hy", clock))
        lines = await streamed(client, csrf, big_list(rows))
    steps = [(line["phase"], line["done"], line["total"]) for line in lines if "phase" in line]
    slices = [0, importer.SLICE, 2 * importer.SLICE, rows]
    assert steps == [("check", n, rows) for n in slices] + [("save", n, rows) for n in slices]
    assert lines[-1]["ok"] is True and f"Imported {rows:,} certificates".replace(",", "") in lines[-1]["html"]
    assert await certificates(sessions) == rows  # committed before the page said so


async def test_bad_rows_anywhere_in_a_large_list_are_all_listed_and_nothing_is_saved(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "hy", "reviewer", "Hưng Yên")
    rows = importer.SLICE + 300
    async with console_client(pipeline, sessions) as client:
        csrf = csrf_of(await sign_in(client, sessions, "hy", clock))
        lines = await streamed(client, csrf, big_list(rows, bad=(3, 640, rows + 1)))
        assert {line["phase"] for line in lines if "phase" in line} == {"check"}  # never began saving
        outcome = lines[-1]
        assert outcome["ok"] is False and "Nothing was imported." in outcome["html"]
        for row in (3, 640, rows + 1):
            assert f"<td>{row}</td>" in outcome["html"]
        assert await certificates(sessions) == 0
        # the same file without the script: the page, with the same rows listed
        plain = await client.post("/staff/certificates/import", data=upload(csrf, big_list(rows, bad=(640,))))
        assert plain.status == 422 and "<td>640</td>" in await plain.text()
    assert await certificates(sessions) == 0
