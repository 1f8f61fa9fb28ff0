"""Typed button payloads: what a button carries comes back as the same value, bad ones fail when
built, and every command a button names exists (a renamed command fails here, not on a tap)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conversations.dialogue import Dialogue
from conversations.payloads import Doc, Go, PayloadError, Sys
from conversations.programmes import load_programmes
from storage.files import FileStore

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("value", "packed"),
    [
        (Go("menu"), "go:menu"),
        (Go("apply", "12"), "go:apply:12"),
        (Go("rv", "ok:12"), "go:rv:ok:12"),
        (Doc("up", "product_photos"), "documents:up:product_photos"),
        (Doc("done"), "documents:done"),
        (Sys("back"), "sys:back"),
    ],
)
def test_a_payload_packs_and_unpacks_to_the_same_value(value: Go | Doc | Sys, packed: str) -> None:
    assert value.pack() == packed
    assert type(value).unpack(packed) == value


def test_a_payload_of_another_kind_is_not_mistaken_for_this_one() -> None:
    assert Go.unpack("documents:up:x") is None
    assert Doc.unpack("go:documents") is None
    assert Go.unpack("gohome") is None and Go.unpack(None) is None


def test_a_payload_telegram_would_refuse_fails_when_built() -> None:
    with pytest.raises(PayloadError, match="64 bytes"):
        Doc("up", "x" * 60).pack()
    with pytest.raises(PayloadError, match="':' inside"):
        Doc("up:x", "y").pack()


def _commands_named_by_buttons() -> set[str]:
    """Every command a `Go(...)`, a `go(...)` or a literal "go:x" payload in conversations/ names."""
    named: set[str] = set()
    for path in (ROOT / "conversations").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("Go", "go")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                named.add(str(node.args[0].value))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                found = re.fullmatch(r"go:(\w+)(:.*)?", node.value)
                if found:
                    named.add(found.group(1))
            elif isinstance(node, ast.JoinedStr) and node.values:
                first = node.values[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found = re.match(r"go:(\w+)", first.value)
                    if found:
                        named.add(found.group(1))
    return named


def test_every_command_a_button_names_is_in_the_command_tables(tmp_path: Path) -> None:
    dialogue = Dialogue(programmes=load_programmes(), files=FileStore(tmp_path))
    named = _commands_named_by_buttons()
    assert {"menu", "apply", "status", "ho", "link", "review", "fairs", "broadcast"} <= named  # it sees them
    assert named - set(dialogue.commands) == set()
