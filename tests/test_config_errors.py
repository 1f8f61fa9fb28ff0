"""A bad configuration value stops `python -m bot run` with one line naming the variable, exit 2.

Run as a real subprocess: the operator sees stderr and the exit status, not a Python exception.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/bot.db",
        "FILES_DIR": str(tmp_path / "files"),
        "HTTP_PORT": "0",
    }
    base.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env={**base, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


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
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    result = start(tmp_path, **{variable: value})
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2
    assert len(lines) == 1, result.stderr
    assert variable in lines[0] and expected in lines[0]


def test_port_in_use_is_one_line_naming_http_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = start(tmp_path, HTTP_PORT=str(port))
    errors = [line for line in result.stderr.splitlines() if "Traceback" in line or "error" in line]
    assert result.returncode == 2
    assert errors == [errors[-1]] and "HTTP_PORT" in errors[0] and "in use" in errors[0], result.stderr


@pytest.mark.parametrize("where", ["sqlite", "postgresql"])
def test_unreachable_database_is_one_line_naming_database_url(tmp_path: Path, where: str) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    url = (
        f"sqlite+aiosqlite:///{blocked}/sub/bot.db"
        if where == "sqlite"
        else "postgresql+asyncpg://kc:secret-password@127.0.0.1:1/nowhere"
    )
    result = start(tmp_path, DATABASE_URL=url)
    assert "secret-password" not in result.stderr
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "DATABASE_URL" in result.stderr.strip().splitlines()[-1]


def test_zalo_oa_without_a_refresh_token_is_one_line_naming_it(tmp_path: Path) -> None:
    """Refused before any request: nothing is stored and the environment holds no token."""
    result = start(
        tmp_path,
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
