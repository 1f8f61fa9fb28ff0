"""Broadcasts as staff and recipients live them: the composer (audience, count, preview, confirm),
delivery to 1,000 people (300 in `make test`, 1,000 with TRIALS_FULL=1) through the real Telegram sender against the fake Bot API server with
429s and blocked users, one progress message edited in place, the report's exact counts, pause and
cancel, and the one-tap opt-out that every later broadcast respects.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot

from conversations.dialogue import Dialogue
from conversations.messages import Incoming, Outgoing, command_of
from conversations.programmes import load_programmes
from handlers.channels.telegram.sender import TelegramSender
from handlers.runtime import Pipeline
from handlers.workers.delivery import DeliveryWorker
from handlers.workers.pacing import ChannelLimits
from handlers.workers.scheduler import OutreachScheduler
from storage import staff
from storage.files import FileStore
from storage.models import Account, Identity
from storage.outreach import Broadcast
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.test_outbox_delivery import START, VirtualTime, add_people

STAFF_ID = "9001"
_updates = itertools.count(1)


@dataclass
class Person:
    """Someone talking to the bot on Telegram through the real pipeline (staff or owner)."""

    pipeline: Pipeline
    user_id: str
    last: list[Outgoing]

    async def send(self, text: str) -> list[Outgoing]:
        command = command_of(text)
        return await self._go(
            text=None if command else text,
            command=command[0] if command else None,
            command_args=command[1] if command else "",
        )

    async def tap(self, payload: str) -> list[Outgoing]:
        offered = [c.payload for m in self.last for c in m.choices]
        assert payload in offered or payload.startswith("go:"), f"{payload} not offered: {offered}"
        return await self._go(choice=payload)

    async def _go(self, **what: Any) -> list[Outgoing]:
        incoming = Incoming(channel="telegram", user_id=self.user_id, update_id=f"t{next(_updates)}", **what)
        self.last = await self.pipeline.handle(incoming)
        return self.last

    @property
    def text(self) -> str:
        return "\n---\n".join(m.text for m in self.last)


@pytest.fixture
def vtime() -> VirtualTime:
    return VirtualTime(START)


@pytest.fixture
def pipe(sessions: async_sessionmaker[AsyncSession], tmp_path: Path, vtime: VirtualTime) -> Pipeline:
    dialogue = Dialogue(programmes=load_programmes(), files=FileStore(tmp_path / "files"), clock=vtime)
    return Pipeline(sessions, dialogue)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def sender(fake: FakeTelegram) -> AsyncIterator[TelegramSender]:
    async with Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url) as bot:
        yield TelegramSender(bot)


async def make_staff(
    sessions: async_sessionmaker[AsyncSession], role: str = "broadcaster", user_id: str = STAFF_ID
) -> None:
    async with sessions() as session, session.begin():
        await staff.add_staff(
            session, channel="telegram", external_id=user_id, role=role, province="Hưng Yên"
        )


async def compose(person: Person, text: str) -> None:
    """The whole province, any product group and level: the composer's answers up to the preview."""
    await person.send("/broadcast")
    assert "Chỉ gửi cho một xã" in person.text
    await person.tap("sys:skip")
    await person.tap("bc_group:any")
    await person.tap("bc_level:any")
    await person.send(text)


def worker(
    sessions: async_sessionmaker[AsyncSession], sender: TelegramSender, vtime: VirtualTime
) -> DeliveryWorker:
    return DeliveryWorker(
        sessions, {"telegram": sender}, clock=vtime,
        limits={"telegram": ChannelLimits(per_second=30.0, chat_interval=1.0)},
    )  # fmt: skip


async def opt_out(sessions: async_sessionmaker[AsyncSession], external_ids: list[str]) -> None:
    async with sessions() as session, session.begin():
        accounts = select(Identity.account_id).where(Identity.external_id.in_(external_ids))
        await session.execute(
            update(Account).where(Account.id.in_(accounts)).values(announcements_opt_in=False)
        )


ANNOUNCEMENT = "Trung tâm Khuyến công tổ chức tập huấn thiết kế bao bì ngày 05/12. Đăng ký tại văn phòng xã."


# The long trial: 1,000 recipients with TRIALS_FULL=1 (`make trials`); `make test` keeps a sample of
# 300, enough for blocked users and 429s inside a claim and for several claims of 60.
PEOPLE = 1000 if os.environ.get("TRIALS_FULL") == "1" else 300


@pytest.mark.slow
@pytest.mark.trial
async def test_broadcast_to_1000_people_with_429s_and_blocked_users_reports_exact_counts(
    sessions: async_sessionmaker[AsyncSession],
    pipe: Pipeline,
    fake: FakeTelegram,
    sender: TelegramSender,
    vtime: VirtualTime,
) -> None:
    await make_staff(sessions)
    await add_people(sessions, PEOPLE, first_id=100_001)
    audience = PEOPLE - 25  # the opted-out below get nothing
    await add_people(sessions, 30, first_id=300_001, province="Hà Nội")  # not this broadcaster's province
    await opt_out(sessions, [str(100_001 + i) for i in range(25)])
    for i in range(20):
        fake.block(100_101 + i)
    for i in range(5):
        fake.fail_next("sendMessage", chat_id=100_201 + i, code=429, retry_after=5)
    staffer = Person(pipe, STAFF_ID, [])
    await compose(staffer, ANNOUNCEMENT)
    # The preview is the message exactly as a facility will get it: text and opt-out button.
    preview = staffer.last[1]
    assert preview.text == ANNOUNCEMENT
    assert [c.label for c in preview.choices] == ["🔕 Tắt nhận thông báo"]
    assert f"Tin nhắn sẽ gửi tới {audience} người (Telegram {audience}). Gửi ngay?" in staffer.text
    await staffer.tap("bc_confirm:send")
    assert f"Thông báo #1 đã bắt đầu gửi tới {audience} người" in staffer.text

    scheduler = OutreachScheduler(sessions, {"telegram": sender}, clock=vtime)
    await scheduler.show_progress()
    progress = fake.last_message(int(STAFF_ID))
    assert (progress.text or "").splitlines()[:3] == [
        "📣 Thông báo #1: đang gửi",
        f"Đã gửi: 0/{audience}",
        f"Còn lại: {audience}",
    ]
    assert progress.labels == ["⏸ Tạm dừng", "✖ Hủy"]

    delivery = worker(sessions, sender, vtime)
    await delivery.drain(max_batches=2)  # two claims of 60: the first 120 recipients, 20 of them blocked
    vtime.advance(seconds=5)
    await scheduler.show_progress()
    assert fake.last_message(int(STAFF_ID)) is progress and progress.edits == 1  # the same message, edited
    assert (progress.text or "").splitlines()[1:4] == [
        f"Đã gửi: 100/{audience}",
        f"Còn lại: {audience - 120}",
        "Đã chặn bot: 20 · Lỗi: 0",
    ]
    assert (progress.text or "").splitlines()[4].startswith("Tốc độ: ")

    await delivery.drain()
    vtime.advance(seconds=5)
    await scheduler.show_progress()
    report = fake.last_message(int(STAFF_ID))
    assert report is not progress
    assert (report.text or "").splitlines()[1:] == [
        f"Người nhận: {audience}",
        f"Đã nhận: {audience - 20}",
        "Đã chặn bot hoặc đóng tài khoản: 20",
        "Không gửi được: 0",
    ]
    assert (progress.text or "").startswith("📣 Thông báo #1: đã xong") and progress.labels == []
    assert delivery.stats["rate_limited"] == 5
    # Each who can be reached got it exactly once; nobody outside the audience got anything.
    got = {chat: fake.sent_texts(chat) for chat in fake.messages if chat != int(STAFF_ID)}
    assert len(got) == audience - 20 and all(texts == [ANNOUNCEMENT] for texts in got.values())
    assert not any(300_001 <= chat < 300_031 or 100_001 <= chat < 100_026 for chat in got)
    async with sessions() as session:
        blocked = (await session.scalars(select(Identity).where(Identity.reachable.is_(False)))).all()
        b = await session.get(Broadcast, 1)
    assert len(blocked) == 20 and {i.unreachable_reason for i in blocked} == {
        "Forbidden: bot was blocked by the user"
    }
    assert b is not None and b.status == "done" and b.report_sent


async def test_one_tap_opt_out_is_respected_by_every_later_broadcast(
    sessions: async_sessionmaker[AsyncSession],
    pipe: Pipeline,
    fake: FakeTelegram,
    sender: TelegramSender,
    vtime: VirtualTime,
) -> None:
    await make_staff(sessions)
    await add_people(sessions, 3, first_id=100_001)
    staffer = Person(pipe, STAFF_ID, [])
    await compose(staffer, "Thông báo thứ nhất về hội chợ")
    await staffer.tap("bc_confirm:send")
    await worker(sessions, sender, vtime).drain()
    owner = Person(pipe, "100002", [])
    # The owner taps the button under the announcement.
    announcement = fake.last_message(100_002)
    assert announcement.buttons[-1]["callback_data"] == "go:optout"
    await owner.tap("go:optout")
    assert "từ nay anh/chị sẽ không nhận thông báo và tin nhắc hẹn nữa" in owner.text
    await compose(staffer, "Thông báo thứ hai về tập huấn")
    assert "Tin nhắn sẽ gửi tới 2 người (Telegram 2). Gửi ngay?" in staffer.text
    await staffer.tap("bc_confirm:send")
    await worker(sessions, sender, vtime).drain()
    assert fake.sent_texts(100_002) == ["Thông báo thứ nhất về hội chợ"]
    assert fake.sent_texts(100_001)[-1] == "Thông báo thứ hai về tập huấn"


async def test_staff_pause_resume_and_cancel_a_running_broadcast(
    sessions: async_sessionmaker[AsyncSession],
    pipe: Pipeline,
    fake: FakeTelegram,
    sender: TelegramSender,
    vtime: VirtualTime,
) -> None:
    await make_staff(sessions)
    await add_people(sessions, 200, first_id=100_001)
    staffer = Person(pipe, STAFF_ID, [])
    await compose(staffer, "Hội chợ hàng công nghiệp nông thôn tiêu biểu mở đăng ký")
    await staffer.tap("bc_confirm:send")
    scheduler = OutreachScheduler(sessions, {"telegram": sender}, clock=vtime)
    await scheduler.show_progress()
    await staffer.tap("go:broadcast:pause:1")
    assert "Đã tạm dừng thông báo #1; 200 tin đang chờ." in staffer.text
    await worker(sessions, sender, vtime).drain()
    assert len(fake.messages) == 1  # only the staff member's progress message
    vtime.advance(seconds=5)
    await scheduler.show_progress()
    assert (fake.last_message(int(STAFF_ID)).text or "").startswith("📣 Thông báo #1: tạm dừng")
    assert fake.last_message(int(STAFF_ID)).labels == ["▶️ Tiếp tục", "✖ Hủy"]
    await staffer.tap("go:broadcast:resume:1")
    delivery = worker(sessions, sender, vtime)
    await delivery.drain(max_batches=1)  # one claim: 60 go out
    await staffer.tap("go:broadcast:cancel:1")
    assert "Hủy thông báo #1?" in staffer.text
    await staffer.tap("go:broadcast:stop:1")
    assert "140 tin sẽ không được gửi" in staffer.text
    await delivery.drain()
    assert len(fake.messages) - 1 == 60
    vtime.advance(seconds=5)
    await scheduler.show_progress()
    report = (fake.last_message(int(STAFF_ID)).text or "").splitlines()
    assert report[0] == "✖ Thông báo #1 đã bị hủy. Kết quả:"
    assert report[1:] == [
        "Người nhận: 200",
        "Đã nhận: 60",
        "Đã chặn bot hoặc đóng tài khoản: 0",
        "Không gửi được: 0",
        "Không gửi (đã hủy): 140",
    ]


async def test_facility_owner_gets_no_hint_of_staff_commands(pipe: Pipeline) -> None:
    owner = Person(pipe, "555", [])
    await owner.send("/broadcast")
    assert "Tôi chưa hiểu lệnh này" in owner.text or "không hiểu" in owner.text.lower()
    assert "thông báo #" not in owner.text.lower()
    await owner.send("/reminders")
    assert "Nhắc hẹn" not in owner.text


async def test_broadcaster_reaches_only_their_province_and_filters_combine(
    sessions: async_sessionmaker[AsyncSession], pipe: Pipeline
) -> None:
    await make_staff(sessions)
    await add_people(sessions, 4, first_id=100_001)
    await add_people(sessions, 3, first_id=200_001, province="Hà Nội")
    async with sessions() as session, session.begin():
        rows = await session.scalars(select(Identity).where(Identity.external_id.in_(["100001", "100002"])))
        ids = [i.account_id for i in rows]
        from storage.models import Facility

        await session.execute(
            update(Facility).where(Facility.account_id == ids[0]).values(commune="Xã Tân Lập")
        )
    staffer = Person(pipe, STAFF_ID, [])
    await staffer.send("/broadcast")
    await staffer.send("tan lap")  # accents or not
    await staffer.tap("bc_group:any")
    await staffer.tap("bc_level:any")
    await staffer.send("Mời các cơ sở xã Tân Lập dự họp")
    assert "Tin nhắn sẽ gửi tới 1 người (Telegram 1)." in staffer.text
    await staffer.tap("bc_confirm:audience")
    await staffer.tap("sys:skip")
    await staffer.tap("bc_group:food")  # nobody has a food dossier
    await staffer.tap("bc_level:any")
    assert "Không có ai trong nhóm người nhận này" in staffer.text
    assert "bc_confirm:send" not in [c.payload for m in staffer.last for c in m.choices]
