"""No dead ends (issue 11 #5): "talk to staff" reaches a person or says honestly that nobody is on
duty, with where to reach the centre; national admins hear when a province has no staff; the
bot warns at start-up when no staff exist at all."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations import contacts
from storage import staff
from storage.handover import HandoverCase
from storage.models import Account
from storage.outbox import OutboxMessage
from tests.conftest import Chat, sqlite_url
from tests.test_flows import onboard_english
from tests.test_flows_vi import onboard_vietnamese

PROVINCES = Path(__file__).resolve().parent.parent / "conversations" / "programmes" / "provinces.yaml"


async def _add(
    sessions: async_sessionmaker[AsyncSession], user: str, role: str, province: str | None
) -> None:
    async with sessions() as s, s.begin():
        await staff.add_staff(s, channel="telegram", external_id=user, role=role, province=province)


async def test_nobody_on_duty_is_said_honestly_with_where_to_go_en(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_english(chat)
    await chat.send("talk to staff")
    assert "no staff member of the centre is answering" in chat.text
    assert "Department of Industry and Trade of Hưng Yên" in chat.text
    assert "passed your conversation" not in chat.text  # no promise nobody keeps
    async with sessions() as s:
        account = await s.scalar(select(Account))
        assert account is not None and account.handover_at is None  # the assistant still answers
        assert await s.scalar(select(HandoverCase)) is None


async def test_cho_hoi_reaches_the_provinces_staff_vi(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _add(sessions, "900", "reviewer", "Hưng Yên")
    await onboard_vietnamese(chat)
    await chat.send("cho hỏi")
    async with sessions() as s:
        case = await s.scalar(select(HandoverCase))
        notices = list(await s.scalars(select(OutboxMessage)))
    assert case is not None and case.province == "Hưng Yên"
    assert notices and all("Nobody is set up" not in str(n.payload) for n in notices)


async def test_national_admins_hear_when_a_province_has_no_staff_en(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _add(sessions, "1", "admin", None)
    await onboard_english(chat)
    await chat.send("gặp cán bộ")
    async with sessions() as s:
        notices = list(await s.scalars(select(OutboxMessage)))
    assert len(notices) == 1
    assert "Nobody is set up as staff for {province}" in str(notices[0].payload)


def test_every_province_has_a_contact_entry() -> None:
    names = {p["name"] for p in yaml.safe_load(PROVINCES.read_text(encoding="utf-8"))["provinces"]}
    assert len(names) == 34 and set(contacts.centres()) == names


async def test_start_up_warns_when_no_staff_exist(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from bot.assembly import build_system
    from bot.config import Config

    config = Config(
        database_url=sqlite_url(tmp_path / "bot.db"),
        http_host="127.0.0.1",
        http_port=0,
        files_dir=tmp_path / "files",
    )
    system = await build_system(config)
    with caplog.at_level(logging.WARNING, logger="bot.assembly"):
        await system.start()
    await system.stop()
    assert any("no staff configured" in r.getMessage() for r in caplog.records)


async def test_an_empty_contact_says_it_is_not_listed_and_where_to_look_vi(chat: Chat) -> None:
    await onboard_vietnamese(chat)  # Hưng Yên, whose line in contacts.yaml is still empty
    await chat.send("gặp cán bộ")
    assert "chưa có ở đây" in chat.text and "Sở Công Thương Hưng Yên" in chat.text
    assert "Điện thoại:" not in chat.text  # nothing invented


async def test_a_province_that_fills_its_line_gives_its_phone_address_and_hours_en(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    filled = {
        "Hưng Yên": {
            "centre": "Hưng Yên Industrial Extension Centre",
            "phone": "0221 000 0000",
            "address": "1 Example Street",
            "hours": "Mon–Fri 7:30–17:00",
        }
    }
    monkeypatch.setattr(contacts, "centres", lambda: filled)
    await onboard_english(chat)
    await chat.send("talk to staff")
    assert "Hưng Yên Industrial Extension Centre" in chat.text
    assert "0221 000 0000" in chat.text and "1 Example Street" in chat.text and "Mon–Fri" in chat.text
    assert "not listed" not in chat.text
