"""Trade fairs end to end through the real pipeline: staff create a fair, owners see it with /fairs,
register and withdraw before the deadline, staff export the registrations as a spreadsheet, move
the deadline (reminders follow), and announce the fair by broadcast with a register button.
"""

from __future__ import annotations

import asyncio
import io
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.dialogue import Dialogue
from conversations.outreach import reminders
from conversations.programmes import load_programmes
from handlers.runtime import Pipeline
from storage.files import FileStore
from storage.outbox import OutboxMessage
from storage.outreach import Fair, FairRegistration
from tests.test_broadcasts import Person, make_staff
from tests.test_outbox_delivery import VirtualTime, add_people
from tests.test_reminders import hanoi, queued


@pytest.fixture
def clock() -> VirtualTime:  # type: ignore[override]
    return VirtualTime(hanoi(date(2026, 11, 23), 9))


@pytest.fixture
def pipe(sessions: async_sessionmaker[AsyncSession], tmp_path: Path, clock: VirtualTime) -> Pipeline:
    return Pipeline(
        sessions, Dialogue(programmes=load_programmes(), files=FileStore(tmp_path / "files"), clock=clock)
    )


async def create_fair(staffer: Person) -> None:
    await staffer.send("/fairs")
    assert "Chưa có hội chợ nào." in staffer.text
    await staffer.tap("go:fairs:new")
    await staffer.send("Hội chợ hàng CNNT tiêu biểu khu vực phía Bắc 2026")
    await staffer.send("15/12/2026")
    await staffer.send("18/12/2026")
    await staffer.send("Cung Văn hóa tỉnh Hưng Yên")
    await staffer.send("05/12/2026")
    await staffer.send("40")
    await staffer.send("Ưu tiên sản phẩm đã được chứng nhận")
    assert "Hội chợ mới, mời kiểm tra lại:" in staffer.text
    await staffer.tap("fn_summary:confirm")
    assert "Đã tạo hội chợ. Nhận đăng ký đến hết ngày 05/12/2026." in staffer.text


async def register(owner: Person) -> None:
    await owner.send("/fairs")
    assert "Hội chợ hàng CNNT tiêu biểu khu vực phía Bắc 2026" in owner.text
    assert "⏳ Hạn đăng ký: 05/12/2026." in owner.text
    await owner.tap("go:fairs:reg:1")
    await owner.send("Giỏ mây, khay tre, đèn tre")
    await owner.tap("fr_group:handicraft")
    await owner.tap("fr_level:province")
    await owner.send("125/QĐ-UBND")
    await owner.send("2")
    await owner.send("Cần ổ điện và kệ trưng bày")
    # Contact and phone come from the facility profile; the summary shows them, to change if needed.
    assert "Thông tin đăng ký của anh/chị, mời anh/chị kiểm tra lại." in owner.text
    assert "0912345678" in owner.text
    await owner.tap("fr_summary:confirm")


async def test_staff_create_a_fair_owners_register_and_staff_export_the_registrations(
    sessions: async_sessionmaker[AsyncSession], pipe: Pipeline, tmp_path: Path
) -> None:
    await make_staff(sessions)
    await add_people(sessions, 2, first_id=1)
    staffer = Person(pipe, "9001", [])
    await create_fair(staffer)
    owner = Person(pipe, "1", [])
    await register(owner)
    assert "✅ Đã đăng ký tham gia “Hội chợ hàng CNNT tiêu biểu khu vực phía Bắc 2026”." in owner.text
    await owner.send("/fairs")
    assert "✅ Anh/chị đã đăng ký (2 gian hàng)." in owner.text

    await staffer.tap("go:fairs:admin:1")
    assert "Đã đăng ký: 1 · chưa hoàn tất: 0 · đã rút: 0" in staffer.text
    await staffer.tap("go:fairs:xlsx:1")
    document = staffer.last[0].document
    assert document is not None and document.filename.endswith(".xlsx")
    data = await asyncio.to_thread(Path(document.path).read_bytes)
    sheet = load_workbook(io.BytesIO(data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("STT", "Cơ sở", "Tỉnh, thành phố")
    assert rows[1][1] == "Cơ sở 1" and rows[1][5] == "Giỏ mây, khay tre, đèn tre"
    assert rows[1][7:13] == (
        "Cấp tỉnh",
        "125/QĐ-UBND",
        2,
        "Cần ổ điện và kệ trưng bày",
        "Chị Lan",
        "0912345678",
    )
    assert len(rows) == 2


async def test_owner_withdraws_before_the_deadline_and_cannot_register_after_it(
    sessions: async_sessionmaker[AsyncSession], pipe: Pipeline, clock: VirtualTime
) -> None:
    await make_staff(sessions)
    await add_people(sessions, 1, first_id=1)
    await create_fair(Person(pipe, "9001", []))
    owner = Person(pipe, "1", [])
    await register(owner)
    await owner.tap("go:fairs:withdraw:1")
    assert "Anh/chị muốn rút đăng ký tham gia" in owner.text
    await owner.tap("go:fairs:unreg:1")
    assert "Đã rút đăng ký tham gia" in owner.text
    async with sessions() as session:
        registration = await session.scalar(select(FairRegistration))
    assert registration is not None and registration.status == "withdrawn"
    clock.start = hanoi(date(2026, 12, 6), 9)
    await owner.send("/fairs")
    assert "Hiện chưa có hội chợ nào" in owner.text or "chưa có hội chợ" in owner.text.lower()
    await owner.tap("go:fairs:reg:1")
    assert "Hội chợ này đã hết hạn đăng ký ngày 05/12/2026." in owner.text


async def test_unfinished_registration_is_reminded_and_a_moved_deadline_moves_the_reminder(
    sessions: async_sessionmaker[AsyncSession], pipe: Pipeline, clock: VirtualTime
) -> None:
    await make_staff(sessions)
    await add_people(sessions, 2, first_id=1)
    staffer = Person(pipe, "9001", [])
    await create_fair(staffer)
    await register(Person(pipe, "1", []))
    stopped = Person(pipe, "2", [])
    await stopped.send("/fairs")
    await stopped.tap("go:fairs:reg:1")
    await stopped.send("Nón lá")
    await stopped.send("/menu")  # leaves it unfinished
    settings = reminders.ReminderSettings()
    await reminders.sweep(sessions, hanoi(date(2026, 11, 28), 8), settings)
    assert await queued(sessions, "reminder:fair") == [("2", "reminder:fair:1:7d:2026-12-05")]
    # Staff move the deadline: the reminders follow the new date, so the owner also learns of it.
    await staffer.tap("go:fairs:deadline:1")
    await staffer.send("10/12/2026")
    assert "Đã đổi hạn thành ngày 10/12/2026; tin nhắc hẹn được tính lại theo hạn mới." in staffer.text
    await reminders.sweep(sessions, hanoi(date(2026, 12, 2), 20), settings)
    assert len(await queued(sessions, "reminder:fair")) == 1  # the old 1-day reminder (4 December) is gone
    await reminders.sweep(sessions, hanoi(date(2026, 12, 3), 8), settings)
    await reminders.sweep(sessions, hanoi(date(2026, 12, 9), 8), settings)
    assert [p for _, p in await queued(sessions, "reminder:fair")] == [
        "reminder:fair:1:7d:2026-12-05",
        "reminder:fair:1:7d:2026-12-10",
        "reminder:fair:1:1d:2026-12-10",
    ]


async def test_staff_announce_a_fair_by_broadcast_with_a_register_button(
    sessions: async_sessionmaker[AsyncSession], pipe: Pipeline
) -> None:
    await make_staff(sessions)
    await add_people(sessions, 3, first_id=1)
    staffer = Person(pipe, "9001", [])
    await create_fair(staffer)
    await staffer.tap("go:broadcast:fair:1")
    await staffer.tap("sys:skip")
    await staffer.tap("bc_group:any")
    await staffer.tap("bc_level:any")
    await staffer.tap("bc_fair:any")
    assert "Nội dung gợi ý:" in staffer.text and "🏪 Hội chợ: Hội chợ hàng CNNT" in staffer.text
    await staffer.tap("bc_use:use")
    preview = staffer.last[1]
    assert preview.text.startswith("🏪 Hội chợ: Hội chợ hàng CNNT tiêu biểu khu vực phía Bắc 2026\n")
    assert "Ưu tiên sản phẩm đã được chứng nhận" in preview.text
    assert [c.payload for c in preview.choices] == ["go:fairs:reg:1", "go:optout"]
    assert "Tin nhắn sẽ gửi tới 3 người (Telegram 3). Gửi ngay?" in staffer.text
    await staffer.tap("bc_confirm:send")
    async with sessions() as session:
        rows = (await session.scalars(select(OutboxMessage))).all()
        fair = await session.get(Fair, 1)
    assert len(rows) == 3 and all(r.payload["choices"][0]["payload"] == "go:fairs:reg:1" for r in rows)
    assert fair is not None and fair.funded_booths == 40
