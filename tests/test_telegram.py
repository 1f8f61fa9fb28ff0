"""The Telegram channel end to end: the real python-telegram-bot Application, our adapter, the real
dialogue on SQLite, against the fake Bot API server in tests/fake_telegram.py on 127.0.0.1.

Each test checks what a user would notice (the messages and keyboards the server received, taps
answered, keyboards removed) and what the database holds afterwards.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Config
from conversations.dialogue import Dialogue
from conversations.i18n import translator
from conversations.messages import Choice, Outgoing
from conversations.programmes import load_programmes
from handlers import runtime
from handlers.channels.telegram.adapter import TelegramChannel
from handlers.channels.telegram.registration import COMMANDS, webhook_path
from handlers.runtime import APOLOGY, Pipeline
from storage.files import FileStore
from storage.models import Account, Application, DeadLetter, Identity, ProcessedUpdate, StoredDocument
from tests.burst_clock import hand_clock
from tests.conftest import JPEG_BYTES, PDF_BYTES, Clock
from tests.fake_telegram import TOKEN, BotMessage, FakeTelegram, FakeUser, RateLimits
from tests.test_flows import (
    FORM_ANSWERS,
    SELECTION_ANSWERS,
    answer_current,
    onboard_english,
    state_of,
    upload_required,
)
from tests.test_several_files import photos_count
from tests.test_zalo import until

SECRET = "s3cret-Token_for-tests"
DELIVERY_TIMEOUT = 15.0


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@dataclass
class Bot:
    """A running TelegramChannel (polling or webhook) and the way updates reach it."""

    fake: FakeTelegram
    channel: TelegramChannel
    mode: str
    runner: web.AppRunner | None = None
    stopped: bool = False

    async def deliver(self, update: dict[str, Any]) -> None:
        """Hand one update to the bot and return once it has been handled completely."""
        async with asyncio.timeout(DELIVERY_TIMEOUT):
            if self.mode == "webhook":
                status = await self.fake.post_webhook(update)
                assert status == 200, status
            else:
                self.fake.enqueue(update)
                await self.settle(update["update_id"])

    async def settle(self, update_id: int) -> None:
        """Polling: PTB confirms an update only once it is in its queue; then wait for the queue."""
        await self.fake.wait_confirmed(update_id)
        await self.channel.application.update_queue.join()

    async def stop(self) -> None:
        self.stopped = True
        await self.channel.stop()
        if self.runner is not None:
            await self.runner.cleanup()


BotFactory = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def start_bot(
    fake: FakeTelegram, pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> AsyncIterator[BotFactory]:
    """Start a TelegramChannel against the fake server, in polling or webhook mode. Several may be
    started one after another (a restart); all still running are stopped at the end."""
    running: list[Bot] = []

    async def start(mode: str = "polling", *, with_pipeline: Pipeline | None = None) -> Bot:
        runner = None
        web_app = web.Application()
        webhook_url = None
        sock = None
        if mode == "webhook":
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            webhook_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = Config(
            telegram_token=TOKEN,
            telegram_api_base_url=fake.base_url,
            telegram_file_base_url=fake.base_file_url,
            telegram_webhook_url=webhook_url,
            telegram_webhook_secret=SECRET if webhook_url else None,
        )
        channel = TelegramChannel(config, with_pipeline or pipeline, sessions, FileStore(tmp_path / "files"))
        hand_clock(channel)  # an album's quiet window passes when the test says
        channel.attach_routes(web_app)
        if sock is not None:
            runner = web.AppRunner(web_app, access_log=None)
            await runner.setup()
            await web.SockSite(runner, sock).start()
        await channel.start(web_app)
        bot = Bot(fake=fake, channel=channel, mode=mode, runner=runner)
        running.append(bot)
        return bot

    yield start
    for bot in running:
        if not bot.stopped:
            await bot.stop()


@dataclass
class TelegramChat:
    """One Telegram user, with the interface of tests.conftest.Chat so the flow helpers of
    tests/test_flows.py drive a journey through Telegram unchanged."""

    bot: Bot
    user: FakeUser
    last_messages: list[BotMessage] = field(default_factory=list)
    taps: int = 0

    @property
    def fake(self) -> FakeTelegram:
        return self.bot.fake

    @property
    def user_id(self) -> str:
        return str(self.user.id)

    @property
    def last(self) -> list[Outgoing]:
        """The bot's answer to the latest update, rebuilt from what Telegram received."""
        return [
            Outgoing(
                text=m.text if m.text is not None else (m.caption or ""),
                choices=[Choice(b["text"], b["callback_data"]) for b in m.buttons if "callback_data" in b],
            )
            for m in self.last_messages
        ]

    @property
    def text(self) -> str:
        return "\n---\n".join(m.text for m in self.last)

    @property
    def buttons(self) -> list[str]:
        return [c.label for m in self.last for c in m.choices]

    async def _go(self, update: dict[str, Any]) -> list[Outgoing]:
        mark = len(self.fake.messages[self.user.id])
        await self.bot.deliver(update)
        self.last_messages = self.fake.messages[self.user.id][mark:]
        return self.last

    async def send(self, text: str) -> list[Outgoing]:
        return await self._go(self.fake.message_update(self.user, text))

    async def tap(self, label_part: str) -> list[Outgoing]:
        """Tap a button of the bot's latest answer; check the tap was answered and its keyboard
        replaced by the choice, as every tap must be."""
        for message in reversed(self.last_messages):
            for button in message.buttons:
                if label_part.lower() in button["text"].lower() and "callback_data" in button:
                    pressed = self.fake.message(self.user.id, message.message_id)
                    answered = len(self.fake.calls_of("answerCallbackQuery", ok=True))
                    result = await self._go(
                        self.fake.callback_update(self.user, pressed, button["callback_data"])
                    )
                    self.taps += 1
                    assert len(self.fake.calls_of("answerCallbackQuery", ok=True)) == answered + 1
                    assert pressed.buttons == [], "the tapped keyboard is still there"
                    assert pressed.text is None or pressed.text.endswith(f"✓ {button['text']}")
                    return result
        raise AssertionError(f"no button with {label_part!r}; buttons: {self.buttons}")

    async def upload(self, filename: str, data: bytes, content_type: str, **kw: Any) -> list[Outgoing]:
        """A JPEG goes as a Telegram photo (what a phone camera sends), anything else as a document."""
        if content_type == "image/jpeg" and not kw:
            return await self._go(self.fake.photo_update(self.user, data))
        return await self._go(self.fake.document_update(self.user, data, filename, content_type, **kw))


async def full_application(chat: TelegramChat, sessions: async_sessionmaker[AsyncSession]) -> None:
    """tests.test_flows.full_application for a user other than "u1": up to the document checklist."""
    await chat.send("/apply")
    await chat.tap("Provincial level")  # the programme and its level in one menu
    answers = {**SELECTION_ANSWERS, **FORM_ANSWERS}
    for _ in range(40):
        if (await state_of(sessions, chat.user_id)).step == "documents":
            break
        await answer_current(chat, sessions, answers)
    assert "Required documents: 0/" in chat.text


def ok_calls_only(fake: FakeTelegram) -> None:
    failed = [(c.method, c.error) for c in fake.calls if not c.ok]
    assert failed == [], failed


# --- the journey ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_full_journey(
    mode: str, start_bot: BotFactory, fake: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bot = await start_bot(mode)
    chat = TelegramChat(bot, FakeUser(501, language_code="en"))

    await chat.send("/start")
    consent = chat.last_messages[-1]  # in English, as the app says, with a switch: no language question
    assert [b["text"] for b in consent.buttons] == [
        "I agree",
        "I do not agree",
        "📄 Read the full notice",
        "🌐 Tiếng Việt",
    ]
    await onboard_english(chat)
    await full_application(chat, sessions)

    # Refused files: what is wrong is said, and nothing is fetched from Telegram.
    getfile_before = len(fake.calls_of("getFile"))
    checklist = chat.last_messages
    await chat.upload("ho_so.pdf", PDF_BYTES, "application/pdf", file_size=30 * 1024 * 1024)
    assert "larger than 10 MB" in chat.text
    await chat.upload("ho_so.docx", b"PK\x03\x04 word", "application/vnd.openxmlformats")
    assert "PDF" in chat.text
    assert len(fake.calls_of("getFile")) == getfile_before
    chat.last_messages = checklist  # the user scrolls back up to the checklist's buttons

    await upload_required(chat, sessions)
    assert fake.downloads and len(fake.calls_of("getFile")) == len(fake.downloads)
    assert any(p.startswith("photos/") for p in fake.downloads)  # photos came as Telegram photos
    assert any(p.startswith("documents/") for p in fake.downloads)
    assert "Please check your dossier" in chat.text  # the last document leads to the summary
    assert "Giỏ mây đan Phú Vinh" in chat.text
    await chat.tap("Submit")
    assert "Receipt code: KC-" in chat.text
    await chat.send("/status")
    assert "Submitted" in chat.text

    async with sessions() as s:
        app = await s.scalar(select(Application))
        docs = await s.scalar(select(func.count()).select_from(StoredDocument))
        identity = await s.scalar(select(Identity))
    assert app is not None and app.status == "submitted" and app.receipt_code
    assert docs is not None and docs >= 5
    assert identity is not None and identity.channel == "telegram" and identity.external_id == "501"

    ok_calls_only(fake)  # no 400 anywhere: texts, keyboards and callback data all within limits
    assert fake.unanswered_queries() == set()
    assert len(fake.calls_of("answerCallbackQuery")) == chat.taps
    if mode == "polling":
        assert fake.calls_of("deleteWebhook") and fake.calls_of("getUpdates")
        assert not fake.calls_of("setWebhook")
    else:
        assert fake.webhook is not None
        assert fake.webhook["url"].endswith(webhook_path(TOKEN))
        assert fake.webhook["secret_token"] == SECRET
        assert set(fake.webhook["allowed_updates"]) >= {"message", "callback_query", "my_chat_member"}
        assert not fake.calls_of("getUpdates")


async def test_commands_are_registered_in_vietnamese_and_english(
    start_bot: BotFactory, fake: FakeTelegram
) -> None:
    await start_bot()
    names = [name for name, _ in COMMANDS]
    assert set(fake.commands) == {None, "vi", "en"}
    for language, commands in fake.commands.items():
        assert [c["command"] for c in commands] == names
        t = translator(language or "vi")
        assert [c["description"] for c in commands] == [t(msgid) for _, msgid in COMMANDS]
    assert fake.commands[None] == fake.commands["vi"]  # Vietnamese unless the app says English
    assert [c["description"] for c in fake.commands["en"]] == [msgid for _, msgid in COMMANDS]


async def test_language_code_starts_in_that_language_with_a_one_tap_switch(
    start_bot: BotFactory, fake: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bot = await start_bot()
    chat = TelegramChat(bot, FakeUser(502, language_code="en-US"))
    await chat.send("/start")
    assert "Tiếng Việt" not in chat.text  # no language question: the notice at once, in English
    assert chat.buttons == ["I agree", "I do not agree", "📄 Read the full notice", "🌐 Tiếng Việt"]
    await chat.tap("🌐 Tiếng Việt")
    async with sessions() as s:
        account = await s.scalar(select(Account))
    assert account is not None and account.locale == "vi"  # the owner's tap wins over Telegram's hint
    assert translator("vi")("I agree") in chat.buttons and "🌐 English" in chat.buttons
    await chat.tap(translator("vi")("I agree"))
    assert "tên cơ sở" in chat.text.lower()  # on in Vietnamese, the switch gone with the notice


async def test_a_vietnamese_app_starts_in_vietnamese_and_no_hint_starts_in_vietnamese_too(
    start_bot: BotFactory, fake: FakeTelegram
) -> None:
    bot = await start_bot()
    vi = TelegramChat(bot, FakeUser(540, language_code="vi"))
    await vi.send("/start")
    assert "Tôi đồng ý" in vi.buttons and "🌐 English" in vi.buttons
    silent = TelegramChat(bot, FakeUser(541, language_code="fr"))  # a language we do not speak
    await silent.send("/start")
    # Vietnamese, with English offered in the consent itself (one input for both)
    assert silent.buttons == [
        "Tôi đồng ý",
        "Tôi không đồng ý",
        "📄 Đọc đầy đủ",
        "I agree — continue in English",
        "🌐 English",
    ]
    await silent.tap("continue in English")
    assert "name of your facility" in silent.text


async def test_long_text_is_split_with_the_keyboard_on_the_last_part(
    start_bot: BotFactory, fake: FakeTelegram, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    paragraph = "Hồ sơ gồm bản sao giấy chứng nhận đăng ký kinh doanh và ảnh sản phẩm. " * 12
    long_text = "\n\n".join(f"{i}. {paragraph.strip()}" for i in range(12))
    assert len(long_text) > 2 * 4096
    reply = Outgoing(
        text=long_text,
        choices=[
            Choice("Có", "q:yes"),
            Choice("Không", "q:no"),
            Choice("Gửi hồ sơ bổ sung sau", "q:later"),
        ],
        url="https://khuyencong.example.gov.vn/upload/abc",
        url_label="Mở trang tải hồ sơ",
    )

    async def handle(incoming: Any) -> list[Outgoing]:
        return [reply]

    monkeypatch.setattr(pipeline, "handle", handle)
    bot = await start_bot()
    chat = TelegramChat(bot, FakeUser(503))
    await chat.send("/help")

    parts = chat.last_messages
    assert len(parts) == 3
    assert all(len(p.text or "") <= 4096 for p in parts)
    assert [p.buttons == [] for p in parts] == [True, True, False]
    assert "".join((p.text or "").replace("\n", "").replace(" ", "") for p in parts) == long_text.replace(
        "\n", ""
    ).replace(" ", "")
    for part in parts[:-1]:  # each cut falls between paragraphs, not inside a word
        assert part.text is not None and part.text.rstrip().endswith("sản phẩm.")
    markup = parts[-1].reply_markup
    assert markup is not None
    rows = markup["inline_keyboard"]
    assert [[b["text"] for b in row] for row in rows] == [
        ["Có", "Không"],
        ["Gửi hồ sơ bổ sung sau"],
        ["Mở trang tải hồ sơ"],
    ]
    assert rows[2][0]["url"] == "https://khuyencong.example.gov.vn/upload/abc"


# --- idempotency, restarts, workers -------------------------------------------------------------------


async def test_duplicated_webhook_update_is_applied_once(
    start_bot: BotFactory, fake: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bot = await start_bot("webhook")
    chat = TelegramChat(bot, FakeUser(504))
    await chat.send("/start")
    language = chat.last_messages[-1]
    tap = fake.callback_update(
        chat.user, language, next(b["callback_data"] for b in language.buttons if b["text"] == "I agree")
    )
    assert await fake.post_webhook(tap) == 200
    sent = len(fake.messages[504])
    assert await fake.post_webhook(tap) == 200  # Telegram repeats a delivery it thinks failed
    assert len(fake.messages[504]) == sent
    assert len(fake.calls_of("answerCallbackQuery")) == 1
    assert fake.unanswered_queries() == set()
    text = fake.message_update(chat.user, "/help")
    assert await fake.post_webhook(text) == 200
    assert any("/check" in t for t in fake.sent_texts(504)[sent:])
    sent = len(fake.messages[504])
    assert await fake.post_webhook(text) == 200
    assert len(fake.messages[504]) == sent
    async with sessions() as s:
        rows = await s.scalar(select(func.count()).select_from(ProcessedUpdate))
    assert rows == 3


async def test_update_redelivered_after_a_restart_is_not_applied_twice(
    start_bot: BotFactory, fake: FakeTelegram
) -> None:
    first = await start_bot()
    chat = TelegramChat(first, FakeUser(505))
    await chat.send("/start")
    language = chat.last_messages[-1]
    tap = fake.callback_update(chat.user, language, language.buttons[1]["callback_data"])
    await first.deliver(tap)
    sent = len(fake.messages[505])
    await first.stop()

    fake.redeliver(tap)  # the confirmation was lost with the process
    second = await start_bot()
    await second.settle(tap["update_id"])
    assert len(fake.messages[505]) == sent
    chat.bot = second
    await chat.send("/help")  # and the restarted bot goes on
    assert "/check" in chat.text


async def test_restart_mid_draft_continues_in_another_worker(
    start_bot: BotFactory,
    fake: FakeTelegram,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    clock: Clock,
) -> None:
    first = await start_bot()
    chat = TelegramChat(first, FakeUser(506))
    await onboard_english(chat)
    await chat.send("/apply")
    await chat.tap("Provincial level")  # the programme and its level in one menu
    answers = {**SELECTION_ANSWERS, **FORM_ANSWERS}
    asked: list[str] = []
    while "product_name" not in asked:
        asked.append(await answer_current(chat, sessions, answers))
    await first.stop()

    # A second worker: its own pipeline and dialogue, sharing only the database, in webhook mode.
    dialogue = Dialogue(programmes=load_programmes(), files=FileStore(tmp_path / "files"), clock=clock)
    second = await start_bot("webhook", with_pipeline=Pipeline(sessions, dialogue))
    chat.bot = second
    state = await state_of(sessions, chat.user_id)
    assert state.step == "product_description"
    await chat.send(FORM_ANSWERS["product_description"])  # answers the question the first worker asked
    state = await state_of(sessions, chat.user_id)
    assert state.step != "product_description"
    await chat.send("/menu")
    await chat.send("/apply")
    assert "Welcome back" in chat.text and "Giỏ mây đan Phú Vinh" in chat.text
    for _ in range(20):
        if (await state_of(sessions, chat.user_id)).step == "documents":
            break
        await answer_current(chat, sessions, answers)
    assert "Required documents: 0/" in chat.text


async def test_one_user_at_a_time_and_users_side_by_side(
    start_bot: BotFactory, fake: FakeTelegram, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow, quick = FakeUser(507), FakeUser(508)
    gate = asyncio.Event()
    handle = pipeline.handle

    async def held(incoming: Any) -> list[Outgoing]:
        if incoming.user_id == str(slow.id) and incoming.command == "start":
            await gate.wait()
        return await handle(incoming)

    monkeypatch.setattr(pipeline, "handle", held)
    bot = await start_bot()
    first, second, other = (
        fake.message_update(slow, "/start"),
        fake.message_update(slow, "/help"),
        fake.message_update(quick, "/start"),
    )
    fake.enqueue(first, second, other)
    # The other user is answered while the first user's update is still being worked on...
    await fake.wait_for(lambda: bool(fake.messages[quick.id]))
    assert fake.messages[slow.id] == []  # ...and the first user's /help did not overtake their /start
    gate.set()
    await bot.settle(other["update_id"])
    texts = fake.sent_texts(slow.id)
    assert "🌐 Tiếng Việt" in fake.messages[slow.id][0].labels  # /start's answer first
    assert "/check" in texts[1]  # then /help's


# --- the webhook's door ---------------------------------------------------------------------------------


async def test_wrong_or_missing_webhook_secret_is_refused_and_nothing_processed(
    start_bot: BotFactory, fake: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await start_bot("webhook")
    user = FakeUser(509)
    update = fake.message_update(user, "/start")
    assert await fake.post_webhook(update, secret="wrong-secret") == 401
    assert await fake.post_webhook(update, secret=None) == 401
    assert await fake.post_webhook(update, secret=SECRET[:-1]) == 401
    assert fake.webhook is not None
    base = fake.webhook["url"].rsplit("/", 1)[0]
    assert await fake.post_webhook(update, url=base + "/0123456789abcdef0123456789abcdef") == 404
    assert fake.messages[user.id] == []
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(ProcessedUpdate)) == 0
        assert await s.scalar(select(func.count()).select_from(Account)) == 0
    assert await fake.post_webhook(update) == 200  # the same update, with the right secret
    assert "🌐 Tiếng Việt" in fake.last_message(user.id).labels


# --- users who left, limits, failures ---------------------------------------------------------------------


async def test_blocked_user_is_marked_unreachable_and_not_retried(
    start_bot: BotFactory, fake: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bot = await start_bot()
    chat = TelegramChat(bot, FakeUser(510))
    await chat.send("/start")
    fake.block(510)
    await chat.send("/help")  # answered with two messages: only the first is tried
    refused = fake.calls_of("sendMessage", 510, ok=False)
    assert len(refused) == 1 and refused[0].status == 403  # one try, no apology into the void
    tries = len(fake.calls_of("sendMessage", 510))

    async def identity() -> Identity:
        async with sessions() as s:
            found = await s.scalar(select(Identity).where(Identity.external_id == "510"))
        assert found is not None
        return found

    gone = await identity()
    assert gone.reachable is False and "blocked" in (gone.unreachable_reason or "")
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(DeadLetter)) == 0  # not a fault of ours

    fake.unblock(510)
    await bot.deliver(fake.member_update(chat.user, "kicked", "member"))  # the user unblocked the bot
    assert (await identity()).reachable is True
    await bot.deliver(fake.member_update(chat.user, "member", "kicked"))  # and blocked it again
    assert (await identity()).reachable is False
    assert len(fake.calls_of("sendMessage", 510)) == tries  # nothing was sent for either change


async def test_start_after_unblocking_marks_the_user_reachable_with_the_update_itself(
    start_bot: BotFactory, fake: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """ "Restart bot" after unblocking sends /start: the owner is reachable again (reminders and
    broadcasts reach them), marked in the /start's own transaction rather than one of its own."""
    bot = await start_bot()
    chat = TelegramChat(bot, FakeUser(511))
    await chat.send("/start")
    fake.block(511)
    await chat.send("/help")

    async def identity() -> Identity:
        async with sessions() as s:
            found = await s.scalar(select(Identity).where(Identity.external_id == "511"))
        assert found is not None
        return found

    assert (await identity()).reachable is False
    fake.unblock(511)
    transactions: list[object] = []

    def began(connection: object) -> None:
        transactions.append(connection)

    engine = sessions.kw["bind"].sync_engine
    event.listen(engine, "begin", began)
    try:
        answer = await chat.send("/start")
    finally:
        event.remove(engine, "begin", began)
    back = await identity()
    assert back.reachable is True and back.unreachable_reason is None
    assert answer and len(transactions) == 1


@pytest.fixture
def waits(fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The runtime's flood-control waits (`asyncio.sleep(retry_after)`), recorded and taken in the
    fake's time instead of real seconds: the fake's clock moves on by each wait, so its limits
    and the calls' timestamps see the bot having waited, and no test sleeps a real second."""
    waited: list[float] = []

    class SkippingAsyncio:
        def __getattr__(self, name: str) -> Any:
            return getattr(asyncio, name)

        async def sleep(self, seconds: float) -> None:
            waited.append(seconds)
            fake.skipped += seconds
            await asyncio.sleep(0)

    monkeypatch.setattr(runtime, "asyncio", SkippingAsyncio())
    return waited


async def test_flood_control_is_waited_out(
    start_bot: BotFactory, fake: FakeTelegram, waits: list[float]
) -> None:
    bot = await start_bot()
    chat = TelegramChat(bot, FakeUser(511))
    fake.fail_next("sendMessage", chat_id=511, code=429, retry_after=1)
    await chat.send("/start")
    calls = fake.calls_of("sendMessage", 511)
    assert [c.status for c in calls] == [429, 200]
    assert waits == [1]  # waited retry_after before trying again...
    assert calls[1].at - calls[0].at >= 1.0  # ...between the two calls
    assert "🌐 Tiếng Việt" in chat.buttons


async def test_per_chat_rate_limit_of_the_fake_is_honoured(
    start_bot: BotFactory, fake: FakeTelegram, waits: list[float]
) -> None:
    bot = await start_bot()
    chat = TelegramChat(bot, FakeUser(512))
    await chat.send("/start")  # in English, as the app says
    fake.rate_limits = RateLimits(per_chat=1, per_chat_window=1.0, retry_after=1)
    await chat.tap("I agree")  # a reply right after the last one: over 1 a second
    assert fake.rejected_429 == 1
    assert len(chat.last_messages) == 1 and "name of your facility" in chat.text
    sent = [c.at for c in fake.calls_of("sendMessage", 512, ok=True)]
    assert waits == [1]
    assert sent[-1] - sent[-2] >= 1.0  # never two in one second: the bot waited retry_after


async def test_failing_engine_gets_an_apology_and_a_dead_letter_and_the_channel_goes_on(
    start_bot: BotFactory,
    fake: FakeTelegram,
    pipeline: Pipeline,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot = await start_bot()
    chat = TelegramChat(bot, FakeUser(513))
    await chat.send("/start")

    async def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pipeline.dialogue.engine, "answer", boom)
    await chat.tap("I agree")
    assert chat.text in (translator("en")(APOLOGY), translator("vi")(APOLOGY))
    async with sessions() as s:
        letters = list(await s.scalars(select(DeadLetter)))
    assert len(letters) == 1 and "disk on fire" in letters[0].error
    monkeypatch.undo()
    await chat.send("/start")  # the channel goes on; the user starts again
    assert "I agree" in chat.buttons


async def test_failing_reply_gets_an_apology_and_a_dead_letter(
    start_bot: BotFactory, fake: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bot = await start_bot()
    chat = TelegramChat(bot, FakeUser(514))
    fake.fail_next("sendMessage", chat_id=514, code=400, description="Bad Request: can't parse entities")
    await chat.send("/start")
    assert chat.text == translator("en")(APOLOGY)
    async with sessions() as s:
        letters = list(await s.scalars(select(DeadLetter)))
    assert len(letters) == 1 and "BadRequest" in letters[0].error
    await chat.send("/start")
    assert "🌐 Tiếng Việt" in chat.buttons


async def test_failing_download_gets_an_apology_and_the_same_file_works_again(
    start_bot: BotFactory, fake: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bot = await start_bot()
    chat = TelegramChat(bot, FakeUser(515))
    await onboard_english(chat)
    await full_application(chat, sessions)
    fake.fail_next("download", code=502)
    await chat.upload("mau01.pdf", PDF_BYTES, "application/pdf")
    assert chat.text == translator("en")(APOLOGY)
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(DeadLetter)) == 1
        assert await s.scalar(select(func.count()).select_from(StoredDocument)) == 0
    await chat.upload("mau01.pdf", PDF_BYTES, "application/pdf")
    assert "Received “Registration form (form 01)”" in chat.text  # filed under the one asked for


async def test_unsupported_message_gets_a_hint(start_bot: BotFactory, fake: FakeTelegram) -> None:
    bot = await start_bot()
    user = FakeUser(516)
    sticker = {
        "file_id": "CAACSTICKER",
        "file_unique_id": "AgADst",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": "👍",
    }
    await bot.deliver(fake.message_update(user, sticker=sticker))
    assert "PDF" in fake.sent_texts(user.id)[-1]
    assert not fake.calls_of("getFile")
    # A photo outside a dossier is fetched before the transaction (so no download ever holds
    # the database), then the user is told where documents go.
    await bot.deliver(fake.photo_update(user, JPEG_BYTES))
    assert "open your dossier first" in " ".join(fake.sent_texts(user.id)[-2:])


# --- the running system -------------------------------------------------------------------------------


async def test_python_m_bot_run_starts_telegram_beside_the_web_chat(
    fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """build_system + start is what `python -m bot run` does; with a token, Telegram answers."""
    import bot.assembly
    from handlers.channels.telegram.adapter import telegram_component

    monkeypatch.setattr(bot.assembly, "FACTORIES", [telegram_component])
    config = Config.from_env(
        {
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
            "FILES_DIR": str(tmp_path / "files"),
            "HTTP_PORT": "0",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "TELEGRAM_FILE_BASE_URL": fake.base_file_url,
        }
    )
    system = await bot.assembly.build_system(config)
    await system.start()
    try:
        update = fake.message_update(FakeUser(520), "/start")
        fake.enqueue(update)
        await fake.wait_for(lambda: bool(fake.messages[520]))
        assert "🌐 Tiếng Việt" in fake.last_message(520).labels
    finally:
        await system.stop()


async def test_a_wrong_token_fails_at_start_loudly(
    fake: FakeTelegram, pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    from telegram.error import InvalidToken

    config = Config(
        telegram_token="123:not-the-token",
        telegram_api_base_url=fake.base_url,
        telegram_file_base_url=fake.base_file_url,
    )
    channel = TelegramChannel(config, pipeline, sessions)
    with pytest.raises(InvalidToken):
        await channel.start()
    assert not fake.calls_of("getUpdates")


def test_webhook_url_gets_the_unguessable_path_once() -> None:
    from handlers.channels.telegram.registration import webhook_target

    path = webhook_path(TOKEN)
    assert len(path.rsplit("/", 1)[1]) == 32 and TOKEN not in path
    assert webhook_target("https://kc.example.gov.vn/", TOKEN) == "https://kc.example.gov.vn" + path
    assert (
        webhook_target("https://kc.example.gov.vn/bot" + path, TOKEN)
        == "https://kc.example.gov.vn/bot" + path
    )


# --- issue 9: inbound text, malformed updates, a registered webhook ------------------------------


async def test_telegram_text_is_cleaned_before_the_engine(
    start_bot: BotFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    from tests.test_flows import state_of
    from tests.test_inbound_text import CLEAN_NAME, DIRTY_NAME, answer_the_name

    chat = TelegramChat(await start_bot("webhook"), FakeUser(530))
    await answer_the_name(chat, DIRTY_NAME)
    assert (await state_of(sessions, chat.user_id)).data["answers"]["facility_name"] == CLEAN_NAME


@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_malformed_updates_are_skipped_not_dead_lettered(
    start_bot: BotFactory, fake: FakeTelegram, sessions: async_sessionmaker[AsyncSession], mode: str
) -> None:
    bot = await start_bot(mode)
    user = FakeUser(531)
    without_chat = fake.message_update(user, "/start")
    del without_chat["message"]["chat"]
    numeric_text = fake.message_update(user, "/start")
    numeric_text["message"]["text"] = 12345
    for update in (without_chat, numeric_text):
        await bot.deliver(update)
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(DeadLetter)) == 0
    assert fake.sent_texts(531) == []  # nothing to answer, and no apology for a message we cannot read
    chat = TelegramChat(bot, user)
    await chat.send("/start")  # the channel goes on
    assert "🌐 Tiếng Việt" in chat.buttons


async def test_polling_refuses_to_start_while_a_webhook_is_registered(
    fake: FakeTelegram, pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    from handlers.channels.telegram.registration import WebhookRegistered

    fake.webhook = {"url": "https://other-deployment.example.vn/telegram/x", "secret_token": "s"}
    config = Config(
        telegram_token=TOKEN, telegram_api_base_url=fake.base_url, telegram_file_base_url=fake.base_file_url
    )
    channel = TelegramChannel(config, pipeline, sessions, FileStore(tmp_path / "files"))
    with pytest.raises(WebhookRegistered, match="TELEGRAM_WEBHOOK_URL"):
        await channel.start()
    assert fake.webhook is not None and not fake.calls_of("deleteWebhook") and not fake.calls_of("getUpdates")
    taking_over = TelegramChannel(config, pipeline, sessions, FileStore(tmp_path / "files"), take_over=True)
    await taking_over.start()
    try:
        assert fake.webhook is None
        fake.enqueue(fake.message_update(FakeUser(532), "/start"))
        await fake.wait_for(lambda: bool(fake.messages[532]))
    finally:
        await taking_over.stop()


async def test_python_m_bot_run_in_polling_mode_stops_with_one_line_while_a_webhook_is_registered(
    fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m bot run`'s main() in this process (tests/test_config_errors.py runs one real
    subprocess for the process's stderr and exit status), on a thread beside the fake's loop."""
    from bot.__main__ import main
    from tests.test_config_errors import CONFIG_PREFIXES

    fake.webhook = {"url": "https://other-deployment.example.vn/telegram/x", "secret_token": "s"}
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith(CONFIG_PREFIXES):
            monkeypatch.delenv(key)
    for key, value in {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "FILES_DIR": str(tmp_path / "files"),
        "HTTP_PORT": "0",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_FILE_BASE_URL": fake.base_file_url,
    }.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    returncode = await asyncio.wait_for(asyncio.to_thread(main, ["run"]), 60)
    stderr = capsys.readouterr().err
    assert returncode == 2
    errors = [line for line in stderr.splitlines() if "configuration error" in line]
    assert len(errors) == 1 and "TELEGRAM_WEBHOOK_URL" in errors[0] and "--take-over" in errors[0]
    assert "Traceback" not in stderr
    assert fake.webhook is not None and not fake.calls_of("getUpdates")


# --- albums ---------------------------------------------------------------------------------------------


async def _at_product_photos(chat: TelegramChat, sessions: async_sessionmaker[AsyncSession]) -> None:
    await chat.send("/start")
    await onboard_english(chat)
    await full_application(chat, sessions)
    await chat.tap("Back to the list")  # the bot asked for the form first
    await chat.tap("Product photos")
    assert "photo" in chat.text


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_an_album_of_three_photos_gets_one_reply_and_all_are_filed(
    mode: str, start_bot: BotFactory, fake: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bot = await start_bot(mode)
    chat = TelegramChat(bot, FakeUser(511, language_code="en"))
    await _at_product_photos(chat, sessions)
    mark = len(fake.messages[chat.user.id])
    album = fake.album_updates(chat.user, [JPEG_BYTES + bytes([i]) for i in range(3)])
    key = (chat.user.id, album[0]["message"]["media_group_id"])
    sending = None
    async with hand_clock(bot.channel).held():  # all three arrive within the quiet window
        if mode == "webhook":  # one request per photo, as Telegram sends them
            sending = asyncio.gather(*(fake.post_webhook(u) for u in album))
        else:
            fake.enqueue(*album)  # one getUpdates batch
        await until(lambda: bot.channel.albums.bursts.parts(key) == 3, "every photo to join the album")
    if sending is not None:
        assert await sending == [200] * 3
    else:
        await bot.settle(album[-1]["update_id"])
    replies = fake.messages[chat.user.id][mark:]
    assert len(replies) == 1 and "Received “Product photos”" in (replies[0].text or "")
    assert await photos_count(sessions) == 3
    ok_calls_only(fake)


async def test_a_text_sent_right_after_an_album_is_answered_after_it(
    start_bot: BotFactory, fake: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bot = await start_bot("polling")
    chat = TelegramChat(bot, FakeUser(512, language_code="en"))
    await _at_product_photos(chat, sessions)
    mark = len(fake.messages[chat.user.id])
    album = fake.album_updates(chat.user, [JPEG_BYTES + bytes([i]) for i in range(3)])
    text = fake.message_update(chat.user, "/status")
    key = (chat.user.id, album[0]["message"]["media_group_id"])
    queue = bot.channel.application.update_queue
    async with hand_clock(bot.channel).held():  # the text arrives while the album is still being gathered
        fake.enqueue(*album, text)
        await fake.wait_confirmed(text["update_id"])
        await until(lambda: bot.channel.albums.bursts.parts(key) == 3 and queue.empty(), "the text to arrive")
    await bot.settle(text["update_id"])
    replies = [m.text or "" for m in fake.messages[chat.user.id][mark:]]
    assert len(replies) == 2, replies
    assert "Received “Product photos”" in replies[0]
    assert "Received “Product photos”" not in replies[1]
    assert await photos_count(sessions) == 3


async def test_the_running_channel_keeps_nothing_per_user_after_answering(
    start_bot: BotFactory, fake: FakeTelegram
) -> None:
    """A season's owners must not each leave an id behind in PTB for the life of the process."""
    bot = await start_bot()
    users = [FakeUser(9_100 + n) for n in range(20)]
    updates = [fake.message_update(user, "/start") for user in users]
    fake.enqueue(*updates)
    await bot.settle(updates[-1]["update_id"])
    assert all(fake.messages[user.id] for user in users)  # every owner was answered...
    application = bot.channel.application
    assert not application._user_ids_to_be_updated_in_persistence  # ...and nothing kept for them
    assert not application._chat_ids_to_be_updated_in_persistence
