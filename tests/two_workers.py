"""Two `python -m bot run` processes on one PostgreSQL database, reached through the web chat:
what issue 9 #4 asks of a deployment with several workers behind a load balancer. Used by
tests/test_two_workers.py (a short run in `make test`) and tests/trials/ (50 users x 10)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from conversations.i18n import translator
from handlers.runtime import APOLOGY
from storage.models import DeadLetter
from tests.test_flows import PROFILE_EN

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=60)  # a request stuck on a lock fails the test, not hangs it
APOLOGIES = {translator("vi")(APOLOGY), translator("en")(APOLOGY)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def two_workers(
    engine: AsyncEngine, directory: Path, env_for: Callable[[int], dict[str, str]] | None = None
) -> AsyncIterator[list[str]]:
    """Start two workers on the (already migrated) database, each with `env_for(its port)` added
    to its environment; yield their base URLs."""
    url = engine.url.render_as_string(hide_password=False)
    processes: list[asyncio.subprocess.Process] = []
    bases: list[str] = []
    try:
        for n in range(2):
            port = free_port()
            env = {
                key: value
                for key, value in os.environ.items()
                if not key.startswith(("TELEGRAM_", "ZALO_", "DATABASE_", "HTTP_", "PUBLIC_"))
            }
            env |= {
                "DATABASE_URL": url,
                "HTTP_HOST": "127.0.0.1",
                "HTTP_PORT": str(port),
                "FILES_DIR": str(directory / "files"),
                "PYTHONPATH": str(ROOT),
                "PYTHONUNBUFFERED": "1",  # the "ready" line reaches the log at once
                **(env_for(port) if env_for else {}),
            }
            log = (directory / f"worker{n}.log").open("wb")
            processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot", "run", env=env, cwd=directory, stdout=log, stderr=log
                )
            )
            bases.append(f"http://127.0.0.1:{port}")
        async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as http:
            for n, (base, process) in enumerate(zip(bases, processes, strict=True)):
                await _until_up(http, base, process, directory, directory / f"worker{n}.log")
        yield bases
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _until_up(http: aiohttp.ClientSession, base: str, process: Any, directory: Path, log: Path) -> None:
    """Until the worker has started every channel: the web chat answers as soon as the server
    listens, but a Telegram webhook still answers 503 until its channel has started, so the line
    `run` prints once everything is up is what counts."""
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            if process.returncode is not None:
                logs = "\n".join(p.read_text(errors="replace") for p in directory.glob("worker*.log"))  # noqa: ASYNC240
                raise AssertionError(f"a worker exited with {process.returncode}:\n{logs}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(base + "/api/chat/state") as resp:
                    if resp.status == 200 and "Ctrl+C to stop" in log.read_text(errors="replace"):  # noqa: ASYNC240
                        return
            await asyncio.sleep(0.05)


@dataclass
class WebUser:
    """A browser whose requests a load balancer sends to either worker."""

    http: aiohttp.ClientSession
    cookie: str = field(default_factory=lambda: "w2" + uuid.uuid4().hex)
    last: list[dict[str, Any]] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)

    async def post(self, base: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(
            base + "/api/chat/send", json=body, headers={"Cookie": f"kc_web={self.cookie}"}
        ) as resp:
            assert resp.status == 200, (resp.status, await resp.text())
            data: dict[str, Any] = await resp.json()
        if data["messages"]:
            self.last = data["messages"]
        return data

    def body_for(self, answer: str) -> dict[str, Any]:
        """A tap when a button of the last answer carries `answer`, else typed text."""
        for message in self.last:
            for choice in message.get("choices") or []:
                if answer.lower() in choice["label"].lower():
                    return {"id": uuid.uuid4().hex, "choice": choice["payload"], "label": choice["label"]}
        return {"id": uuid.uuid4().hex, "text": answer}

    async def say(self, base: str, answer: str) -> dict[str, Any]:
        data = await self.post(base, self.body_for(answer))
        for message in data["messages"]:
            labels = [c["label"] for c in message.get("choices") or []]
            self.transcript.append(message["text"] + (" " + repr(labels) if labels else ""))
        return data


def onboarding() -> list[str]:
    """A new user's messages from /start to a saved facility profile, as a facility owner types them."""
    return ["/start", "I agree — continue in English", *(answer for _, answer in PROFILE_EN)]


def script(length: int) -> list[str]:
    """A new user's first `length` messages of `onboarding`."""
    answers = onboarding()
    assert length <= len(answers)
    return answers[:length]


async def converse(bases: list[str], users: int, length: int, *, alternate: bool) -> list[list[str]]:
    """Each user's transcript; users side by side, each message sent after the previous answer,
    to the workers in turn (`alternate`) or always to the first."""
    async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as http:

        async def one(n: int) -> list[str]:
            user = WebUser(http)
            for i, answer in enumerate(script(length)):
                await user.say(bases[i % 2] if alternate else bases[0], answer)
            return user.transcript

        return list(await asyncio.gather(*(one(n) for n in range(users))))


async def dead_letters(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(DeadLetter)) or 0)


SECRET = "two-workers-secret"


@dataclass
class TelegramUser:
    """A Telegram user whose updates Telegram delivers to either worker's webhook."""

    fake: Any  # tests.fake_telegram.FakeTelegram
    http: aiohttp.ClientSession
    user: Any  # tests.fake_telegram.FakeUser
    transcript: list[str] = field(default_factory=list)

    async def post(self, base: str, update: dict[str, Any]) -> None:
        from handlers.channels.telegram.registration import SECRET_HEADER, webhook_path
        from tests.fake_telegram import TOKEN

        async with self.http.post(
            base + webhook_path(TOKEN), json=update, headers={SECRET_HEADER: SECRET}
        ) as resp:
            assert resp.status == 200, resp.status

    def update_for(self, answer: str) -> dict[str, Any]:
        sent = self.fake.messages[self.user.id]
        if sent:
            for button in sent[-1].buttons:
                if answer.lower() in button["text"].lower() and "callback_data" in button:
                    return dict(self.fake.callback_update(self.user, sent[-1], button["callback_data"]))
        return dict(self.fake.message_update(self.user, answer))

    async def say(self, base: str, answer: str) -> None:
        mark = len(self.fake.messages[self.user.id])
        await self.post(base, self.update_for(answer))
        self.transcript += self.fake.sent_texts(self.user.id)[mark:]


def telegram_env(fake: Any) -> Callable[[int], dict[str, str]]:
    from tests.fake_telegram import TOKEN

    def env(port: int) -> dict[str, str]:
        return {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "TELEGRAM_FILE_BASE_URL": fake.base_file_url,
            "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}",
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
        }

    return env
