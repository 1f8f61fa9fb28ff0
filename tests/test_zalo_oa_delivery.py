"""Zalo OA proactive messages against the fake OA + OAuth + ZNS server: the outbox's route per
message (consultation inside the 7-day window, ZNS outside it, never both, never twice, even
across a SIGKILL of the worker), ZNS hours, the promotion cap, consent and costs."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations import notices
from conversations.i18n import translator
from conversations.messages import ZALO_OA
from conversations.outreach.oa_window import OUTSIDE_WINDOW
from handlers.channels.zalo_oa import webhook
from handlers.channels.zalo_oa.client import OaClient
from handlers.channels.zalo_oa.sender import IN_DOUBT, OaSender
from handlers.channels.zalo_oa.tokens import TokenKeeper
from handlers.channels.zalo_oa.zns import STATUS_WORDS
from handlers.workers.delivery import DeliveryWorker
from handlers.workers.pacing import ChannelLimits
from storage import outbox, zalo_oa
from storage.outbox import OutboxMessage
from tests.conftest import Chat, Clock
from tests.fake_zalo_oa import APP_ID, APP_SECRET, FIRST_REFRESH, FakeZaloOa
from tests.test_outbox_delivery import ROOT, START, VirtualTime, add_people

LIMITS = {ZALO_OA: ChannelLimits(per_second=1000.0, chat_interval=0.0)}
CERT_90 = {
    "msgid": "🏅 The certificate for “{product}” (number {number}) expires on {date}.",
    "values": {"product": "Giỏ mây", "number": "15/QĐ-UBND", "date": {"date": "2027-02-01"}},
    "quiet": True,
}


@pytest.fixture
async def fake(clock: Clock) -> AsyncIterator[FakeZaloOa]:
    server = FakeZaloOa(clock=clock)
    await server.start()
    yield server
    await server.stop()


def client_for(fake: FakeZaloOa) -> OaClient:
    return OaClient(
        app_id=APP_ID, app_secret=APP_SECRET, api_base=fake.base, oauth_base=fake.base, zns_base=fake.base
    )


# --- the outbox's route ----------------------------------------------------------------------------


async def oa_owner(
    sessions: async_sessionmaker[AsyncSession],
    fake: FakeZaloOa,
    user_id: str,
    *,
    last_seen: datetime,
    zns_consent: bool = True,
) -> int:
    """An owner who follows the OA, last interacted at `last_seen`; their identity id."""
    (identity_id,) = await add_people(sessions, 1, channel=ZALO_OA, first_id=int(user_id))
    async with sessions() as session, session.begin():
        await zalo_oa.record_interaction(session, user_id, last_seen, following=True)
        identity = await session.get(outbox.Identity, identity_id)
        assert identity is not None
        if zns_consent:
            await zalo_oa.set_zns_consent(session, identity.account_id, True, last_seen)
    fake.interacted(user_id, last_seen)
    return identity_id


async def enqueue(
    sessions: async_sessionmaker[AsyncSession],
    identity_id: int,
    purpose: str,
    payload: dict[str, Any],
    batch: str | None = None,
) -> int:
    async with sessions() as session, session.begin():
        identity = await session.get(outbox.Identity, identity_id)
        assert identity is not None
        await outbox.enqueue(
            session, purpose=purpose, identity=identity, payload=payload, not_before=START, batch=batch
        )
        row_id = await session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.purpose == purpose, OutboxMessage.identity_id == identity_id
            )
        )
        assert row_id is not None
        return row_id


async def row(sessions: async_sessionmaker[AsyncSession], row_id: int) -> OutboxMessage:
    async with sessions() as session:
        found = await session.get(OutboxMessage, row_id)
        assert found is not None
        return found


@pytest.fixture
async def worker(
    sessions: async_sessionmaker[AsyncSession], fake: FakeZaloOa
) -> AsyncIterator[tuple[DeliveryWorker, VirtualTime]]:
    time = VirtualTime(START)  # 09:00 in Hà Nội
    client = client_for(fake)
    await client.open()
    keeper = TokenKeeper(sessions, client, FIRST_REFRESH, clock=time)
    sender = OaSender(client, keeper, sessions, public_base="https://bot.example.vn", clock=time)
    yield DeliveryWorker(sessions, {ZALO_OA: sender}, clock=time, limits=LIMITS), time
    await client.close()


async def test_a_reminder_inside_the_window_goes_as_a_consultation_message_only(
    sessions: async_sessionmaker[AsyncSession], fake: FakeZaloOa, worker: tuple[DeliveryWorker, VirtualTime]
) -> None:
    fake.clock = worker[1]
    identity = await oa_owner(sessions, fake, "3100001", last_seen=START - timedelta(days=6))
    row_id = await enqueue(sessions, identity, "reminder:cert:7:90d:2027-02-01", CERT_90)
    await worker[0].drain()
    await worker[0].drain()  # a second pass sends nothing more
    assert len(fake.texts("3100001")) == 1 and "Giỏ mây" in fake.texts("3100001")[0]
    assert fake.zns == []
    assert (await row(sessions, row_id)).status == "sent"


async def test_a_reminder_outside_the_window_goes_as_zns_with_its_template(
    sessions: async_sessionmaker[AsyncSession], fake: FakeZaloOa, worker: tuple[DeliveryWorker, VirtualTime]
) -> None:
    fake.clock = worker[1]
    identity = await oa_owner(sessions, fake, "3100002", last_seen=START - timedelta(days=8))
    row_id = await enqueue(sessions, identity, "reminder:cert:7:90d:2027-02-01", CERT_90)
    await worker[0].drain()
    await worker[0].drain()
    assert fake.cs == []  # never tried as a consultation message (it would be -230)
    (sent,) = fake.zns
    assert sent["template_id"] == "100001" and sent["phone"] == "84912345678"
    assert sent["tracking_id"] == str(row_id)
    assert sent["template_data"] == {
        "customer_name": "Chị Lan",
        "product_name": "Giỏ mây",
        "certificate_number": "15/QĐ-UBND",
        "expiry_date": "01/02/2027",
    }
    assert (await row(sessions, row_id)).status == "sent"
    async with sessions() as session:
        totals = await zalo_oa.zns_totals(session)
    assert (totals.sent, totals.cost) == (1, 330)  # the fee Zalo reported


async def test_outside_the_window_without_zns_consent_is_recorded_not_sent(
    sessions: async_sessionmaker[AsyncSession], fake: FakeZaloOa, worker: tuple[DeliveryWorker, VirtualTime]
) -> None:
    fake.clock = worker[1]
    identity = await oa_owner(
        sessions, fake, "3100003", last_seen=START - timedelta(days=8), zns_consent=False
    )
    row_id = await enqueue(sessions, identity, "reminder:cert:7:30d:2027-02-01", CERT_90)
    await worker[0].drain()
    found = await row(sessions, row_id)
    assert (found.status, found.last_error) == ("skipped", OUTSIDE_WINDOW)
    assert fake.cs == [] and fake.zns == []


async def test_a_status_notice_at_night_waits_for_zns_hours(
    sessions: async_sessionmaker[AsyncSession], fake: FakeZaloOa, worker: tuple[DeliveryWorker, VirtualTime]
) -> None:
    delivery, time = worker
    time.start = START + timedelta(hours=14)  # 23:00 in Hà Nội
    fake.clock = time
    identity = await oa_owner(sessions, fake, "3100004", last_seen=time.now() - timedelta(days=10))
    payload = notices.approved(title="Giỏ mây", code="KC-2611-ABCDE")
    row_id = await enqueue(sessions, identity, "status:5:9", payload)
    await delivery.drain(follow=False)
    assert fake.zns == [] and (await row(sessions, row_id)).status == "pending"
    await delivery.drain()  # follows the row to 06:00
    (sent,) = fake.zns
    assert (await row(sessions, row_id)).sent_at == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 06:00
    assert sent["template_id"] == "100005"
    assert sent["template_data"] == {
        "customer_name": "Chị Lan",
        "dossier_code": "KC-2611-ABCDE",
        "status": translator("vi")(STATUS_WORDS[notices.APPROVED]),
    }


async def test_zalo_refusing_an_old_window_falls_back_to_zns_once(
    sessions: async_sessionmaker[AsyncSession], fake: FakeZaloOa, worker: tuple[DeliveryWorker, VirtualTime]
) -> None:
    fake.clock = worker[1]
    identity = await oa_owner(sessions, fake, "3100005", last_seen=START - timedelta(days=2))
    fake.interacted("3100005", START - timedelta(days=9))  # Zalo knows better: the window closed
    row_id = await enqueue(sessions, identity, "reminder:round:3:7d:2027-01-10", {
        "msgid": "Round {round} closes on {date}.", "values": {"round": "Bình chọn 2027", "date": {"date": "2027-01-10"}},
    })  # fmt: skip
    await worker[0].drain()
    assert fake.cs == []
    (sent,) = fake.zns
    assert sent["template_id"] == "100003" and sent["template_data"]["round_name"] == "Bình chọn 2027"
    assert (await row(sessions, row_id)).status == "sent"


async def test_broadcasts_on_the_oa_go_once_a_day_in_promotion_hours_and_never_as_zns(
    sessions: async_sessionmaker[AsyncSession], fake: FakeZaloOa, worker: tuple[DeliveryWorker, VirtualTime]
) -> None:
    delivery, time = worker
    fake.clock = time
    inside = await oa_owner(sessions, fake, "3100006", last_seen=START - timedelta(days=1))
    outside = await oa_owner(sessions, fake, "3100007", last_seen=START - timedelta(days=8))
    first = await enqueue(sessions, inside, "broadcast:1", {"text": "Hội chợ tháng 12"})
    second = await enqueue(sessions, inside, "broadcast:2", {"text": "Hội chợ tháng 1"})
    gone = await enqueue(sessions, outside, "broadcast:1", {"text": "Hội chợ tháng 12"}, batch="broadcast:1")
    await delivery.drain(follow=False)
    assert fake.texts("3100006") == ["Hội chợ tháng 12"] and fake.zns == []
    assert (await row(sessions, first)).status == "sent"
    later = await row(sessions, second)
    assert later.status == "pending" and later.not_before == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 08:00
    found = await row(sessions, gone)
    assert (found.status, found.last_error) == ("skipped", OUTSIDE_WINDOW)
    async with sessions() as session:  # the broadcast's report counts it apart from opt-outs
        assert await zalo_oa.skipped_for_reason(session, "broadcast:1", OUTSIDE_WINDOW) == 1


# --- killed mid-request -------------------------------------------------------------------------

CHILD = """
import asyncio, sys
sys.path.insert(0, {root!r})
from datetime import datetime
from conversations.i18n import translator
from handlers.channels.zalo_oa import webhook
from handlers.channels.zalo_oa.client import OaClient
from handlers.channels.zalo_oa.sender import OaSender
from handlers.channels.zalo_oa.tokens import TokenKeeper
from handlers.channels.zalo_oa.zns import STATUS_WORDS
from handlers.workers.delivery import DeliveryWorker
from handlers.workers.pacing import ChannelLimits
from storage.db import create_engine, session_factory
from tests.test_outbox_delivery import VirtualTime

async def main():
    sessions = session_factory(create_engine({db!r}))
    client = OaClient(app_id={app_id!r}, app_secret={secret!r}, api_base={base!r}, oauth_base={base!r}, zns_base={base!r})
    await client.open()
    now = datetime.fromisoformat({now!r})
    sender = OaSender(client, TokenKeeper(sessions, client, {refresh!r}, clock=lambda: now), sessions,
                      public_base="https://bot.example.vn", clock=lambda: now)
    # The worker's own clock too: at night in Hà Nội ZNS waits for 06:00 and nothing would be sent.
    worker = DeliveryWorker(sessions, {{"zalo_oa": sender}}, clock=VirtualTime(now),
                            limits={{"zalo_oa": ChannelLimits(1000.0, 0.0)}})
    await worker.drain()

asyncio.run(main())
"""


@pytest.mark.slow
async def test_a_worker_killed_during_a_zns_request_never_sends_it_twice(
    sessions: async_sessionmaker[AsyncSession],
    fake: FakeZaloOa,
    worker: tuple[DeliveryWorker, VirtualTime],
    tmp_path: Path,
) -> None:
    delivery, time = worker
    now = datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0)  # 10:00 in Hà Nội
    fake.clock = time
    time.start, time.mono = now, 0.0
    identity = await oa_owner(sessions, fake, "3100008", last_seen=now - timedelta(days=30))
    row_id = await enqueue(sessions, identity, "reminder:cert:9:30d:2027-02-01", CERT_90)
    fake.hold_zns = asyncio.Event()
    code = CHILD.format(
        root=ROOT, db=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", app_id=APP_ID, secret=APP_SECRET,
        base=fake.base, refresh=FIRST_REFRESH, now=now.isoformat(),
    )  # fmt: skip
    fake.clock = lambda: now  # the child's clock, for the fake's token expiry
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, env={**os.environ, "PYTHONPATH": ROOT}
    )
    async with asyncio.timeout(60):
        await fake.zns_received.wait()  # Zalo has the request; its answer is held
    child.kill()  # SIGKILL: no cleanup runs
    assert await child.wait() == -9
    fake.hold_zns.set()
    assert (await row(sessions, row_id)).status == "sending"
    await delivery.drain()  # a new worker takes the row back
    assert len(fake.zns) == 1 and fake.zns[0]["tracking_id"] == str(row_id)
    assert fake.cs == []  # and never the other way either
    found = await row(sessions, row_id)
    assert (found.status, found.last_error) == ("failed", IN_DOUBT)
    # Zalo's delivery receipt for that tracking id settles it: it did arrive, once.
    receipt = fake.event("user_received_message", "3100008", {"tracking_id": str(row_id)})
    tracking = webhook.tracking_id_of(receipt)
    assert tracking == row_id
    async with sessions() as session, session.begin():
        assert await zalo_oa.settle_in_doubt(session, tracking, IN_DOUBT, now, {"certificate_expiry_30": 300})
    assert (await row(sessions, row_id)).status == "sent"
    async with sessions() as session:
        assert (await zalo_oa.zns_totals(session)).cost == 300


def test_the_broadcast_report_names_those_outside_the_window() -> None:
    from conversations.outreach.progress import report_message
    from storage.outreach import Broadcast

    t = translator("vi")
    b = Broadcast(id=4, total=3, status="done", created_at=START)
    text = report_message(b, {"sent": 2, "outside_window": 1}, 0, START, t).text
    assert t("Not sent, outside Zalo's 7-day window: {outside}", outside="1") in text


async def test_the_reminder_sweeps_certificate_reminder_reaches_an_oa_owner_as_zns(
    sessions: async_sessionmaker[AsyncSession], fake: FakeZaloOa
) -> None:
    from datetime import date

    from conversations.outreach import reminders
    from tests.test_reminders import add_certificate, hanoi

    now = hanoi(date(2026, 12, 31), 8)
    time = VirtualTime(now)
    fake.clock = time
    await oa_owner(sessions, fake, "3100010", last_seen=now - timedelta(days=20))
    await add_certificate(sessions, "3100010", date(2027, 3, 31), number="125/QĐ-UBND")
    assert (await reminders.sweep(sessions, now)).by_kind["certificate"] == 1
    client = client_for(fake)
    await client.open()
    try:
        keeper = TokenKeeper(sessions, client, FIRST_REFRESH, clock=time)
        sender = OaSender(client, keeper, sessions, public_base="https://bot.example.vn", clock=time)
        await DeliveryWorker(sessions, {ZALO_OA: sender}, clock=time, limits=LIMITS).drain()
    finally:
        await client.close()
    assert fake.cs == []
    (sent,) = fake.zns
    assert sent["template_id"] == "100001"  # the 90-day template
    assert sent["template_data"] == {
        "customer_name": "Chị Lan",
        "product_name": "Giỏ mây",
        "certificate_number": "125/QĐ-UBND",
        "expiry_date": "31/03/2027",
    }


async def test_settings_turn_zns_off_and_on(chat: Chat, sessions: async_sessionmaker[AsyncSession]) -> None:
    from conversations.zns_consent import TURN_OFF, TURN_ON
    from tests.test_flows import onboard_english

    await onboard_english(chat)
    async with sessions() as session:
        account_id = await session.scalar(select(outbox.Identity.account_id))
        assert account_id is not None
        assert await zalo_oa.has_zns_consent(session, account_id)  # given with the notice
    await chat.send("/settings")
    await chat.tap(translator("en")(TURN_OFF))
    async with sessions() as session:
        assert not await zalo_oa.has_zns_consent(session, account_id)
    await chat.send("/settings")
    assert translator("en")(TURN_ON) in chat.buttons


def test_the_oa_policy_over_a_day_of_hours_and_window_ages() -> None:
    from itertools import product

    from conversations.outreach.oa_window import OaPolicy, decide

    policy = OaPolicy()
    midnight = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)  # 00:00 in Hà Nội
    for hour, age, promotion, consent, template in product(
        range(24), (1.0, 6.9, 7.0, 8.0), (False, True), (False, True), (False, True)
    ):
        now = midnight + timedelta(hours=hour)
        d = decide(
            policy,
            now=now,
            last_interaction=now - timedelta(days=age),
            promotion=promotion,
            zns_allowed=consent,
            has_template=template,
        )
        inside = age < 7
        if promotion:
            assert d.route != "zns"
            expected = ("cs" if 8 <= hour < 22 else "later") if inside else "skip"
        elif inside:
            expected = "cs"  # a reminder inside the window goes any hour the outbox lets it
        elif consent and template:
            expected = "zns" if 6 <= hour < 22 else "later"
        else:
            expected = "skip"
        assert d.route == expected, (hour, age, promotion, consent, template, d)
        if d.route == "later":
            assert d.not_before is not None and d.not_before > now
            opens = policy.local(d.not_before)
            assert (opens.hour, opens.minute) == ((8, 0) if promotion else (6, 0))
