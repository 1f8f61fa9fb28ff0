"""Reminders: each kind fires once, at the right local time, to the right people; a moved date is
re-planned; what is no longer true is skipped; after an outage the sweep catches up without
sending anything twice. Time is a controllable clock; messages are read as the owner gets them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.dialogue import Dialogue
from conversations.outreach import reminders
from conversations.programmes import load_programmes
from handlers.runtime import Pipeline
from handlers.workers.delivery import DeliveryWorker
from handlers.workers.pacing import ChannelLimits
from storage.certificates import Certificate
from storage.files import FileStore
from storage.models import Account, Application, Facility, Identity
from storage.outbox import OutboxMessage
from storage.outreach import ReminderPlan, Round
from tests.test_broadcasts import Person, make_staff
from tests.test_outbox_delivery import MemorySender, VirtualTime, add_people

SETTINGS = reminders.ReminderSettings()


def hanoi(day: date, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Hà Nội, in UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - timedelta(hours=7)


async def facility_of(sessions: async_sessionmaker[AsyncSession], external_id: str) -> Facility:
    async with sessions() as session:
        facility = await session.scalar(
            select(Facility)
            .join(Identity, Identity.account_id == Facility.account_id)
            .where(Identity.external_id == external_id)
        )
        assert facility is not None
        return facility


async def add_draft(
    sessions: async_sessionmaker[AsyncSession],
    external_id: str,
    *,
    last_activity: datetime,
    level: str = "province",
    status: str = "draft",
    name: str = "Giỏ mây đan Phú Vinh",
) -> int:
    facility = await facility_of(sessions, external_id)
    async with sessions() as session, session.begin():
        app = Application(
            facility_id=facility.id, programme="selection", status=status,
            answers={"level": level, "product_name": name}, last_activity_at=last_activity, created_at=last_activity,
        )  # fmt: skip
        session.add(app)
        await session.flush()
        return app.id


async def queued(sessions: async_sessionmaker[AsyncSession], prefix: str) -> list[tuple[str, str]]:
    """(recipient, purpose) of the outbox rows whose purpose starts with `prefix`."""
    async with sessions() as session:
        rows = await session.execute(
            select(Identity.external_id, OutboxMessage.purpose)
            .join(Identity, Identity.id == OutboxMessage.identity_id)
            .where(OutboxMessage.purpose.startswith(prefix))
            .order_by(OutboxMessage.id)
        )
        return [(a, b) for a, b in rows.all()]


async def delivered(sessions: async_sessionmaker[AsyncSession], clock: VirtualTime) -> MemorySender:
    sender = MemorySender(clock)
    worker = DeliveryWorker(
        sessions, {"telegram": sender}, clock=clock, limits={"telegram": ChannelLimits(100.0, 0.0)}
    )
    await worker.drain(follow=False)
    return sender


async def sweep_at(sessions: async_sessionmaker[AsyncSession], moment: datetime) -> reminders.SweepResult:
    return await reminders.sweep(sessions, moment, SETTINGS)


async def add_round(sessions: async_sessionmaker[AsyncSession], deadline: date, **fields: object) -> Round:
    async with sessions() as session, session.begin():
        values = {
            "programme": "selection",
            "level": "province",
            "province": "Hưng Yên",
            "name": "Bình chọn cấp tỉnh 2026",
        }
        rnd = Round(**{**values, **fields}, deadline=deadline)
        session.add(rnd)
        await session.flush()
        await reminders.plan_round(session, rnd, SETTINGS)
        return rnd


DEADLINE = date(2026, 12, 10)


async def test_round_deadline_reminds_unsent_dossiers_7_days_and_1_day_before_at_8(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_people(sessions, 5, first_id=1)
    await add_people(sessions, 1, first_id=9, province="Hà Nội")
    early = hanoi(date(2026, 12, 2), 9)  # worked on yesterday: no "unfinished dossier" nudge yet
    draft = await add_draft(sessions, "1", last_activity=early)
    await add_draft(sessions, "2", last_activity=early, status="submitted")
    await add_draft(sessions, "3", last_activity=early, level="commune")
    await add_draft(sessions, "4", last_activity=early)
    await add_draft(sessions, "9", last_activity=early)
    async with sessions() as session, session.begin():
        await session.execute(
            update(Account)
            .where(Account.id == (await facility_of(sessions, "4")).account_id)
            .values(announcements_opt_in=False)
        )
    rnd = await add_round(sessions, DEADLINE)

    assert (await sweep_at(sessions, hanoi(date(2026, 12, 3), 7, 59))).by_kind["round"] == 0
    first = await sweep_at(sessions, hanoi(date(2026, 12, 3), 8, 0))
    again = await sweep_at(sessions, hanoi(date(2026, 12, 3), 8, 5))
    assert (first.by_kind["round"], again.by_kind["round"]) == (1, 0)
    assert await queued(sessions, "reminder:round") == [("1", f"reminder:round:{rnd.id}:7d:2026-12-10")]

    clock = VirtualTime(hanoi(date(2026, 12, 3), 8, 0))
    sent = await delivered(sessions, clock)
    assert sent.to("1") == [
        "⏰ Nhắc hẹn: Bình chọn cấp tỉnh 2026 hết hạn nhận hồ sơ ngày 10/12/2026 (còn 7 ngày). Hồ sơ “Giỏ mây "
        "đan Phú Vinh” của anh/chị chưa được gửi.\n\nAnh/chị hoàn thiện sớm giúp nhé: quá hạn, Trung tâm không "
        "thể nhận hồ sơ."
    ]
    await sweep_at(sessions, hanoi(date(2026, 12, 9), 8, 0))
    await sweep_at(sessions, hanoi(date(2026, 12, 9), 20, 0))
    assert [p for _, p in await queued(sessions, "reminder:round")] == [
        f"reminder:round:{rnd.id}:7d:2026-12-10",
        f"reminder:round:{rnd.id}:1d:2026-12-10",
    ]
    clock.start = hanoi(date(2026, 12, 9), 8, 0)
    sent = await delivered(sessions, clock)
    assert next(t for t in sent.to("1") if t.startswith("⏰")).split(". ")[0].endswith("(ngày mai)")
    async with sessions() as session:
        message = await session.scalar(select(OutboxMessage).where(OutboxMessage.purpose.contains(":1d:")))
    assert message is not None and message.payload["choices"][0]["payload"] == f"go:apply:{draft}"


async def test_a_moved_deadline_is_re_planned(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await add_people(sessions, 1, first_id=1)
    await add_draft(sessions, "1", last_activity=hanoi(date(2026, 12, 1), 9))
    rnd = await add_round(sessions, DEADLINE)
    await make_staff(sessions)
    clock = VirtualTime(hanoi(date(2026, 11, 30), 10))
    dialogue = Dialogue(programmes=load_programmes(), files=FileStore(tmp_path / "files"), clock=clock)
    staffer = Person(Pipeline(sessions, dialogue), "9001", [])
    await staffer.send(f"/rounds deadline:{rnd.id}")
    await staffer.send("20/12/2026")
    assert "Đã đổi hạn thành ngày 20/12/2026" in staffer.text
    assert (await sweep_at(sessions, hanoi(date(2026, 12, 3), 8))).by_kind["round"] == 0
    assert (await sweep_at(sessions, hanoi(date(2026, 12, 13), 8))).by_kind["round"] == 1
    assert [p for _, p in await queued(sessions, "reminder:round")] == [
        f"reminder:round:{rnd.id}:7d:2026-12-20"
    ]

    # A date changed without re-planning (an import, a fix in the database) is noticed when due.
    async with sessions() as session, session.begin():
        await session.execute(update(Round).where(Round.id == rnd.id).values(deadline=date(2026, 12, 30)))
    result = await sweep_at(sessions, hanoi(date(2026, 12, 19), 8))
    assert (result.by_kind["round"], result.replanned) == (0, 1)
    assert (await sweep_at(sessions, hanoi(date(2026, 12, 29), 8))).by_kind["round"] == 1
    assert [p for _, p in await queued(sessions, "reminder:round")][
        -1
    ] == f"reminder:round:{rnd.id}:1d:2026-12-30"


async def test_catch_up_after_an_outage_sends_what_is_still_useful_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_people(sessions, 1, first_id=1)
    await add_draft(sessions, "1", last_activity=hanoi(date(2026, 12, 1), 9))
    rnd = await add_round(sessions, DEADLINE)
    # Down from 1 to 8 December: on restart the 7-day reminder is late but still useful.
    result = await sweep_at(sessions, hanoi(date(2026, 12, 8), 9, 30))
    assert (result.by_kind["round"], result.skipped) == (1, 0)
    clock = VirtualTime(hanoi(date(2026, 12, 8), 9, 30))
    assert "(còn 2 ngày)" in (await delivered(sessions, clock)).to("1")[0]
    # Down again until the 9th at 10:00: the 1-day one goes, once, however often the sweep runs.
    for hour in (10, 11, 12):
        await sweep_at(sessions, hanoi(date(2026, 12, 9), hour))
    assert [p for _, p in await queued(sessions, "reminder:round")] == [
        f"reminder:round:{rnd.id}:7d:2026-12-10",
        f"reminder:round:{rnd.id}:1d:2026-12-10",
    ]


async def test_outage_past_both_dates_sends_only_the_later_reminder(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_people(sessions, 1, first_id=1)
    await add_draft(sessions, "1", last_activity=hanoi(date(2026, 12, 1), 9))
    rnd = await add_round(sessions, DEADLINE)
    result = await sweep_at(sessions, hanoi(date(2026, 12, 9), 14))
    assert (result.by_kind["round"], result.skipped) == (1, 1)
    assert [p for _, p in await queued(sessions, "reminder:round")] == [
        f"reminder:round:{rnd.id}:1d:2026-12-10"
    ]
    async with sessions() as session:
        notes = set(
            (await session.scalars(select(ReminderPlan.note).where(ReminderPlan.kind == "round"))).all()
        )
    assert notes == {None, "a later reminder is due"}


async def add_certificate(
    sessions: async_sessionmaker[AsyncSession],
    external_id: str,
    valid_until: date,
    *,
    number: str,
    product: str = "Giỏ mây",
) -> int:
    facility = await facility_of(sessions, external_id)
    async with sessions() as session, session.begin():
        cert = Certificate(
            programme="selection", facility_id=facility.id, facility_name=facility.name, tax_code=facility.tax_code,
            province=facility.province, product=product, level="province", number=number,
            issue_date=date(valid_until.year - 3, 6, 1), valid_until=valid_until, issuing_body="UBND tỉnh Hưng Yên",
            source="import", recorded_by="telegram:9001",
        )  # fmt: skip
        session.add(cert)
        await session.flush()
        return cert.id


async def test_certificate_expiry_90_and_30_days_before_with_the_next_round_and_not_when_renewed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_people(sessions, 2, first_id=1)
    expiring = await add_certificate(sessions, "1", date(2027, 3, 31), number="125/QĐ-UBND")
    await add_certificate(sessions, "2", date(2027, 3, 31), number="126/QĐ-UBND")
    await add_certificate(sessions, "2", date(2030, 12, 31), number="88/QĐ-UBND")  # renewed since
    await add_round(sessions, date(2027, 2, 15), name="Bình chọn cấp tỉnh 2027")
    assert (await sweep_at(sessions, hanoi(date(2026, 12, 31), 7, 59))).fired == 0
    result = await sweep_at(sessions, hanoi(date(2026, 12, 31), 8))
    assert (result.by_kind["certificate"], result.skipped) == (1, 1)
    assert await queued(sessions, "reminder:cert") == [("1", f"reminder:cert:{expiring}:90d:2027-03-31")]
    sent = await delivered(sessions, VirtualTime(hanoi(date(2026, 12, 31), 8)))
    assert sent.to("1") == [
        "🏅 Giấy chứng nhận sản phẩm “Giỏ mây” (Cấp tỉnh, số 125/QĐ-UBND) có hiệu lực đến hết ngày 31/03/2027 "
        "(còn 90 ngày). Sau ngày đó, cơ sở không được in biểu trưng của chương trình trên sản phẩm và bao bì nữa."
        "\n\nĐể tiếp tục được công nhận, anh/chị đăng ký sản phẩm vào đợt bình chọn tới: Bình chọn cấp tỉnh "
        "2027, hạn nộp hồ sơ 15/02/2027. Tôi sẽ hướng dẫn anh/chị chuẩn bị hồ sơ từng bước."
    ]
    await sweep_at(sessions, hanoi(date(2027, 3, 1), 8))
    assert [p for _, p in await queued(sessions, "reminder:cert")] == [
        f"reminder:cert:{expiring}:90d:2027-03-31",
        f"reminder:cert:{expiring}:30d:2027-03-31",
    ]


async def test_stale_draft_is_reminded_twice_at_most_and_waits_for_the_morning(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_people(sessions, 4, first_id=1)
    day = date(2026, 11, 23)
    idle = await add_draft(sessions, "1", last_activity=hanoi(day, 9))
    late = await add_draft(sessions, "2", last_activity=hanoi(day, 22, 30))
    touched = await add_draft(sessions, "3", last_activity=hanoi(day, 9))
    await add_draft(sessions, "4", last_activity=hanoi(day, 9))
    await sweep_at(sessions, hanoi(day, 9, 1))  # plans them
    async with sessions() as session, session.begin():
        await session.execute(
            update(Application)
            .where(Application.id == touched)
            .values(last_activity_at=hanoi(date(2026, 11, 25), 15))
        )
        await session.execute(
            update(Application)
            .where(Application.facility_id == (await facility_of(sessions, "4")).id)
            .values(status="submitted")
        )
    await sweep_at(sessions, hanoi(date(2026, 11, 26), 9))
    assert await queued(sessions, "reminder:draft") == [("1", f"reminder:draft:{idle}:1")]
    await sweep_at(sessions, hanoi(date(2026, 11, 26), 22, 30))  # the late one is due, but it is night
    await sweep_at(sessions, hanoi(date(2026, 11, 27), 6, 59))
    assert len(await queued(sessions, "reminder:draft")) == 1
    await sweep_at(sessions, hanoi(date(2026, 11, 27), 7, 0))
    await sweep_at(sessions, hanoi(date(2026, 11, 28), 15, 0))
    assert await queued(sessions, "reminder:draft") == [
        ("1", f"reminder:draft:{idle}:1"),
        ("2", f"reminder:draft:{late}:1"),
        ("3", f"reminder:draft:{touched}:1"),
    ]
    for days in (29, 30):
        await sweep_at(sessions, hanoi(date(2026, 11, days), 10))
    for days in range(1, 20):
        await sweep_at(sessions, hanoi(date(2026, 12, days), 10))
    async with sessions() as session:
        per_draft = dict(
            (await session.execute(
                select(OutboxMessage.identity_id, func.count()).where(OutboxMessage.purpose.startswith("reminder:draft"))
                .group_by(OutboxMessage.identity_id)
            )).all()
        )  # fmt: skip
    assert sorted(per_draft.values()) == [2, 2, 2]  # twice at most; nothing for the dossier that was sent
    sent = await delivered(sessions, VirtualTime(hanoi(date(2026, 12, 19), 10)))
    assert sent.to("1")[0] == (
        "📝 Hồ sơ “Giỏ mây đan Phú Vinh” của anh/chị đang dừng từ ngày 23/11/2026. Anh/chị làm tiếp nhé? Các câu trả "
        "lời đã được lưu, tôi sẽ hỏi tiếp từ chỗ anh/chị dừng lại."
    )


async def test_staff_see_what_is_upcoming(sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    await add_people(sessions, 2, first_id=1)
    await add_draft(sessions, "1", last_activity=hanoi(date(2026, 12, 1), 9))
    await add_round(sessions, DEADLINE)
    await sweep_at(sessions, hanoi(date(2026, 12, 1), 9, 5))
    await make_staff(sessions, role="reviewer")
    clock = VirtualTime(hanoi(date(2026, 12, 1), 10))
    dialogue = Dialogue(programmes=load_programmes(), files=FileStore(tmp_path / "files"), clock=clock)
    staffer = Person(Pipeline(sessions, dialogue), "9001", [])
    await staffer.send("/reminders")
    lines = staffer.text.splitlines()
    assert lines[:5] == [
        "⏰ Tin nhắc hẹn trong 7 ngày tới:",
        "• hạn nộp hồ sơ đợt bình chọn: 1",
        "• hạn đăng ký hội chợ: 0",
        "• giấy chứng nhận sắp hết hạn: 0",
        "• hồ sơ làm dở: 1",
    ]
    assert (
        "• 08:00 03/12/2026 – hạn nộp hồ sơ đợt bình chọn (trước 7 ngày): “Bình chọn cấp tỉnh 2026”: 1 hồ sơ chưa gửi"
        in lines
    )
    owner = Person(staffer.pipeline, "2", [])
    await owner.send("/reminders")
    assert "Tin nhắc hẹn" not in owner.text


async def test_opted_out_owner_gets_no_reminder(sessions: async_sessionmaker[AsyncSession]) -> None:
    await add_people(sessions, 1, first_id=1)
    await add_draft(sessions, "1", last_activity=hanoi(date(2026, 11, 1), 9))
    async with sessions() as session, session.begin():
        await session.execute(update(Account).values(announcements_opt_in=False))
    await add_round(sessions, DEADLINE)
    await sweep_at(sessions, hanoi(date(2026, 12, 3), 8))
    await sweep_at(sessions, hanoi(date(2026, 12, 9), 8))
    assert await queued(sessions, "reminder:") == []
    async with sessions() as session:
        notes = (await session.scalars(select(ReminderPlan.note).where(ReminderPlan.kind == "draft"))).all()
    assert notes == ["opted out"]
