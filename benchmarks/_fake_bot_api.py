"""A lean fake Telegram Bot API for the benchmarks: a raw asyncio Protocol speaking HTTP/1.1 with
canned answers (the tests' fake is tests/fake_telegram.py, which this is not).

Why a second fake: tests/fake_telegram.py is built to check a bot (aiohttp's router and request
objects, every call recorded with its parsed parameters, Telegram's limits enforced, messages kept
as the user sees them). On this 2-core machine the benchmarks' fake and load driver take their CPU
from the same cores as the bot they measure: on main, 0.6-0.96 ms per update, a quarter of what the
bot itself costs, which in production sits on Telegram's machines, not ours. This one does per call
only what a benchmark needs: find the method in the request line, the chat id in the body (one
regular expression over JSON, form or multipart bodies alike), count it, and write an answer
formatted from a template.

What the bots measured call, and are answered:
- getMe, getWebhookInfo, setWebhook / deleteWebhook, setMyCommands / deleteMyCommands,
  answerCallbackQuery, close: what Telegram answers, canned;
- getUpdates: long polling (offset confirms, limit, timeout) over updates the driver queued,
  pre-serialised;
- sendMessage, editMessageText, editMessageReplyMarkup: a message of the right chat, each
  sendMessage passed to `on_send` with its chat id (the driver's closed loop counts replies).
Any other method answers 404 in Telegram's envelope and counts as a failed call, as does a call
with a wrong token or without a chat id: the benchmark fails on a failed call, so a bot calling
something this fake does not know shows up rather than being answered wrongly.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import cast

from tests.fake_telegram import TOKEN

BOT_USER = (
    b'{"id":123456789,"is_bot":true,"first_name":"Bench","username":"khuyencong_bench_bot",'
    b'"can_join_groups":false,"can_read_all_group_messages":false,"supports_inline_queries":false}'
)
TRUE = b'{"ok":true,"result":true}'
CANNED = {
    b"getMe": b'{"ok":true,"result":' + BOT_USER + b"}",
    b"getWebhookInfo": b'{"ok":true,"result":{"url":"","has_custom_certificate":false,"pending_update_count":0}}',
    b"setWebhook": TRUE,
    b"deleteWebhook": TRUE,
    b"setMyCommands": TRUE,
    b"deleteMyCommands": TRUE,
    b"answerCallbackQuery": TRUE,
    b"close": TRUE,
}
MESSAGE = b'{"ok":true,"result":{"message_id":%d,"date":%d,"chat":{"id":%d,"type":"private"},"text":"."}}'
SENT = frozenset({b"sendMessage"})
EDITED = frozenset({b"editMessageText", b"editMessageReplyMarkup"})
NOT_FOUND = b'{"ok":false,"error_code":404,"description":"Not Found"}'
UNAUTHORIZED = b'{"ok":false,"error_code":401,"description":"Unauthorized"}'
NO_CHAT = b'{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}'
LENGTH_REQUIRED = b'{"ok":false,"error_code":411,"description":"Length Required"}'
REASONS = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 404: b"Not Found", 411: b"Length Required"}

# A parameter's number in a JSON body ("chat_id": 5), a form (chat_id=5) or a multipart part
# (name="chat_id"\r\n\r\n5): the one shape of parsing each call needs.
_NUMBER = rb'(?:"\s*:\s*"?|=|"\r\n(?:[^\r\n]+\r\n)*\r\n)(-?[0-9.]+)'
_CHAT_ID = re.compile(rb"chat_id" + _NUMBER)
_MESSAGE_ID = re.compile(rb"message_id" + _NUMBER)
_OFFSET = re.compile(rb"offset" + _NUMBER)
_LIMIT = re.compile(rb"limit" + _NUMBER)
_TIMEOUT = re.compile(rb"timeout" + _NUMBER)


def _number(pattern: re.Pattern[bytes], body: bytes, default: float) -> float:
    found = pattern.search(body)
    return float(found.group(1)) if found else default


def update_rest(user_id: int, text: str, language_code: str, date: int) -> bytes:
    """An update with a text message from a private chat, serialised once, all but its leading
    `{"update_id":N,"message":{"message_id":N,` which the fake writes when it queues it (the driver
    POSTing to a webhook writes them itself). Shaped as tests/fake_telegram.FakeTelegram's
    message_update (a command carries its bot_command entity)."""
    user = {"id": user_id, "is_bot": False, "first_name": "Người dùng", "language_code": language_code}
    message: dict[str, object] = {
        "date": date,
        "chat": {"id": user_id, "type": "private", "first_name": "Người dùng"},
        "from": user,
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split(" ", 1)[0])}]
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))[1:].encode() + b"}"


UPDATE_HEAD = b'{"update_id":%d,"message":{"message_id":%d,'


class LeanBotApi:
    """The server. `await LeanBotApi().start()`; `port` once started."""

    def __init__(self, token: str = TOKEN) -> None:
        self.prefix = f"/bot{token}/".encode()
        self.port = 0
        self.on_send: Callable[[int], None] | None = None  # a sendMessage's chat id, once answered
        self.methods: Counter[str] = Counter()  # calls per method, what the report shows
        self.failed = 0  # calls answered with an error
        self._updates: deque[tuple[int, bytes]] = deque()
        self._next_update = 100_001
        self._next_message = 1
        self._polls: dict[_Connection, tuple[int, asyncio.TimerHandle]] = {}  # parked long polls
        self._server: asyncio.Server | None = None

    async def start(self) -> LeanBotApi:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for connection in list(self._polls):
            self._answer_poll(connection)
        if self._server is not None:
            self._server.close()

    def next_update_id(self) -> int:
        """An update id for an update POSTed to a webhook (one sequence with the queued ones)."""
        self._next_update += 1
        return self._next_update

    def enqueue(self, rest: bytes) -> None:
        """Queue an update for getUpdates (`rest` from `update_rest`); a parked long poll
        returns it at once."""
        update_id = self.next_update_id()
        self._updates.append((update_id, UPDATE_HEAD % (update_id, update_id) + rest))
        for connection in list(self._polls):
            self._answer_poll(connection)

    def handle(self, connection: _Connection, target: bytes, body: bytes) -> None:
        """Answer one request, or park a long poll until an update comes or its timeout ends."""
        if not target.startswith(self.prefix):
            return self.fail(connection, 401, UNAUTHORIZED)
        method = target[len(self.prefix) :].partition(b"?")[0]
        self.methods[method.decode()] += 1
        if method in SENT or method in EDITED:
            found = _CHAT_ID.search(body)
            if found is None:
                return self.fail(connection, 400, NO_CHAT)
            chat_id = int(found.group(1))
            if method in SENT:
                self._next_message += 1
                message_id = self._next_message
            else:
                message_id = int(_number(_MESSAGE_ID, body, 1))
            connection.respond(200, MESSAGE % (message_id, int(time.time()), chat_id))
            if method in SENT and self.on_send is not None:
                self.on_send(chat_id)
        elif method == b"getUpdates":
            self._get_updates(connection, body)
        elif method in CANNED:
            connection.respond(200, CANNED[method])
        else:
            self.fail(connection, 404, NOT_FOUND)

    def fail(self, connection: _Connection, status: int, body: bytes) -> None:
        self.failed += 1
        connection.respond(status, body)

    def _get_updates(self, connection: _Connection, body: bytes) -> None:
        offset = int(_number(_OFFSET, body, 0))
        limit = int(_number(_LIMIT, body, 100))
        if offset > 0:
            while self._updates and self._updates[0][0] < offset:
                self._updates.popleft()
        timeout = _number(_TIMEOUT, body, 0)
        if self._updates or timeout <= 0:
            self._send_updates(connection, limit)
            return
        handle = asyncio.get_running_loop().call_later(timeout, self._answer_poll, connection)
        self._polls[connection] = (limit, handle)
        connection.parked = True

    def _answer_poll(self, connection: _Connection) -> None:
        parked = self._polls.pop(connection, None)
        if parked is None:
            return
        limit, handle = parked
        handle.cancel()
        connection.parked = False
        self._send_updates(connection, limit)
        connection.resume()

    def _send_updates(self, connection: _Connection, limit: int) -> None:
        updates = [update for _, update in list(self._updates)[:limit]]
        connection.respond(200, b'{"ok":true,"result":[' + b",".join(updates) + b"]}")

    def forget(self, connection: _Connection) -> None:
        """A connection closed (a poller stopped): its parked poll answers nobody."""
        parked = self._polls.pop(connection, None)
        if parked is not None:
            parked[1].cancel()


class _Connection(asyncio.Protocol):
    """One client connection: HTTP/1.1 requests in turn, kept alive; a parked long poll holds the
    requests after it (clients do not pipeline behind one)."""

    def __init__(self, api: LeanBotApi) -> None:
        self.api = api
        self.buffer = bytearray()
        self.parked = False
        self.closing = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.api.forget(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.resume()

    def resume(self) -> None:
        """Handle every complete request buffered, unless one is parked."""
        while not self.parked and self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            raw = bytes(self.buffer[:end])
            head = raw.lower()
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop > 0 else len(head)])
            elif b"\r\ntransfer-encoding:" in head:  # no client of ours chunks a request: say so
                self.closing = True
                del self.buffer[:]
                self.api.fail(self, 411, LENGTH_REQUIRED)
                return
            if len(self.buffer) < end + 4 + length:
                return
            target = raw.split(b"\r\n", 1)[0].split(b" ", 2)[1]
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            self.closing = b"\r\nconnection: close" in head
            self.api.handle(self, target, body)

    def respond(self, status: int, body: bytes) -> None:
        if self.transport is None:
            return
        self.transport.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (status, REASONS[status], len(body), body)
        )
        if self.closing:
            self.transport.close()
