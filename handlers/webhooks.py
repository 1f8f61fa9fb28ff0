"""What every webhook entry shares: a path nobody can guess without the token, the public
address registered with the platform, and the checks made before a byte of the body is read
(secret in constant time, still accepting, size)."""

from __future__ import annotations

import hashlib
import hmac
import logging

from aiohttp import web

log = logging.getLogger(__name__)


def webhook_path(channel: str, token: str) -> str:
    """Unguessable without the token, stable across restarts and workers."""
    return f"/{channel}/" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:32]


def webhook_target(public_url: str, path: str) -> str:
    """The configured public URL is where the platform reaches this server; the path is ours."""
    base = public_url.rstrip("/")
    return base if base.endswith(path) else base + path


def refuse(
    request: web.Request, *, channel: str, header: str, secret: str, accepting: bool, max_body: int
) -> web.Response | None:
    """The answer to a request that must not be handled, or None to go on.

    A wrong or missing secret is 401 (compared in constant time, so its bytes cannot be guessed
    one by one); while stopping, 503 with Retry-After (the platform delivers again later); a
    declared body over `max_body`, 413.
    """
    given = request.headers.get(header, "").encode("utf-8")
    expected = secret.encode("utf-8")
    if not expected or not hmac.compare_digest(given, expected):
        log.warning("%s webhook: request with a wrong or missing secret refused", channel)
        return web.Response(status=401)
    if not accepting:
        return web.Response(status=503, headers={"Retry-After": "5"})
    if (request.content_length or 0) > max_body:
        return web.Response(status=413)
    return None
