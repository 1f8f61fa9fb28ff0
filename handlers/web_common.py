"""HTTP helpers the web chat and the upload page share: reading an uploaded file safely.

A phone's browser sends odd names ("C:\\fakepath\\...", percent-escaped letters) and any
content type; what reaches the engine is a clean name, a plain type, and never more bytes than
the limit.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from aiohttp import BodyPartReader

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
