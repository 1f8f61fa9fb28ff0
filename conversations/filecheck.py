"""What a file really is, from its first bytes: a phone may call a .docx "image.jpg".

Only PDFs and the photo formats phones produce are accepted; anything else is refused with a
message saying what we can take, before it reaches the dossier.
"""

from __future__ import annotations

from dataclasses import dataclass

import filetype

# How many leading bytes `sniff` needs: a PDF may start with a byte-order mark or a few bytes of
# junk before "%PDF-" (readers allow 1024), and an ISO-BMFF image lists its brands in the first box.
HEAD_BYTES = 1024

# What filetype recognises and we accept: (kind, our suffix). Anything else is refused.
_ACCEPTED = {
    "application/pdf": ("pdf", ".pdf"),
    "image/jpeg": ("image", ".jpg"),
    "image/png": ("image", ".png"),
    "image/webp": ("image", ".webp"),
    "image/heic": ("image", ".heic"),
    "image/avif": ("image", ".avif"),
}
# HEIF brands filetype 1.2 does not know: HEIC sequences (Live Photos, bursts: msf1/hevc/hevx)
# and the heix/heim/heis variants phones write. AVIF brands are checked first so they are never
# stored as HEIC.
_AVIF_BRANDS = {b"avif", b"avis"}
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}


@dataclass(frozen=True)
class Sniffed:
    kind: str  # "pdf" | "image"
    content_type: str
    suffix: str


def sniff(head: bytes) -> Sniffed | None:
    """The accepted type of a file from its first `HEAD_BYTES` bytes, or None to refuse it."""
    brands = _ftyp_brands(head)
    if brands & _AVIF_BRANDS:
        return Sniffed("image", "image/avif", ".avif")
    guess = filetype.guess(head)
    if guess is not None and guess.mime in _ACCEPTED:
        kind, suffix = _ACCEPTED[guess.mime]
        return Sniffed(kind, guess.mime, suffix)
    if brands & _HEIF_BRANDS:
        return Sniffed("image", "image/heic", ".heic")
    # A PDF after a byte-order mark or stray bytes: what PDF readers open, so do we.
    offset = head.find(b"%PDF-")
    if 0 <= offset <= HEAD_BYTES - 8:
        return Sniffed("pdf", "application/pdf", ".pdf")
    return None


def _ftyp_brands(head: bytes) -> set[bytes]:
    """The major and compatible brands of an ISO-BMFF file's first ("ftyp") box."""
    if head[4:8] != b"ftyp" or len(head) < 16:
        return set()
    size = min(int.from_bytes(head[:4], "big"), len(head))
    brands = {head[8:12]}
    brands.update(head[i : i + 4] for i in range(16, size - 3, 4))
    return brands


def kind_from_name(filename: str, content_type: str) -> str | None:
    """A guess before download, so an obvious .docx is refused without fetching it."""
    name = filename.lower()
    if content_type == "application/pdf" or name.endswith(".pdf"):
        return "pdf"
    if content_type.startswith("image/") or name.endswith(
        (".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".avif")
    ):
        return "image"
    return None
