"""The file store: uploaded documents on disk, addressed by their content.

Files are written to a temporary name and renamed, so a crash never leaves half a file under a
real key; the same bytes uploaded twice are stored once.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StoredFile:
    key: str
    sha256: str
    size: int


class FileStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError("key outside the file store")
        return path

    def save(self, data: bytes, suffix: str) -> StoredFile:
        digest = hashlib.sha256(data).hexdigest()
        key = f"{digest[:2]}/{digest[2:4]}/{digest}{suffix}"
        target = self.path(key)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        return StoredFile(key=key, sha256=digest, size=len(data))

    def read(self, key: str) -> bytes:
        return self.path(key).read_bytes()
