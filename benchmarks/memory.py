"""Memory of the real bot process with 100,000 stored drafts and 1,000 active users (issue 14:
resident set ≤ 200 MB).

The database is seeded first, through the real migrations and models, with SEEDED facility
owners who each have an account, a Telegram identity, a facility profile, a conversation stopped
in the application form and one draft dossier, all copied (names, tax codes and phones varied)
from a probe user who typed the real journey. Then `python -m bot run` starts as a deployment
starts it: the web chat, and the Telegram channel polling the fake Bot API (benchmarks/_rig.py:
the lean fake and the load driver in a child process, as every Telegram benchmark runs them). Two waves of ACTIVE new users then answer at once,
each wave TELEGRAM_USERS on Telegram through the application journey up to the document
checklist and WEB_USERS in the web chat through onboarding and the profile: the second wave shows
whether memory held for users who went idle is given back (a per-user map that only grows would
add as much again).

Read from /proc/<pid>/status of the bot process: VmRSS when it is up and idle, after each wave,
and VmHWM (the peak resident set over the whole run). SQLite always; PostgreSQL too when one
answers at 127.0.0.1:5432 (a throwaway database, dropped afterwards).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from benchmarks import Figure

SEEDED = 100_000  # stored drafts, one per seeded facility owner
TELEGRAM_USERS = 800  # active users per wave on Telegram
WEB_USERS = 200  # and in the web chat: 1,000 active users per wave
WAVES = 2
BATCH = 5_000  # rows per bulk insert
GOAL_MB = 200.0
FIRST_SEEDED_ID = 1_000_000  # Telegram ids of the seeded owners; the waves' users come after
FIRST_ACTIVE_ID = 50_000_000
WAVE_TIMEOUT = 3600.0  # seconds; a wave of 1,000 users on a loaded 2-core machine takes over 10 min


def run() -> list[Figure]:
    return asyncio.run(_run())


async def _run() -> list[Figure]:
    from benchmarks.telegram_throughput import _postgres_database

    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="kc-memory-") as directory:
        root = Path(directory)
        (root / "sqlite").mkdir()
        figures += await _measure(
            "SQLite", f"sqlite+aiosqlite:///{root / 'sqlite' / 'bot.db'}", root / "sqlite"
        )
        async with _postgres_database() as url:
            if url is not None:
                (root / "pg").mkdir()
                figures += await _measure("PostgreSQL", url, root / "pg")
    return figures


async def _measure(label: str, url: str, directory: Path) -> list[Figure]:
    started = time.perf_counter()
    script = await seed(url, directory, SEEDED)
    seeded_in = time.perf_counter() - started
    samples: list[tuple[str, dict[str, float]]] = []
    from benchmarks._rig import rig

    async with rig() as driver, _bot(url, directory, driver) as (process, base):
        samples.append(("idle, up", memory_of(process.pid)))
        for wave in range(WAVES):
            first = FIRST_ACTIVE_ID + wave * 100_000
            telegram, _ = await asyncio.gather(
                driver.poll(script, TELEGRAM_USERS, first, WAVE_TIMEOUT), _web_users(base, WEB_USERS)
            )
            if telegram["failed_calls"] or telegram["updates"] != TELEGRAM_USERS * len(script):
                raise RuntimeError(
                    f"{label}: wave {wave + 1} did not finish cleanly: {telegram['failed_calls']}"
                )
            await asyncio.sleep(1)  # replies sent, nothing in hand
            samples.append((f"after wave {wave + 1}", memory_of(process.pid)))
        peak = memory_of(process.pid)["VmHWM"]
    figures = [Figure(f"{label}: seeded {SEEDED:,} drafts", seeded_in, "s", "bulk inserts")]
    for when, memory in samples:
        figures.append(Figure(f"{label}: bot RSS {when}", memory["VmRSS"], "MB"))
    users = TELEGRAM_USERS + WEB_USERS
    figures.append(
        Figure(
            f"{label}: bot peak RSS (VmHWM)",
            peak,
            "MB",
            f"goal ≤ {GOAL_MB:.0f}; {WAVES} waves of {users} users, {len(script)} Telegram steps each",
        )
    )
    for figure in figures:  # at once: the next backend takes a quarter of an hour
        print(f"  {figure.name:<44} {figure.value:>10.1f} {figure.unit}", flush=True)
    if peak > GOAL_MB:
        print(f"  {label}: peak RSS {peak:.1f} MB is over the {GOAL_MB:.0f} MB goal", flush=True)
    return figures


def memory_of(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM (peak) and friends of a process, in MB."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Vm") and value.strip().endswith("kB"):
            found[key] = int(value.split()[0]) / 1024
    return found


# --- seeding ------------------------------------------------------------------------------------------------


async def seed(url: str, directory: Path, drafts: int) -> list[tuple[str, int]]:
    """Migrate, walk a probe through the journey (the script every active user types), and
    copy the probe's account, facility, state and draft `drafts` times; return the script."""
    from sqlalchemy import insert, select

    from benchmarks.telegram_throughput import journey
    from conversations.dialogue import Dialogue
    from conversations.messages import TELEGRAM
    from conversations.programmes import load_programmes
    from handlers.runtime import Pipeline
    from storage.db import create_engine, session_factory
    from storage.files import FileStore
    from storage.migrate import migrate
    from storage.models import Account, Application, ConversationState, Facility, Identity

    engine = create_engine(url)
    try:
        await migrate(engine)
        sessions = session_factory(engine)
        dialogue = Dialogue(programmes=load_programmes(), files=FileStore(directory / "files"))
        script = await journey(Pipeline(sessions, dialogue), sessions)

        async with sessions() as session:
            identity = await session.scalar(select(Identity).where(Identity.external_id == "probe"))
            assert identity is not None
            account = await session.get(Account, identity.account_id)
            facility = await session.scalar(
                select(Facility).where(Facility.account_id == identity.account_id)
            )
            state = await session.get(ConversationState, identity.account_id)
            assert account is not None and facility is not None and state is not None
            draft = await session.scalar(select(Application).where(Application.facility_id == facility.id))
            assert draft is not None

            def columns(row: Any, *skip: str) -> dict[str, Any]:
                return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in skip}

            account_row = columns(account, "id")
            facility_row = columns(facility, "id", "account_id")
            state_row = columns(state, "account_id")
            draft_row = columns(draft, "id", "facility_id", "receipt_code")
            first = 1 + max(account.id, facility.id, draft.id)

        rng = random.Random(14)
        names = ("Cơ sở Mây tre", "Hợp tác xã Gốm", "Cơ sở Chế biến chè", "Xưởng Dệt thổ cẩm", "Cơ sở Mộc")
        villages = ("Phú Vinh", "Bát Tràng", "Vạn Phúc", "Thanh Hà", "Đồng Kỵ", "Tân Cương")
        async with engine.begin() as conn:
            for start in range(0, drafts, BATCH):
                ids = range(first + start, first + min(start + BATCH, drafts))
                people = [
                    (n, f"{rng.choice(names)} {rng.choice(villages)} {n}", f"09{rng.randrange(10**8):08d}")
                    for n in ids
                ]
                await conn.execute(insert(Account), [{**account_row, "id": n} for n, _, _ in people])
                await conn.execute(
                    insert(Identity),
                    [
                        {
                            "id": n,
                            "channel": TELEGRAM,
                            "external_id": str(FIRST_SEEDED_ID + n),
                            "account_id": n,
                            "reachable": True,
                        }
                        for n, _, _ in people
                    ],
                )
                await conn.execute(
                    insert(Facility),
                    [
                        {
                            **facility_row,
                            "id": n,
                            "account_id": n,
                            "name": name,
                            "phone": phone,
                            "tax_code": f"{rng.randrange(10**10):010d}",
                        }
                        for n, name, phone in people
                    ],
                )
                await conn.execute(
                    insert(ConversationState), [{**state_row, "account_id": n} for n, _, _ in people]
                )
                await conn.execute(
                    insert(Application),
                    [{**draft_row, "id": n, "facility_id": n} for n, _, _ in people],
                )
            if engine.dialect.name == "postgresql":
                # Explicit ids leave the sequences behind: the bot's own inserts must not collide.
                for table in ("accounts", "identities", "facilities", "applications"):
                    await conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                    )
        return script
    finally:
        await engine.dispose()


# --- the fake Bot API and the bot process ------------------------------------------------------------------


def bot_env(url: str, directory: Path, http_port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of one `python -m bot run`: this database, this port, no other channel."""
    from tests.two_workers import ROOT

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "ZALO_", "DATABASE_", "HTTP_", "PUBLIC_", "STAFF_"))
    }
    return env | {
        "DATABASE_URL": url,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(http_port),
        "FILES_DIR": str(directory / "files"),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        **(extra or {}),
    }


def telegram_env(driver: Any) -> dict[str, str]:
    """The Telegram channel of a `python -m bot run` on the rig's fake Bot API."""
    return {
        "TELEGRAM_BOT_TOKEN": driver.token,
        "TELEGRAM_API_BASE_URL": driver.base_url,
        "TELEGRAM_FILE_BASE_URL": driver.base_file_url,
    }


@contextlib.asynccontextmanager
async def bot_process(
    directory: Path, env: dict[str, str], name: str = "bot"
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """`python -m bot run` with `env`, up (every channel started); stopped with SIGTERM after."""
    import aiohttp

    from tests.two_workers import REQUEST_TIMEOUT, _until_up

    log = directory / f"worker-{name}.log"  # the name tests.two_workers shows when a worker exits
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=env, cwd=directory, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{env['HTTP_PORT']}"
    try:
        async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as http:
            await _until_up(http, base, process, directory, log)
        yield process, base
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def _bot(
    url: str, directory: Path, driver: Any
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    from tests.two_workers import free_port

    env = bot_env(url, directory, free_port(), telegram_env(driver))
    async with bot_process(directory, env) as running:
        yield running


async def _web_users(base: str, users: int) -> None:
    """`users` new web chat users side by side, each through onboarding and the facility profile.
    (Not tests.two_workers.converse: its 60 s per request and 100 connections are a test's
    bounds, and a saturated bot answering 1,000 users takes longer than that.)"""
    import aiohttp

    from tests.two_workers import WebUser, onboarding

    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as http:

        async def one() -> None:
            user = WebUser(http)
            for answer in onboarding():  # the whole of it: its length changes with the journey
                await user.say(base, answer)

        await asyncio.gather(*(one() for _ in range(users)))
