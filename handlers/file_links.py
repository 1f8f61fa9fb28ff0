"""Signed, expiring links to stored documents, for channels that cannot carry a file (Zalo).

A reviewer on Zalo opening a dossier, or an owner there sent a document, gets a link instead of
the file. The link names the stored file and an expiry and is signed with a secret kept beside
the files (so every worker sharing FILES_DIR signs alike); nothing else is stored, and a link
that was changed or has expired is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlencode

from aiohttp import web

from conversations.i18n import DEFAULT_LOCALE, N_, normalise_locale, translator
from conversations.messages import Document
from storage.files import FileStore

SECRET_FILE = ".link-secret"
LINK_LIFETIME = 3 * 24 * 3600  # seconds: long enough to review a dossier over a weekend
NOT_VALID = N_("This link is not valid.")
EXPIRED = N_("This link has expired. Please open the dossier again to get a new one.")
GONE = N_("This file is no longer available.")
ROUTE = "/files/{key:[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}\\.[a-z0-9]{2,5}}"


def load_secret(root: Path) -> bytes:
    """The signing secret, created on first use (readable by this user only)."""
    path = root / SECRET_FILE
    if not path.exists():
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(32))
        finally:
            os.close(fd)
    return path.read_bytes()


class FileLinks:
    def __init__(self, files: FileStore, secret: bytes, *, clock: Callable[[], float] = time.time) -> None:
        self.files = files
        self.secret = secret
        self.clock = clock

    def key_of(self, document: Document) -> str | None:
        """The file store key of a document given by key or by its absolute path in the store."""
        path = Path(document.path)
        if not path.is_absolute():
            return document.path
        root = self.files.root.resolve()
        try:
            return path.resolve().relative_to(root).as_posix()
        except ValueError:
            return None  # not one of our stored files: never linked

    def url(self, document: Document) -> str | None:
        """A relative link ("/files/..."); the channel makes it absolute with PUBLIC_BASE_URL."""
        key = self.key_of(document)
        if key is None:
            return None
        expires = int(self.clock()) + LINK_LIFETIME
        query = urlencode(
            {"name": document.filename, "exp": expires, "sig": self._sign(key, expires, document.filename)}
        )
        return f"/files/{key}?{query}"

    def _sign(self, key: str, expires: int, name: str) -> str:
        mac = hmac.new(self.secret, f"{key}|{expires}|{name}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:18]).decode()

    def attach(self, app: web.Application) -> None:
        app.router.add_get(ROUTE, self.serve, name="files.download")

    async def serve(self, request: web.Request) -> web.StreamResponse:
        language = request.headers.get("Accept-Language", "").split(",", 1)[0]
        t = translator(normalise_locale(language) or DEFAULT_LOCALE)
        key = request.match_info["key"]
        name = request.query.get("name", "")
        try:
            expires = int(request.query.get("exp", ""))
        except ValueError:
            raise web.HTTPForbidden(text=t(NOT_VALID)) from None
        if not hmac.compare_digest(request.query.get("sig", ""), self._sign(key, expires, name)):
            raise web.HTTPForbidden(text=t(NOT_VALID))
        if expires < self.clock():
            raise web.HTTPGone(text=t(EXPIRED))
        try:
            path = self.files.path(key)
        except ValueError:
            raise web.HTTPForbidden(text=t(NOT_VALID)) from None
        if not path.is_file():
            raise web.HTTPNotFound(text=t(GONE))
        safe = "".join(ch for ch in name if ch.isprintable() and ch not in '"\\/') or path.name
        return web.FileResponse(
            path,
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(safe)}",
                "Cache-Control": "private, no-store",
                "Referrer-Policy": "no-referrer",
                # A stored PDF or photo must never be run as a page or script by a browser.
                "X-Content-Type-Options": "nosniff",
            },
        )
