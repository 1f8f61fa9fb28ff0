"""Inbound speed beside the peers a team would otherwise pick, in one invocation, rounds interleaved.

Every round runs, one after the other on the same fake Bot API (tests/fake_telegram.py, in a
child process with the load driver, flood control off): a bare python-telegram-bot echo bot, a
bare aiogram 3 echo bot, an aiogram 3 form bot keeping its FSM state and answers in Redis
(127.0.0.1:6379), our bot on SQLite and our bot on PostgreSQL (when one answers locally). Each
measured run is USERS users at once, MESSAGES messages each, closed loop (the next message when
the whole answer to the previous one has arrived). Our bot plays the real onboarding journey
(the first MESSAGES steps telegram_throughput's probe types); the peers answer each text once.

The machine is shared, so absolute rates are noisy: what counts is the ratio of medians over
ROUNDS interleaved rounds, printed with the load average at the start and the end. Beside the
rate, each bot's CPU time per update (its own process: this one for PTB and ours, the peer's for
aiogram, read from /proc) says what the rate would be on an idle core; it moves far less with the
load than the rate does.

aiogram and redis live only in benchmarks/.peers-venv (gitignored), created here on first use
with `python -m venv` and pip; they are never a dependency of the project.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks import Figure
from benchmarks.telegram_throughput import (
    TIMEOUT,
    EchoBot,
    Settings,
    _postgres_database,
    _server_main,
    check_arrival,
    expected_position,
    journey,
)

USERS = 50
MESSAGES = 20
WARMUP_USERS = 10
ROUNDS = 3
HERE = Path(__file__).resolve().parent
PEERS_VENV = HERE / ".peers-venv"
PEER_SCRIPT = HERE / "_aiogram_peer.py"
PEER_PACKAGES = ("aiogram>=3,<4", "redis>=5")


def peers_python() -> Path:
    """The peers venv's python, created (a minute, once) when missing."""
    python = PEERS_VENV / "bin" / "python"
    stamp = PEERS_VENV / ".installed"
    if not stamp.exists():
        print(f"  creating {PEERS_VENV} with {', '.join(PEER_PACKAGES)} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
        stamp.touch()
    return python


class AiogramPeer:
    """An aiogram bot in a process of its own (the peers venv), started and stopped per round."""

    def __init__(self, mode: str, port: int, token: str) -> None:
        self.mode, self.port, self.token = mode, port, token
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        prefix = f"kc-bench-{uuid.uuid4().hex[:8]}"
        self.process = await asyncio.create_subprocess_exec(
            str(peers_python()),
            str(PEER_SCRIPT),
            self.mode,
            str(self.port),
            self.token,
            prefix,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 60)
        if line.strip() != b"ready":
            raise RuntimeError(f"the aiogram {self.mode} peer did not start")

    async def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        await asyncio.wait_for(self.process.wait(), 30)

    def cpu_seconds(self) -> float:
        """The peer process's CPU time so far (user + system), from /proc."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class OursBot:
    """Our bot as `python -m bot run` builds it (bot.assembly's engine slots), a fresh
    TelegramChannel per round over one database."""

    def __init__(self, directory: Path, settings: Settings, database_url: str | None = None) -> None:
        self.directory, self.settings, self.database_url = directory, settings, database_url

    async def prepare(self) -> list[tuple[str, int]]:
        from bot.assembly import ENGINE_SLOTS, ENGINE_SLOTS_SQLITE
        from conversations.dialogue import Dialogue
        from conversations.programmes import load_programmes
        from handlers.runtime import Pipeline
        from storage.db import create_engine, session_factory
        from storage.files import FileStore
        from storage.migrate import migrate

        self.directory.mkdir(parents=True, exist_ok=True)
        url = self.database_url or f"sqlite+aiosqlite:///{self.directory / 'bench.db'}"
        self.engine = create_engine(url)
        await migrate(self.engine)
        self.sessions = session_factory(self.engine)
        self.files = FileStore(self.directory / "files")
        dialogue = Dialogue(programmes=load_programmes(), files=self.files)
        slots = ENGINE_SLOTS if self.database_url else ENGINE_SLOTS_SQLITE
        self.pipeline = Pipeline(self.sessions, dialogue, engine_slots=slots)
        script = (await journey(self.pipeline, self.sessions))[:MESSAGES]
        self.expected = await expected_position(self.pipeline, self.sessions, script)
        return script

    async def check(self, first_id: int, users: int) -> None:
        """Every user of the run walked the probe's journey (a benchmark of re-asked questions
        would flatter us)."""
        await check_arrival(self.sessions, self.expected, first_id, users)

    async def start(self) -> None:
        from handlers.channels.telegram.adapter import TelegramChannel
        from handlers.heap import settled_heap

        self.channel = TelegramChannel(self.settings, self.pipeline, self.sessions, self.files)
        await self.channel.start()
        # As `python -m bot run` serves (handlers/heap.py); only for our rounds, not the peers'.
        self.heap = settled_heap()
        self.heap.__enter__()

    async def stop(self) -> None:
        self.heap.__exit__(None, None, None)
        await self.channel.stop()


class PtbEcho:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def start(self) -> None:
        self.bot = EchoBot(self.settings)
        await self.bot.start()

    async def stop(self) -> None:
        await self.bot.stop()


def run() -> list[Figure]:
    return asyncio.run(_run())


def _cpu_seconds(bot: Any) -> float:
    """CPU time of the process the bot runs in: its own for an aiogram peer, else this one."""
    return bot.cpu_seconds() if isinstance(bot, AiogramPeer) else time.process_time()


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}"


async def _run() -> list[Figure]:
    from tests.fake_telegram import TOKEN

    peers_python()
    load_before = _load()
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(target=_server_main, args=(child,), daemon=True)
    server.start()

    async def receive() -> Any:
        waited = 0.0
        while not await asyncio.to_thread(parent.poll, 0.5):
            waited += 0.5
            if not server.is_alive() or waited > TIMEOUT:
                raise RuntimeError("the fake Bot API server process died or stalled")
        return parent.recv()

    rates: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}  # ms of CPU per update
    ids = iter(range(10_000, 100_000_000, 10_000))
    try:
        port = await receive()
        settings = Settings(
            telegram_token=TOKEN,
            telegram_api_base_url=f"http://127.0.0.1:{port}/bot",
            telegram_file_base_url=f"http://127.0.0.1:{port}/file/bot",
        )
        with tempfile.TemporaryDirectory(prefix="kc-peers-") as directory:
            sqlite = OursBot(Path(directory) / "sqlite", settings)
            script = await sqlite.prepare()
            one_each = [(text, 1) for text, _ in script]
            async with _postgres_database() as pg_url:
                bots: list[tuple[str, Any, list[tuple[str, int]]]] = [
                    ("PTB echo", PtbEcho(settings), one_each),
                    ("aiogram echo", AiogramPeer("echo", port, TOKEN), one_each),
                    ("aiogram form + Redis", AiogramPeer("form", port, TOKEN), one_each),
                    ("ours, SQLite", sqlite, script),
                ]
                if pg_url is not None:
                    pg = OursBot(Path(directory) / "pg", settings, database_url=pg_url)
                    bots.append(("ours, PostgreSQL", pg, await pg.prepare()))
                for _ in range(ROUNDS):
                    for label, bot, lines in bots:
                        await bot.start()
                        try:
                            parent.send(("run", lines, WARMUP_USERS, next(ids)))
                            await receive()
                            cpu_before = _cpu_seconds(bot)
                            first_id = next(ids)
                            parent.send(("run", lines, USERS, first_id))
                            result = await receive()
                            cpu_used = _cpu_seconds(bot) - cpu_before
                        finally:
                            await bot.stop()
                        if isinstance(bot, OursBot):
                            await bot.check(first_id, USERS)
                        if result["failed_calls"]:
                            raise RuntimeError(f"{label}: {result['failed_calls']} Bot API calls failed")
                        rate = result["updates"] / result["elapsed"]
                        per_update = cpu_used / result["updates"] * 1000
                        rates.setdefault(label, []).append(rate)
                        cpu.setdefault(label, []).append(per_update)
                        print(
                            f"  {label:<22} {rate:8.1f} updates/s  {per_update:5.2f} ms CPU/update  ({_load()})",
                            flush=True,
                        )
                await sqlite.engine.dispose()
                if pg_url is not None:
                    await pg.engine.dispose()
        parent.send(("stop",))
    finally:
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()

    load = f"{load_before} before, {_load()} after"
    median = {label: statistics.median(values) for label, values in rates.items()}
    figures = [
        Figure(f"{label}: updates/s (median)", value, "/s", " ".join(f"{r:.0f}" for r in rates[label]))
        for label, value in median.items()
    ]
    figures += [
        Figure(f"{label}: ms CPU per update (median)", statistics.median(values), "ms",
               " ".join(f"{v:.2f}" for v in values))
        for label, values in cpu.items()
    ]  # fmt: skip
    for ours in ("ours, SQLite", "ours, PostgreSQL"):
        if ours not in median:
            continue
        for peer, goal in (("aiogram form + Redis", "goal ≥ 100 %"), ("PTB echo", "goal ≥ 80 %")):
            figures.append(Figure(f"{ours} / {peer}", median[ours] / median[peer] * 100, "%", goal))
        figures.append(Figure(f"{ours} / aiogram echo", median[ours] / median["aiogram echo"] * 100, "%"))
    figures.append(Figure(f"{USERS} users × {MESSAGES} messages, {ROUNDS} rounds", ROUNDS, "", load))
    return figures
