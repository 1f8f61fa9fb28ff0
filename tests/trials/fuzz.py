"""Fuzz trial: generated Telegram updates, Zalo events and web-chat requests (Hypothesis) against
the running system over HTTP: its Telegram and Zalo webhooks (the bot's API calls go to the
loopback fakes in tests/) and the web chat's API.

Inputs are shaped like the real thing, then bent: any field may be missing or replaced by any JSON
value, texts are any Unicode (controls, bidi overrides, NUL, 5,000 characters), commands and button
payloads are mixed in, and a few bodies are not JSON at all. Forty users per channel, so
conversations really advance. What must hold: no unhandled exception (no ERROR log record with a
traceback), no dead letter (an input alone must never break a user's conversation), no 5xx.

`python -m tests.trials.fuzz [count]` prints the figures; tests/trials/test_fuzz.py runs it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import sqlite3
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.assembly import System, build_system
from bot.config import Config
from handlers.channels.telegram.registration import webhook_path as telegram_path
from handlers.channels.zalo.adapter import webhook_path as zalo_path
from tests.burst_clock import hand_clock
from tests.fake_telegram import TOKEN as TELEGRAM_TOKEN
from tests.fake_telegram import FakeTelegram
from tests.fake_zalo import TOKEN as ZALO_TOKEN
from tests.fake_zalo import FakeZalo

TELEGRAM_SECRET = "fuzz-telegram-secret"
ZALO_SECRET = "fuzz-zalo-secret"
USERS = 40

# --- what is generated ------------------------------------------------------------------------------

WORDS = [
    "/start", "/menu", "/help", "/apply", "/check", "/status", "/documents", "/certificates", "/fairs",
    "/settings", "/link", "/link 123456", "/language", "/cancel", "/review", "/broadcast", "/reminders",
    "/web", "/start@kc_bot", "1", "2", "3", "0", "English", "Tiếng Việt", "I agree", "Tôi đồng ý", "menu",
    "quay lai", "back", "stop", "help", "talk to staff", "gặp cán bộ", "0912345678", "0100109106",
    "15/09/2019", "350 triệu", "Thái Bình", "Cooperative", "Yes", "Save the profile", "\x00", "a\u202eb",
    "\u200b", "🙂" * 30, "", "²", "١٢", "1" * 5000, "/review p99999999999", "/review KC-2611-ABCDE",
]  # fmt: skip
PAYLOADS = [
    "go:menu", "go:apply:new", "go:optout", "go:fairs:reg:1", "go:rv:o:1", "go:broadcast:stop:1",
    "lang:vi", "lang:en", "consent:yes", "x" * 64, "go:" + "9" * 60, "go:fairs:reg:²",
    "go:broadcast:stop:" + "9" * 20, "go:rv:o:١", "go:apply:²", "go:apply:3000000000",
]  # fmt: skip

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64), st.floats(allow_nan=False), st.text(max_size=40)
)
any_json = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
texts = st.one_of(
    st.sampled_from(WORDS),
    st.text(max_size=200),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=60),
    st.text(min_size=3000, max_size=5000),
)


@st.composite
def bent(draw: st.DrawFn, shape: dict[str, Any]) -> Any:
    """`shape` with some keys dropped and some values replaced by any JSON value."""
    result = {}
    for key, value in shape.items():
        how = draw(st.integers(0, 24))
        if how == 0:
            continue  # the field is missing
        result[key] = draw(any_json) if how == 1 else value
    return result


ids = itertools.count(10**6)


@st.composite
def telegram_update(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 49)) == 0:
        return draw(st.binary(max_size=200))  # not JSON at all
    if draw(st.integers(0, 19)) == 0:
        return json.dumps(draw(any_json)).encode()
    uid = draw(st.integers(1, USERS))
    sender = draw(bent({"id": uid, "is_bot": False, "first_name": draw(st.text(max_size=20)),
                        "language_code": draw(st.sampled_from(["vi", "en", "fr", ""]))}))  # fmt: skip
    chat = draw(bent({"id": uid, "type": draw(st.sampled_from(["private"] * 8 + ["group", "channel"]))}))
    message = {"message_id": next(ids), "date": 1_800_000_000, "chat": chat, "from": sender,
               "text": draw(texts)}  # fmt: skip
    update: dict[str, Any] = {"update_id": next(ids) if draw(st.integers(0, 19)) else draw(any_json)}
    kind = draw(st.sampled_from(["message", "message", "callback_query", "edited_message", "other"]))
    if kind == "callback_query":
        update["callback_query"] = draw(bent({
            "id": str(next(ids)), "from": sender, "chat_instance": "1",
            "message": draw(bent(message)), "data": draw(st.one_of(st.sampled_from(PAYLOADS), st.text(max_size=64))),
        }))  # fmt: skip
    elif kind == "other":
        update[draw(st.text(max_size=20))] = draw(any_json)
    else:
        update[kind] = draw(bent(message))
    return json.dumps(update).encode()


@st.composite
def zalo_event(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 49)) == 0:
        return draw(st.binary(max_size=200))
    uid = f"zalo-user-{draw(st.integers(1, USERS))}"
    name = draw(st.sampled_from([
        "message.text.received", "message.text.received", "message.image.received",
        "message.sticker.received", "message.unsupported.received", "something.else",
    ]))  # fmt: skip
    message = draw(bent({
        "from": draw(bent({"id": uid, "display_name": draw(st.text(max_size=20)), "is_bot": False})),
        "chat": draw(bent({"id": uid, "chat_type": draw(st.sampled_from(["PRIVATE", "GROUP"]))})),
        "message_id": f"m{next(ids)}", "date": 1_800_000_000_000, "text": draw(texts),
        "photo": draw(st.sampled_from(["http://127.0.0.1:1/photo.jpg", "javascript:alert(1)", ""])),
    }))  # fmt: skip
    event = draw(bent({"event_name": name, "message": message}))
    wrapped = draw(st.sampled_from([{"ok": True, "result": event}, event, {"ok": False}]))
    return json.dumps(wrapped).encode()


@dataclass(frozen=True)
class WebRequest:
    method: str
    path: str
    body: bytes
    headers: dict[str, str]


@st.composite
def web_request(draw: st.DrawFn) -> WebRequest:
    cookie = {"Cookie": f"kc_web=fuzz-web-user-{draw(st.integers(1, USERS)):04d}"}
    which = draw(st.sampled_from(["send"] * 6 + ["upload", "updates", "state", "download"]))
    if which == "updates":
        after = draw(st.one_of(st.integers(-5, 10**20).map(str), st.text(max_size=20)))
        return WebRequest(
            "GET", "/api/chat/updates?" + urllib.parse.quote(f"after={after}", safe="="), b"", cookie
        )
    if which == "state":
        return WebRequest("GET", "/api/chat/state", b"", cookie)
    if which == "download":
        return WebRequest("GET", f"/api/chat/files/{draw(st.integers(0, 10**18))}", b"", cookie)
    if which == "upload":
        boundary = uuid.uuid4().hex
        filename = draw(st.text(max_size=40)).replace('"', "").replace("\r", "").replace("\n", "")
        data = draw(
            st.one_of(st.binary(max_size=300), st.just(b"%PDF-1.4\n%%EOF"), st.just(b"\xff\xd8\xff\xe0"))
        )
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="id"\r\n\r\n{uuid.uuid4().hex}\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                f"Content-Type: {draw(st.sampled_from(['application/pdf', 'image/jpeg', 'text/plain', '']))}\r\n\r\n"
            ).encode("utf-8", "surrogatepass")
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return WebRequest("POST", "/api/chat/upload", body,
                          {**cookie, "Content-Type": f"multipart/form-data; boundary={boundary}"})  # fmt: skip
    shape = {"id": uuid.uuid4().hex, "text": draw(texts)}
    if draw(st.booleans()):
        shape = {
            "id": shape["id"],
            "choice": draw(st.sampled_from(PAYLOADS)),
            "label": draw(st.text(max_size=30)),
        }
    body_value = draw(st.one_of(bent(shape), bent(shape), any_json))
    content_type = draw(
        st.sampled_from(["application/json"] * 8 + ["text/plain", "application/json; charset=latin-1"])
    )
    body = json.dumps(body_value).encode() if draw(st.integers(0, 29)) else draw(st.binary(max_size=100))
    return WebRequest("POST", "/api/chat/send", body, {**cookie, "Content-Type": content_type})


# --- the running system --------------------------------------------------------------------------


class Failures(logging.Handler):
    """Every ERROR record, and every record carrying a traceback, is a finding."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(f"{record.name}: {record.getMessage()[:200]}")


class Running:
    """The system `python -m bot run` builds, with Telegram and Zalo in webhook mode against the
    loopback fakes, on its own event loop in a background thread."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.system: System | None = None

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=300)

    def start(self) -> None:
        self.thread.start()
        self.call(self._start())

    async def _start(self) -> None:
        self.telegram = await FakeTelegram().start()
        self.zalo = FakeZalo()
        await self.zalo.start()
        config = Config(
            database_url=f"sqlite+aiosqlite:///{self.workdir / 'bot.db'}",
            http_port=0,
            files_dir=self.workdir / "files",
            telegram_token=TELEGRAM_TOKEN,
            telegram_api_base_url=self.telegram.base_url,
            telegram_file_base_url=self.telegram.base_file_url,
            telegram_webhook_url="https://bot.example.vn",
            telegram_webhook_secret=TELEGRAM_SECRET,
            zalo_token=ZALO_TOKEN,
            zalo_api_base_url=self.zalo.base,
            zalo_webhook_url="https://bot.example.vn",
            zalo_webhook_secret=ZALO_SECRET,
            public_base_url="https://bot.example.vn",
        )
        self.system = await build_system(config)
        for component in self.system.components:
            if hasattr(component, "bursts") or hasattr(component, "albums"):
                # Inputs go one at a time, so every photo is a burst of one: its quiet window
                # passes at once instead of holding each image's request a real second.
                hand_clock(component)
        await self.system.start()

    def stop(self) -> None:
        async def _stop() -> None:
            if self.system is not None:
                await self.system.stop()
            await self.telegram.stop()
            await self.zalo.stop()

        self.call(_stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)

    @property
    def base(self) -> str:
        assert self.system is not None
        return f"http://127.0.0.1:{self.system.port}"

    def dead_letters(self) -> int:
        with sqlite3.connect(self.workdir / "bot.db") as conn:
            return int(conn.execute("select count(*) from dead_letters").fetchone()[0])


@dataclass
class Figures:
    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    server_errors: int = 0
    exceptions: list[str] = field(default_factory=list)
    dead_letters: int = 0


def post(url: str, body: bytes, headers: dict[str, str], method: str = "POST") -> int:
    request = urllib.request.Request(
        url, data=body if method == "POST" else None, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)


def run(count: int) -> Figures:
    figures = Figures()
    failures = Failures()
    logging.getLogger().addHandler(failures)
    with tempfile.TemporaryDirectory(prefix="kc-fuzz-") as tmp:
        running = Running(Path(tmp))
        running.start()
        try:
            per_channel = -(-count // 3)
            check = settings(
                max_examples=per_channel, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck),
            )  # fmt: skip

            def record(kind: str, status: int) -> None:
                figures.requests[kind] += 1
                figures.statuses[(kind, status)] += 1
                figures.server_errors += status >= 500

            telegram_url = running.base + telegram_path(TELEGRAM_TOKEN)
            zalo_url = running.base + zalo_path(ZALO_TOKEN)

            @check
            @given(telegram_update())
            def telegram(body: bytes) -> None:
                headers = {
                    "Content-Type": "application/json",
                    "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
                }
                record("telegram", post(telegram_url, body, headers))

            @check
            @given(zalo_event())
            def zalo(body: bytes) -> None:
                headers = {"Content-Type": "application/json", "X-Bot-Api-Secret-Token": ZALO_SECRET}
                record("zalo", post(zalo_url, body, headers))

            @check
            @given(web_request())
            def webchat(request: WebRequest) -> None:
                status = post(running.base + request.path, request.body, request.headers, request.method)
                record("web", status)

            tests: list[Callable[[], None]] = [telegram, zalo, webchat]
            for test in tests:
                test()
            running.call(asyncio.sleep(1.0))  # replies still being sent settle
            figures.dead_letters = running.dead_letters()
        finally:
            running.stop()
            logging.getLogger().removeHandler(failures)
    figures.exceptions = failures.records
    return figures


def report(figures: Figures) -> str:
    return (
        f"inputs {sum(figures.requests.values())} ({dict(figures.requests)}), statuses {dict(sorted(figures.statuses.items()))}, "
        f"unhandled exceptions {len(figures.exceptions)}, dead letters {figures.dead_letters}, "
        f"5xx {figures.server_errors}"
    )


if __name__ == "__main__":
    result = run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
    print(report(result))
    for line in result.exceptions[:20]:
        print(" ", line)
