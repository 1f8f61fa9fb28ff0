"""A fake Telegram Bot API server on 127.0.0.1, for running the real python-telegram-bot stack.

It speaks the Bot API's wire format (form or multipart requests, `{"ok": ..., "result": ...}`
answers, errors in the real envelope with the real HTTP status) so PTB behaves exactly as it would
against api.telegram.org: `RetryAfter` on 429, `Forbidden` on 403, `BadRequest` on 400.

What a test can do with it:
- see every call the bot made (`calls`, `calls_of`), and every message as the user sees it now
  (`messages`, after edits: a removed keyboard is really gone);
- act as users: queue updates for getUpdates (`enqueue`, honouring offset, limit and the long-poll
  timeout) or POST them to the webhook the bot registered (`post_webhook`, any secret);
- serve files: `add_file` registers bytes that getFile and `/file/bot<token>/<path>` hand out;
- make things go wrong: `fail_next` (one method, optionally for one chat, answers an error N
  times), `block` (403 "bot was blocked by the user"), rate limits per chat and overall that
  answer 429 with `retry_after` when exceeded, with timestamped counters to check a sender's pace.

It also enforces the limits Telegram enforces (text length, callback data bytes, answering a
callback query once), so a bot that breaks them fails here first.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

from tests.loopback import serve

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijkl"
BOT_ID = 123456789
BOT_USER = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Trợ lý Khuyến công (test)",
    "username": "khuyencong_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

# Methods that put a message in a chat: what rate limits count and what a block refuses.
SEND_METHODS = frozenset(
    {
        "sendMessage",
        "sendDocument",
        "sendPhoto",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
    }
)
EDIT_METHODS = frozenset({"editMessageText", "editMessageReplyMarkup", "editMessageCaption"})
# Parameters whose value PTB sends JSON-encoded; everything else is a plain string.
_JSON_PARAMS = frozenset(
    {
        "chat_id",
        "message_id",
        "reply_markup",
        "allowed_updates",
        "commands",
        "scope",
        "offset",
        "limit",
        "timeout",
        "show_alert",
        "cache_time",
        "drop_pending_updates",
        "max_connections",
        "disable_notification",
        "protect_content",
        "link_preview_options",
        "reply_parameters",
        "entities",
        "caption_entities",
        "user_id",
    }
)
BLOCKED = "Forbidden: bot was blocked by the user"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64


class ApiError(Exception):
    """An error answer in Telegram's envelope: {"ok": false, "error_code", "description", "parameters"}."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def too_many_requests(retry_after: int = 1) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)


def bad_request(what: str) -> ApiError:
    return ApiError(400, f"Bad Request: {what}")


@dataclass
class Call:
    """One request the bot made, as the server understood it."""

    method: str
    params: dict[str, Any]
    at: float  # the fake's clock (time.monotonic() plus `skipped`) when it arrived
    status: int = 200
    result: Any = None
    error: str | None = None
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # field -> (filename, bytes)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if isinstance(value, int | str) and str(value).lstrip("-").isdigit() else None


@dataclass
class BotMessage:
    """A message the bot sent, as it stands now in the user's chat."""

    chat_id: int
    message_id: int
    date: int
    text: str | None = None
    caption: str | None = None
    reply_markup: dict[str, Any] | None = None
    document: dict[str, Any] | None = None
    photo: list[dict[str, Any]] | None = None
    edits: int = 0

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Every inline button, row after row; [] when the keyboard is gone."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]

    @property
    def labels(self) -> list[str]:
        return [button["text"] for button in self.buttons]

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "date": self.date,
            "chat": {"id": self.chat_id, "type": "private", "first_name": "User"},
            "from": BOT_USER,
        }
        if self.text is not None:
            data["text"] = self.text
        if self.caption is not None:
            data["caption"] = self.caption
        if self.document is not None:
            data["document"] = self.document
        if self.photo is not None:
            data["photo"] = self.photo
        if self.reply_markup:
            data["reply_markup"] = self.reply_markup
        return data


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    file_size: int | None  # what Telegram reports; may differ from len(data) in a test on purpose


@dataclass
class Fault:
    method: str
    chat_id: int | None
    error: ApiError
    times: int


@dataclass
class RateLimits:
    """Limits the fake enforces on SEND_METHODS (None: unlimited). Telegram's are about 1 message
    per second per chat and 30 per second overall; tests choose their own to keep things quick."""

    per_chat: int | None = None
    per_chat_window: float = 1.0
    overall: int | None = None
    overall_window: float = 1.0
    retry_after: int = 1


@dataclass(frozen=True)
class FakeUser:
    id: int
    first_name: str = "Người dùng"
    language_code: str | None = "en"

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.language_code:
            data["language_code"] = self.language_code
        return data


class FakeTelegram:
    """The server. `async with FakeTelegram() as fake:` starts it on an ephemeral loopback port."""

    def __init__(self, token: str = TOKEN, *, rate_limits: RateLimits | None = None) -> None:
        self.token = token
        self.rate_limits = rate_limits or RateLimits()
        self.calls: list[Call] = []
        self.messages: dict[int, list[BotMessage]] = defaultdict(list)
        self.webhook: dict[str, Any] | None = None
        self.commands: dict[str | None, list[dict[str, str]]] = {}  # language_code -> commands
        self.blocked: dict[int, str] = {}  # chat id -> the 403 description
        self.downloads: list[str] = []  # file paths fetched
        self.confirmed = 0  # the highest update_id confirmed by a getUpdates offset
        # Timestamps (monotonic) of accepted sends, for pace assertions and the limits.
        self.sent_at: dict[int, deque[float]] = defaultdict(deque)
        self.sent_overall: deque[float] = deque()
        self.rejected_429 = 0
        # Seconds added to the fake's clock: a test that lets the bot skip a wait (a retry_after)
        # moves the platform's time on by as much, so the limits see the wait as done.
        self.skipped = 0.0
        # Awaited before a call is handled (may raise ApiError to refuse it) and before an accepted
        # call's answer goes back: a test holds a request there to kill the bot mid-request.
        self.before_handle: Callable[[Call], Awaitable[None]] | None = None
        self.before_reply: Callable[[Call], Awaitable[None]] | None = None
        self._updates: deque[dict[str, Any]] = deque()
        self._files: dict[str, StoredFile] = {}
        self._by_path: dict[str, StoredFile] = {}
        self._faults: list[Fault] = []
        self._answered: set[str] = set()
        self._queries: set[str] = set()
        self._waiters: set[asyncio.Future[None]] = set()
        self._update_ids = itertools.count(100_001)
        self._message_ids: dict[int, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self._incoming_ids = itertools.count(1_000_001)
        self._ids = itertools.count(1)
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self.port = 0

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner, self.port = await serve(app, shutdown_timeout=0.5)
        return self

    async def stop(self) -> None:
        self._closing = True
        self._notify()  # long polls still open return now instead of holding the shutdown
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL should be (PTB appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # --- what the bot did -------------------------------------------------------------------------

    def calls_of(self, method: str, chat_id: int | None = None, *, ok: bool | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == method and (chat_id is None or c.chat_id == chat_id) and (ok is None or c.ok == ok)
        ]

    def sent_texts(self, chat_id: int) -> list[str]:
        """Texts and captions of the messages the bot sent to a chat, oldest first."""
        return [m.text if m.text is not None else (m.caption or "") for m in self.messages[chat_id]]

    def last_message(self, chat_id: int) -> BotMessage:
        return self.messages[chat_id][-1]

    def message(self, chat_id: int, message_id: int) -> BotMessage:
        for m in self.messages[chat_id]:
            if m.message_id == message_id:
                return m
        raise KeyError((chat_id, message_id))

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        """Until `predicate()` holds, re-checked after every call the bot makes."""
        async with asyncio.timeout(within):
            await self._until(predicate)

    async def _until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            try:
                await waiter
            finally:
                self._waiters.discard(waiter)

    async def wait_confirmed(self, update_id: int, within: float = 10.0) -> None:
        """Until the bot confirmed `update_id` with a later getUpdates offset: PTB does that only
        after the update is in its queue."""
        await self.wait_for(lambda: self.confirmed >= update_id, within)

    # --- users ------------------------------------------------------------------------------------

    def message_update(self, user: FakeUser, text: str | None = None, **extra: Any) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._incoming_ids),
            "date": int(time.time()),
            "chat": {"id": user.id, "type": "private", "first_name": user.first_name},
            "from": user.to_api(),
            **extra,
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                length = len(text.split(" ", 1)[0])
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return {"update_id": next(self._update_ids), "message": message}

    def document_update(
        self,
        user: FakeUser,
        data: bytes,
        filename: str,
        mime_type: str,
        *,
        file_size: int | None = None,
    ) -> dict[str, Any]:
        stored = self.add_file(data, folder="documents", suffix=_suffix(filename), file_size=file_size)
        document: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": filename,
            "mime_type": mime_type,
        }
        if stored.file_size is not None:
            document["file_size"] = stored.file_size
        return self.message_update(user, document=document)

    def photo_update(
        self, user: FakeUser, data: bytes, *, media_group_id: str | None = None
    ) -> dict[str, Any]:
        """A photo as a phone sends it (two sizes); with `media_group_id`, one part of an album."""
        small = self.add_file(data[: max(1, len(data) // 4)], folder="photos", suffix=".jpg")
        large = self.add_file(data, folder="photos", suffix=".jpg")
        sizes = [
            {
                "file_id": f.file_id,
                "file_unique_id": f.file_unique_id,
                "width": w,
                "height": h,
                "file_size": f.file_size,
            }
            for f, w, h in ((small, 90, 120), (large, 960, 1280))
        ]
        extra = {"media_group_id": media_group_id} if media_group_id else {}
        return self.message_update(user, photo=sizes, **extra)

    def album_updates(self, user: FakeUser, photos: list[bytes]) -> list[dict[str, Any]]:
        """Photos sent together: Telegram delivers one update per photo, same media_group_id."""
        group = str(next(self._ids) + 9_000_000)
        return [self.photo_update(user, data, media_group_id=group) for data in photos]

    def callback_update(self, user: FakeUser, message: BotMessage, data: str) -> dict[str, Any]:
        """A tap on a button of `message` (it must be on the message's current keyboard)."""
        if data not in [b.get("callback_data") for b in message.buttons]:
            raise AssertionError(f"no button with data {data!r} on message {message.message_id}")
        query_id = str(next(self._ids) + 7_000_000)
        self._queries.add(query_id)
        query = {
            "id": query_id,
            "from": user.to_api(),
            "chat_instance": f"ci{user.id}",
            "data": data,
            "message": message.to_api(),
        }
        return {"update_id": next(self._update_ids), "callback_query": query}

    def member_update(self, user: FakeUser, old: str, new: str) -> dict[str, Any]:
        """The user blocked ("kicked") or unblocked ("member") the bot in their private chat."""

        def member(status: str) -> dict[str, Any]:
            data: dict[str, Any] = {"user": BOT_USER, "status": status}
            if status == "kicked":
                data["until_date"] = 0
            return data

        return {
            "update_id": next(self._update_ids),
            "my_chat_member": {
                "chat": {"id": user.id, "type": "private", "first_name": user.first_name},
                "from": user.to_api(),
                "date": int(time.time()),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            },
        }

    def enqueue(self, *updates: dict[str, Any]) -> None:
        """Make updates available to getUpdates (long polls waiting now return at once)."""
        self._updates.extend(updates)
        self._notify()

    def redeliver(self, update: dict[str, Any]) -> None:
        """Put an already confirmed update back, as Telegram does when the confirmation was lost."""
        self.confirmed = min(self.confirmed, update["update_id"] - 1)
        self.enqueue(update)

    async def post_webhook(
        self,
        update: dict[str, Any],
        *,
        secret: str | EllipsisType | None = ...,
        url: str | None = None,
    ) -> int:
        """POST an update to the registered webhook as Telegram does; returns the HTTP status.
        `secret` defaults to the registered secret_token; None sends no header."""
        if url is None:
            assert self.webhook is not None, "no webhook registered"
            url = self.webhook["url"]
        if secret is ...:
            secret = (self.webhook or {}).get("secret_token")
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        if self._client is None:
            self._client = ClientSession(timeout=ClientTimeout(total=30))
        async with self._client.post(url, json=update, headers=headers) as response:
            await response.read()
            return response.status

    def block(self, chat_id: int, description: str = BLOCKED) -> None:
        self.blocked[chat_id] = description

    def unblock(self, chat_id: int) -> None:
        self.blocked.pop(chat_id, None)

    # --- files ------------------------------------------------------------------------------------

    def add_file(
        self, data: bytes, *, folder: str = "documents", suffix: str = "", file_size: int | None = None
    ) -> StoredFile:
        n = next(self._ids)
        stored = StoredFile(
            file_id=f"BQACAgFILE{n:06d}",
            file_unique_id=f"AgADu{n:06d}",
            file_path=f"{folder}/file_{n}{suffix}",
            data=data,
            file_size=len(data) if file_size is None else file_size,
        )
        self._files[stored.file_id] = stored
        self._by_path[stored.file_path] = stored
        return stored

    # --- faults and limits ------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        chat_id: int | None = None,
        code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `method` (for `chat_id`, if given) with an error.
        `method` "download" makes file downloads fail."""
        if code == 429:
            error = too_many_requests(retry_after or 1)
        else:
            error = ApiError(code, description or _DEFAULT_DESCRIPTIONS.get(code, "Internal Server Error"))
        self._faults.append(Fault(method, chat_id, error, times))

    def _take_fault(self, method: str, chat_id: int | None) -> ApiError | None:
        for fault in self._faults:
            if fault.method == method and (fault.chat_id is None or fault.chat_id == chat_id):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault.error
        return None

    def _check_rate(self, chat_id: int | None, now: float) -> None:
        limits = self.rate_limits
        if limits.overall is not None:
            _expire(self.sent_overall, now - limits.overall_window)
            if len(self.sent_overall) >= limits.overall:
                self._reject(self.sent_overall[0] + limits.overall_window - now)
        if limits.per_chat is not None and chat_id is not None:
            chat = self.sent_at[chat_id]
            _expire(chat, now - limits.per_chat_window)
            if len(chat) >= limits.per_chat:
                self._reject(chat[0] + limits.per_chat_window - now)

    def _reject(self, wait: float) -> None:
        self.rejected_429 += 1
        raise too_many_requests(max(self.rate_limits.retry_after, math.ceil(wait)))

    # --- HTTP -------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params, files = await _read_params(request)
        call = Call(method=method, params=params, at=time.monotonic() + self.skipped, files=files)
        self.calls.append(call)
        handler = getattr(self, f"_m_{method}", None)
        try:
            if handler is None:
                raise ApiError(404, "Not Found")
            if self.before_handle is not None:
                await self.before_handle(call)
            fault = self._take_fault(method, call.chat_id)
            if fault is not None:
                raise fault
            if method in SEND_METHODS or method in EDIT_METHODS:
                if call.chat_id in self.blocked:
                    raise ApiError(403, self.blocked[call.chat_id])
            if method in SEND_METHODS:
                self._check_rate(call.chat_id, call.at)
            result = await handler(call)
            if method in SEND_METHODS:
                self.sent_overall.append(call.at)
                if call.chat_id is not None:
                    self.sent_at[call.chat_id].append(call.at)
        except ApiError as exc:
            call.status, call.error = exc.code, exc.description
            response = web.json_response(exc.body(), status=exc.code)
        else:
            call.result = result
            response = web.json_response({"ok": True, "result": result}, dumps=_dumps)
            if self.before_reply is not None:
                await self.before_reply(call)
        self._notify()
        return response

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        self.downloads.append(path)
        fault = self._take_fault("download", None)
        if fault is not None:
            return web.json_response(fault.body(), status=fault.code)
        stored = self._by_path.get(path)
        if stored is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.Response(body=stored.data, content_type="application/octet-stream")

    def _notify(self) -> None:
        """Wake everything waiting for a change (a call, a new update)."""
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    # --- methods ----------------------------------------------------------------------------------

    async def _m_getMe(self, call: Call) -> Any:
        return BOT_USER

    async def _m_getUpdates(self, call: Call) -> Any:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(call.params.get("offset") or 0)
        limit = int(call.params.get("limit") or 100)
        timeout = float(call.params.get("timeout") or 0)
        if offset > 0:
            self.confirmed = max(self.confirmed, offset - 1)
            while self._updates and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
        self._notify()
        if not self._updates and timeout > 0:
            try:
                async with asyncio.timeout(timeout):
                    await self._until(lambda: bool(self._updates) or self._closing)
            except TimeoutError:
                pass
        return list(itertools.islice(self._updates, limit))

    async def _m_setWebhook(self, call: Call) -> Any:
        url = str(call.params.get("url") or "")
        if not url:
            self.webhook = None
            return True
        if not url.startswith(("https://", "http://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = call.params.get("secret_token")
        if secret is not None and not (
            1 <= len(secret) <= 256 and all(c.isalnum() or c in "_-" for c in secret)
        ):
            raise bad_request("secret token contains unallowed characters")
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "allowed_updates": call.params.get("allowed_updates"),
            "max_connections": call.params.get("max_connections"),
        }
        return True

    async def _m_deleteWebhook(self, call: Call) -> Any:
        self.webhook = None
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_getWebhookInfo(self, call: Call) -> Any:
        info = self.webhook or {}
        return {"url": info.get("url", ""), "has_custom_certificate": False, "pending_update_count": 0}

    async def _m_setMyCommands(self, call: Call) -> Any:
        commands = call.params.get("commands") or []
        if not 0 < len(commands) <= 100:
            raise bad_request("commands list is empty or too long")
        for command in commands:
            name, description = command.get("command", ""), command.get("description", "")
            if not (1 <= len(name) <= 32 and name.islower() and name.replace("_", "").isalnum()):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[call.params.get("language_code") or None] = commands
        return True

    async def _m_sendMessage(self, call: Call) -> Any:
        chat_id = _require_chat(call)
        text = call.params.get("text") or ""
        if not text.strip():
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        markup = _check_markup(call.params.get("reply_markup"))
        message = self._new_message(chat_id, text=text, reply_markup=markup)
        return message.to_api()

    async def _m_sendDocument(self, call: Call) -> Any:
        chat_id = _require_chat(call)
        upload = call.files.get("document")
        if upload is None:
            raise bad_request("there is no document in the request")
        caption = call.params.get("caption")
        if caption is not None and len(caption) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        stored = self.add_file(upload[1], folder="documents", suffix=_suffix(upload[0]))
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": upload[0],
            "mime_type": "application/octet-stream",
            "file_size": len(upload[1]),
        }
        markup = _check_markup(call.params.get("reply_markup"))
        message = self._new_message(chat_id, caption=caption, document=document, reply_markup=markup)
        return message.to_api()

    async def _m_sendPhoto(self, call: Call) -> Any:
        chat_id = _require_chat(call)
        upload = call.files.get("photo")
        if upload is None:
            raise bad_request("there is no photo in the request")
        stored = self.add_file(upload[1], folder="photos", suffix=".jpg")
        photo = [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": 960,
                "height": 1280,
                "file_size": len(upload[1]),
            }
        ]
        markup = _check_markup(call.params.get("reply_markup"))
        message = self._new_message(
            chat_id, caption=call.params.get("caption"), photo=photo, reply_markup=markup
        )
        return message.to_api()

    async def _m_editMessageText(self, call: Call) -> Any:
        message = self._edited(call)
        text = call.params.get("text") or ""
        if not text.strip():
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT:
            raise bad_request("MESSAGE_TOO_LONG")
        if message.text is None:
            raise bad_request("there is no text in the message to edit")
        markup = _check_markup(call.params.get("reply_markup"))
        if text == message.text and markup == message.reply_markup:
            raise bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        message.text, message.reply_markup = text, markup
        message.edits += 1
        return message.to_api()

    async def _m_editMessageReplyMarkup(self, call: Call) -> Any:
        message = self._edited(call)
        markup = _check_markup(call.params.get("reply_markup"))
        if markup == message.reply_markup:
            raise bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        message.reply_markup = markup
        message.edits += 1
        return message.to_api()

    async def _m_answerCallbackQuery(self, call: Call) -> Any:
        query_id = str(call.params.get("callback_query_id") or "")
        if query_id not in self._queries or query_id in self._answered:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        self._answered.add(query_id)
        return True

    async def _m_getFile(self, call: Call) -> Any:
        stored = self._files.get(str(call.params.get("file_id") or ""))
        if stored is None:
            raise bad_request("invalid file_id")
        if (stored.file_size or 0) > 20 * 1024 * 1024:
            raise bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }

    def unanswered_queries(self) -> set[str]:
        return self._queries - self._answered

    def _new_message(self, chat_id: int, **fields: Any) -> BotMessage:
        message = BotMessage(
            chat_id=chat_id, message_id=next(self._message_ids[chat_id]), date=int(time.time()), **fields
        )
        self.messages[chat_id].append(message)
        return message

    def _edited(self, call: Call) -> BotMessage:
        chat_id = _require_chat(call)
        try:
            return self.message(chat_id, int(call.params.get("message_id") or 0))
        except KeyError:
            raise bad_request("message to edit not found") from None


_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    403: BLOCKED,
    500: "Internal Server Error",
    502: "Bad Gateway",
}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _expire(stamps: deque[float], before: float) -> None:
    while stamps and stamps[0] <= before:
        stamps.popleft()


def _suffix(filename: str) -> str:
    _, dot, ext = filename.rpartition(".")
    return f".{ext.lower()}" if dot and 0 < len(ext) <= 5 else ""


def _require_chat(call: Call) -> int:
    chat_id = call.chat_id
    if chat_id is None:
        raise bad_request("chat not found")
    return chat_id


def _check_markup(markup: Any) -> dict[str, Any] | None:
    """Telegram's checks on an inline keyboard: data of 1-64 bytes, text on every button, one of
    callback_data or url."""
    if not markup:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return markup
    for row in rows:
        for button in row:
            if not button.get("text"):
                raise bad_request("text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA:
                raise bad_request("BUTTON_DATA_INVALID")
            url = button.get("url")
            if data is None and url is None:
                raise bad_request("inline keyboard button must have exactly one of the optional fields")
            if url is not None and not url.startswith(("https://", "http://", "tg://")):
                raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")
    return markup if rows else None


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """The call's parameters, decoded as Telegram does: JSON-valued ones parsed, files apart."""
    params: dict[str, Any] = dict(request.query)
    files: dict[str, tuple[str, bytes]] = {}
    if request.content_type == "application/json":
        body = await request.json()
        params.update(body if isinstance(body, dict) else {})
        return params, files
    if request.can_read_body:
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                files[name] = (value.filename, value.file.read())
            else:
                params[name] = value
    for name in list(params):
        value = params[name]
        if name in _JSON_PARAMS and isinstance(value, str):
            try:
                params[name] = json.loads(value)
            except ValueError:
                pass
        elif isinstance(value, str) and value.startswith("attach://"):
            # sendDocument with a multipart upload names the part in the field.
            part = value.removeprefix("attach://")
            if part in files:
                files[name] = files.pop(part)
    return params, files
