"""A fake Zalo Bot Platform API on 127.0.0.1, for the channel's tests.

It speaks what the Zalo Bot Platform documents: `POST /bot<TOKEN>/<method>` with JSON,
answered with `{ok, result, error_code, description}`; getUpdates hands out ONE event per call
(no offset), or `ok:false, error_code:408` when the long poll ends empty; setWebhook wants an
HTTPS URL and an 8-256 character secret; sendMessage wants 1-2000 characters. It also hosts the
photos users "send" (Zalo gives the bot a URL), delivers webhook events the way Zalo does (one
JSON object, the secret in `X-Bot-Api-Secret-Token`), and can be told to fail a method.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from tests.loopback import serve

TOKEN = "12345689:fake-zalo-token"


def number_in(texts: list[str], label_part: str) -> str:
    """The number a numbered menu (how Zalo, Bot or OA, shows choices) gives the option
    containing `label_part`, read from the latest message up."""
    for line in reversed("\n".join(texts).splitlines()):
        found = re.match(r"^(\d+)\. (.*)$", line)
        if found and label_part.lower() in found.group(2).lower():
            return found.group(1)
    joined = "\n---\n".join(texts)
    raise AssertionError(f"no option {label_part!r} in:\n{joined}")


class FakeZalo:
    def __init__(self, token: str = TOKEN, *, max_wait: float = 0.5) -> None:
        self.token = token
        self.max_wait = max_wait  # seconds a getUpdates waits here at most, whatever it asks
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.sent: list[dict[str, Any]] = []  # sendMessage bodies, in order
        self.webhook: dict[str, str] | None = None
        self.photos: dict[str, bytes] = {}
        self.failures: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()  # set by stop(): a getUpdates waiting here answers at once
        self.base = ""

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._api)
        app.router.add_get("/photos/{name}", self._photo)
        self._runner, port = await serve(app)
        self.base = f"http://127.0.0.1:{port}"
        return self.base

    async def stop(self) -> None:
        # The bot's stop() drops its long poll, but aiohttp lets the handler run on to its end,
        # and cleanup() waits for it: wake it instead of waiting out `max_wait`.
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- scripting ---------------------------------------------------------------------------------

    def fail(
        self, method: str, error_code: int, description: str = "error", *, http_status: int = 200
    ) -> None:
        """The next call of `method` answers `ok:false` with this code (queued, one per call)."""
        body = {"ok": False, "error_code": error_code, "description": description}
        self.failures.setdefault(method, []).append((http_status, body))

    def host_photo(self, name: str, data: bytes) -> str:
        self.photos[name] = data
        return f"{self.base}/photos/{name}"

    def message_id(self) -> str:
        return f"msg{next(self._ids):06d}"

    def text_event(self, chat_id: str, text: str, *, message_id: str | None = None) -> dict[str, Any]:
        return self._event("message.text.received", chat_id, {"text": text}, message_id)

    def image_event(self, chat_id: str, url: str, caption: str | None = None) -> dict[str, Any]:
        extra: dict[str, Any] = {"photo": url}
        if caption:
            extra["caption"] = caption
        return self._event("message.image.received", chat_id, extra, None)

    def sticker_event(self, chat_id: str) -> dict[str, Any]:
        return self._event(
            "message.sticker.received", chat_id, {"sticker": "d063f44dc80821567819", "url": "x"}, None
        )

    def voice_event(self, chat_id: str) -> dict[str, Any]:
        return self._event("message.voice.received", chat_id, {"voice_url": f"{self.base}/v.aac"}, None)

    def withheld_event(self, chat_id: str) -> dict[str, Any]:
        return self._event("message.unsupported.received", chat_id, {}, None)

    def _event(
        self, name: str, chat_id: str, extra: dict[str, Any], message_id: str | None
    ) -> dict[str, Any]:
        message = {
            "from": {"id": chat_id, "display_name": "Chị Lan", "is_bot": False},
            "chat": {"id": chat_id, "chat_type": "PRIVATE"},
            "message_id": message_id or self.message_id(),
            "date": int(time.time() * 1000),
            **extra,
        }
        return {"event_name": name, "message": message}

    def push(self, *events: dict[str, Any]) -> None:
        """Queue events for getUpdates (polling mode), handed out one per call in this order: several
        at once are a burst, as the Zalo app sends the photos picked together."""
        for event in events:
            self.events.put_nowait(event)

    async def deliver(self, event: dict[str, Any], server: str, *, secret: str | None = None) -> int:
        """POST an event to the registered webhook as Zalo does; `server` stands for the public
        address (a reverse proxy in front of our server), the path is the registered one.
        `secret` overrides the registered secret ("" sends no header); returns the HTTP status."""
        assert self.webhook is not None, "no webhook registered"
        headers = {"Content-Type": "application/json"}
        value = self.webhook["secret_token"] if secret is None else secret
        if value:
            headers["X-Bot-Api-Secret-Token"] = value
        url = server + urlsplit(self.webhook["url"]).path
        body = json.dumps({"ok": True, "result": event}, ensure_ascii=False)
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, data=body.encode(), headers=headers) as resp,
        ):
            return resp.status

    async def deliver_together(self, events: list[dict[str, Any]], server: str) -> list[int]:
        """POST several events at once, one request each, as Zalo delivers a burst of photos."""
        return list(await asyncio.gather(*(self.deliver(event, server) for event in events)))

    def texts(self, chat_id: str) -> list[str]:
        return [m["text"] for m in self.sent if m["chat_id"] == chat_id]

    def called(self, method: str) -> list[dict[str, Any]]:
        return [body for name, body in self.calls if name == method]

    # --- the API ------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return _answer({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            return _answer({"ok": False, "error_code": 400, "description": "Bad Request: invalid JSON"}, 400)
        self.calls.append((method, body))
        queued = self.failures.get(method)
        if queued:
            status, answer = queued.pop(0)
            return _answer(answer, status)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _answer({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        return await handler(body)

    async def _m_getMe(self, body: dict[str, Any]) -> web.Response:
        result = {
            "id": "1234",
            "account_name": "Bot Khuyen Cong",
            "account_type": "BASIC",
            "can_join_groups": False,
        }
        return _ok(result)

    async def _m_getUpdates(self, body: dict[str, Any]) -> web.Response:
        if self.webhook is not None:
            return _answer({"ok": False, "error_code": 409, "description": "Conflict: webhook is set"}, 409)
        wait = min(float(body.get("timeout") or 30), self.max_wait)
        getting = asyncio.ensure_future(self.events.get())
        closing = asyncio.ensure_future(self._closing.wait())
        await asyncio.wait({getting, closing}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        closing.cancel()
        if not getting.done():
            getting.cancel()
            return _answer({"ok": False, "error_code": 408, "description": "Request timeout"})
        return _ok(getting.result())

    async def _m_setWebhook(self, body: dict[str, Any]) -> web.Response:
        url, secret = body.get("url"), body.get("secret_token")
        if not isinstance(url, str) or not url.startswith("https://"):
            return _answer({"ok": False, "error_code": 400, "description": "Bad Request: url must be https"})
        if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
            return _answer({"ok": False, "error_code": 400, "description": "Bad Request: secret_token"})
        self.webhook = {"url": url, "secret_token": secret}
        return _ok({"url": url, "updated_at": int(time.time() * 1000)})

    async def _m_deleteWebhook(self, body: dict[str, Any]) -> web.Response:
        self.webhook = None
        return _ok({"url": "", "updated_at": int(time.time() * 1000)})

    async def _m_getWebhookInfo(self, body: dict[str, Any]) -> web.Response:
        url = self.webhook["url"] if self.webhook else ""
        return _ok({"url": url, "updated_at": int(time.time() * 1000)})

    async def _m_sendMessage(self, body: dict[str, Any]) -> web.Response:
        text, chat_id = body.get("text"), body.get("chat_id")
        if not isinstance(chat_id, str) or not chat_id:
            return _answer({"ok": False, "error_code": 400, "description": "Bad Request: chat_id"})
        if not isinstance(text, str) or not 1 <= len(text) <= 2000:
            return _answer({"ok": False, "error_code": 400, "description": "Bad Request: text length"})
        self.sent.append({"chat_id": chat_id, "text": text})
        return _ok({"message_id": self.message_id(), "date": int(time.time() * 1000)})

    async def _m_sendChatAction(self, body: dict[str, Any]) -> web.Response:
        if body.get("action") != "typing":
            return _answer({"ok": False, "error_code": 400, "description": "Bad Request: action"})
        return _answer({"ok": True})

    async def _photo(self, request: web.Request) -> web.Response:
        data = self.photos.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="image/jpeg")


def _ok(result: Any) -> web.Response:
    return _answer({"ok": True, "result": result})


def _answer(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status)
