"""A fake Zalo Official Account platform on 127.0.0.1: OA Open API, OAuth v4 and ZNS on one port.

Written from ../shared/reference/platforms.md section D. What it assumes (each a fact the real
platform may contradict; the channel isolates the same facts, see README "Zalo Official Account"):
- answers are `{"error": 0, "message": "Success", "data": {...}}`; a failure has a negative
  `error` and HTTP 200;
- `POST /v3.0/oa/message/cs` and `POST /message/template` take the access token in an
  `access_token` header; an unknown or expired token is error -216;
- a consultation message to a user whose last interaction (an event this fake delivered, or
  one set with `interacted`) is 7 days old or more is refused with -230; its text is 1–2000
  characters; at most 5 buttons;
- `POST /v4/oa/access_token` is form-encoded (`app_id`, `grant_type=refresh_token`,
  `refresh_token`) with the app secret in a `secret_key` header; every refresh returns a new
  access token (`expires_in` 90000 unless told otherwise) and a new refresh token, and the old
  refresh token is spent: using it again is error -14014;
- ZNS wants the phone as 84 and nine digits, a known template id, `template_data` and a
  `tracking_id`; it answers `msg_id` and, like resellers' APIs, `fee_main`;
- webhook events are signed `X-ZEvent-Signature: mac=sha256(app_id + body + timestamp + OA
  secret key)`, `timestamp` being the body's field (epoch milliseconds as a string);
- files and photos users send are URLs this fake hosts.
A test can hold the next ZNS request (recorded, unanswered) to kill a worker mid-request, and
slow refreshes down to make two of them overlap.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from tests.loopback import serve

APP_ID = "1234567890123456789"
SECRET_KEY = "oa-webhook-secret-key"
APP_SECRET = "app-secret-for-oauth"
FIRST_REFRESH = "refresh-0"
WINDOW = timedelta(days=7)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class FakeZaloOa:
    def __init__(self, *, clock: Callable[[], datetime] = _utcnow, expires_in: int = 90000) -> None:
        self.clock = clock
        self.expires_in = expires_in
        self.refresh_delay = 0.0
        self.valid_refresh = {FIRST_REFRESH}
        self.access: dict[str, datetime] = {}  # access token -> expiry
        self.refreshes = 0
        self.spent_refresh_uses = 0  # a spent refresh token presented again
        self.interactions: dict[str, datetime] = {}
        self.cs: list[dict[str, Any]] = []  # consultation message bodies, in order
        self.zns: list[dict[str, Any]] = []  # ZNS bodies, in order
        self.templates = {"100001", "100002", "100003", "100004", "100005"}
        self.files: dict[str, bytes] = {}
        self.hold_zns: asyncio.Event | None = None  # set: answer held ZNS requests
        self.zns_received = asyncio.Event()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v4/oa/access_token", self._refresh)
        app.router.add_post("/v3.0/oa/message/cs", self._cs)
        app.router.add_post("/message/template", self._zns)
        app.router.add_get("/files/{name}", self._file)
        self._runner, port = await serve(app)
        self.base = f"http://127.0.0.1:{port}"
        return self.base

    async def stop(self) -> None:
        if self.hold_zns is not None:
            self.hold_zns.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- scripting ----------------------------------------------------------------------------

    def texts(self, user_id: str) -> list[str]:
        return [m["message"]["text"] for m in self.cs if m["recipient"]["user_id"] == user_id]

    def buttons(self, index: int = -1) -> list[dict[str, Any]]:
        attachment = self.cs[index]["message"].get("attachment") or {}
        return list((attachment.get("payload") or {}).get("buttons") or [])

    def interacted(self, user_id: str, at: datetime) -> None:
        self.interactions[user_id] = at

    def host(self, name: str, data: bytes) -> str:
        self.files[name] = data
        return f"{self.base}/files/{name}"

    def expire_all_access_tokens(self) -> None:
        self.access.clear()

    def msg_id(self) -> str:
        return f"oamsg{next(self._ids):06d}"

    def event(self, name: str, user_id: str, message: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "app_id": APP_ID,
            "event_name": name,
            "sender": {"id": user_id},
            "recipient": {"id": "oa-4321"},
            "timestamp": str(int(time.time() * 1000)),
            "user_id_by_app": "app-" + user_id,
        }
        if name in ("follow", "unfollow"):
            body["follower"] = {"id": user_id}
        if message is not None:
            body["message"] = {"msg_id": self.msg_id(), **message}
        return body

    def text_event(self, user_id: str, text: str) -> dict[str, Any]:
        return self.event("user_send_text", user_id, {"text": text})

    def file_event(self, user_id: str, url: str, name: str, size: int) -> dict[str, Any]:
        payload = {"url": url, "name": name, "size": str(size), "type": "pdf"}
        return self.event("user_send_file", user_id, {"attachments": [{"type": "file", "payload": payload}]})

    def image_event(self, user_id: str, url: str) -> dict[str, Any]:
        payload = {"url": url, "thumbnail": url}
        return self.event(
            "user_send_image", user_id, {"attachments": [{"type": "image", "payload": payload}]}
        )

    @staticmethod
    def sign(raw: bytes, timestamp: str, *, secret_key: str = SECRET_KEY) -> str:
        return (
            "mac="
            + hashlib.sha256(APP_ID.encode() + raw + timestamp.encode() + secret_key.encode()).hexdigest()
        )

    async def deliver(self, event: dict[str, Any], url: str, *, signature: str | None = None) -> int:
        """POST the event as Zalo does; the signature is right unless one is given."""
        raw = json.dumps(event, ensure_ascii=False).encode("utf-8")
        if signature is None:
            signature = self.sign(raw, str(event.get("timestamp", "")))
        if event.get("event_name", "").startswith(("user_send", "follow")):
            self.interactions[str((event.get("sender") or {}).get("id"))] = self.clock()
        headers = {"Content-Type": "application/json"}
        if signature:
            headers["X-ZEvent-Signature"] = signature
        async with aiohttp.ClientSession() as http, http.post(url, data=raw, headers=headers) as resp:
            await resp.read()
            return resp.status

    async def deliver_together(self, events: list[dict[str, Any]], url: str) -> list[int]:
        """POST several events at once, one request each, as Zalo delivers the photos a user
        picked together (the order they reach the bot is not promised)."""
        return list(await asyncio.gather(*(self.deliver(event, url) for event in events)))

    # --- the platform -------------------------------------------------------------------------

    @staticmethod
    def _error(code: int, message: str) -> web.Response:
        return web.json_response({"error": code, "message": message})

    def _token_ok(self, request: web.Request) -> bool:
        expiry = self.access.get(request.headers.get("access_token", ""))
        return expiry is not None and expiry > self.clock()

    async def _refresh(self, request: web.Request) -> web.Response:
        form = await request.post()
        if request.headers.get("secret_key") != APP_SECRET or form.get("app_id") != APP_ID:
            return web.json_response({"error": -14002, "error_name": "invalid app secret"})
        if form.get("grant_type") != "refresh_token":
            return web.json_response({"error": -14003, "error_name": "invalid grant type"})
        token = str(form.get("refresh_token") or "")
        if token not in self.valid_refresh:
            self.spent_refresh_uses += 1
            return web.json_response({"error": -14014, "error_name": "invalid refresh token"})
        self.valid_refresh.discard(token)  # single use, spent at once
        if self.refresh_delay:
            await asyncio.sleep(self.refresh_delay)
        self.refreshes += 1
        access, refresh = f"access-{self.refreshes}", f"refresh-{self.refreshes}"
        self.access[access] = self.clock() + timedelta(seconds=self.expires_in)
        self.valid_refresh.add(refresh)
        return web.json_response(
            {"access_token": access, "refresh_token": refresh, "expires_in": str(self.expires_in)}
        )

    async def _cs(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return self._error(-216, "Access token is invalid")
        body = await request.json()
        user_id = str((body.get("recipient") or {}).get("user_id") or "")
        message = body.get("message") or {}
        text = message.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= 2000:
            return self._error(-201, "text must be 1-2000 characters")
        buttons = ((message.get("attachment") or {}).get("payload") or {}).get("buttons") or []
        if len(buttons) > 5:
            return self._error(-201, "at most 5 buttons")
        last = self.interactions.get(user_id)
        if last is None or self.clock() - last >= WINDOW:
            return self._error(-230, "User has not interacted with the OA in the last 7 days")
        self.cs.append(body)
        return web.json_response(
            {"error": 0, "message": "Success", "data": {"message_id": self.msg_id(), "user_id": user_id}}
        )

    async def _zns(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return self._error(-216, "Access token is invalid")
        body = await request.json()
        if not re.fullmatch(r"84\d{9}", str(body.get("phone") or "")):
            return self._error(-108, "Phone number is invalid")
        if str(body.get("template_id")) not in self.templates:
            return self._error(-1124, "Template is not approved")
        if not isinstance(body.get("template_data"), dict) or not body.get("tracking_id"):
            return self._error(-1123, "template_data and tracking_id are required")
        self.zns.append(body)
        self.zns_received.set()
        if self.hold_zns is not None:
            await self.hold_zns.wait()
        return web.json_response(
            {
                "error": 0,
                "message": "Success",
                "data": {"msg_id": self.msg_id(), "fee_main": 330, "sent_time": str(int(time.time() * 1000))},
            }
        )

    async def _file(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")
