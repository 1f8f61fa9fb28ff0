"""/reminders shows only what will really be sent, and when; nothing is cut silently; a
certificate gets no two reminders close together; a broadcast stops while its cancel question is
open (issue 9 #10)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.dialogue import Dialogue
from conversations.programmes import load_programmes
from handlers.channels.telegram.sender import TelegramSender
from handlers.runtime import Pipeline
from storage.files import FileStore
from tests.fake_telegram import FakeTelegram
from tests.test_broadcasts import (  # noqa: F401  (fixtures)
    STAFF_ID,
    Person,
    compose,
    fake,
    make_staff,
    pipe,
    sender,
    vtime,
    worker,
)
from tests.test_outbox_delivery import VirtualTime, add_people
from tests.test_reminders import add_certificate, add_draft, hanoi, queued, sweep_at


async def reminders_at(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, day: date, hour: int
) -> str:
    await make_staff(sessions, role="reviewer")
    clock = VirtualTime(hanoi(day, hour))
    dialogue = Dialogue(programmes=load_programmes(), files=FileStore(tmp_path / "files"), clock=clock)
    staffer = Person(Pipeline(sessions, dialogue), "9001", [])
    await staffer.send("/reminders")
    return staffer.text


async def test_a_certificate_expired_years_ago_is_not_listed(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await add_people(sessions, 2, first_id=1)
    await add_certificate(sessions, "1", date(2022, 12, 31), number="1/QĐ-UBND")
    await add_certificate(sessions, "2", date(2027, 4, 30), number="2/QĐ-UBND")
    await sweep_at(sessions, hanoi(date(2026, 12, 1), 6))  # plans both, fires nothing (night)
    text = await reminders_at(sessions, tmp_path, date(2026, 12, 1), 10)
    listed = [line for line in text.splitlines() if "giấy chứng nhận sắp hết hạn (" in line]
    assert listed == ["• 08:00 30/01/2027 – giấy chứng nhận sắp hết hạn (trước 90 ngày): Giỏ mây – Cơ sở 2"]


async def test_a_reminder_due_at_night_is_listed_when_the_window_opens(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await add_people(sessions, 1, first_id=1)
    await add_draft(sessions, "1", last_activity=hanoi(date(2026, 11, 28), 2))  # due 02:00 on 01/12
    await sweep_at(sessions, hanoi(date(2026, 11, 28), 2, 5))
    text = await reminders_at(sessions, tmp_path, date(2026, 12, 1), 5)
    drafts = [line for line in text.splitlines() if "hồ sơ làm dở (" in line]
    assert len(drafts) == 1 and drafts[0].startswith("• 07:00 01/12/2026 – ")
    assert "Sắp gửi (chỉ gửi từ 07:00 đến 21:00):" in text


async def test_a_long_list_says_how_many_more_there_are(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await add_people(sessions, 20, first_id=1)
    for n in range(1, 21):
        await add_draft(sessions, str(n), last_activity=hanoi(date(2026, 12, 1), 9))
    await sweep_at(sessions, hanoi(date(2026, 12, 1), 9, 5))
    text = await reminders_at(sessions, tmp_path, date(2026, 12, 1), 10)
    assert len([line for line in text.splitlines() if "hồ sơ làm dở (" in line]) == 15
    assert "… và 5 tin nhắc khác sau các tin trên." in text


async def test_a_certificate_close_to_expiry_gets_one_reminder_not_two_close_together(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await add_people(sessions, 1, first_id=1)
    cert = await add_certificate(sessions, "1", date(2027, 1, 20), number="3/QĐ-UBND")  # 50 days left
    await sweep_at(sessions, hanoi(date(2026, 12, 1), 6))
    text = await reminders_at(sessions, tmp_path, date(2026, 12, 1), 10)
    listed = [line for line in text.splitlines() if "giấy chứng nhận sắp hết hạn (" in line]
    assert listed == ["• 08:00 21/12/2026 – giấy chứng nhận sắp hết hạn (trước 30 ngày): Giỏ mây – Cơ sở 1"]
    for day in (date(2026, 12, 1), date(2026, 12, 3), date(2026, 12, 21), date(2027, 1, 5)):
        await sweep_at(sessions, hanoi(day, 8))
    assert await queued(sessions, "reminder:cert") == [("1", f"reminder:cert:{cert}:30d:2027-01-20")]


async def test_cancelling_a_broadcast_stops_sending_while_the_question_is_open(
    sessions: async_sessionmaker[AsyncSession],
    pipe: Pipeline,  # noqa: F811
    fake: FakeTelegram,  # noqa: F811
    sender: TelegramSender,  # noqa: F811
    vtime: VirtualTime,  # noqa: F811
) -> None:
    await make_staff(sessions)
    await add_people(sessions, 50, first_id=100_001)
    staffer = Person(pipe, STAFF_ID, [])
    await compose(staffer, "Thông báo tập huấn")
    await staffer.tap("bc_confirm:send")
    await staffer.tap("go:broadcast:cancel:1")
    assert "Hủy thông báo #1?" in staffer.text
    await worker(sessions, sender, vtime).drain()
    assert sum(len(m) for m in fake.messages.values()) == 0  # nothing went out while it was asked
    await staffer.tap("go:broadcast:resume:1")  # "Keep sending"
    await worker(sessions, sender, vtime).drain()
    assert sum(len(m) for m in fake.messages.values()) == 50
