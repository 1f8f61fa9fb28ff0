"""Broadcast throughput under Telegram's limits: the real delivery worker and Telegram sender on
SQLite, against the fake Bot API server enforcing 30 messages/s overall and 1/s per chat (both
answered with 429 and retry_after when crossed, as Telegram does).

10,000 messages in real time (about six minutes): five announcements to 1,600 people each, plus
2,000 personal messages to 200 people queued ten at a time, which only the per-chat limit keeps
apart. Figures: achieved rate as a fraction of 30/s (from the first to the last accepted message,
as the server saw them), 429s received, duplicates and losses.

Run: `python -m benchmarks outreach_broadcast` (or `python -m benchmarks.outreach_broadcast [n]`).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from benchmarks import Figure

LIMIT = 30.0


async def _people(sessions, count: int, first: int) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    from storage.models import Account, Identity

    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        start = (await session.scalar(select(Account.id).order_by(Account.id.desc()).limit(1))) or 0
        await session.execute(
            insert(Account),
            [
                {"id": start + i + 1, "locale": "vi", "announcements_opt_in": True, "created_at": now}
                for i in range(count)
            ],
        )
        await session.execute(
            insert(Identity),
            [
                {"channel": "telegram", "external_id": str(first + i), "account_id": start + i + 1, "reachable": True,
                 "created_at": now}
                for i in range(count)
            ],
        )  # fmt: skip
        rows = await session.execute(
            select(Identity.id).where(Identity.account_id > start).order_by(Identity.id)
        )
        return [(identity_id, "telegram") for identity_id in rows.scalars()]


async def measure(total: int, workdir: Path) -> list[Figure]:
    from telegram import Bot

    from handlers.channels.telegram.sender import TelegramSender
    from handlers.workers.delivery import DeliveryWorker
    from storage import outbox
    from storage.db import create_engine, session_factory
    from storage.migrate import migrate
    from tests.fake_telegram import TOKEN, FakeTelegram, RateLimits

    engine = create_engine(f"sqlite+aiosqlite:///{workdir / 'bench.db'}")
    await migrate(engine)
    sessions = session_factory(engine)
    bulk_people = total * 16 // 100  # 1,600 for 10,000: five announcements each
    burst_people = max(total // 50, 1)  # 200: ten personal messages each
    crowd = await _people(sessions, bulk_people, 1_000_000)
    burst = await _people(sessions, burst_people, 5_000_000)
    expected: Counter[tuple[int, str]] = Counter()
    past = datetime.now(UTC) - timedelta(minutes=1)
    async with sessions() as session, session.begin():
        for n in range(5):
            text = f"Thông báo số {n + 1}"
            await outbox.enqueue_many(
                session, crowd, purpose=f"broadcast:{n}", payload={"text": text}, not_before=past,
                batch=f"broadcast:{n}", priority=outbox.PRIORITY_BULK,
            )  # fmt: skip
            expected.update((1_000_000 + i, text) for i in range(len(crowd)))
        for i, recipient in enumerate(burst):
            for k in range(10):
                text = f"Tin riêng {k + 1}"
                await outbox.enqueue_many(
                    session, [recipient], purpose=f"status:{i}:{k}", payload={"text": text}, not_before=past
                )
                expected[(5_000_000 + i, text)] += 1
    limits = RateLimits(
        per_chat=1, per_chat_window=1.0, overall=int(LIMIT), overall_window=1.0, retry_after=1
    )
    async with FakeTelegram(rate_limits=limits) as fake:
        async with Bot(TOKEN, base_url=fake.base_url) as bot:
            worker = DeliveryWorker(sessions, {"telegram": TelegramSender(bot)})
            started = time.perf_counter()
            await worker.drain()
            wall = time.perf_counter() - started
        accepted = sorted(c.at for c in fake.calls if c.method == "sendMessage" and c.ok)
        received: Counter[tuple[int, str]] = Counter(
            (chat, text) for chat, messages in fake.messages.items() for text in (m.text for m in messages)
        )
        rejected = fake.rejected_429
    await engine.dispose()
    span = accepted[-1] - accepted[0] if len(accepted) > 1 else float("nan")
    rate = (len(accepted) - 1) / span if span else float("nan")
    duplicates = sum(n - 1 for key, n in received.items() if n > 1)
    losses = sum(max(n - received.get(key, 0), 0) for key, n in expected.items())
    figures = [
        Figure("messages", len(accepted), "", f"{sum(expected.values())} queued"),
        Figure("achieved rate", rate, "msg/s", f"limit {LIMIT:.0f}/s overall, 1/s per chat"),
        Figure("fraction of the limit", rate / LIMIT, "", "goal >= 0.95"),
        Figure("429s received", rejected, "", "goal 0"),
        Figure("duplicates", duplicates, "", "goal 0"),
        Figure("losses", losses, "", "goal 0"),
        Figure("wall time", wall, "s"),
    ]
    print(
        f"outreach broadcast: {len(accepted)} messages at {rate:.2f} msg/s = {rate / LIMIT:.3f} of {LIMIT:.0f}/s, "
        f"{rejected} 429s, {duplicates} duplicates, {losses} losses, {wall:.0f} s"
    )
    return figures


async def run(total: int = 10_000) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        return await measure(total, Path(tmp))


if __name__ == "__main__":
    asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
