"""Configuration from the environment (and `.env`), with the defaults DESIGN.md promises.

Read once at start-up into a frozen value; nothing else in the code reads os.environ.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import load_dotenv

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/bot.db"


@dataclass(frozen=True)
class StaffAdmin:
    channel: str
    user_id: str


@dataclass(frozen=True)
class Config:
    database_url: str = DEFAULT_DATABASE_URL
    telegram_token: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_file_base_url: str = "https://api.telegram.org/file/bot"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    zalo_token: str | None = None
    zalo_api_base_url: str = "https://bot-api.zaloplatforms.com"
    zalo_webhook_url: str | None = None
    zalo_webhook_secret: str | None = None
    zalo_oa_app_id: str | None = None
    zalo_oa_secret_key: str | None = None
    zalo_oa_app_secret: str | None = None
    zalo_oa_refresh_token: str | None = None
    zalo_oa_api_base_url: str = "https://openapi.zalo.me"
    zalo_oauth_base_url: str = "https://oauth.zaloapp.com"
    zalo_zns_api_base_url: str = "https://business.openapi.zalo.me"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # Where users reach this server from outside (links in chats: the upload page); unset means
    # http://HTTP_HOST:HTTP_PORT, right only on a local machine.
    public_base_url: str | None = None
    files_dir: Path = Path("data/files")
    # The one upload limit: the web chat page and the upload page check it before sending, and the
    # dialogue refuses anything bigger. 20 MB is the most a Telegram bot may download.
    max_upload_mb: int = 10
    timezone: str = "Asia/Ho_Chi_Minh"
    default_locale: str = "vi"
    staff_admins: tuple[StaffAdmin, ...] = field(default_factory=tuple)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, *, dotenv: bool = True) -> Config:
        if env is None:
            if dotenv:
                load_dotenv(Path.cwd() / ".env", override=False)
            env = dict(os.environ)

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        config = cls(
            database_url=get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            telegram_token=get("TELEGRAM_BOT_TOKEN"),
            telegram_api_base_url=get("TELEGRAM_API_BASE_URL") or cls.telegram_api_base_url,
            telegram_file_base_url=get("TELEGRAM_FILE_BASE_URL") or cls.telegram_file_base_url,
            telegram_webhook_url=get("TELEGRAM_WEBHOOK_URL"),
            telegram_webhook_secret=get("TELEGRAM_WEBHOOK_SECRET"),
            zalo_token=get("ZALO_BOT_TOKEN"),
            zalo_api_base_url=get("ZALO_API_BASE_URL") or cls.zalo_api_base_url,
            zalo_webhook_url=get("ZALO_WEBHOOK_URL"),
            zalo_webhook_secret=get("ZALO_WEBHOOK_SECRET"),
            zalo_oa_app_id=get("ZALO_OA_APP_ID"),
            zalo_oa_secret_key=get("ZALO_OA_SECRET_KEY"),
            zalo_oa_app_secret=get("ZALO_OA_APP_SECRET"),
            zalo_oa_refresh_token=get("ZALO_OA_REFRESH_TOKEN"),
            zalo_oa_api_base_url=get("ZALO_OA_API_BASE_URL") or cls.zalo_oa_api_base_url,
            zalo_oauth_base_url=get("ZALO_OAUTH_BASE_URL") or cls.zalo_oauth_base_url,
            zalo_zns_api_base_url=get("ZALO_ZNS_API_BASE_URL") or cls.zalo_zns_api_base_url,
            http_host=get("HTTP_HOST") or cls.http_host,
            http_port=_port(get("HTTP_PORT"), cls.http_port),
            public_base_url=get("PUBLIC_BASE_URL"),
            files_dir=Path(get("FILES_DIR") or "data/files"),
            max_upload_mb=_upload_mb(get("MAX_UPLOAD_MB"), cls.max_upload_mb),
            timezone=get("TIMEZONE") or cls.timezone,
            default_locale=get("DEFAULT_LOCALE") or cls.default_locale,
            staff_admins=parse_staff_admins(get("STAFF_ADMINS") or ""),
        )
        config.validate()
        return config

    @property
    def public_base(self) -> str:
        """PUBLIC_BASE_URL without a trailing slash, or this server's own address."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        return f"http://{self.http_host}:{self.http_port}"

    def validate(self) -> None:
        """Every message names the variable and what it expects: the operator reads one line, not a
        traceback (the start stops with exit status 2)."""
        _check_timezone(self.timezone)
        _check_database_url(self.database_url)
        for name, url in (
            ("TELEGRAM_API_BASE_URL", self.telegram_api_base_url),
            ("TELEGRAM_FILE_BASE_URL", self.telegram_file_base_url),
            ("TELEGRAM_WEBHOOK_URL", self.telegram_webhook_url),
            ("ZALO_API_BASE_URL", self.zalo_api_base_url),
            ("ZALO_WEBHOOK_URL", self.zalo_webhook_url),
        ):
            if url and not url.lower().startswith(("https://", "http://")):
                raise ValueError(f"{name} must be an http:// or https:// address, got {url!r}")
        if self.telegram_webhook_url and not self.telegram_webhook_secret:
            raise ValueError("TELEGRAM_WEBHOOK_SECRET is required when TELEGRAM_WEBHOOK_URL is set")
        if self.zalo_webhook_url and not self.zalo_webhook_secret:
            raise ValueError("ZALO_WEBHOOK_SECRET is required when ZALO_WEBHOOK_URL is set")
        if self.zalo_webhook_url and not 8 <= len(self.zalo_webhook_secret or "") <= 256:
            raise ValueError("ZALO_WEBHOOK_SECRET must be 8 to 256 characters (the platform's rule)")
        if bool(self.zalo_oa_app_id) != bool(self.zalo_oa_secret_key):
            raise ValueError("ZALO_OA_SECRET_KEY is required with ZALO_OA_APP_ID (and the other way round)")
        if self.zalo_oa_app_id and not self.zalo_oa_app_secret:
            raise ValueError("ZALO_OA_APP_SECRET is required when ZALO_OA_APP_ID is set (token refresh)")
        if self.telegram_webhook_secret and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", self.telegram_webhook_secret
        ):
            raise ValueError("TELEGRAM_WEBHOOK_SECRET may hold only A-Z a-z 0-9 _ - (1 to 256 characters)")
        if self.public_base_url and not self.public_base_url.lower().startswith(("https://", "http://")):
            raise ValueError("PUBLIC_BASE_URL must start with https:// (or http:// on a local network)")
        if self.default_locale not in ("vi", "en"):
            raise ValueError("DEFAULT_LOCALE must be vi or en")


def _port(value: str | None, default: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise ValueError(f"HTTP_PORT must be a port number from 0 to 65535, got {value!r}")
    return int(value)


def _upload_mb(value: str | None, default: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= 20:
        raise ValueError(
            f"MAX_UPLOAD_MB must be a whole number of megabytes from 1 to 20 (Telegram's limit), got {value!r}"
        )
    return int(value)


def _check_timezone(name: str) -> None:
    """An unknown zone fails here, at start-up, rather than at the first reminder at 7 a.m."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"TIMEZONE must be an IANA time zone such as Asia/Ho_Chi_Minh, got {name!r}"
        ) from None


def _check_database_url(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    expected = (
        "DATABASE_URL must look like sqlite+aiosqlite:///data/bot.db or postgresql+asyncpg://user@host/db"
    )
    try:
        backend = make_url(url).get_backend_name()
        driver = make_url(url).get_driver_name()
    except ArgumentError:
        raise ValueError(f"{expected}, got an unreadable URL") from None
    if (backend, driver) not in (("sqlite", "aiosqlite"), ("postgresql", "asyncpg")):
        raise ValueError(f"{expected} (an async driver), got {backend}+{driver}")


def parse_staff_admins(value: str) -> tuple[StaffAdmin, ...]:
    admins = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        channel, sep, user_id = item.partition(":")
        if not sep or not user_id:
            raise ValueError(f"STAFF_ADMINS entry {item!r} is not channel:user_id")
        admins.append(StaffAdmin(channel.strip(), user_id.strip()))
    return tuple(admins)
