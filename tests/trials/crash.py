"""Crash trial: kill -9 `python -m bot run` at a random moment while 30 web-chat users answer.

Each user types the onboarding profile (14 messages, each with its own client id, as chat.js
sends them). The bot is killed with SIGKILL at a random moment, started again on the same
database and port, and every user whose request failed sends it again with the same client id
(the page's retry), until every message is acknowledged (HTTP 200). Then the database must show
every acknowledged answer stored exactly once:
- lost: an acknowledged update the bot never recorded, or a profile field that is not the answer
  given (the flow fell behind);
- applied twice: a user message twice in the transcript, or a profile field holding the answer
  meant for another question (the flow ran ahead).

`python -m tests.trials.crash [runs]` prints the figures; tests/trials/test_crash.py runs it.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sqlite3
import sys
import tempfile
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
USERS = 30
START_TIMEOUT = 120.0
TRIAL_TIMEOUT = 600.0  # a trial that cannot finish fails, with the reason, instead of hanging CI
# The apology (handlers' APOLOGY) says the message was not processed: the user types it again.
NOT_PROCESSED = ("not processed", "chưa xử lý được")


def script(n: int) -> list[tuple[str, str | None, str | None]]:
    """(text typed, Facility column, value stored) of user n's onboarding."""
    return [
        ("/start", None, None),
        ("I agree — continue in English", None, None),  # no language told: consent and English in one
        (f"Cơ sở Mây tre số {n}", "name", f"Cơ sở Mây tre số {n}"),
        ("Cooperative", "kind", "cooperative"),
        ("Thái Bình", "province", "Hưng Yên"),
        (f"Xã Phú Vinh {n}", "commune", f"Xã Phú Vinh {n}"),  # "Xã": the commune kind is not asked
        ("Yes", "craft_village", "1"),
        ("0100109106", "tax_code", "0100109106"),
        (f"Nguyễn Văn {n}", "contact_name", f"Nguyễn Văn {n}"),
        (f"09123456{n:02d}", "phone", f"09123456{n:02d}"),
        (f"Giỏ mây loại {n}", "products", f"Giỏ mây loại {n}"),
    ]


@dataclass
class Figures:
    trials: int = 0
    acknowledged: int = 0
    lost: int = 0
    applied_twice: int = 0
    kills: int = 0
    kills_mid_traffic: int = 0  # kills that cut at least one request short
    retried: int = 0  # requests sent again with their client id after a kill
    apologies: int = 0  # "not processed, try again" answers: typed again, not acknowledged
    dead_letters: Counter[str] = field(default_factory=Counter)  # by exception type
    problems: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Bot:
    """`python -m bot run` as its own process, on a database that outlives it."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir, self.port = workdir, port
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": f"sqlite+aiosqlite:///{self.workdir / 'bot.db'}",
            "FILES_DIR": str(self.workdir / "files"),
            "HTTP_PORT": str(self.port),
        }
        log = self.workdir / "bot.log"
        with log.open("ab") as sink:  # the child keeps its own copy of the descriptor
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=self.workdir, env=env,
                stdout=sink, stderr=sink,
            )  # fmt: skip
        # A loaded machine may need many seconds to import and migrate; a bot that exited says why.
        async with asyncio.timeout(START_TIMEOUT):
            while True:
                if self.process.returncode is not None:
                    tail = log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"the bot exited with {self.process.returncode}:\n{tail}")
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.close()
                    return
                except OSError:
                    await asyncio.sleep(0.05)

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            os.kill(self.process.pid, signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                await self.kill()


class Progress:
    """Acknowledged answers so far, and the moment the killer waits for."""

    def __init__(self, kill_after: int) -> None:
        self.count, self.kill_after = 0, kill_after
        self.reached = asyncio.Event()

    def acknowledged(self) -> None:
        self.count += 1
        if self.count >= self.kill_after:
            self.reached.set()


async def user(
    base: str, n: int, acknowledged: list[str], retried: list[int], progress: Progress, apologies: list[int]
) -> str:
    """One browser: every message retried with its client id until answered; returns the cookie."""
    jar = aiohttp.CookieJar(unsafe=True)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=timeout) as http:
        while True:
            try:
                async with http.get(base + "/api/chat/state") as response:
                    if response.status == 200:
                        break
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.1)
        for text, _, _ in script(n):
            client_id = uuid.uuid4().hex
            while True:
                try:
                    async with http.post(base + "/api/chat/send", json={"id": client_id, "text": text}) as r:
                        if r.status == 200:
                            replies = " ".join(m["text"] for m in (await r.json())["messages"])
                            if any(words in replies for words in NOT_PROCESSED):
                                apologies.append(n)
                                client_id = uuid.uuid4().hex  # typed again: a new message
                                continue
                            acknowledged.append(client_id)
                            progress.acknowledged()
                            break
                except (aiohttp.ClientError, TimeoutError):
                    pass
                retried.append(n)
                await asyncio.sleep(0.05 + random.random() * 0.1)
        return next(c.value for c in jar if c.key == "kc_web")


async def one_trial(workdir: Path, rng: random.Random, figures: Figures, users: int = USERS) -> None:
    bot = Bot(workdir, free_port())
    await bot.start()
    base = f"http://127.0.0.1:{bot.port}"
    acknowledged: list[list[str]] = [[] for _ in range(users)]
    # A random moment inside the traffic: after a random number of answers were acknowledged,
    # plus a random fraction of a request's time.
    progress = Progress(rng.randrange(1, users * len(script(0)) - users))
    retried: list[int] = []
    apologies: list[int] = []
    talking = [
        asyncio.create_task(user(base, n, acknowledged[n], retried, progress, apologies))
        for n in range(users)
    ]

    async def killer() -> None:
        await progress.reached.wait()
        await asyncio.sleep(rng.uniform(0.0, 0.02))
        await bot.kill()
        figures.kills += 1
        await asyncio.sleep(rng.uniform(0.0, 0.3))
        await bot.start()

    kill_task = asyncio.create_task(killer())
    try:
        # The killer's failure (a bot that does not come back) ends the trial at once: its
        # users would otherwise retry forever against a closed port.
        async with asyncio.timeout(TRIAL_TIMEOUT):
            cookies, _ = await asyncio.gather(asyncio.gather(*talking), kill_task)
    except BaseException:
        for task in [*talking, kill_task]:
            task.cancel()
        raise
    finally:
        await bot.stop()
    figures.retried += len(retried)
    figures.apologies += len(apologies)
    figures.kills_mid_traffic += bool(retried)
    check(workdir / "bot.db", cookies, acknowledged, figures)
    figures.trials += 1


def check(db: Path, cookies: list[str], acknowledged: list[list[str]], figures: Figures) -> None:
    with sqlite3.connect(db) as conn:
        processed = {
            row[0] for row in conn.execute("select update_id from processed_updates where channel='web'")
        }
        for (error,) in conn.execute("select error from dead_letters"):
            figures.dead_letters[error.strip().splitlines()[-1].split(":", 1)[0][:80]] += 1
        transcript: dict[str, int] = {}
        for (cid,) in conn.execute(
            "select json_extract(payload, '$.cid') from web_messages where direction = 'in'"
        ):
            transcript[cid] = transcript.get(cid, 0) + 1
        for n, cookie in enumerate(cookies):
            figures.acknowledged += len(acknowledged[n])
            for cid in acknowledged[n]:
                if cid not in processed:
                    figures.lost += 1
                    figures.problems.append(f"user {n}: acknowledged update never recorded")
                if transcript.get(cid, 0) > 1:
                    figures.applied_twice += 1
                    figures.problems.append(f"user {n}: a message twice in the transcript")
            columns = [c for _, c, _ in script(n) if c]
            row = conn.execute(
                f"select {', '.join(columns)} from facilities f join identities i on i.account_id = f.account_id "
                "where i.channel = 'web' and i.external_id = ?",
                (cookie,),
            ).fetchone()
            if row is None:
                figures.lost += 1
                figures.problems.append(f"user {n}: no profile saved")
                continue
            expected = [v for _, c, v in script(n) if c]
            for column, got, want in zip(columns, row, expected, strict=True):
                if str(got) != want:
                    others = {v for _, c, v in script(n) if c and c != column}
                    if str(got) in others:
                        figures.applied_twice += 1
                    else:
                        figures.lost += 1
                    figures.problems.append(f"user {n}: {column} is not the answer given")


async def run(trials: int, seed: int = 9, *, users: int = USERS, verbose: bool = False) -> Figures:
    rng = random.Random(seed)
    figures = Figures()
    for n in range(trials):
        with tempfile.TemporaryDirectory(prefix="kc-crash-") as tmp:
            await one_trial(Path(tmp), rng, figures, users)
        if verbose:
            print(f"trial {n + 1}: lost {figures.lost}, applied twice {figures.applied_twice}", flush=True)
    return figures


if __name__ == "__main__":
    result = asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 100, verbose=True))
    print(
        f"trials {result.trials}, kills {result.kills} ({result.kills_mid_traffic} mid-traffic), "
        f"retried requests {result.retried}, apologies {result.apologies} (dead letters "
        f"{dict(result.dead_letters)}), acknowledged answers {result.acknowledged}, "
        f"lost {result.lost}, applied twice {result.applied_twice}"
    )
    for problem in result.problems[:20]:
        print(" ", problem)
