"""A large certificate list imported from the console reports its progress from the server: rows
checked slice by slice, then saving begun and done, before the page with the outcome; a bad row
anywhere means every bad row listed with its number and nothing imported.

While the rows are checked the import holds no write lock: an owner's message is answered (and
saved) before the import ends; a certificate recorded meanwhile makes the save list its row and
save nothing; an export being written holds no lock either. Every test here runs on SQLite
and, when reachable, on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from conversations.programmes import load_programmes
from conversations.staff import importer
from handlers.console import workbooks
from handlers.runtime import Pipeline
from storage import certificates as registry
from storage.certificates import Certificate
from storage.db import session_factory
from storage.models import DeadLetter, ProcessedUpdate
from tests.conftest import Chat, Clock
from tests.console_support import console_client, csrf_of, sign_in
from tests.test_staff_support import add_staff


@pytest.fixture
def sessions(any_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(any_engine)


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
    assert steps == [("check", n, rows) for n in slices] + [("save", 0, rows), ("save", rows, rows)]
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


class PausedCheck:
    """Holds the import in the middle of its check (after it looked up the certificates already
    recorded) until `resume()`: what happens meanwhile happens while rows are being checked."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reached = asyncio.Event()
        self._resume = asyncio.Event()
        looked_up = registry.numbers_taken

        async def numbers_taken(session: AsyncSession, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
            taken = await looked_up(session, pairs)
            if len(pairs) > 1:  # the list's lookup, not a single certificate's
                self.reached.set()
                await self._resume.wait()
            return taken

        monkeypatch.setattr(registry, "numbers_taken", numbers_taken)

    def resume(self) -> None:
        self._resume.set()


@pytest.fixture
async def importing(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> AsyncIterator[tuple[Any, str]]:
    """A reviewer signed in a while ago (the import's request restarts the session's idle clock,
    a write), with the console's client and CSRF token."""
    await add_staff(sessions, "hy", "reviewer", "Hưng Yên")
    async with console_client(pipeline, sessions) as client:
        csrf = csrf_of(await sign_in(client, sessions, "hy", clock))
        clock.now += timedelta(minutes=20)
        yield client, csrf


async def test_an_owners_message_is_answered_while_a_large_list_is_checked(
    pipeline: Pipeline,
    sessions: async_sessionmaker[AsyncSession],
    importing: tuple[Any, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, csrf = importing
    rows = 2 * importer.SLICE
    paused = PausedCheck(monkeypatch)
    importing_task = asyncio.create_task(streamed(client, csrf, big_list(rows)))
    await paused.reached.wait()
    owner = Chat(pipeline, user_id="owner-1", channel="telegram")
    await owner.send("/start")  # answered, and its turn saved ...
    assert not importing_task.done()  # ... while the import is still checking
    assert (
        "I agree — continue in English" in owner.buttons
    )  # the consent notice, not the apology after a failure
    async with sessions() as s:
        turns = await s.scalar(select(func.count()).select_from(ProcessedUpdate))
        failures = await s.scalar(select(func.count()).select_from(DeadLetter))
    assert (turns, failures) == (1, 0)
    paused.resume()
    lines = await importing_task
    assert lines[-1]["ok"] is True and await certificates(sessions) == rows


async def test_a_certificate_recorded_between_check_and_save_is_listed_and_nothing_is_saved(
    sessions: async_sessionmaker[AsyncSession],
    importing: tuple[Any, str],
    monkeypatch: pytest.MonkeyPatch,
    clock: Clock,
) -> None:
    client, csrf = importing
    rows = importer.SLICE + 300
    paused = PausedCheck(monkeypatch)
    importing_task = asyncio.create_task(streamed(client, csrf, big_list(rows)))
    await paused.reached.wait()
    async with sessions() as s, s.begin():  # a colleague records row 640's certificate meanwhile
        report = await importer.import_certificates(
            s,
            f"{HEADER}\nCơ sở khác,,Nón lá,tỉnh,640/GCN,01/09/2025,UBND tỉnh Hưng Yên,Hưng Yên\n".encode(),
            "mot-dong.csv",
            importer.ImportBy(
                programme=load_programmes()["selection"],
                provinces={"Hưng Yên"},
                actor="telegram:other",
                now=clock.now,
                today=clock.now.date(),
            ),
        )
    assert report.ok
    paused.resume()
    lines = await importing_task
    outcome = lines[-1]
    assert outcome["ok"] is False and "Nothing was imported." in outcome["html"]
    assert "<td>640</td>" in outcome["html"] and "is already recorded" in outcome["html"]
    assert ("save", rows, rows) not in [(x["phase"], x["done"], x["total"]) for x in lines if "phase" in x]
    assert await certificates(sessions) == 1  # the colleague's, and none of the list


async def test_an_owners_message_is_answered_while_an_export_is_being_written(
    pipeline: Pipeline,
    sessions: async_sessionmaker[AsyncSession],
    importing: tuple[Any, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Any page, not only the import: the sign-in check's write (the idle clock) is committed
    before the page works, so a page that only reads holds no write lock meanwhile."""
    client, _ = importing
    writing, resume = asyncio.Event(), asyncio.Event()
    written = workbooks.workbook

    async def paused(*args: Any) -> bytes:
        writing.set()
        await resume.wait()
        return await written(*args)

    monkeypatch.setattr(workbooks, "workbook", paused)
    export = asyncio.create_task(client.get("/staff/export/certificates.xlsx"))
    await writing.wait()
    owner = Chat(pipeline, user_id="owner-2", channel="telegram")
    await owner.send("/start")
    assert "I agree — continue in English" in owner.buttons and not export.done()
    resume.set()
    assert (await export).status == 200
