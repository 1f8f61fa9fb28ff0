"""A thin aiohttp client for the three Zalo hosts the OA channel talks to: the OA Open API
(consultation messages), OAuth v4 (token refresh) and ZNS (template messages by phone).

No Python SDK of Zalo's covers OAuth v4 with rotating refresh tokens and ZNS together (the
official zalo-php-sdk is PHP), and the calls are three POSTs, so we speak them directly, with
base URLs from the configuration so tests run against a fake server.

Answers are `{"error": 0, "message": ..., "data": {...}}`: HTTP 200 alone is not success, `error`
0 is. The access token travels in a header and is never logged; neither are phone numbers,
user ids or texts: errors name the call and Zalo's code only.

What is second-hand (README: the table of Zalo OA facts we could not confirm) is isolated in one
place each: `INVALID_TOKEN_CODES`, `UNREACHABLE_CODES`, `OUTSIDE_WINDOW_CODE`, `refresh_form`, and in
handlers/channels/zalo_oa/render.py the button structure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from handlers.api_session import ApiSession

DEFAULT_TIMEOUT = 20.0
# A refresh runs while the token row is locked (on SQLite: the database's write lock, which other
# writers wait for up to storage.db.SQLITE_BUSY_TIMEOUT_MS = 10 s), so it must give up sooner.
REFRESH_TIMEOUT = 8.0
OUTSIDE_WINDOW_CODE = -230  # "user has not interacted with the OA in 7 days" (CONFIRMED secondary)
# The codes for an expired or invalid access token: -216 CONFIRMED secondary (chatwoot's
# app/services/zalo/send_on_zalo_service.rb @69a2c0f5 refreshes on it); -124 and -220 UNCONFIRMED.
# Any of them makes the token keeper refresh once and retry; a wrong guess costs one failed send.
INVALID_TOKEN_CODES = frozenset({-216, -124, -220})
# UNCONFIRMED: the user blocked or unfollowed the OA, or the user id does not exist.
UNREACHABLE_CODES = frozenset({-213})


class OaError(Exception):
    """Base of what the client raises."""


class OaApiError(OaError):
    """Zalo answered with a non-zero `error` (or not JSON: then the HTTP status)."""

    def __init__(self, call: str, code: int, message: str) -> None:
        super().__init__(f"{call}: {code} {message}"[:300])
        self.call = call
        self.code = code
        self.message = message

    @property
    def invalid_token(self) -> bool:
        return self.code in INVALID_TOKEN_CODES

    @property
    def outside_window(self) -> bool:
        return self.code == OUTSIDE_WINDOW_CODE


class OaNetworkError(OaError):
    """No answer. `maybe_delivered` is False only when the connection was never made."""

    def __init__(self, call: str, reason: str, *, maybe_delivered: bool) -> None:
        super().__init__(f"{call}: {reason}")
        self.call = call
        self.maybe_delivered = maybe_delivered


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class ZnsResult:
    msg_id: str | None
    fee: int | None  # what Zalo says it charged, when it says so


def refresh_form(app_id: str, refresh_token: str) -> dict[str, str]:
    """Field names not confirmed by Zalo's own documentation; CONFIRMED secondary by chatwoot
    (lib/integrations/zalo/auth.rb @abb445f3, app/models/channel/zalo_oa.rb @14013dc1), which
    sends these, form-encoded, with the app secret in a `secret_key` header."""
    return {"app_id": app_id, "grant_type": "refresh_token", "refresh_token": refresh_token}


class OaClient(ApiSession):
    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str | None,
        api_base: str,
        oauth_base: str,
        zns_base: str,
        seconds: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(seconds)
        self.app_id = app_id
        self._app_secret = app_secret or ""
        self._api = api_base.rstrip("/")
        self._oauth = oauth_base.rstrip("/")
        self._zns = zns_base.rstrip("/")

    def no_answer(self, call: str, reason: str, *, connected: bool) -> Exception:
        return OaNetworkError(call, reason, maybe_delivered=connected)

    def refused(self, call: str, status: int, message: str) -> Exception:
        return OaApiError(call, status, message)

    async def _api_call(self, call: str, url: str, access_token: str, body: dict[str, Any]) -> dict[str, Any]:
        status, data = await self.post(
            call,
            url,
            data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8", "access_token": access_token},
        )
        if not isinstance(data, dict):
            raise OaApiError(call, status, "the answer is not a JSON object")
        code = data.get("error")
        if status == 429 or (isinstance(code, int) and code != 0) or (code is None and status != 200):
            message = data.get("message")
            raise OaApiError(call, code if isinstance(code, int) else status, str(message or ""))
        result = data.get("data")
        return result if isinstance(result, dict) else {}

    async def refresh(self, refresh_token: str) -> TokenGrant:
        """Spend the (single-use) refresh token for a new access token and a new refresh token."""
        status, data = await self.post(
            "refresh",
            f"{self._oauth}/v4/oa/access_token",
            data=refresh_form(self.app_id, refresh_token),
            headers={"secret_key": self._app_secret},
            seconds=REFRESH_TIMEOUT,
        )
        if not isinstance(data, dict) or not data.get("access_token") or not data.get("refresh_token"):
            code = data.get("error") if isinstance(data, dict) else None
            raise OaApiError("refresh", code if isinstance(code, int) else status, "no token in the answer")
        try:
            expires_in = int(data.get("expires_in") or 90000)
        except (TypeError, ValueError):
            expires_in = 90000  # 25 h, the documented lifetime
        return TokenGrant(str(data["access_token"]), str(data["refresh_token"]), expires_in)

    async def send_cs(self, access_token: str, user_id: str, message: dict[str, Any]) -> str | None:
        """One consultation message (`message` as render.cs_message builds it); Zalo's message id."""
        data = await self._api_call(
            "message/cs",
            f"{self._api}/v3.0/oa/message/cs",
            access_token,
            {"recipient": {"user_id": user_id}, "message": message},
        )
        msg_id = data.get("message_id") or data.get("msg_id")
        return str(msg_id) if msg_id else None

    async def send_zns(
        self, access_token: str, *, phone: str, template_id: str, params: dict[str, str], tracking_id: str
    ) -> ZnsResult:
        data = await self._api_call(
            "message/template",
            f"{self._zns}/message/template",
            access_token,
            {"phone": phone, "template_id": template_id, "template_data": params, "tracking_id": tracking_id},
        )
        msg_id = data.get("msg_id")
        fee = data.get("fee_main", data.get("fee"))
        return ZnsResult(str(msg_id) if msg_id else None, int(fee) if isinstance(fee, int | float) else None)
