"""HTTP helpers the web chat and the upload page share: reading an uploaded file safely, and
telling a request from our own page from one a foreign site made the browser send.

A phone's browser sends odd names ("C:\\fakepath\\...", percent-escaped letters) and any
content type; what reaches the engine is a clean name, a plain type, and never more bytes than
the limit.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from aiohttp import BodyPartReader, hdrs, web

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


async def read_part(part: BodyPartReader, limit: int) -> bytes | None:
    """A multipart field's bytes, or None as soon as it grows past `limit` (the rest is not read)."""
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > limit:
            return None
    return bytes(data)


def clean_filename(name: str | None) -> str:
    """The file's own name: percent-escapes undone (browsers send a quote as %22, some clients
    escape every non-ASCII letter), no folders (old browsers send "C:\\..."), no control
    characters, at most 200 characters with the extension kept."""
    name = unquote(name or "")
    name = _CONTROL_RE.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = stem[: 199 - len(ext)] + dot + ext if dot and len(ext) <= 10 else name[:200]
    return name or "file"


def clean_content_type(value: str) -> str:
    value = value.split(";", 1)[0].strip().lower()
    return value[:80] if re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", value) else "application/octet-stream"


def origin_of(url: str) -> str:
    """ "https://Host:8443/path" -> "https://host:8443": what a browser sends as `Origin`."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def from_foreign_site(request: web.Request, public_origin: str | None) -> bool:
    """Whether a state-changing request came from a page of another site.

    SameSite=Lax already keeps the cookie off most such posts; this refuses them outright: a
    browser's `Sec-Fetch-Site: cross-site`, or an `Origin` that is neither this server's address
    as the browser reached it nor PUBLIC_BASE_URL's ("null" from a sandboxed frame or a file://
    page included). Clients that send no Origin (curl, scripts on the server) pass.
    """
    if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        return True
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None:
        return False
    own = {f"{request.scheme}://{request.host}".lower()}
    if public_origin:
        own.add(public_origin)
    return origin.strip().lower() not in own
