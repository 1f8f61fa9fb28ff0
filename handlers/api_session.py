"""The HTTP half every hand-written platform client shares (the Zalo Bot and Zalo OA clients).

Both speak a few JSON POSTs over one aiohttp session, opened when the channel starts and closed
when it stops, and both must never let a URL (Zalo Bot puts the token in it) or an aiohttp
exception's text (which carries the URL) reach a log. So a failure is re-raised as the client's
own error naming the call only; each client says which errors those are and reads its own
envelope (`{ok, result}` or `{error, data}`) from the parsed answer.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

DOWNLOAD_CHUNK = 64 * 1024


class ApiSession:
    """One aiohttp session for a platform's API; subclasses name their errors."""

    def __init__(self, seconds: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=seconds)
        self._session: aiohttp.ClientSession | None = None

    def no_answer(self, call: str, reason: str, *, connected: bool) -> Exception:
        """The client's error for a call that got no answer; `connected` False when the connection
        was never made (so nothing can have been delivered)."""
        raise NotImplementedError

    def refused(self, call: str, status: int, message: str) -> Exception:
        """The client's error for an answer that is not what the platform promises."""
        raise NotImplementedError

    async def open(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise RuntimeError(f"{type(self).__name__}.open() was not called")
        return self._session

    async def post(
        self, call: str, url: str, *, seconds: float | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        """One POST: the HTTP status and the parsed JSON answer (of any shape)."""
        timeout = aiohttp.ClientTimeout(total=seconds) if seconds else self._timeout
        try:
            async with self.session.post(url, timeout=timeout, **kwargs) as resp:
                status, raw = resp.status, await resp.read()
        except aiohttp.ClientConnectorError as exc:
            raise self.no_answer(call, type(exc).__name__, connected=False) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self.no_answer(call, type(exc).__name__, connected=True) from None
        try:
            return status, json.loads(raw)
        except ValueError:
            raise self.refused(call, status, "the answer is not JSON") from None

    async def download(self, url: str, limit: int, *, seconds: float = 60.0) -> bytes:
        """A file or photo the user sent (Zalo gives a URL). At most `limit + 1` bytes are read, so
        an oversized file is known to be too big without fetching all of it."""
        data = bytearray()
        try:
            async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=seconds)) as resp:
                if resp.status != 200:
                    raise self.refused("download", resp.status, "the file could not be fetched")
                async for chunk in resp.content.iter_chunked(DOWNLOAD_CHUNK):
                    data += chunk
                    if len(data) > limit:
                        break
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self.no_answer("download", type(exc).__name__, connected=False) from None
        return bytes(data[: limit + 1])
