"""Zalo OA: signed webhook events handled per second and the time from POST to 200 (which the bot
sends only after the event is handled and its consultation replies are out).

USERS followers at once, each sending its next event as soon as the previous one was answered
(closed loop), against the fake OA server (tests/fake_zalo_oa.py) on loopback, in the same
process as the bot (so the fake's work is counted against the bot: the figures are a floor). Each
user follows, picks the language and reads the consent notice, then asks /help and /menu in
turn: every event is verified, deduplicated, run through the dialogue in one SQLite transaction,
and answered with 1–2 consultation messages (each with a token check).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import Figure

USERS = 20
EVENTS_PER_USER = 12


async def run() -> list[Figure]:
    from bot.assembly import build_system
    from bot.config import Config
    from handlers.channels.zalo_oa.channel import webhook_path
    from tests.fake_zalo_oa import APP_ID, APP_SECRET, FIRST_REFRESH, SECRET_KEY, FakeZaloOa

    fake = FakeZaloOa()
    await fake.start()
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(
            database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'bot.db'}",
            http_port=0,
            files_dir=Path(tmp) / "files",
            zalo_oa_app_id=APP_ID,
            zalo_oa_secret_key=SECRET_KEY,
            zalo_oa_app_secret=APP_SECRET,
            zalo_oa_refresh_token=FIRST_REFRESH,
            zalo_oa_api_base_url=fake.base,
            zalo_oauth_base_url=fake.base,
            zalo_zns_api_base_url=fake.base,
        )
        system = await build_system(config)
        await system.start()
        url = f"http://127.0.0.1:{system.port}{webhook_path(APP_ID, SECRET_KEY)}"
        latencies: list[float] = []

        async def user(n: int) -> None:
            user_id = f"47{n:08d}"
            script = ["follow", "1", "/help", *(["/menu", "/help"] * ((EVENTS_PER_USER - 3) // 2 + 1))]
            for step in script[:EVENTS_PER_USER]:
                event = fake.event("follow", user_id) if step == "follow" else fake.text_event(user_id, step)
                started = time.perf_counter()
                assert await fake.deliver(event, url) == 200
                latencies.append(time.perf_counter() - started)

        try:
            started = time.perf_counter()
            await asyncio.gather(*(user(n) for n in range(USERS)))
            took = time.perf_counter() - started
        finally:
            await system.stop()
            await fake.stop()
    latencies.sort()
    return [
        Figure("zalo oa: events/s", len(latencies) / took, "events/s", f"{USERS} users, SQLite"),
        Figure("zalo oa: POST to 200, median", statistics.median(latencies) * 1000, "ms"),
        Figure("zalo oa: POST to 200, p95", latencies[int(len(latencies) * 0.95)] * 1000, "ms"),
        Figure("zalo oa: consultation messages sent", len(fake.cs), "messages"),
    ]


if __name__ == "__main__":
    print(asyncio.run(run()))
