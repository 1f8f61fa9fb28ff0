"""Telegram: updates per second and reply latency of our bot beside a bare python-telegram-bot echo bot.

Both bots poll the same fake Bot API server on loopback (benchmarks/_rig.py: the lean fake of
benchmarks/_fake_bot_api.py and the load driver, in a child process of their own), so the bot under
test has its own CPU and the server's work is not counted against it. The load is closed-loop, like people in a chat: USERS users at
once, each sending their next message as soon as the bot's whole answer to the previous one has
arrived. Latency is measured at the server: from the moment an update is available to getUpdates
to the moment the answer's last sendMessage arrives.

Our bot answers the real application journey, every step typed as a facility owner would (menu
choices by their number): /start, language, consent, the facility profile, /apply, the programme,
the selection questions and the dossier form up to the document checklist. Each update is a full
step: the update recorded once, the state loaded and locked, the answer validated, the state and
draft saved in one SQLite transaction, the reply rendered and sent. The echo bot answers the same
texts with one sendMessage each and touches no database; it is PTB as shipped, on its httpx
client, where ours runs PTB on its aiohttp client (handlers/channels/telegram/request.py), which
is most of why it needs less CPU per update than the echo bot despite its database. When PostgreSQL answers locally, our bot
runs once more on it (a throwaway database), where updates of different users overlap instead of
taking SQLite's single writer in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import Figure
from benchmarks._rig import LANGUAGE_CODE

USERS = 50  # people typing at the same time
WARMUP_USERS = 10
ROUNDS = 2  # measured runs per bot; the best counts
LIGHT_USERS = 4  # a light load, for the latency of one reply rather than of a queue
TIMEOUT = 600.0  # seconds for one measured run; a stall (a missing reply) fails loudly


@dataclass(frozen=True)
class Settings:
    """What the benchmark bots need of bot.config.Config."""

    telegram_token: str
    telegram_api_base_url: str
    telegram_file_base_url: str
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None


# --- the bots -------------------------------------------------------------------------------------------


class EchoBot:
    """The reference: python-telegram-bot as its examples show it, nothing in between."""

    def __init__(self, settings: Settings) -> None:
        from telegram import Update
        from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

        async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            assert update.message is not None and update.message.text is not None
            await update.message.reply_text(update.message.text)

        self.application = (
            ApplicationBuilder()
            .token(settings.telegram_token)
            .base_url(settings.telegram_api_base_url)
            .base_file_url(settings.telegram_file_base_url)
            .concurrent_updates(True)
            .build()
        )
        self.application.add_handler(MessageHandler(filters.TEXT, echo))

    async def start(self) -> None:
        await self.application.initialize()
        await self.application.start()
        assert self.application.updater is not None
        await self.application.updater.start_polling(timeout=30)

    async def stop(self) -> None:
        assert self.application.updater is not None
        await self.application.updater.stop()
        await self.application.stop()
        await self.application.shutdown()


@dataclass
class Ours:
    """Our bot as `python -m bot run` builds it: pipeline, dialogue, SQLite (or the PostgreSQL
    at `database_url`), TelegramChannel."""

    directory: Path
    settings: Settings
    database_url: str | None = None

    async def prepare(self) -> list[tuple[str, int]]:
        from bot.assembly import ENGINE_SLOTS, ENGINE_SLOTS_SQLITE
        from conversations.dialogue import Dialogue
        from conversations.programmes import load_programmes
        from handlers.channels.telegram.adapter import TelegramChannel
        from handlers.runtime import Pipeline
        from storage.db import create_engine, session_factory
        from storage.files import FileStore
        from storage.migrate import migrate

        url = self.database_url or f"sqlite+aiosqlite:///{self.directory / 'bench.db'}"
        self.engine = create_engine(url)
        await migrate(self.engine)
        self.sessions = session_factory(self.engine)
        self.files = FileStore(self.directory / "files")
        dialogue = Dialogue(programmes=load_programmes(), files=self.files)
        slots = ENGINE_SLOTS if self.database_url else ENGINE_SLOTS_SQLITE
        pipeline = Pipeline(self.sessions, dialogue, engine_slots=slots)
        script = await journey(pipeline, self.sessions)
        self.expected = await expected_position(pipeline, self.sessions, script)
        self.channel = TelegramChannel(self.settings, pipeline, self.sessions, self.files)
        return script

    async def start(self) -> None:
        await self.channel.start()

    async def stop(self) -> None:
        await self.channel.stop()


def _typed(user_id: str, update_id: str, text: str) -> Any:
    """What the Telegram channel makes of `text` typed by one of the driver's people."""
    from conversations.messages import TELEGRAM, Incoming, command_of

    command = command_of(text)
    return Incoming(
        channel=TELEGRAM,
        user_id=user_id,
        update_id=update_id,
        text=None if command else text,
        command=command[0] if command else None,
        command_args=command[1] if command else "",
        locale_hint=LANGUAGE_CODE,
    )


async def _position(sessions: Any, user_ids: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """(flow, step) of each of these Telegram users, as stored."""
    from sqlalchemy import select

    from storage.models import ConversationState, Identity

    async with sessions() as s:
        rows = await s.execute(
            select(Identity.external_id, ConversationState.flow, ConversationState.step)
            .join(ConversationState, ConversationState.account_id == Identity.account_id)
            .where(Identity.external_id.in_(user_ids))
        )
        return {external_id: (flow, step) for external_id, flow, step in rows}


async def expected_position(
    pipeline: Any, sessions: Any, script: list[tuple[str, int]]
) -> tuple[str | None, str | None]:
    """Where a user stands after typing `script` (a second probe replays it): a measured run is
    only the journey if every one of its users stands there too (`check_arrival`)."""
    for number, (text, _) in enumerate(script):
        await pipeline.handle(_typed("probe-replay", f"replay-{number}", text))
    return (await _position(sessions, ["probe-replay"]))["probe-replay"]


async def check_arrival(
    sessions: Any, expected: tuple[str | None, str | None], first_id: int, users: int
) -> None:
    """Fail the benchmark when a user of the run did not walk the probe's journey."""
    ids = [str(first_id + i) for i in range(users)]
    found = await _position(sessions, ids)
    astray = [found.get(i) for i in ids if found.get(i) != expected]
    if astray:
        raise RuntimeError(f"{len(astray)} of {users} users ended at {astray[0]}, not at {expected}")


async def journey(pipeline: Any, sessions: Any) -> list[tuple[str, int]]:
    """Walk a probe user through the journey with the real pipeline, typing every answer; return
    what to type at each step and how many messages the answer has (every user gets the same)."""
    from tests.test_flows import FORM_ANSWERS, PROFILE_EN, SELECTION_ANSWERS

    answers = {**dict(PROFILE_EN), **SELECTION_ANSWERS, **FORM_ANSWERS}
    preferred = ("English", "I agree", "Save the profile", "typical rural industrial products")
    script: list[tuple[str, int]] = []
    counter = iter(range(1, 10_000))

    async def say(text: str) -> list[Any]:
        outs = await pipeline.handle(_typed("probe", f"probe-{next(counter)}", text))
        script.append((text, len(outs)))
        return outs

    class State:
        def __init__(self, flow: str | None, step: str | None) -> None:
            self.flow, self.step = flow, step

    async def state() -> State:
        return State(*(await _position(sessions, ["probe"]))["probe"])

    outs = await say("/start")
    applied = False
    for _ in range(100):
        current = await state()
        step = current.step or ""
        if step == "documents":
            return script
        menu: list[Any] = next((m.choices for m in reversed(outs) if m.choices), [])
        if current.flow is None and not applied:
            outs, applied = await say("/apply"), True
            continue
        if any(c.payload.startswith(f"{step}:") for c in menu):
            wanted = answers.get(step)
            index = next(
                (i for i, c in enumerate(menu) if wanted in (c.payload.split(":", 1)[1], c.label)),
                next((i for i, c in enumerate(menu) if any(p in c.label for p in preferred)), 0),
            )
            outs = await say(str(index + 1))
        elif step in answers:
            outs = await say(answers[step])
        elif menu:
            index = next((i for i, c in enumerate(menu) if any(p in c.label for p in preferred)), 0)
            outs = await say(str(index + 1))
        else:
            raise RuntimeError(f"the probe is stuck at step {step!r}")
    raise RuntimeError("the probe never reached the document checklist")


# --- the run ----------------------------------------------------------------------------------------------


class StubPipeline:
    """Stands in for the engine to show what the adapter and PTB cost alone: one message back per
    update, no database, like the echo bot."""

    default_locale = "vi"

    def __init__(self) -> None:
        from handlers.runtime import UserTurns

        self._turns = UserTurns()

    def turn(self, channel: str, user_id: str, *, across_processes: bool = False) -> Any:
        return self._turns.turn(channel, user_id)

    async def deliver(self, channel: str, user_id: str, call: Any, classify: Any) -> Any:
        return await call()

    async def handle(self, incoming: Any) -> list[Any]:
        from conversations.messages import Outgoing

        return [Outgoing(text=incoming.text or f"/{incoming.command}")]

    async def locale_of(self, channel: str, user_id: str, hint: str | None = None) -> str:
        return "vi"

    # The rest of the runtime's interface, never reached while every update is answered.
    async def failed(self, channel: str, update_id: str, exc: BaseException) -> None:
        return None

    async def first_delivery(self, channel: str, update_id: str) -> bool:
        return True

    async def apology(self, channel: str, user_id: str, hint: str | None = None) -> str:
        return ""

    async def set_unreachable(self, channel: str, user_id: str, reason: str) -> None:
        return None

    async def set_reachable(self, channel: str, user_id: str) -> None:
        return None


def run() -> list[Figure]:
    return asyncio.run(_run())


async def _run() -> list[Figure]:
    from benchmarks._rig import rig

    async with rig() as driver:
        settings = Settings(
            telegram_token=driver.token,
            telegram_api_base_url=driver.base_url,
            telegram_file_base_url=driver.base_file_url,
        )
        with tempfile.TemporaryDirectory(prefix="kc-bench-") as directory:
            ours = Ours(Path(directory), settings)
            script = await ours.prepare()
            one_each = [(text, 1) for text, _ in script]
            ids = iter(range(10_000, 10_000_000, 10_000))

            async def measure(bot: Any, lines: list[tuple[str, int]]) -> dict[str, Any]:
                """Warm up, then the best of ROUNDS runs (other work on the machine only slows)."""
                await bot.start()
                try:
                    await driver.poll(lines, WARMUP_USERS, next(ids), TIMEOUT)
                    best: dict[str, Any] | None = None
                    for _ in range(ROUNDS):
                        first_id = next(ids)
                        result = await driver.poll(lines, USERS, first_id, TIMEOUT)
                        if isinstance(bot, Ours):  # every user walked the probe's journey
                            await check_arrival(bot.sessions, bot.expected, first_id, USERS)
                        if best is None or result["elapsed"] < best["elapsed"]:
                            best = result
                    assert best is not None
                    best["light"] = await driver.poll(lines, LIGHT_USERS, next(ids), TIMEOUT)
                    return best
                finally:
                    await bot.stop()

            from handlers.channels.telegram.adapter import TelegramChannel

            stub = TelegramChannel(settings, StubPipeline(), ours.sessions, ours.files)
            echo = await measure(EchoBot(settings), one_each)
            adapter = await measure(_Running(stub), one_each)
            mine = await measure(ours, script)
            await ours.engine.dispose()
            on_postgres = None
            async with _postgres_database() as url:
                if url is not None:
                    pg = Ours(Path(directory) / "pg", settings, database_url=url)
                    (Path(directory) / "pg").mkdir()
                    pg_script = await pg.prepare()
                    on_postgres = await measure(pg, pg_script)
                    await pg.engine.dispose()

    replies = sum(n for _, n in script) / len(script)
    figures: list[Figure] = []
    runs = [
        ("echo bot (bare PTB)", echo),
        ("our adapter, engine stubbed", adapter),
        ("our bot (application step)", mine),
    ]
    if on_postgres is not None:
        runs.append(("our bot on PostgreSQL, one process", on_postgres))
    for label, result in runs:
        if result["failed_calls"]:
            raise RuntimeError(f"{label}: {result['failed_calls']} Bot API calls failed during the run")
        latencies = sorted(result["latencies"])
        light = sorted(result["light"]["latencies"])
        figures += [
            Figure(
                f"{label}: updates/s",
                _rate(result),
                "/s",
                f"{result['updates']} updates, {USERS} users at once",
            ),
            Figure(f"{label}: reply latency p50", statistics.median(latencies) * 1000, "ms", "saturated"),
            Figure(f"{label}: reply latency p99", _percentile(latencies, 0.99) * 1000, "ms", "saturated"),
            Figure(f"{label}: light load p50", statistics.median(light) * 1000, "ms", f"{LIGHT_USERS} users"),
            Figure(f"{label}: light load p99", _percentile(light, 0.99) * 1000, "ms", f"{LIGHT_USERS} users"),
        ]
    if on_postgres is not None:
        figures.append(
            Figure("ours on PostgreSQL / echo throughput", _rate(on_postgres) / _rate(echo) * 100, "%")
        )
    figures += [
        Figure("adapter stubbed / echo throughput", _rate(adapter) / _rate(echo) * 100, "%"),
        Figure(
            "ours / echo throughput",
            _rate(mine) / _rate(echo) * 100,
            "%",
            f"goal ≥ 80 %; ours sends {replies:.2f} messages per update",
        ),
    ]
    return figures


@dataclass
class _Running:
    """A TelegramChannel with the start/stop the measuring loop expects."""

    channel: Any

    async def start(self) -> None:
        await self.channel.start()

    async def stop(self) -> None:
        await self.channel.stop()


def _rate(result: dict[str, Any]) -> float:
    return float(result["updates"] / result["elapsed"])


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextlib.asynccontextmanager
async def _postgres_database() -> AsyncIterator[str | None]:
    """A throwaway database on the local PostgreSQL (TEST_POSTGRES_URL), or None when none answers."""
    import asyncpg

    admin_url = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        admin = await asyncio.wait_for(asyncpg.connect(admin_url), timeout=3)
    except Exception:
        yield None
        return
    name = f"kc_bench_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
