"""A bad configuration value stops `python -m bot run` with one line naming the variable, exit 2.

The operator sees stderr and the exit status, not a Python exception. One case runs as a real
subprocess (the whole process's stderr and exit status); the others call the same `main(["run"])`
in this process, where the bot is already imported (a subprocess spends about 2 s of CPU
importing it), in a thread so that a start that wrongly succeeds fails instead of waiting for
Ctrl+C.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import main

ROOT = Path(__file__).resolve().parent.parent
# What the bot's configuration reads; removed from this process's environment for a start.
CONFIG_PREFIXES = (
    "TELEGRAM_",
    "ZALO_",
    "DATABASE_",
    "HTTP_",
    "PUBLIC_",
    "STAFF_",
    "FILES_",
    "TIMEZONE",
    "DEFAULT_",
)


def environment(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/bot.db",
        "FILES_DIR": str(tmp_path / "files"),
        "HTTP_PORT": "0",
        **env,
    }


@dataclass
class Started:
    returncode: int
    stderr: str


@pytest.fixture
def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """`python -m bot run` with this environment, in this process."""

    def run(**env: str) -> Started:
        monkeypatch.chdir(tmp_path)  # no .env of the checkout is read
        for key in list(os.environ):
            if key.startswith(CONFIG_PREFIXES):
                monkeypatch.delenv(key)
        for key, value in environment(tmp_path, env).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        with ThreadPoolExecutor(1) as pool:
            code = pool.submit(main, ["run"]).result(timeout=60)
        return Started(code, capsys.readouterr().err)

    return run


def test_a_bad_value_stops_the_real_process_with_one_line_and_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            **environment(tmp_path, {"TIMEZONE": "Mars/Olympus"}),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()], result.stderr
    assert "TIMEZONE" in result.stderr and "IANA time zone" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("TIMEZONE", "Mars/Olympus", "IANA time zone"),
        ("DATABASE_URL", "nonsense", "sqlite+aiosqlite"),
        ("DATABASE_URL", "mysql://u@h/db", "async driver"),
        ("HTTP_PORT", "abc", "port number"),
        ("HTTP_PORT", "70000", "port number"),
        ("DEFAULT_LOCALE", "fr", "vi or en"),
        ("PUBLIC_BASE_URL", "example.org", "https://"),
        ("TELEGRAM_API_BASE_URL", "localhost:9", "http"),
        ("STAFF_ADMINS", "telegram", "channel:user_id"),
    ],
)
def test_bad_value_is_one_line_naming_the_variable(
    start: Any, variable: str, value: str, expected: str
) -> None:
    result = start(**{variable: value})
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2
    assert len(lines) == 1, result.stderr
    assert variable in lines[0] and expected in lines[0]


def test_port_in_use_is_one_line_naming_http_port(start: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = start(HTTP_PORT=str(port))
    errors = [line for line in result.stderr.splitlines() if "Traceback" in line or "error" in line]
    assert result.returncode == 2
    assert errors == [errors[-1]] and "HTTP_PORT" in errors[0] and "in use" in errors[0], result.stderr


@pytest.mark.parametrize("where", ["sqlite", "postgresql"])
def test_unreachable_database_is_one_line_naming_database_url(start: Any, tmp_path: Path, where: str) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    url = (
        f"sqlite+aiosqlite:///{blocked}/sub/bot.db"
        if where == "sqlite"
        else "postgresql+asyncpg://kc:secret-password@127.0.0.1:1/nowhere"
    )
    result = start(DATABASE_URL=url)
    assert "secret-password" not in result.stderr
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "DATABASE_URL" in result.stderr.strip().splitlines()[-1]


def test_zalo_oa_without_a_refresh_token_is_one_line_naming_it(start: Any) -> None:
    """Refused before any request: nothing is stored and the environment holds no token."""
    result = start(
        ZALO_OA_APP_ID="123",
        ZALO_OA_SECRET_KEY="oa-secret-key",
        ZALO_OA_APP_SECRET="app-secret",
        ZALO_OA_API_BASE_URL="http://127.0.0.1:9",
        ZALO_OAUTH_BASE_URL="http://127.0.0.1:9",
        ZALO_ZNS_API_BASE_URL="http://127.0.0.1:9",
    )
    # The web server's start-up log line may come first; the refusal is the one line after it.
    lines = [line for line in result.stderr.strip().splitlines() if " INFO " not in line]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    assert "ZALO_OA_REFRESH_TOKEN" in lines[0]
