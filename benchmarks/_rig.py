"""The benchmarks' rig: the fake Bot API (benchmarks/_fake_bot_api.py) and the load driver, in one
child process of their own, started here and nowhere else (`async with rig() as r:`).

A child process, so that its CPU is never counted as the bot's and is read apart: `cpu_seconds()`
from /proc, what every benchmark prints per update as the rig's cost (D). It runs on uvloop when
uvloop is installed (the dev extra; never a runtime dependency of the bot): the rig's event loop
is most of its cost.

The driver plays users in a closed loop, like people in a chat: USERS users at once, each sending
their next message once the bot's whole answer to the previous one has arrived. Two ways in:
- `poll`: the update is queued for getUpdates (the bot long-polls the fake); the answer has
  arrived when the chat has received as many sendMessage as the script's line says;
- `post`: the update is POSTed to a webhook, in turn to each of the bases given (a load
  balancer's round robin), on keep-alive connections; the request returns once the bot has
  handled the update and sent its replies, which must then number what the line says.
A user whose answer never comes stalls the run for `within` seconds, then fails it; an answer of the
wrong length fails it at once. Each run returns its updates, elapsed time, per-reply latencies
(from the update being available to the answer's last sendMessage), the Bot API calls by
method and the failed ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from benchmarks import cpu_seconds
from benchmarks._fake_bot_api import TOKEN, UPDATE_HEAD, LeanBotApi, update_rest

# The driver's people have Telegram set to English; the probe that writes their script must speak
# with the same hint, or the bot's first menus differ and every "4" or "1" of the script picks
# something else (it once left every user re-asked the province question from message 4 on).
LANGUAGE_CODE = "en"
Script = list[tuple[str, int]]  # (text typed, messages the answer has)


@dataclass(frozen=True)
class Webhooks:
    """Where `post` sends updates: `base + path` of each base in turn, with the secret header."""

    bases: list[str]
    path: str
    secret: str


class Rig:
    """The parent's handle on the rig process."""

    token = TOKEN

    def __init__(self, process: multiprocessing.process.BaseProcess, conn: Connection) -> None:
        self.process, self._conn = process, conn
        self.port = 0  # the fake Bot API's, once the process has said it

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL should be (the Bot API client appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def cpu_seconds(self) -> float:
        """The rig process's CPU time so far (user + system)."""
        return cpu_seconds(self.pid)

    async def poll(self, script: Script, users: int, first_id: int, within: float = 600.0) -> dict[str, Any]:
        """`users` users typing `script`, their updates taken by the bot's getUpdates."""
        return await self._command(("poll", script, users, first_id, within), within)

    async def post(
        self, webhooks: Webhooks, script: Script, users: int, first_id: int, within: float = 600.0
    ) -> dict[str, Any]:
        """`users` users typing `script`, each update POSTed to the next of `webhooks`."""
        return await self._command(("post", webhooks, script, users, first_id, within), within)

    async def _command(self, command: tuple[Any, ...], within: float) -> Any:
        self._conn.send(command)
        return await self._receive(within + 30)

    async def _receive(self, within: float) -> Any:
        waited = 0.0
        while not await asyncio.to_thread(self._conn.poll, 0.5):
            waited += 0.5
            if not self.process.is_alive() or waited > within:
                raise RuntimeError("the rig process (fake Bot API and load driver) died or stalled")
        answer = self._conn.recv()
        if isinstance(answer, BaseException):
            raise answer
        return answer


@contextlib.asynccontextmanager
async def rig() -> AsyncIterator[Rig]:
    """The rig process, up; stopped after."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_main, args=(child,), daemon=True)
    process.start()
    try:
        handle = Rig(process, parent)
        handle.port = await handle._receive(60)
        yield handle
        parent.send(("stop",))
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()


# --- in the rig process -------------------------------------------------------------------------------


def _main(conn: Connection) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(conn))
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_serve(conn))


async def _serve(conn: Connection) -> None:
    api = await LeanBotApi().start()
    conn.send(api.port)
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command[0] == "stop":
            break
        try:
            run = _poll if command[0] == "poll" else _post
            conn.send(await run(api, *command[1:]))
        except RuntimeError as exc:  # the parent raises it
            conn.send(exc)
        except Exception as exc:  # one whose pickle may not load: named
            conn.send(RuntimeError(f"{type(exc).__name__}: {exc}"))
    await api.stop()


def _scripts(script: Script, ids: range) -> dict[int, list[bytes]]:
    """Each user's updates, serialised before the clock starts."""
    date = int(time.time())
    return {i: [update_rest(i, text, LANGUAGE_CODE, date) for text, _ in script] for i in ids}


def _result(
    api: LeanBotApi, latencies: list[float], elapsed: float, before: tuple[Counter[str], int]
) -> dict[str, Any]:
    methods = api.methods - before[0]
    return {
        "updates": len(latencies),
        "elapsed": elapsed,
        "latencies": latencies,
        "api_calls": sum(methods.values()),
        "failed_calls": api.failed - before[1],
        "methods": dict(methods),
    }


async def _poll(api: LeanBotApi, script: Script, users: int, first_id: int, within: float) -> dict[str, Any]:
    updates = _scripts(script, range(first_id, first_id + users))
    wanted = [replies for _, replies in script]
    position = dict.fromkeys(updates, 0)
    seen = dict.fromkeys(updates, 0)
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()
    finished = 0
    before = (api.methods.copy(), api.failed)

    def send_next(chat_id: int) -> None:
        sent_at[chat_id] = time.perf_counter()
        api.enqueue(updates[chat_id][position[chat_id]])

    def on_send(chat_id: int) -> None:
        nonlocal finished
        if chat_id not in seen:
            return
        seen[chat_id] += 1
        if seen[chat_id] < wanted[position[chat_id]]:
            return
        latencies.append(time.perf_counter() - sent_at[chat_id])
        seen[chat_id] = 0
        position[chat_id] += 1
        if position[chat_id] < len(script):
            send_next(chat_id)
        else:
            finished += 1
            if finished == users:
                done.set()

    api.on_send = on_send
    started = time.perf_counter()
    for chat_id in updates:
        send_next(chat_id)
    try:
        await asyncio.wait_for(done.wait(), within)
    except TimeoutError:
        waiting = users - finished
        raise RuntimeError(
            f"{waiting} of {users} users still wait for an answer after {within:.0f} s"
        ) from None
    finally:
        api.on_send = None
    return _result(api, latencies, time.perf_counter() - started, before)


async def _post(
    api: LeanBotApi, webhooks: Webhooks, script: Script, users: int, first_id: int, within: float
) -> dict[str, Any]:
    updates = _scripts(script, range(first_id, first_id + users))
    sent: dict[int, int] = dict.fromkeys(updates, 0)
    latencies: list[float] = []
    turn = 0
    before = (api.methods.copy(), api.failed)

    def on_send(chat_id: int) -> None:
        if chat_id in sent:
            sent[chat_id] += 1

    async def one(chat_id: int) -> None:
        nonlocal turn
        connections = [_Keepalive(base, webhooks.path, webhooks.secret) for base in webhooks.bases]
        try:
            for rest, (_, replies) in zip(updates[chat_id], script, strict=True):
                connection = connections[turn % len(connections)]
                turn += 1
                update_id = api.next_update_id()
                already = sent[chat_id]
                started = time.perf_counter()
                status = await connection.post(UPDATE_HEAD % (update_id, update_id) + rest)
                if status != 200:
                    raise RuntimeError(f"a worker answered {status}")
                latencies.append(time.perf_counter() - started)
                if sent[chat_id] - already != replies:
                    raise RuntimeError("a worker answered otherwise than the journey expects")
        finally:
            for connection in connections:
                connection.close()

    api.on_send = on_send
    started = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*(one(chat_id) for chat_id in updates)), within)
    finally:
        api.on_send = None
    return _result(api, latencies, time.perf_counter() - started, before)


class _Keepalive:
    """One HTTP/1.1 connection to a webhook, kept open across a user's updates: a POST of a
    serialised body, the answer's status read and its body skipped."""

    def __init__(self, base: str, path: str, secret: str) -> None:
        host, _, port = base.removeprefix("http://").rstrip("/").partition(":")
        self.host, self.port = host, int(port or 80)
        self.head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"X-Telegram-Bot-Api-Secret-Token: {secret}\r\nContent-Length: "
        ).encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(self.head + b"%d\r\n\r\n" % len(body) + body)
        head = (await self.reader.readuntil(b"\r\n\r\n")).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            raise RuntimeError("a webhook answered without a Content-Length")
        await self.reader.readexactly(int(head[at + 17 : head.find(b"\r\n", at + 2)]))
        if b"\r\nconnection: close" in head:
            self.close()
        return int(head.split(b" ", 2)[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
