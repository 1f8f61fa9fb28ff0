"""The Zalo channel against a fake Zalo Bot API on 127.0.0.1: `python -m bot run`'s system with
ZALO_BOT_TOKEN set, driven by events the way Zalo sends them (long polling or webhook), with
assertions on the texts the user receives."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.assembly import System, build_system
from bot.config import Config
from conversations.i18n import translator
from conversations.messages import ZALO, Choice, Outgoing
from conversations.validators import fold
from handlers.channels.webchat import upload_page
from handlers.channels.zalo import adapter as zalo
from handlers.channels.zalo.adapter import ZaloChannel
from handlers.channels.zalo.client import MAX_TEXT, ZaloApiError, render
from handlers.runtime import APOLOGY
from handlers.senders import RetryAfter, Transient, Unreachable
from storage import accounts
from storage.models import (
    Account,
    Application,
    ConversationState,
    DeadLetter,
    Identity,
    ProcessedUpdate,
    StoredDocument,
)
from tests.burst_clock import hand_clock
from tests.conftest import JPEG_BYTES, PDF_BYTES, Chat, sqlite_url
from tests.fake_zalo import FakeZalo, number_in
from tests.test_flows import FORM_ANSWERS, SELECTION_ANSWERS, onboard_english
from tests.test_linking import answer_until, prepare_draft_at_documents
from tests.test_several_files import photos_count

PUBLIC = "https://bot.example.vn"
SECRET = "s3cret-webhook-token"
CHAT = "6ede9afa66b88fe6d6a9"
vi = translator("vi")

# The profile as a facility owner types it on a phone: some words with accents, some without.
PROFILE_VI: dict[str, str] = {
    "facility_name": "Hợp tác xã Mây tre đan Phú Vinh",
    "facility_kind": "hop tac xa",  # the option "Hợp tác xã", typed without diacritics
    "province": "Thai Binh",
    "commune": "Xã Phú Vinh",
    "craft_village": "co",  # "Có"
    "tax_code": "0100109106",
    "contact_name": "Nguyễn Văn An",
    "phone": "0912 345 678",
    "products": "Giỏ mây, khay tre",
}
CHOICES = {
    "commune_kind": "commune",
    "programme": "selection.province",  # the programme and its round's level in one menu
    "all_selection": "yes",  # the conditions asked together
    **SELECTION_ANSWERS,
    **FORM_ANSWERS,
}


async def until(condition: Callable[[], bool], what: str) -> None:
    """A tiny polling wait for something another task does; fails instead of hanging."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def start_system(tmp_path: Path, fake: FakeZalo, *, webhook: bool) -> System:
    config = Config(
        database_url=sqlite_url(tmp_path / "bot.db"),
        http_host="127.0.0.1",
        http_port=0,
        files_dir=tmp_path / "files",
        zalo_token=fake.token,
        zalo_api_base_url=fake.base,
        zalo_webhook_url=PUBLIC if webhook else None,
        zalo_webhook_secret=SECRET if webhook else None,
        public_base_url=PUBLIC,
    )
    system = await build_system(config)
    hand_clock(zalo_channel(system))  # the photo bursts' quiet window passes when the test says
    await system.start()
    return system


def zalo_channel(system: System) -> ZaloChannel:
    return next(c for c in system.components if isinstance(c, ZaloChannel))


@pytest.fixture
async def fake() -> AsyncIterator[FakeZalo]:
    server = FakeZalo()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def webhook_system(tmp_path: Path, fake: FakeZalo) -> AsyncIterator[System]:
    system = await start_system(tmp_path, fake, webhook=True)
    yield system
    await system.stop()


@pytest.fixture
async def polling_system(tmp_path: Path, fake: FakeZalo) -> AsyncIterator[System]:
    system = await start_system(tmp_path, fake, webhook=False)
    yield system
    await system.stop()


class ZaloUser:
    """A person writing to the bot in Zalo: each event goes through the fake platform (pushed to
    getUpdates, or delivered to the webhook), and `last` holds the texts the bot sent back."""

    def __init__(self, fake: FakeZalo, system: System, chat_id: str = CHAT) -> None:
        self.fake = fake
        self.system = system
        self.chat_id = chat_id
        self.last: list[str] = []

    @property
    def channel(self) -> ZaloChannel:
        return zalo_channel(self.system)

    @property
    def local(self) -> str:
        return f"http://127.0.0.1:{self.system.port}"

    async def send(self, event: dict[str, Any]) -> list[str]:
        before = len(self.fake.texts(self.chat_id))
        channel = self.channel
        if channel.webhook_mode:
            assert await self.fake.deliver(event, self.local) == 200
        else:
            taken = channel.received
            self.fake.push(event)
            await until(lambda: channel.received > taken, "getUpdates to take the event")
            await channel.drain()
        self.last = self.fake.texts(self.chat_id)[before:]
        return self.last

    async def say(self, text: str) -> list[str]:
        return await self.send(self.fake.text_event(self.chat_id, text))

    async def photo(self, data: bytes, name: str) -> list[str]:
        return await self.send(self.fake.image_event(self.chat_id, self.fake.host_photo(name, data)))

    @property
    def text(self) -> str:
        return "\n---\n".join(self.last)

    def number_of(self, label_part: str) -> str:
        return number_in(self.last, label_part)

    def upload_url(self) -> str:
        found = re.search(re.escape(PUBLIC) + r"(/upload/[A-Za-z0-9_-]+)", self.text)
        assert found, self.text
        return self.local + found.group(1)


async def state_of(system: System, chat_id: str = CHAT) -> ConversationState:
    async with system.sessions() as session:
        identity = await accounts.find_identity(session, ZALO, chat_id)
        assert identity is not None
        state = await session.get(ConversationState, identity.account_id)
        assert state is not None
        return state


async def answer_current(user: ZaloUser, answers: dict[str, str], *, words: bool) -> str:
    """Answer the question the bot waits on by typing: an option's number as shown in the menu
    (or, with `words`, its label without diacritics), or the text answer."""
    state = await state_of(user.system, user.chat_id)
    step = state.step or ""
    remembered = ((state.data.get("menus") or {}).get(ZALO) or {}).get("choices") or []
    options = [
        (i, label) for i, (label, payload) in enumerate(remembered, 1) if payload.startswith(f"{step}:")
    ]
    if options:
        wanted = answers.get(step)
        chosen = next(
            ((i, label) for i, (label, payload) in enumerate(remembered, 1) if payload == f"{step}:{wanted}"),
            options[0],
        )
        number, label = chosen
        assert f"{number}. {label}" in user.last[-1], user.text  # the menu the user saw
        await user.say(fold(label) if words else str(number))
    else:
        assert step in answers, f"no test answer for {step!r}: {user.text}"
        await user.say(answers[step])
    return step


async def onboard_vietnamese(user: ZaloUser) -> None:
    await user.say("xin chào")
    # Zalo tells no language: the notice in Vietnamese, English offered in the consent itself.
    assert "1. Tôi đồng ý" in user.text and "4. I agree — continue in English" in user.text
    await user.say("dong y")  # "Đồng ý" without diacritics
    for _ in range(15):
        state = await state_of(user.system, user.chat_id)
        if state.flow is None:  # the profile is saved with its last answer
            break
        await answer_current(user, {**PROFILE_VI, **CHOICES}, words=False)
    assert "Hợp tác xã" in user.text and "Hưng Yên" in user.text
    assert "Đã lưu thông tin cơ sở" in user.text


async def apply_until_documents(user: ZaloUser) -> None:
    await user.say("/apply")
    for i in range(40):
        state = await state_of(user.system, user.chat_id)
        if state.step == "documents":
            break
        await answer_current(user, CHOICES, words=i % 2 == 1)
    assert "Giấy tờ bắt buộc: đã có 0/" in user.text


async def upload_through_page(http: aiohttp.ClientSession, url: str, name: str, data: bytes) -> str:
    async with http.get(url) as resp:
        assert resp.status == 200
        page = await resp.text()
    assert 'type="file"' in page and vi(upload_page.TITLE) in page
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="application/pdf")
    async with http.post(url, data=form) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.text()


async def test_full_journey_with_numbered_answers_photos_and_upload_page(
    polling_system: System, fake: FakeZalo, tmp_path: Path
) -> None:
    user = ZaloUser(fake, polling_system)
    await onboard_vietnamese(user)
    await apply_until_documents(user)
    # No "tap" on Zalo: it has no buttons. (Sentences added with the Zalo channel are compared
    # through the catalog, so the test holds before and after their translations are merged.)
    assert vi("Type the number of a document to send it: a PDF file or a clear photo.") in user.text
    async with aiohttp.ClientSession() as http:
        for _ in range(12):
            found = re.search(r"Giấy tờ bắt buộc: đã có (\d+)/(\d+)", user.text)
            assert found, user.text
            if found.group(1) == found.group(2):
                break
            missing = [line for line in user.last[-1].splitlines() if re.match(r"^\d+\. 📎", line)]
            await user.say(missing[0].split(".", 1)[0])
            if "Ảnh sản phẩm" in missing[0]:
                assert "/upload/" not in user.text  # photos are sent in the chat
                for i in range(3):
                    await user.photo(JPEG_BYTES + bytes([i]), f"anh{i}.jpg")
                assert "Đã nhận" in user.text
            else:
                url = user.upload_url()
                before = len(fake.texts(CHAT))
                page = await upload_through_page(http, url, "giay-to.pdf", PDF_BYTES)
                assert vi(upload_page.RECEIVED_TITLE) in page
                # The chat hears of it before the page answers: confirmation, then the checklist.
                user.last = fake.texts(CHAT)[before:]
                assert "Đã nhận" in user.text and "Giấy tờ bắt buộc" in user.text
    if "Tiếp tục xem lại hồ sơ" in user.text:  # the upload page's last file; in the chat: straight on
        await user.say(user.number_of("Tiếp tục xem lại hồ sơ"))
    assert "Giỏ mây đan Phú Vinh" in user.text
    await user.say(user.number_of("Nộp"))
    code = re.search(r"KC-\d{4}-[A-Z0-9]{5}", user.text)
    assert code, user.text
    async with polling_system.sessions() as session:
        app = await session.scalar(select(Application))
        docs = list(await session.scalars(select(StoredDocument)))
    assert app is not None and app.status == "submitted" and app.receipt_code == code.group(0)
    assert {d.content_type for d in docs} == {"application/pdf", "image/jpeg"}
    assert all(len(t) <= MAX_TEXT for t in fake.texts(CHAT))
    assert fake.called("sendChatAction")  # "typing…" while the engine works


async def test_webhook_registers_and_checks_the_secret_before_anything(
    webhook_system: System, fake: FakeZalo
) -> None:
    assert fake.webhook is not None
    assert fake.webhook["url"].startswith(PUBLIC + "/zalo/") and fake.webhook["secret_token"] == SECRET
    user = ZaloUser(fake, webhook_system)
    local = user.local
    for secret in ("wrong-secret-value", ""):  # wrong, then missing
        status = await fake.deliver(fake.text_event(CHAT, "/start"), local, secret=secret)
        assert status == 401
    async with webhook_system.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedUpdate)) == 0
        assert await session.scalar(select(func.count()).select_from(Identity)) == 0
    assert fake.sent == [] and not fake.called("sendChatAction")
    await user.say("/start")  # the right secret: handled, answered
    assert "1. Tôi đồng ý" in user.text


async def test_unreadable_webhook_body_is_refused(webhook_system: System, fake: FakeZalo) -> None:
    url = f"http://127.0.0.1:{webhook_system.port}" + zalo_channel(webhook_system).path
    headers = {"X-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        for body in (b"not json", b"[1, 2]", b'{"ok": true, "result": {"message": {}}}'):
            async with http.post(url, data=body, headers=headers) as resp:
                assert resp.status == 400
    assert fake.sent == []


async def test_a_duplicated_event_is_applied_and_answered_once(
    webhook_system: System, fake: FakeZalo
) -> None:
    user = ZaloUser(fake, webhook_system)
    await user.say("/start")
    event = fake.text_event(CHAT, "3")  # read the full notice
    first = await user.send(event)
    assert "Tôi đồng ý" in "\n".join(first)
    again = await user.send(event)  # Zalo delivers the same message_id again
    assert again == []
    state = await state_of(webhook_system)
    assert state.step == "consent"
    async with webhook_system.sessions() as session:
        account = await session.scalar(select(Identity.account_id).where(Identity.external_id == CHAT))
        assert account is not None
    photo = fake.image_event(CHAT, fake.host_photo("p.jpg", JPEG_BYTES))
    await user.send(photo)
    assert await user.send(photo) == []


async def test_stickers_voice_and_withheld_content_get_a_short_reply(
    polling_system: System, fake: FakeZalo
) -> None:
    user = ZaloUser(fake, polling_system)
    await user.say("/start")
    sticker = fake.sticker_event(CHAT)
    assert await user.send(sticker) == [vi(zalo.CANNOT_READ)]
    assert await user.send(sticker) == []  # redelivered: answered once
    assert await user.send(fake.voice_event(CHAT)) == [vi(zalo.VOICE_REPLY)]
    assert await user.send(fake.withheld_event(CHAT)) == [vi(zalo.WITHHELD_REPLY)]
    state = await state_of(polling_system)
    assert state.step == "consent"  # none of them was taken as an answer
    await user.say("4")  # I agree — continue in English
    assert "name of your facility" in user.text


async def test_group_chats_are_not_served(webhook_system: System, fake: FakeZalo) -> None:
    event = fake.text_event("group-1", "/start")
    event["message"]["chat"]["chat_type"] = "GROUP"
    assert await fake.deliver(event, f"http://127.0.0.1:{webhook_system.port}") == 200
    assert fake.sent == []


async def test_a_failing_handler_is_dead_lettered_with_an_apology(
    webhook_system: System, fake: FakeZalo, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = ZaloUser(fake, webhook_system)
    await user.say("/start")

    async def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(webhook_system.pipeline.dialogue.engine, "answer", boom)
    event = fake.text_event(CHAT, "3")  # read the full notice
    await user.send(event)
    assert user.last == [vi(APOLOGY)]
    async with webhook_system.sessions() as session:
        letters = list(await session.scalars(select(DeadLetter)))
    assert [(d.channel, d.update_id) for d in letters] == [(ZALO, event["message"]["message_id"])]
    assert "disk on fire" in letters[0].error
    monkeypatch.undo()
    await user.send(event)  # not marked as processed: the redelivery goes through
    assert "Tôi đồng ý" in user.text


async def test_a_failing_reply_is_dead_lettered_too(webhook_system: System, fake: FakeZalo) -> None:
    user = ZaloUser(fake, webhook_system)
    fake.fail("sendMessage", 500, "Internal error", http_status=500)
    event = fake.text_event(CHAT, "/start")
    await user.send(event)
    assert user.last == [vi(APOLOGY)]
    async with webhook_system.sessions() as session:
        letters = list(await session.scalars(select(DeadLetter)))
    assert [d.update_id for d in letters] == [event["message"]["message_id"]]


async def test_long_texts_are_split_cleanly_with_the_menu_last(
    webhook_system: System, fake: FakeZalo
) -> None:
    paragraph = "Hồ sơ gồm phiếu đăng ký, bản thuyết minh và ảnh sản phẩm. " * 12
    text = "\n\n".join(f"{i}. {paragraph.strip()}" for i in range(1, 8))
    assert len(text) > 2 * MAX_TEXT
    message = Outgoing(text=text, choices=[Choice("Có", "x:yes"), Choice("Không", "x:no")])
    sender = webhook_system.context.senders[ZALO]
    await sender.send(CHAT, [message])
    parts = fake.texts(CHAT)
    assert len(parts) > 2 and all(len(p) <= MAX_TEXT for p in parts)
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in parts)
    assert "\n\n".join(parts) == text + "\n\n1. Có\n2. Không"  # cut between paragraphs only
    assert parts[-1].endswith("1. Có\n2. Không")


def test_render_numbers_the_last_menu_and_makes_links_absolute() -> None:
    replies = [
        Outgoing(text="Trước", choices=[Choice("A", "a"), Choice("B", "b")]),
        Outgoing(text="Gửi giấy tờ", url="/upload/abc", url_label="📤 Trang tải lên"),
        Outgoing(text="Chọn", choices=[Choice("Có", "c:yes"), Choice("Không", "c:no")]),
    ]
    texts = render(replies, "https://bot.example.vn/")
    assert texts == [
        "Trước\n\n• A\n• B",
        "Gửi giấy tờ\n\n📤 Trang tải lên: https://bot.example.vn/upload/abc",
        "Chọn\n\n1. Có\n2. Không",
    ]
    one_long_word = render([Outgoing(text="x" * 4500)], PUBLIC)
    assert [len(t) for t in one_long_word] == [2000, 2000, 500]
    assert render([Outgoing(text="Xem", url="javascript:alert(1)")], PUBLIC) == ["Xem"]


async def test_sender_speaks_the_delivery_workers_language(webhook_system: System, fake: FakeZalo) -> None:
    sender = webhook_system.context.senders[ZALO]
    hello = [Outgoing(text="Xin chào")]
    fake.fail("sendMessage", 429, "Too Many Requests", http_status=429)
    with pytest.raises(RetryAfter):
        await sender.send(CHAT, hello)
    fake.fail("sendMessage", 403, "Forbidden: the user blocked the bot")
    with pytest.raises(Unreachable):
        await sender.send(CHAT, hello)
    fake.fail("sendMessage", 500, "Internal error", http_status=500)
    with pytest.raises(Transient):
        await sender.send(CHAT, hello)
    await fake.stop()  # nobody answers at all
    with pytest.raises(Transient):
        await sender.send(CHAT, hello)


async def test_a_user_who_blocked_the_bot_is_marked_unreachable_and_back_when_they_write(
    webhook_system: System, fake: FakeZalo
) -> None:
    user = ZaloUser(fake, webhook_system)
    await user.say("/start")
    fake.fail("sendMessage", 403, "Forbidden")
    await user.say("1")
    async with webhook_system.sessions() as session:
        identity = await accounts.find_identity(session, ZALO, CHAT)
        assert identity is not None and identity.reachable is False
    await user.say("/menu")
    async with webhook_system.sessions() as session:
        identity = await accounts.find_identity(session, ZALO, CHAT)
        assert identity is not None and identity.reachable is True


async def test_photos_are_stored_as_documents_and_oversized_ones_refused_unread(
    webhook_system: System, fake: FakeZalo
) -> None:
    user = ZaloUser(fake, webhook_system)
    await prepare_draft_at_documents(webhook_system.pipeline, ZALO, CHAT)
    await user.say("/documents")
    await user.say(user.number_of("Product photos"))  # onboarded in English
    webhook_system.context.dialogue.settings.max_file_bytes = 1024 * 1024
    await user.photo(JPEG_BYTES + b"\0" * (2 * 1024 * 1024), "big.jpg")
    assert "1 MB" in user.text
    await user.photo(JPEG_BYTES, "ok.jpg")
    assert "1/3" in user.text
    async with webhook_system.sessions() as session:
        docs = list(await session.scalars(select(StoredDocument)))
    assert [(d.doc_type, d.content_type) for d in docs] == [("product_photos", "image/jpeg")]


class Owner(Protocol):
    """A person in a Zalo chat, Bot Platform (`ZaloUser`) or OA (test_zalo_oa.py's `OaUser`)."""

    system: System
    last: list[str]

    async def say(self, text: str) -> list[str]: ...
    def number_of(self, label_part: str) -> str: ...


async def at_product_photos(user: Owner, channel: str, user_id: str) -> None:
    """An owner onboarded in English whose checklist waits for the product photos."""
    await prepare_draft_at_documents(user.system.pipeline, channel, user_id)
    await user.say("/documents")
    if "Product photos" not in "\n".join(user.last):  # the bot asked for the first missing document itself
        await user.say(user.number_of("Back to the list"))
    await user.say(user.number_of("Product photos"))  # onboarded in English


async def product_photos(system: System) -> int:
    """How many product photos are filed."""
    return await photos_count(system.sessions)


async def send_together(user: ZaloUser, events: list[dict[str, Any]]) -> list[str]:
    """Events sent at once, as the Zalo app sends the photos picked together: queued for
    getUpdates in this order, or POSTed to the webhook side by side. All of them arrive within
    the bursts' quiet window, however slow the machine: it is held until they have."""
    before = len(user.fake.texts(user.chat_id))
    channel = user.channel
    sending: asyncio.Task[list[int]] | None = None
    taken = channel.received

    async def answered() -> None:
        if sending is not None:
            assert await sending == [200] * len(events)
        else:
            await until(lambda: channel.received >= taken + len(events), "getUpdates to take the events")
            await channel.drain()

    async with hand_clock(channel).held():
        if channel.webhook_mode:
            sending = asyncio.create_task(user.fake.deliver_together(events, user.local))
        else:
            user.fake.push(*events)
        if all(event["event_name"] == zalo.IMAGE for event in events):
            await until(lambda: channel.bursts.parts(user.chat_id) == len(events), "every photo to join")
        else:
            await answered()  # a text ends the burst by itself, inside the window
    await answered()
    user.last = user.fake.texts(user.chat_id)[before:]
    return user.last


@pytest.mark.parametrize("webhook", [False, True], ids=["polling", "webhook"])
async def test_three_photos_sent_at_once_get_one_reply_and_all_are_filed(
    webhook: bool, tmp_path: Path, fake: FakeZalo
) -> None:
    system = await start_system(tmp_path, fake, webhook=webhook)
    try:
        user = ZaloUser(fake, system)
        await at_product_photos(user, ZALO, CHAT)
        photos = [
            fake.image_event(CHAT, fake.host_photo(f"anh{i}.jpg", JPEG_BYTES + bytes([i]))) for i in range(3)
        ]
        replies = await send_together(user, photos)
        assert len(replies) == 1 and "Received “Product photos”" in replies[0], replies
        assert await product_photos(system) == 3
    finally:
        await system.stop()


async def test_a_text_sent_right_after_a_photo_is_answered_after_it(
    polling_system: System, fake: FakeZalo
) -> None:
    user = ZaloUser(fake, polling_system)
    await at_product_photos(user, ZALO, CHAT)
    photo = fake.image_event(CHAT, fake.host_photo("anh.jpg", JPEG_BYTES))
    replies = await send_together(user, [photo, fake.text_event(CHAT, "/status")])
    assert len(replies) == 2, replies
    assert "Received 1/3 for “Product photos”" in replies[0]  # one photo: its own reply, first
    assert "Product photos" not in replies[1]
    assert await product_photos(polling_system) == 1


async def test_polling_removes_a_leftover_webhook_and_a_wrong_token_fails_at_start(
    tmp_path: Path, fake: FakeZalo
) -> None:
    fake.webhook = {"url": "https://old.example.vn/zalo/x", "secret_token": "old-secret"}
    system = await start_system(tmp_path, fake, webhook=False)
    try:
        assert fake.webhook is None and fake.called("deleteWebhook")
        user = ZaloUser(fake, system)
        await user.say("/start")
        assert "1. Tôi đồng ý" in user.text
    finally:
        await system.stop()
    wrong = FakeZalo(token="999:another-token")
    wrong.base = fake.base  # our token is not the one this server knows
    config = Config(
        database_url=sqlite_url(tmp_path / "other.db"),
        http_port=0,
        files_dir=tmp_path / "files",
        zalo_token="999:another-token",
        zalo_api_base_url=fake.base,
    )
    system = await build_system(config)
    with pytest.raises(ZaloApiError) as failure:
        await system.start()
    assert failure.value.error_code == 401 and "another-token" not in str(failure.value)
    await system.stop()


async def test_linking_zalo_to_telegram_resumes_the_same_draft(
    webhook_system: System, fake: FakeZalo
) -> None:
    """A facility that began on Telegram links its Zalo and continues the draft there."""
    telegram = Chat(webhook_system.pipeline, user_id="tg-777", channel="telegram")
    await onboard_english(telegram)
    await telegram.send("/apply")
    await telegram.tap("Provincial level")  # the programme and its level in one menu
    await answer_until(telegram, webhook_system.sessions, "product_description")
    await telegram.send("/link")
    code = re.search(r"\b(\d{6})\b", telegram.text)
    assert code, telegram.text
    user = ZaloUser(fake, webhook_system)
    await user.say(f"/link {code.group(1)}")
    assert "Hợp tác xã Mây tre đan Phú Vinh" in user.text and "/apply" in user.text
    await user.say("/apply")
    assert "Welcome back" in user.text and "Giỏ mây đan Phú Vinh" in user.text  # in English: A's language
    state = await state_of(webhook_system)
    assert state.step == "product_description"  # the first unanswered question
    await user.say("Giỏ đan tay từ mây rừng, nhuộm màu tự nhiên, bền và nhẹ.")
    async with webhook_system.sessions() as session:
        app = await session.scalar(select(Application))
    assert app is not None and app.answers["product_description"].startswith("Giỏ đan tay")


async def test_zalo_text_is_cleaned_before_the_engine(webhook_system: System, fake: FakeZalo) -> None:
    from storage.models import ConversationState
    from tests.test_inbound_text import CLEAN_NAME, DIRTY_NAME

    user = ZaloUser(fake, webhook_system)
    await user.say("/start")
    await user.say(user.number_of("continue in English"))  # consent and language in one
    assert "name of your facility" in user.text
    await user.say(DIRTY_NAME)
    async with webhook_system.sessions() as s:
        state = await s.scalar(select(ConversationState))
    assert state is not None and state.data["answers"]["facility_name"] == CLEAN_NAME


async def test_a_first_sticker_gets_the_greeting(polling_system: System, fake: FakeZalo) -> None:
    user = ZaloUser(fake, polling_system)
    await user.send(fake.sticker_event(CHAT))  # how many people say hello on Zalo
    assert "1. Tôi đồng ý" in user.text and "4. I agree — continue in English" in user.text
    assert (await state_of(polling_system)).step == "consent"


async def test_an_english_speaker_gives_consent_and_language_in_one_input_en(
    webhook_system: System, fake: FakeZalo
) -> None:
    user = ZaloUser(fake, webhook_system)
    await user.say("hello")
    notice = user.text  # in Vietnamese (Zalo tells no language), the English way out on its own line
    assert "Anh/chị có đồng ý không?" in notice and "\n4. I agree — continue in English" in notice
    await user.say("4")
    assert "name of your facility" in user.text  # consent given, the profile asked in English
    async with webhook_system.sessions() as session:
        account = await session.scalar(select(Account))
    assert account is not None and account.locale == "en" and account.consent_at is not None


async def test_a_vietnamese_owner_agrees_in_one_input_and_is_never_asked_the_language_vi(
    webhook_system: System, fake: FakeZalo
) -> None:
    user = ZaloUser(fake, webhook_system)
    await user.say("chào em")
    assert "Tiếng Việt" not in user.text and "1. Tôi đồng ý" in user.text
    await user.say("đồng ý")
    assert "Tên cơ sở" in user.text
    async with webhook_system.sessions() as session:
        account = await session.scalar(select(Account))
    assert account is not None and account.locale == "vi" and account.consent_at is not None
