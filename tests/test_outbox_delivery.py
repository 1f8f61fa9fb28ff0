"""The outbox and its delivery worker: limits, 429, blocked users, retries, and a worker killed
with SIGKILL mid-request that resumes without losing a message, and sends again exactly the one
message whose request was out when it died (the residual window, counted as doubtful).

Time is virtual (`VirtualTime`): the worker's pacing sleeps advance it instead of waiting, so a
paced run of hundreds of messages takes milliseconds and its timing can be read exactly.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot

from conversations.messages import Choice, Outgoing
from handlers import senders
from handlers.channels.telegram.sender import TelegramSender
from handlers.workers.delivery import DeliverySettings, DeliveryWorker
from handlers.workers.pacing import ChannelLimits
from storage import outbox
from storage.models import Account, Facility, Identity
from storage.outbox import OutboxMessage
from tests.fake_telegram import TOKEN, ApiError, Call, FakeTelegram

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội, a Monday
ROOT = str(Path(__file__).resolve().parent.parent)


class VirtualTime:
    """The worker's clock: `sleep` moves time on instead of waiting."""

    def __init__(self, start: datetime = START) -> None:
        self.start = start
        self.mono = 0.0

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.mono)

    def __call__(self) -> datetime:
        return self.now()

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)  # what was started before the sleep runs at the time it was started
        self.mono += max(seconds, 0.0)
        await asyncio.sleep(0)

    def advance(self, **delta: float) -> None:
        self.mono += timedelta(**delta).total_seconds()


@dataclass
class MemorySender:
    """A channel that records what it was asked to send, with the virtual time, and fails on cue."""

    clock: VirtualTime
    channel: str = "telegram"
    sent: list[tuple[float, str, str]] = field(default_factory=list)
    script: dict[str, list[Exception]] = field(default_factory=dict)

    async def send(self, external_id: str, messages: list[Outgoing]) -> list[str]:
        planned = self.script.get(external_id)
        if planned:
            raise planned.pop(0)
        for message in messages:
            self.sent.append((self.clock.monotonic(), external_id, message.text))
        return [str(len(self.sent))]

    def to(self, external_id: str) -> list[str]:
        return [text for _, who, text in self.sent if who == external_id]


async def add_people(
    sessions: async_sessionmaker[AsyncSession],
    count: int,
    *,
    channel: str = "telegram",
    first_id: int = 10_001,
    province: str = "Hưng Yên",
    consent_at: datetime | None = START,
) -> list[int]:
    """`count` facility owners reachable on `channel` (external ids from `first_id`); identity ids."""
    async with sessions() as session, session.begin():
        first_account = (await session.scalar(select(func.max(Account.id)))) or 0
        accounts = [
            {"id": first_account + i + 1, "locale": "vi", "consent_at": consent_at, "announcements_opt_in": True,
             "created_at": START}
            for i in range(count)
        ]  # fmt: skip
        await session.execute(insert(Account), accounts)
        await session.execute(
            insert(Identity),
            [
                {"channel": channel, "external_id": str(first_id + i), "account_id": a["id"], "reachable": True,
                 "created_at": START}
                for i, a in enumerate(accounts)
            ],
        )  # fmt: skip
        await session.execute(
            insert(Facility),
            [
                {"account_id": a["id"], "name": f"Cơ sở {first_id + i}", "kind": "household", "province": province,
                 "commune": "Xã Phú Vinh", "commune_kind": "commune", "craft_village": False,
                 "tax_code": "0100109106", "contact_name": "Chị Lan", "phone": "0912345678", "products": "Giỏ mây",
                 "created_at": START, "updated_at": START}
                for i, a in enumerate(accounts)
            ],
        )  # fmt: skip
        rows = await session.scalars(
            select(Identity.id).where(Identity.external_id.in_([str(first_id + i) for i in range(count)]))
        )
        return sorted(rows)


async def queue(
    sessions: async_sessionmaker[AsyncSession],
    identity_ids: list[int],
    purpose: str,
    *,
    text: str = "Hội chợ mở đăng ký",
    channel: str = "telegram",
    batch: str | None = None,
    at: datetime = START,
    **payload: Any,
) -> None:
    async with sessions() as session, session.begin():
        await outbox.enqueue_many(
            session,
            [(i, channel) for i in identity_ids],
            purpose=purpose,
            payload={"text": text, **payload},
            not_before=at,
            batch=batch,
            priority=outbox.PRIORITY_BULK if batch else outbox.PRIORITY_PERSONAL,
        )


async def statuses(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as session:
        rows = await session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        )
        return dict(rows.all())


@pytest.fixture
def vtime() -> VirtualTime:
    return VirtualTime()


def worker_for(
    sessions: async_sessionmaker[AsyncSession], sender: Any, vtime: VirtualTime, **limits: Any
) -> DeliveryWorker:
    channel_limits = ChannelLimits(
        per_second=limits.pop("per_second", 30.0), chat_interval=limits.pop("chat_interval", 1.0), safety=1.0
    )
    return DeliveryWorker(
        sessions, {sender.channel: sender}, clock=vtime, limits={sender.channel: channel_limits},
        settings=DeliverySettings(**limits),
    )  # fmt: skip


# --- queueing -------------------------------------------------------------------------------------


async def test_a_purpose_is_queued_once_per_person(sessions: async_sessionmaker[AsyncSession]) -> None:
    ids = await add_people(sessions, 3)
    await queue(sessions, ids, "broadcast:1")
    await queue(sessions, ids + ids, "broadcast:1")  # a retried confirm, twice over
    await queue(sessions, ids[:1], "reminder:draft:5:1")
    assert await statuses(sessions) == {"pending": 4}


# --- pace -----------------------------------------------------------------------------------------


async def test_overall_and_per_chat_limits_hold_in_every_window(
    sessions: async_sessionmaker[AsyncSession], vtime: VirtualTime
) -> None:
    ids = await add_people(sessions, 40)
    # Three announcements to everyone: each chat gets three messages, queued back to back.
    for n in range(3):
        await queue(sessions, ids, f"broadcast:{n}", text=f"Tin {n}", batch=f"broadcast:{n}")
    sender = MemorySender(vtime)
    await worker_for(sessions, sender, vtime, per_second=10.0, chat_interval=1.0).drain()
    assert len(sender.sent) == 120
    times = [t for t, _, _ in sender.sent]
    # Never more than 10 in any one-second window, and the run is as fast as that allows.
    assert max(sum(1 for u in times if t <= u < t + 1.0 - 1e-6) for t in times) <= 10, times[:30]
    assert times[-1] == pytest.approx(11.9, abs=0.2)
    for person in {who for _, who, _ in sender.sent}:
        mine = [t for t, who, _ in sender.sent if who == person]
        assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(mine))
    assert await statuses(sessions) == {"sent": 120}


async def test_personal_messages_overtake_a_running_broadcast(
    sessions: async_sessionmaker[AsyncSession], vtime: VirtualTime
) -> None:
    ids = await add_people(sessions, 100)
    await queue(sessions, ids, "broadcast:1", batch="broadcast:1")
    await queue(sessions, ids[-1:], "status:7:approved", text="Hồ sơ đã được duyệt")
    sender = MemorySender(vtime)
    await worker_for(sessions, sender, vtime, per_second=10.0).drain()
    assert sender.sent[0][2] == "Hồ sơ đã được duyệt"


# --- what goes wrong ------------------------------------------------------------------------------


async def test_429_waits_retry_after_then_the_message_goes(
    sessions: async_sessionmaker[AsyncSession], vtime: VirtualTime
) -> None:
    ids = await add_people(sessions, 5)
    await queue(sessions, ids, "broadcast:1", batch="broadcast:1")
    sender = MemorySender(vtime, script={"10003": [senders.RetryAfter(7)]})
    worker = worker_for(sessions, sender, vtime, per_second=100.0)
    await worker.drain()
    assert sorted(who for _, who, _ in sender.sent) == ["10001", "10002", "10003", "10004", "10005"]
    retried_at = next(t for t, who, _ in sender.sent if who == "10003")
    assert retried_at >= 7.0  # nothing went out to that chat before the wait was over
    assert worker.stats["rate_limited"] == 1
    assert await statuses(sessions) == {"sent": 5}


async def test_blocked_user_is_marked_unreachable_with_the_reason_and_not_tried_again(
    sessions: async_sessionmaker[AsyncSession], vtime: VirtualTime
) -> None:
    ids = await add_people(sessions, 2)
    await queue(sessions, ids, "broadcast:1")
    blocked = senders.Unreachable("Forbidden: bot was blocked by the user")
    sender = MemorySender(vtime, script={"10002": [blocked]})
    worker = worker_for(sessions, sender, vtime)
    await worker.drain()
    await queue(sessions, ids, "broadcast:2")
    await worker.drain()
    assert sender.to("10002") == []
    async with sessions() as session:
        identity = await session.get(Identity, ids[1])
        rows = (await session.scalars(select(OutboxMessage).where(OutboxMessage.identity_id == ids[1]))).all()
    assert identity is not None and identity.reachable is False
    assert identity.unreachable_reason == "Forbidden: bot was blocked by the user"
    assert [(r.status, r.attempts) for r in rows] == [("unreachable", 1), ("unreachable", 0)]


async def test_transient_errors_back_off_then_fail_with_the_reason(
    sessions: async_sessionmaker[AsyncSession], vtime: VirtualTime
) -> None:
    ids = await add_people(sessions, 2)
    await queue(sessions, ids, "reminder:x")
    sender = MemorySender(
        vtime,
        script={
            "10001": [senders.Transient("Bad Gateway")] * 2,
            "10002": [senders.Transient("Bad Gateway")] * 9,
        },
    )
    worker = worker_for(sessions, sender, vtime, max_attempts=4, backoff_base=10.0)
    await worker.drain()
    assert [(round(t), who) for t, who, _ in sender.sent] == [(30, "10001")]  # after 10 s and 20 s of backoff
    async with sessions() as session:
        failed = await session.scalar(select(OutboxMessage).where(OutboxMessage.identity_id == ids[1]))
    assert failed is not None and failed.status == "failed" and failed.attempts == 4
    assert failed.last_error == "gave up after 4 attempts: Bad Gateway"


async def test_an_announcement_to_someone_who_opted_out_meanwhile_is_skipped(
    sessions: async_sessionmaker[AsyncSession], vtime: VirtualTime
) -> None:
    ids = await add_people(sessions, 2)
    await queue(sessions, ids, "broadcast:1", announcement=True)
    async with sessions() as session, session.begin():
        identity = await session.get(Identity, ids[0])
        assert identity is not None
        account = await session.get(Account, identity.account_id)
        assert account is not None
        account.announcements_opt_in = False
    sender = MemorySender(vtime)
    await worker_for(sessions, sender, vtime).drain()
    assert [who for _, who, _ in sender.sent] == ["10002"]
    assert await statuses(sessions) == {"sent": 1, "skipped": 1}


async def test_reminders_wait_for_the_sending_window(
    sessions: async_sessionmaker[AsyncSession], vtime: VirtualTime
) -> None:
    vtime.start = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)  # 22:30 in Hà Nội
    ids = await add_people(sessions, 1)
    await queue(sessions, ids, "reminder:draft:1:1", quiet=True, at=vtime.now())
    sender = MemorySender(vtime)
    await worker_for(sessions, sender, vtime).drain()
    assert len(sender.sent) == 1
    assert vtime.now() >= datetime(2026, 11, 24, 0, 0, tzinfo=UTC)  # 07:00 the next morning


# --- the real Telegram sender ---------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


async def test_telegram_sender_classifies_errors_and_edits_in_place(fake: FakeTelegram) -> None:
    async with Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url) as bot:
        sender = TelegramSender(bot)
        refs = await sender.send(
            "700", [Outgoing(text="Đang gửi: 0/10", choices=[Choice("⏸ Tạm dừng", "go:x")])]
        )
        await sender.edit(
            "700", refs[0], Outgoing(text="Đang gửi: 5/10", choices=[Choice("⏸ Tạm dừng", "go:x")])
        )
        await sender.edit(
            "700", refs[0], Outgoing(text="Đang gửi: 5/10", choices=[Choice("⏸ Tạm dừng", "go:x")])
        )
        message = fake.last_message(700)
        assert (message.text, message.edits, message.labels) == ("Đang gửi: 5/10", 1, ["⏸ Tạm dừng"])
        fake.fail_next("sendMessage", chat_id=701, code=429, retry_after=9)
        with pytest.raises(senders.RetryAfter) as flood:
            await sender.send("701", [Outgoing(text="x")])
        assert flood.value.seconds == 9
        fake.block(702)
        with pytest.raises(senders.Unreachable, match="blocked"):
            await sender.send("702", [Outgoing(text="x")])
        fake.block(703, "Forbidden: user is deactivated")
        with pytest.raises(senders.Unreachable, match="deactivated"):
            await sender.send("703", [Outgoing(text="x")])
        fake.fail_next(
            "sendMessage", chat_id=704, code=403, description="Forbidden: bot can't send messages to the user"
        )
        with pytest.raises(senders.Transient):
            await sender.send("704", [Outgoing(text="x")])
        fake.fail_next("sendMessage", chat_id=705, code=500)
        with pytest.raises(senders.Transient):
            await sender.send("705", [Outgoing(text="x")])
        fake.fail_next("sendMessage", chat_id=706, code=400, description="Bad Request: message text is empty")
        with pytest.raises(senders.SendError) as refused:
            await sender.send("706", [Outgoing(text="x")])
        assert type(refused.value) is senders.SendError  # final for this message, not retried


# --- killed mid-request ---------------------------------------------------------------------------

CHILD = """
import asyncio, sys
sys.path.insert(0, {root!r})
from telegram import Bot
from handlers.workers.delivery import DeliveryWorker
from handlers.workers.pacing import ChannelLimits
from handlers.channels.telegram.sender import TelegramSender
from storage.db import create_engine, session_factory

async def main():
    engine = create_engine({db!r})
    async with Bot({token!r}, base_url={base!r}) as bot:
        limits = {{"telegram": ChannelLimits(per_second=1000.0, chat_interval=0.0, in_flight=1)}}
        worker = DeliveryWorker(session_factory(engine), {{"telegram": TelegramSender(bot)}}, limits=limits)
        print("ready", flush=True)
        await worker.drain()
    print("done", flush=True)

asyncio.run(main())
"""


async def _killed_at(
    sessions: async_sessionmaker[AsyncSession], fake: FakeTelegram, db_url: str, nth: int, *, delivered: bool
) -> asyncio.subprocess.Process:
    """Run a worker in its own process and SIGKILL it while its `nth` sendMessage is held by the
    server: before Telegram took it (`delivered` False) or after (True, the answer never got back)."""
    held = asyncio.Event()
    release = asyncio.Event()
    seen = 0

    async def hold(call: Call) -> None:
        nonlocal seen
        if call.method != "sendMessage":
            return
        seen += 1
        if seen == nth:
            held.set()
            await release.wait()
            if not delivered:
                raise ApiError(502, "Bad Gateway")  # what the dead client never reads anyway

    if delivered:
        fake.before_reply = hold
    else:
        fake.before_handle = hold
    root = ROOT
    code = CHILD.format(root=root, db=db_url, token=TOKEN, base=fake.base_url)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": root}
    )
    async with asyncio.timeout(60):
        await held.wait()
    child.kill()  # SIGKILL: no cleanup runs
    await child.wait()
    fake.before_handle = fake.before_reply = None
    release.set()
    await asyncio.sleep(0.05)
    return child


@pytest.mark.slow
@pytest.mark.parametrize("delivered", [False, True], ids=["request-lost", "request-arrived"])
async def test_killed_worker_resumes_without_loss_and_resends_only_the_request_in_flight(
    sessions: async_sessionmaker[AsyncSession], fake: FakeTelegram, tmp_path: Path, delivered: bool
) -> None:
    ids = await add_people(sessions, 60, first_id=20_001)
    await queue(
        sessions, ids, "broadcast:9", batch="broadcast:9", at=datetime.now(UTC) - timedelta(minutes=1)
    )
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    child = await _killed_at(sessions, fake, db_url, 25, delivered=delivered)
    assert child.returncode == -9
    before = await statuses(sessions)
    assert before.get("sent") == 24 and before.get("sending") == 1  # the one whose fate is unknown
    async with Bot(TOKEN, base_url=fake.base_url) as bot:
        worker = DeliveryWorker(sessions, {"telegram": TelegramSender(bot)}, limits={
            "telegram": ChannelLimits(per_second=1000.0, chat_interval=0.0)})  # fmt: skip
        await worker.drain()
    assert await statuses(sessions) == {"sent": 60}
    received = {chat: len(messages) for chat, messages in fake.messages.items()}
    assert set(received) == {20_001 + i for i in range(60)}  # nobody lost
    twice = [chat for chat, n in received.items() if n > 1]
    assert twice == ([20_025] if delivered else [])  # only the request in flight, and only if it arrived
    assert worker.stats["doubtful"] == 1
    async with sessions() as session:
        doubtful = await outbox.batch_doubtful(session, "broadcast:9")
    assert doubtful == 1


# --- PostgreSQL: workers side by side -------------------------------------------------------------


async def test_postgres_workers_claim_disjoint_rows() -> None:
    from storage.db import session_factory
    from tests.conftest import throwaway_postgres

    async with throwaway_postgres() as engine:
        sessions = session_factory(engine)
        ids = await add_people(sessions, 300)
        await queue(sessions, ids, "broadcast:1", batch="broadcast:1")

        async def claim_all(worker: str) -> list[int]:
            got: list[int] = []
            while True:
                async with sessions() as session, session.begin():
                    rows = await outbox.claim(
                        session, channel="telegram", worker=worker, now=START, lease_until=START + timedelta(minutes=1),
                        limit=7,
                    )  # fmt: skip
                    await asyncio.sleep(0.001)  # hold the row locks a moment, as a real claim does
                if not rows:
                    return got
                got += [r.id for r in rows]

        results = await asyncio.gather(*(claim_all(f"w{n}") for n in range(4)))
        claimed = [row for result in results for row in result]
        assert len(claimed) == 300 and len(set(claimed)) == 300
        assert sum(1 for r in results if r) >= 2  # they really worked side by side


async def test_postgres_only_one_worker_runs_the_scheduler_at_a_time() -> None:
    from handlers.workers.scheduler import OutreachScheduler
    from storage.db import session_factory
    from tests.conftest import throwaway_postgres

    async with throwaway_postgres() as engine:
        sessions = session_factory(engine)
        first, second = (OutreachScheduler(sessions, {}, postgres=True) for _ in range(2))
        assert await first._leader() is True
        assert await second._leader() is False
        assert await first._leader() is True  # keeps it
        await first.stop()  # its connection goes, and the lock with it
        assert await second._leader() is True
        await second.stop()


class StandingTime(VirtualTime):
    """A clock whose sleep never ends by itself: only a worker woken by stop() gets past it."""

    async def sleep(self, seconds: float) -> None:
        await asyncio.Event().wait()


async def test_workers_stop_at_once_when_idle_instead_of_finishing_a_sleep(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    from handlers.workers.scheduler import OutreachScheduler

    clock = StandingTime()
    worker = worker_for(sessions, MemorySender(clock), clock)
    scheduler = OutreachScheduler(sessions, {}, clock=clock)
    await worker.start()
    await scheduler.start()
    loops, tick = list(worker._loops), scheduler._task
    for _ in range(20):  # let both reach their idle wait
        await asyncio.sleep(0.01)
    await worker.stop()
    await scheduler.stop()
    # Woken, they ended by themselves; a loop still asleep would have been cancelled after the grace.
    assert loops and all(task.done() and not task.cancelled() for task in loops)
    assert tick is not None and tick.done() and not tick.cancelled()
