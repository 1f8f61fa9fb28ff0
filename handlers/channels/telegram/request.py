"""python-telegram-bot's HTTP client, on aiohttp instead of httpx.

PTB talks to the Bot API through a `telegram.request.BaseRequest`; its default, `HTTPXRequest`,
costs more CPU per call than everything else PTB does for a reply: profiled at 50 owners writing
at once, a third of the bot process's samples were in httpx, httpcore and anyio (task lookups
through sniffio, connection expiry checks, stream reads). aiohttp, already our web server and
the Zalo clients' HTTP client, parses HTTP in C and pools connections without that machinery.
PTB documents custom request classes for exactly this (`ApplicationBuilder.request()`,
`get_updates_request()`, `Bot(request=...)`); everything above `do_request` (status codes to
`BadRequest`, `Forbidden`, `RetryAfter`...) stays PTB's own, so sender.py's `classify` reads the
same errors as before.

What it keeps of HTTPXRequest's contract:
- Timeouts: PTB's four, per request or the defaults given here. `connect` bounds making the
  connection, `pool` waiting for a free one (aiohttp counts both in its connect timeout, so it
  gets their sum), `read` waiting for each piece of the answer once the request is sent. aiohttp
  has no write timeout: the whole request is bounded by the sum of the four instead, so a stalled
  upload still ends. Uploads get `media_write_timeout` for writing, as in PTB.
- Errors: a timeout is `TimedOut`, anything else the network does is `NetworkError`; both are
  `Transient` to `classify`. A connect or pool timeout says the request was not sent.
- Uploads (`InputFile`: the documents we send, a PDF or a photo) go as multipart/form-data, the other
  parameters as form fields beside them, exactly as HTTPXRequest sends them. Other calls send
  their parameters as one JSON body (the Bot API takes both; one `json.dumps` is cheaper than
  PTB's encoding of each parameter on its own, then the form's).
- A proxy from HTTPS_PROXY / HTTP_PROXY (httpx honoured them): read once when the request is
  made, for the Bot API's host (`env_proxy`), not on every call as aiohttp's `trust_env` does.

handlers/api_session.py, the Zalo clients' session, answers parsed JSON under one total timeout
and raises each client's own errors; PTB wants the status and the raw bytes, its four timeouts
and its own errors, so this is a class of its own (one session per `Bot` request, as PTB expects).

Never in a log or an error's text: the URL (it holds the bot's token) or what aiohttp says about
a failure (its messages carry the URL), so errors name the exception type only, and an answer
that is not JSON is not quoted (PTB's own parser logs it whole).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData

JSON_HEADERS = {"Content-Type": "application/json"}
# A file's name in its part's header as browsers and httpx write it (HTML5): UTF-8 as it is, `"` and
# control characters percent-encoded (aiohttp escapes the backslash). aiohttp's default would
# percent-encode every non-ASCII letter, and Telegram would show the owner "Bi%C3%AAn nh%E1...".
HTML5_FILENAME = {ord('"'): "%22", **{c: f"%{c:02X}" for c in range(0x20) if c != 0x1B}}
NOT_SENT = "connection timed out (no free connection, or the server did not accept one): not sent"


class AiohttpRequest(BaseRequest):
    """A `BaseRequest` on one aiohttp session, opened by `initialize` (PTB calls it from
    `Bot.initialize`) and closed by `shutdown`. Defaults are HTTPXRequest's."""

    __slots__ = ("_defaults", "_headers", "_json_headers", "_media_write", "_pool_size", "_proxy", "_session")

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
        proxy: str | None = None,
    ) -> None:
        self._pool_size = connection_pool_size
        self._defaults = (read_timeout, write_timeout, connect_timeout, pool_timeout)
        self._media_write = media_write_timeout
        self._proxy = proxy
        self._headers = {"User-Agent": self.USER_AGENT}
        self._json_headers = {**self._headers, **JSON_HEADERS}
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._defaults[0]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                cookie_jar=aiohttp.DummyCookieJar(),  # the Bot API sets none; nothing to parse
            )

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        uploads = request_data is not None and request_data.contains_files
        read, write, connect, pool = self._defaults
        if uploads:
            write = self._media_write
        timeout = _timeout(
            _given(read_timeout, read),
            _given(write_timeout, write),
            _given(connect_timeout, connect),
            _given(pool_timeout, pool),
        )
        body: Any = None
        headers = self._headers
        if request_data is not None:
            if uploads:
                body = _form(request_data)
            else:
                body = json.dumps(request_data.parameters).encode()
                headers = self._json_headers
        try:
            async with session.request(
                method, url, data=body, headers=headers, timeout=timeout, proxy=self._proxy
            ) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError:
            raise TimedOut(NOT_SENT) from None
        except TimeoutError:  # aiohttp's read and total timeouts are TimeoutErrors too
            raise TimedOut() from None
        except (aiohttp.ClientError, OSError) as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}") from None

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        """PTB's parser without its log line quoting the whole answer (it may hold what a user
        wrote)."""
        try:
            data = json.loads(payload)
        except ValueError:
            raise TelegramError("Invalid server response") from None
        if not isinstance(data, dict):
            raise TelegramError("Invalid server response")
        return data


def env_proxy(url: str) -> str | None:
    """The HTTP proxy the environment names for `url`'s scheme (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY),
    unless NO_PROXY exempts its host; None when there is none. aiohttp speaks no SOCKS, so a
    socks5:// proxy is not taken (httpx needed an extra PTB never installed for it either)."""
    parts = urlsplit(url)
    proxies = getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or not proxy.startswith(("http://", "https://")):
        return None
    if parts.hostname and proxy_bypass(parts.hostname):
        return None
    return proxy


def _given(value: object, default: float | None) -> float | None:
    """A timeout passed to a Bot method, or the default when PTB passed its "not given" marker."""
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    return default


def _timeout(
    read: float | None, write: float | None, connect: float | None, pool: float | None
) -> aiohttp.ClientTimeout:
    parts = (read, write, connect, pool)
    return aiohttp.ClientTimeout(
        total=None if None in parts else sum(p for p in parts if p is not None),
        connect=None if connect is None or pool is None else connect + pool,
        sock_connect=connect,
        sock_read=read,
    )


def _form(request_data: RequestData) -> aiohttp.FormData:
    """An upload as HTTPXRequest sends it: the files as parts, the other parameters as fields."""
    form = aiohttp.FormData(quote_fields=False)
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename.translate(HTML5_FILENAME), content_type=mimetype)
    return form
