"""Typed field reading for the programme files: a mapping, a list, a msgid, an id, a number...,
each refusing a wrong value with the file and the path of the field (`selection.yaml: checks[3].when`).
`reader` builds the programme-specific checks on top of these.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NoReturn

from conversations.programmes.model import ProgrammeDataError, placeholders

_ID = re.compile(r"^[a-z][a-z0-9_]*$")


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def join_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class FieldReader:
    """Reads typed fields out of parsed YAML; every error names the file and the path of the bad field."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lists: dict[str, tuple[str, ...]] = {}

    def fail(self, path: str, message: str) -> NoReturn:
        where = f"{self.file}: {path}" if path else self.file
        raise ProgrammeDataError(f"{where}: {message}")

    # --- primitives ----------------------------------------------------------------------------------
    def mapping(
        self, value: object, path: str, required: Sequence[str], optional: Sequence[str] = ()
    ) -> dict:
        if not isinstance(value, dict):
            self.fail(path, "must be a mapping (key: value lines)")
        for key in value:
            if key not in required and key not in optional:
                self.fail(join_path(path, str(key)), "unknown field")
        for key in required:
            if key not in value:
                self.fail(path, f"missing field {key!r}")
        return value

    def table(self, value: object, path: str) -> dict:
        """A mapping whose keys are ids the data chooses (support types, provinces)."""
        if not isinstance(value, dict):
            self.fail(path, "must be a mapping (key: value lines)")
        return value

    def seq(self, value: object, path: str, *, empty: bool = False) -> list:
        if not isinstance(value, list):
            self.fail(path, "must be a list")
        if not value and not empty:
            self.fail(path, "must not be empty")
        return value

    def text(self, value: object, path: str, *, fill: bool = False) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(path, self._not_a_string(value, "must be a non-empty text"))
        try:
            names = placeholders(value)
        except ValueError as exc:
            self.fail(path, f"bad braces in text: {exc}")
        if names and not fill:
            self.fail(path, "placeholders like {name} are only filled in a check's reason and next")
        return value

    def ident(self, value: object, path: str) -> str:
        if not isinstance(value, str) or not _ID.match(value):
            self.fail(path, self._not_a_string(value, "must be an id in lower case: letters, digits, _"))
        return value

    def boolean(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            self.fail(path, "must be true or false")
        return value

    def integer(self, value: object, path: str, *, minimum: int, maximum: int | None = None) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(path, "must be a whole number")
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            self.fail(path, f"must be {bound}")
        return value

    def number(self, value: object, path: str, *, above: float, at_most: float | None = None) -> float:
        if not is_number(value):
            self.fail(path, "must be a number")
        if value <= above or (at_most is not None and value > at_most):
            bound = f"above {above}" + (f" and at most {at_most}" if at_most is not None else "")
            self.fail(path, f"must be {bound}")
        return value  # type: ignore[return-value]

    @staticmethod
    def _not_a_string(value: object, message: str) -> str:
        if isinstance(value, bool):
            # YAML 1.1 reads unquoted yes/no/on/off as true/false.
            return f"{message}; got {value}: quote yes/no/on/off, e.g. 'yes'"
        return f"{message}; got {value!r}"

    def unique_ids(self, items: list, path: str) -> None:
        seen: set[str] = set()
        for i, item in enumerate(items):
            ident = item.get("id") if isinstance(item, dict) else None
            if ident in seen:
                self.fail(join_path(join_path(path, i), "id"), f"duplicate id {ident!r}")
            if isinstance(ident, str):
                seen.add(ident)

    # --- the document --------------------------------------------------------------------------------
