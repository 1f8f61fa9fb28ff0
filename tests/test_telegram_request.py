"""Telegram's HTTP client on aiohttp (handlers/channels/telegram/request.py), as the owners notice it.

The real sender and the delivery worker run against the fake Bot API: a request that times out
is retried and the message arrives once, an upload arrives whole with its Vietnamese name, a
429's `retry_after` is waited out, a 403 marks the owner unreachable, a burst larger than the
connection pool waits for connections instead of failing, and a network failure is retried
without the bot's token in any error or log line, and a proxy named in the environment is used.
(The interactive channel runs on the same client through every test in tests/test_telegram.py.)
"""

from __future__ import annotations

import asyncio
import socket
import traceback
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot

from bot.config import Config
from conversations.messages import Document, Outgoing
from handlers import senders
from handlers.channels.telegram.request import AiohttpRequest
from handlers.channels.telegram.sender import TelegramSender
from storage.models import Identity
from storage.outbox import OutboxMessage
from tests.fake_telegram import TOKEN, ApiError, Call, FakeTelegram
from tests.test_outbox_delivery import VirtualTime, add_people, queue, statuses, worker_for


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
def vtime() -> VirtualTime:
    return VirtualTime()


def config_for(fake: FakeTelegram) -> Config:
    return Config(
        telegram_token=TOKEN, telegram_api_base_url=fake.base_url, telegram_file_base_url=fake.base_file_url
    )


async def started(sender: TelegramSender) -> TelegramSender:
    try:
        await sender.start()  # getMe
    except BaseException:
        await sender.stop()
        raise
    return sender


async def test_a_request_that_times_out_is_retried_and_the_message_arrives_once(
    fake: FakeTelegram, sessions: async_sessionmaker[AsyncSession], vtime: VirtualTime
) -> None:
    ids = await add_people(sessions, 1)
    await queue(sessions, ids, "status:7:approved", text="Hồ sơ đã được duyệt")
    release = asyncio.Event()
    held: list[Call] = []

    async def slow_first_send(call: Call) -> None:
        """Telegram does not answer the first sendMessage in time, and never takes it."""
        if call.method == "sendMessage" and not held:
            held.append(call)
            await release.wait()
            raise ApiError(502, "Bad Gateway")

    fake.before_handle = slow_first_send
    bot = Bot(TOKEN, base_url=fake.base_url, request=AiohttpRequest(read_timeout=0.3))
    sender = await started(TelegramSender(bot))
    try:
        worker = worker_for(sessions, sender, vtime)
        await worker.drain()
    finally:
        release.set()
        await sender.stop()
    assert held, "the first request was not held"
    assert fake.sent_texts(10001) == ["Hồ sơ đã được duyệt"]
    assert len(fake.calls_of("sendMessage", 10001)) == 2  # the timed-out one, then the retry
    assert worker.stats["retried"] == 1
    assert await statuses(sessions) == {"sent": 1}


async def test_a_document_arrives_whole_with_its_vietnamese_name_and_caption(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    data = b"%PDF-1.7\n" + bytes(range(256)) * 400  # ~100 KB, every byte value
    path = tmp_path / "receipt.pdf"
    path.write_bytes(data)
    name = "Biên nhận hồ sơ – Cơ sở Mây tre Phú Vinh.pdf"
    document = Document(path=str(path), filename=name, content_type="application/pdf")
    sender = await started(TelegramSender.from_config(config_for(fake)))
    try:
        refs = await sender.send("700", [Outgoing(text="Biên nhận hồ sơ của anh/chị", document=document)])
    finally:
        await sender.stop()
    message = fake.last_message(700)
    assert message.caption == "Biên nhận hồ sơ của anh/chị"
    assert message.document is not None and message.document["file_name"] == name
    assert fake.calls_of("sendDocument", 700)[0].files["document"] == (name, data)
    assert refs == [str(message.message_id)]


async def test_flood_control_is_waited_out_for_as_long_as_telegram_says(
    fake: FakeTelegram, sessions: async_sessionmaker[AsyncSession], vtime: VirtualTime
) -> None:
    ids = await add_people(sessions, 2)
    await queue(sessions, ids, "broadcast:1", text="Hội chợ mở đăng ký", batch="broadcast:1")
    fake.fail_next("sendMessage", chat_id=10002, code=429, retry_after=7)
    sender = await started(TelegramSender.from_config(config_for(fake)))
    try:
        worker = worker_for(sessions, sender, vtime, per_second=100.0)
        await worker.drain()
    finally:
        await sender.stop()
    assert fake.sent_texts(10001) == fake.sent_texts(10002) == ["Hội chợ mở đăng ký"]
    assert worker.stats["rate_limited"] == 1
    assert vtime.monotonic() >= 7.0  # the second try waited the seconds Telegram asked for
    assert await statuses(sessions) == {"sent": 2}


async def test_an_owner_who_blocked_the_bot_is_marked_unreachable(
    fake: FakeTelegram, sessions: async_sessionmaker[AsyncSession], vtime: VirtualTime
) -> None:
    ids = await add_people(sessions, 2)
    await queue(sessions, ids, "broadcast:1")
    fake.block(10002)
    sender = await started(TelegramSender.from_config(config_for(fake)))
    try:
        await worker_for(sessions, sender, vtime).drain()
    finally:
        await sender.stop()
    async with sessions() as session:
        identity = await session.get(Identity, ids[1])
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.identity_id == ids[1]))
    assert identity is not None and identity.reachable is False
    assert identity.unreachable_reason == "Forbidden: bot was blocked by the user"
    assert row is not None and row.status == "unreachable"
    assert fake.sent_texts(10001) == ["Hội chợ mở đăng ký"]


async def test_a_burst_larger_than_the_pool_waits_for_connections_and_every_message_arrives(
    fake: FakeTelegram,
) -> None:
    bot = Bot(TOKEN, base_url=fake.base_url, request=AiohttpRequest(2, pool_timeout=30.0))
    sender = await started(TelegramSender(bot))
    try:
        chats = range(800, 840)
        await asyncio.gather(*(sender.send(str(chat), [Outgoing(text=f"Tin {chat}")]) for chat in chats))
    finally:
        await sender.stop()
    assert [fake.sent_texts(chat) for chat in chats] == [[f"Tin {chat}"] for chat in chats]


async def test_a_server_nobody_answers_on_is_a_transient_failure(fake: FakeTelegram) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=AiohttpRequest(connect_timeout=2.0))
    await bot.request.initialize()  # Bot.initialize would call getMe, which cannot succeed here
    try:
        with pytest.raises(senders.Transient) as failed:
            await TelegramSender(bot).send("700", [Outgoing(text="Hồ sơ đã được duyệt")])
    finally:
        await bot.request.shutdown()
    assert TOKEN not in logged(failed.value)


async def test_no_free_connection_is_a_transient_failure_that_never_shows_the_token(
    fake: FakeTelegram,
) -> None:
    """aiohttp's own words for this one hold the whole URL, token included."""
    arrived, release = asyncio.Event(), asyncio.Event()

    async def hold(call: Call) -> None:
        if call.chat_id == 700:
            arrived.set()
            await release.wait()

    fake.before_handle = hold
    request = AiohttpRequest(1, connect_timeout=0.2, pool_timeout=0.2)
    sender = await started(TelegramSender(Bot(TOKEN, base_url=fake.base_url, request=request)))
    try:
        first = asyncio.create_task(sender.send("700", [Outgoing(text="Tin thứ nhất")]))
        await arrived.wait()  # the one connection is taken
        with pytest.raises(senders.Transient, match="not sent") as failed:
            await sender.send("701", [Outgoing(text="Tin thứ hai")])
        release.set()
        await first
    finally:
        release.set()
        await sender.stop()
    assert TOKEN not in logged(failed.value)
    assert fake.sent_texts(700) == ["Tin thứ nhất"] and fake.sent_texts(701) == []


def logged(error: BaseException) -> str:
    """What `log.exception` would write about `error`: its message and traceback, causes included."""
    return "".join(traceback.format_exception(error))


async def test_a_proxy_named_in_the_environment_carries_the_requests(
    fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A province server that reaches the internet only through a proxy (HTTPS_PROXY, as httpx
    honoured it). The fake server stands in for the proxy: the Bot API's host does not exist, so
    a message arrives only if the request went through it."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{fake.port}")
    config = Config(
        telegram_token=TOKEN,
        telegram_api_base_url="http://api.telegram.invalid/bot",
        telegram_file_base_url="http://api.telegram.invalid/file/bot",
    )
    sender = await started(TelegramSender.from_config(config))
    try:
        await sender.send("700", [Outgoing(text="Hồ sơ đã được duyệt")])
    finally:
        await sender.stop()
    assert fake.sent_texts(700) == ["Hồ sơ đã được duyệt"]
