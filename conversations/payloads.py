"""Typed button payloads: one builder and one parser per kind, in the spirit of aiogram's
`CallbackData`, instead of strings like "go:apply:12" assembled and split by hand in many places.

A payload is `<prefix>:<field>:<field>...`; the last field may itself contain ":" (a command's
arguments). Packing refuses what Telegram would refuse (over 64 bytes) and a ":" inside any but
the last field, so a bad payload fails where it is built, not on a user's tap.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar, Self

from conversations.record_ids import MAX_ID, ascii_number

MAX_PAYLOAD_BYTES = 64  # Telegram's callback_data limit


class PayloadError(ValueError):
    """A payload that could not be packed (too long, a separator inside a field)."""


@dataclass(frozen=True)
class CallbackData:
    """Base of the payload dataclasses below; subclasses set `prefix` and declare str/int fields."""

    prefix: ClassVar[str]

    def pack(self) -> str:
        values = [str(getattr(self, f.name)) for f in fields(self)]
        while values and values[-1] == "":
            values.pop()
        if any(":" in v for v in values[:-1]):
            raise PayloadError(f"':' inside a field of {type(self).__name__}: {values!r}")
        data = ":".join([self.prefix, *values])
        if len(data.encode()) > MAX_PAYLOAD_BYTES:
            raise PayloadError(f"button payload over {MAX_PAYLOAD_BYTES} bytes: {data!r}")
        return data

    @classmethod
    def unpack(cls, data: str | None) -> Self | None:
        """The payload if `data` is one of this kind, else None (another kind, or malformed)."""
        if not data or (data != cls.prefix and not data.startswith(cls.prefix + ":")):
            return None
        declared = fields(cls)
        raw = data[len(cls.prefix) + 1 :].split(":", len(declared) - 1) if data != cls.prefix else []
        values: dict[str, object] = {}
        for f, text in zip(declared, raw, strict=False):
            if f.type in (int, "int"):
                number = ascii_number(text, MAX_ID)  # "²" or 30 digits are no id: None
                if number is None:
                    return None
                values[f.name] = number
            else:
                values[f.name] = text
        try:
            return cls(**values)
        except TypeError:  # a required field missing
            return None


@dataclass(frozen=True)
class Go(CallbackData):
    """A command as a button: `Go("apply", "12")` does what typing `/apply 12` does."""

    prefix: ClassVar[str] = "go"
    command: str
    args: str = ""


def go(command: str, *args: str | int) -> str:
    """`Go` packed, its arguments joined as the feature reads them: `go("fairs", "reg", 12)` is
    "go:fairs:reg:12", what a tap on "Register" for fair 12 sends to the fairs feature."""
    return Go(command, ":".join(str(a) for a in args)).pack()


@dataclass(frozen=True)
class Sys(CallbackData):
    """The engine's own buttons at a stuck question: skip, talk to staff, stop, back one step."""

    prefix: ClassVar[str] = "sys"
    action: str


@dataclass(frozen=True)
class Doc(CallbackData):
    """The document checklist's buttons: `Doc("up", "product_photos")`, `Doc("done")`."""

    prefix: ClassVar[str] = "documents"
    verb: str
    item: str = ""
