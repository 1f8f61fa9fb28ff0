"""The outbound half of the Zalo channel: a thin API client on aiohttp, how an `Outgoing` reads
on Zalo, and the `Sender` the delivery worker uses.

Every call is `POST <base>/bot<TOKEN>/<method>` with a JSON body, answered with the envelope
`{ok, result, error_code, description}`: HTTP 200 alone is not success, `ok` is. The one Python
SDK (python-zalo-bot) is a fork of python-telegram-bot of unclear upkeep; the API is six calls,
so we speak it directly, as the Telegram fake-server tests taught us to.

Zalo shows plain text only (no buttons, no documents, 2,000 characters a message): `render`
turns choices into a numbered menu, links into text, and splits long texts (handlers/render.py).

The token is part of every URL, so no URL, request object or aiohttp exception (whose text
carries the URL) ever reaches a log from here: errors are re-raised as `ZaloApiError` or
`ZaloNetworkError`, which name the method and the platform's code only.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from conversations.messages import ZALO, Outgoing
from handlers.api_session import ApiSession
from handlers.file_links import FileLinks
from handlers.render import numbered, split_text
from handlers.senders import RetryAfter, SendError, Transient, Unreachable

DEFAULT_TIMEOUT = 20.0  # seconds for an ordinary call
POLL_TIMEOUT_CODE = 408  # getUpdates: the long poll ended without an event
_JSON = {"Content-Type": "application/json; charset=utf-8"}
MAX_TEXT = 2000  # characters per sendMessage
DEFAULT_RETRY_AFTER = 5.0  # Zalo publishes no rate limits nor a retry_after: a cautious guess


class ZaloError(Exception):
    """Base of what the client raises."""


class ZaloApiError(ZaloError):
    """The platform answered `ok: false` (or not JSON); `error_code` is its code, or the HTTP status."""

    def __init__(self, method: str, error_code: int, description: str) -> None:
        super().__init__(f"{method}: {error_code} {description}")
        self.method = method
        self.error_code = error_code
        self.description = description


class ZaloNetworkError(ZaloError):
    """No answer: connection refused, reset, timed out."""

    def __init__(self, method: str, reason: str) -> None:
        super().__init__(f"{method}: {reason}")
        self.method = method


class ZaloClient(ApiSession):
    def __init__(self, token: str, base_url: str, *, seconds: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(seconds)
        self._url = f"{base_url.rstrip('/')}/bot{token}/"

    def no_answer(self, call: str, reason: str, *, connected: bool) -> Exception:
        return ZaloNetworkError(call, reason)

    def refused(self, call: str, status: int, message: str) -> Exception:
        return ZaloApiError(call, status, message)

    async def call(
        self, method: str, body: dict[str, Any] | None = None, *, seconds: float | None = None
    ) -> Any:
        """One API call; its `result`, or `ZaloApiError` / `ZaloNetworkError`."""
        status, data = await self.post(
            method,
            self._url + method,
            data=json.dumps(body or {}, ensure_ascii=False).encode("utf-8"),
            headers=_JSON,
            seconds=seconds,
        )
        if not isinstance(data, dict):
            raise ZaloApiError(method, status, "the answer is not a JSON object")
        if data.get("ok") is not True:
            code = data.get("error_code")
            description = data.get("description")
            raise ZaloApiError(
                method,
                code if isinstance(code, int) else status,
                description if isinstance(description, str) else "",
            )
        return data.get("result")

    # --- the methods we use -----------------------------------------------------------------------

    async def get_me(self) -> dict[str, Any]:
        result = await self.call("getMe")
        return result if isinstance(result, dict) else {}

    async def get_update(self, wait: int) -> dict[str, Any] | None:
        """One event, or None when the long poll ended without one. Zalo has no offset: an event
        handed out is not handed out again, which is why it is deduplicated on `message_id`."""
        try:
            # The parameter table says String; the documented example sends a number. Both work.
            result = await self.call("getUpdates", {"timeout": str(wait)}, seconds=wait + 10)
        except ZaloApiError as exc:
            if exc.error_code == POLL_TIMEOUT_CODE:
                return None
            raise
        return result if isinstance(result, dict) and result else None

    async def set_webhook(self, url: str, secret_token: str) -> None:
        await self.call("setWebhook", {"url": url, "secret_token": secret_token})

    async def delete_webhook(self) -> None:
        await self.call("deleteWebhook")

    async def get_webhook_info(self) -> dict[str, Any]:
        result = await self.call("getWebhookInfo")
        return result if isinstance(result, dict) else {}

    async def send_message(self, chat_id: str, text: str) -> None:
        await self.call("sendMessage", {"chat_id": chat_id, "text": text})

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> None:
        await self.call("sendChatAction", {"chat_id": chat_id, "action": action})


def absolute_url(url: str | None, public_base: str) -> str | None:
    """A link for the user: http(s) as is, a path on this server under PUBLIC_BASE_URL, else none."""
    if not url:
        return None
    if url.lower().startswith(("https://", "http://")):
        return url
    if url.startswith("/") and not url.startswith("//"):
        return public_base.rstrip("/") + url
    return None


def render(messages: list[Outgoing], public_base: str, links: FileLinks | None = None) -> list[str]:
    """The replies as Zalo texts of at most 2,000 characters: a link after its text, a document
    as a signed download link (Zalo carries no files), the choices last (numbered for the last
    menu of the reply, the one typed numbers refer to)."""
    menu_at = max((i for i, m in enumerate(messages) if m.choices), default=-1)
    texts: list[str] = []
    for i, message in enumerate(messages):
        blocks = [message.text.strip()]
        url = absolute_url(message.url, public_base)
        if url:
            blocks.append(f"{message.url_label}: {url}" if message.url_label else url)
        if message.document is not None:
            link = links.url(message.document) if links is not None else None
            download = absolute_url(link, public_base) if link else None
            name = message.document.filename
            blocks.append(f"📄 {name}: {download}" if download else f"📄 {name}")
        body = "\n\n".join(b for b in blocks if b)
        if i == menu_at:
            body = numbered(replace(message, text=body))
        elif message.choices:
            body += "\n\n" + "\n".join(f"• {c.label}" for c in message.choices)
        texts += [part for part in split_text(body, MAX_TEXT) if part.strip()]
    return texts


def send_error(exc: ZaloError) -> SendError:
    """The delivery worker's vocabulary. Zalo documents no error codes; these follow HTTP, as its
    envelope does (Telegram's meanings would be a guess): 429 wait, 403 gone, else try again."""
    if isinstance(exc, ZaloApiError) and exc.error_code == 429:
        return RetryAfter(DEFAULT_RETRY_AFTER)
    if isinstance(exc, ZaloApiError) and exc.error_code == 403:
        return Unreachable(exc.description or "forbidden")
    return Transient(str(exc))


class ZaloSender:
    """Zalo for the delivery worker (reminders, broadcasts, upload confirmations)."""

    channel = ZALO

    def __init__(self, client: ZaloClient, public_base: str, links: FileLinks | None = None) -> None:
        self.client = client
        self.public_base = public_base
        self.links = links

    async def send(self, external_id: str, messages: list[Outgoing]) -> None:
        for text in render(messages, self.public_base, self.links):
            try:
                await self.client.send_message(external_id, text)
            except ZaloError as exc:
                raise send_error(exc) from None
