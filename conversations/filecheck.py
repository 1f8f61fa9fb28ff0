"""What a file really is, from its first bytes: a phone may call a .docx "image.jpg".

Only PDFs and the photo formats phones produce are accepted; anything else is refused with a
message saying what we can take, before it reaches the dossier.
"""

from __future__ import annotations

from dataclasses import dataclass

_SIGNATURES: tuple[tuple[bytes, str, str, str], ...] = (
    (b"%PDF-", "pdf", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image", "image/png", ".png"),
)


@dataclass(frozen=True)
class Sniffed:
    kind: str  # "pdf" | "image"
    content_type: str
    suffix: str


def sniff(head: bytes) -> Sniffed | None:
    for magic, kind, content_type, suffix in _SIGNATURES:
        if head.startswith(magic):
            return Sniffed(kind, content_type, suffix)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image", "image/webp", ".webp")
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc"):
        return Sniffed("image", "image/heic", ".heic")
    return None


def kind_from_name(filename: str, content_type: str) -> str | None:
    """A guess before download, so an obvious .docx is refused without fetching it."""
    name = filename.lower()
    if content_type == "application/pdf" or name.endswith(".pdf"):
        return "pdf"
    if content_type.startswith("image/") or name.endswith((".jpg", ".jpeg", ".png", ".webp", ".heic")):
        return "image"
    return None
