"""The Zalo Official Account channel against a fake OA + OAuth + ZNS server on 127.0.0.1
(tests/fake_zalo_oa.py): `python -m bot run`'s system with ZALO_OA_APP_ID and ZALO_OA_SECRET_KEY
set, driven by signed webhook events, with assertions on the consultation messages users get."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.assembly import System, build_system
from bot.config import Config
from conversations.i18n import translator
from conversations.messages import ZALO_OA, Choice, Outgoing
from conversations.phone_match import ANSWER, CODE_SENT
from handlers.channels.zalo_oa.channel import CANNOT_READ, FOLLOW_LINK, ZaloOaChannel, webhook_path
from handlers.channels.zalo_oa.render import render
from storage import accounts, zalo_oa
from storage.models import Application, ConversationState, ProcessedUpdate, StoredDocument
from storage.outbox import OutboxMessage
from tests.burst_clock import hand_clock
from tests.conftest import JPEG_BYTES, PDF_BYTES, Chat, sqlite_url
from tests.fake_zalo import number_in
from tests.fake_zalo_oa import APP_ID, APP_SECRET, FIRST_REFRESH, SECRET_KEY, FakeZaloOa
from tests.test_flows import onboard_english
from tests.test_zalo import CHOICES, PROFILE_VI, at_product_photos, product_photos, until

PUBLIC = "https://bot.example.vn"
USER = "2512345678901234567"
vi = translator("vi")


def oa_config(tmp_path: Path, fake: FakeZaloOa, **extra: Any) -> Config:
    return Config(
        database_url=sqlite_url(tmp_path / "bot.db"),
        http_host="127.0.0.1",
        http_port=0,
        files_dir=tmp_path / "files",
        public_base_url=PUBLIC,
        zalo_oa_app_id=APP_ID,
        zalo_oa_secret_key=SECRET_KEY,
        zalo_oa_app_secret=APP_SECRET,
        zalo_oa_refresh_token=FIRST_REFRESH,
        zalo_oa_api_base_url=fake.base,
        zalo_oauth_base_url=fake.base,
        zalo_zns_api_base_url=fake.base,
        **extra,
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloOa]:
    server = FakeZaloOa()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def system(tmp_path: Path, fake: FakeZaloOa) -> AsyncIterator[System]:
    system = await build_system(oa_config(tmp_path, fake))
    hand_clock(oa_channel(system))  # the photo bursts' quiet window passes when the test says
    await system.start()
    yield system
    await system.stop()


def oa_channel(system: System) -> ZaloOaChannel:
    return next(c for c in system.components if isinstance(c, ZaloOaChannel))


class OaUser:
    """A person writing to the OA: each event is signed and POSTed to the bot's webhook as Zalo
    does; `last` holds the consultation messages the bot sent back."""

    def __init__(self, fake: FakeZaloOa, system: System, user_id: str = USER) -> None:
        self.fake, self.system, self.user_id = fake, system, user_id
        self.last: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.system.port}{webhook_path(APP_ID, SECRET_KEY)}"

    async def send(self, event: dict[str, Any]) -> list[str]:
        before = len(self.fake.texts(self.user_id))
        assert await self.fake.deliver(event, self.url) == 200
        self.last = self.fake.texts(self.user_id)[before:]
        return self.last

    async def say(self, text: str) -> list[str]:
        return await self.send(self.fake.text_event(self.user_id, text))

    async def follow(self) -> list[str]:
        return await self.send(self.fake.event("follow", self.user_id))

    async def pdf(self, name: str, data: bytes) -> list[str]:
        url = self.fake.host(name, data)
        return await self.send(self.fake.file_event(self.user_id, url, name, len(data)))

    @property
    def text(self) -> str:
        return "\n---\n".join(self.last)

    def number_of(self, label_part: str) -> str:
        return number_in(self.last, label_part)


async def state_of(system: System, user_id: str = USER) -> ConversationState:
    async with system.sessions() as session:
        identity = await accounts.find_identity(session, ZALO_OA, user_id)
        assert identity is not None
        state = await session.get(ConversationState, identity.account_id)
        assert state is not None
        return state


async def answer_current(user: OaUser, answers: dict[str, str], *, tap: bool) -> str:
    """Answer the question the bot waits on: an option by its number, or (`tap`) by its label as
    an OA button sends it back; a text answer as typed."""
    state = await state_of(user.system, user.user_id)
    step = state.step or ""
    remembered = state.data.get("last_choices") or []
    options = [(i, label, p) for i, (label, p) in enumerate(remembered, 1) if p.startswith(f"{step}:")]
    if options:
        wanted = answers.get(step)
        number, label, _ = next((o for o in options if o[2] == f"{step}:{wanted}"), options[0])
        assert f"{number}. {label}" in user.last[-1], user.text
        await user.say(label if tap else str(number))
    else:
        assert step in answers, f"no test answer for {step!r}: {user.text}"
        await user.say(answers[step])
    return step


# --- webhook ---------------------------------------------------------------------------------------


async def test_signed_events_are_answered_and_forged_ones_refused(
    system: System, fake: FakeZaloOa, caplog: pytest.LogCaptureFixture
) -> None:
    user = OaUser(fake, system)
    forged = fake.text_event(USER, "/start")
    raw_sig = fake.sign(b"{}", forged["timestamp"])
    assert await fake.deliver(forged, user.url, signature=raw_sig) == 401
    assert await fake.deliver(forged, user.url, signature="") == 401
    wrong_key = fake.text_event(USER, "/start")
    raw = json.dumps(wrong_key, ensure_ascii=False).encode()
    bad = fake.sign(raw, wrong_key["timestamp"], secret_key="not-the-key")
    assert await fake.deliver(wrong_key, user.url, signature=bad) == 401
    async with system.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedUpdate)) == 0
        assert await accounts.find_identity(session, ZALO_OA, USER) is None
    assert fake.cs == []

    await user.say("/start")
    assert "1. Tôi đồng ý" in user.text and "4. I agree — continue in English" in user.text
    # Up to five options: also as buttons, whose payload is the label a tap sends back as text.
    assert [b["payload"] for b in fake.buttons()] == [
        "Tôi đồng ý",
        "Tôi không đồng ý",
        "📄 Đọc đầy đủ",
        "I agree — continue in English",
        "🌐 English",
    ]
    assert all(b["type"] == "oa.query.show" for b in fake.buttons())
    # The start-up log names the URL to paste into the OA console; no user id or text is logged.
    assert USER not in caplog.text


async def test_start_up_log_prints_the_webhook_url(
    tmp_path: Path, fake: FakeZaloOa, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    system = await build_system(oa_config(tmp_path, fake))
    await system.start()
    try:
        assert PUBLIC + webhook_path(APP_ID, SECRET_KEY) in caplog.text
        assert fake.refreshes == 1  # the env refresh token was spent at start, the new one stored
        async with system.sessions() as session:
            row = await zalo_oa.read_token(session)
        assert row is not None and row.refresh_token == "refresh-1"
    finally:
        await system.stop()
    # A second start uses the stored tokens (the env refresh token is spent and would fail); when
    # Zalo calls the access token invalid, the stored refresh token gets a new one.
    fake.expire_all_access_tokens()
    system = await build_system(oa_config(tmp_path, fake))
    await system.start()
    try:
        user = OaUser(fake, system)
        await user.say("/help")
        assert user.last
    finally:
        await system.stop()
    assert fake.refreshes == 2 and fake.spent_refresh_uses == 0


async def test_a_redelivered_event_is_applied_and_answered_once(system: System, fake: FakeZaloOa) -> None:
    user = OaUser(fake, system)
    event = fake.text_event(USER, "/help")
    await user.send(event)
    assert user.last
    await user.send(event)
    assert user.last == []


async def test_stickers_and_unknown_events_get_a_polite_hint(system: System, fake: FakeZaloOa) -> None:
    user = OaUser(fake, system)
    await user.send(fake.event("user_send_sticker", USER, {"attachments": [{"type": "sticker"}]}))
    assert user.text == vi(CANNOT_READ)
    await user.send(fake.event("user_send_location", USER, {"attachments": [{"type": "location"}]}))
    assert user.text == vi(CANNOT_READ)


async def test_follow_greets_and_unfollow_makes_the_user_unreachable(
    system: System, fake: FakeZaloOa
) -> None:
    user = OaUser(fake, system)
    await user.follow()
    assert "1. Tôi đồng ý" in user.text and vi(FOLLOW_LINK) in user.text
    await user.send(fake.event("unfollow", USER))
    async with system.sessions() as session:
        identity = await accounts.find_identity(session, ZALO_OA, USER)
        follower = await zalo_oa.oa_user(session, USER)
    assert identity is not None and identity.reachable is False
    assert follower is not None and follower.following is False


def test_render_splits_at_2000_and_offers_buttons_up_to_five() -> None:
    long = Outgoing(text="đoạn văn " * 400, choices=[Choice("Có", "a:yes"), Choice("Không", "a:no")])
    parts = render([long], PUBLIC)
    assert len(parts) >= 2 and all(len(p["text"]) <= 2000 for p in parts)
    assert "attachment" not in parts[0] and len(parts[-1]["attachment"]["payload"]["buttons"]) == 2
    six = Outgoing(text="Chọn", choices=[Choice(str(i), f"x:{i}") for i in range(6)])
    (only,) = render([six], PUBLIC)
    assert "attachment" not in only and "6. 5" in only["text"]  # numbered menu only


# --- the journey -----------------------------------------------------------------------------------


async def test_whole_journey_from_follow_to_submitted_dossier_with_a_pdf_in_chat(
    system: System, fake: FakeZaloOa
) -> None:
    user = OaUser(fake, system)
    await user.follow()
    assert "Tôi đồng ý" in user.text  # Vietnamese from the first message
    await user.say("Tôi đồng ý")  # a tapped button comes back as its label
    for i in range(15):
        if (await state_of(system)).flow is None:  # the profile is saved with its last answer
            break
        await answer_current(user, {**PROFILE_VI, **CHOICES}, tap=i % 2 == 0)
    assert "Đã lưu thông tin cơ sở" in user.text
    async with system.sessions() as session:
        identity = await accounts.find_identity(session, ZALO_OA, USER)
        assert identity is not None
        assert await zalo_oa.has_zns_consent(session, identity.account_id)  # the notice said so
    await user.say("/apply")
    for i in range(40):
        if (await state_of(system)).step == "documents":
            break
        await answer_current(user, CHOICES, tap=i % 2 == 1)
    assert "Giấy tờ bắt buộc: đã có 0/" in user.text
    for _ in range(16):
        found = re.search(r"Giấy tờ bắt buộc: đã có (\d+)/(\d+)", user.text)
        assert found, user.text
        if found.group(1) == found.group(2):
            break
        missing = [line for line in user.text.splitlines() if re.match(r"^\d+\. 📎", line)]
        if missing:  # the checklist: open the first missing item by its number
            await user.say(missing[0].split(".", 1)[0])
            wanted = missing[0]
        else:  # the bot asks for the first document, and after each the next one, itself
            asks = ("Tiếp theo", "Anh/chị gửi", "Anh/chị vui lòng gửi")
            wanted = next((line for line in user.text.splitlines() if line.startswith(asks)), "")
            assert wanted, user.text
        if "Ảnh sản phẩm" in wanted:
            for i in range(3):
                url = fake.host(f"anh{i}.jpg", JPEG_BYTES + bytes([i]))
                await user.send(fake.image_event(USER, url))
        else:
            await user.pdf("giay-to.pdf", PDF_BYTES)  # a PDF sent in the OA chat
        assert "Đã nhận" in user.text
    await user.say(user.number_of("Nộp"))
    assert re.search(r"KC-\d{4}-[A-Z0-9]{5}", user.text), user.text
    async with system.sessions() as session:
        app = await session.scalar(select(Application))
        assert app is not None and app.status == "submitted"
        docs = list(await session.scalars(select(StoredDocument)))
    assert any(d.content_type == "application/pdf" and d.filename == "giay-to.pdf" for d in docs)


async def test_three_photos_sent_at_once_get_one_reply_and_all_are_filed(
    system: System, fake: FakeZaloOa
) -> None:
    user = OaUser(fake, system)
    await at_product_photos(user, ZALO_OA, USER)
    before = len(fake.texts(USER))
    photos = [fake.image_event(USER, fake.host(f"anh{i}.jpg", JPEG_BYTES + bytes([i]))) for i in range(3)]
    channel = oa_channel(system)
    async with hand_clock(channel).held():  # all three arrive within the quiet window
        sending = asyncio.create_task(fake.deliver_together(photos, user.url))
        await until(lambda: channel.bursts.parts(USER) == 3, "every photo to join")
    assert await sending == [200] * 3
    replies = fake.texts(USER)[before:]
    assert len(replies) == 1 and "Received “Product photos”" in replies[0], replies
    assert await product_photos(system) == 3


async def test_a_text_sent_right_after_a_photo_is_answered_after_it(system: System, fake: FakeZaloOa) -> None:
    user = OaUser(fake, system)
    await at_product_photos(user, ZALO_OA, USER)
    before = len(fake.texts(USER))
    channel = oa_channel(system)
    async with hand_clock(channel).held():  # the text arrives within the photo's quiet window
        photo = asyncio.create_task(user.send(fake.image_event(USER, fake.host("anh.jpg", JPEG_BYTES))))
        await until(lambda: channel.bursts.gathering(USER), "the photo to reach the bot")
        await user.say("/status")  # arrives while the photo's burst is open: it ends it, and waits
        await photo
    replies = fake.texts(USER)[before:]
    assert len(replies) == 2, replies
    assert "Received 1/3 for “Product photos”" in replies[0]  # one photo: its own reply, first
    assert "Product photos" not in replies[1]
    assert await product_photos(system) == 1


async def test_an_oa_user_links_to_a_web_identity_with_link(system: System, fake: FakeZaloOa) -> None:
    web = Chat(system.pipeline, user_id="web-user-1", channel="web")
    await web.send("/link")
    code = re.search(r"\b(\d{3} ?\d{3})\b", web.text)
    assert code, web.text
    user = OaUser(fake, system)
    await user.say("/link " + code.group(1).replace(" ", ""))
    async with system.sessions() as session:
        oa = await accounts.find_identity(session, ZALO_OA, USER)
        other = await accounts.find_identity(session, "web", "web-user-1")
    assert oa is not None and other is not None and oa.account_id == other.account_id


async def test_a_follower_finds_their_web_profile_by_phone_only_through_a_code_sent_there(
    system: System, fake: FakeZaloOa
) -> None:
    web = Chat(system.pipeline, user_id="web-owner", channel="web")
    await onboard_english(web)
    user = OaUser(fake, system)
    await user.follow()
    await user.say("/phone")  # at the consent notice, in Vietnamese
    await user.say("0999 999 999")  # nobody's number: the same answer, nothing sent anywhere
    unknown = user.text
    await user.say("/phone")
    await user.say("0912 345 678")  # the web owner's number
    assert user.text == unknown and vi(ANSWER) in user.text
    async with system.sessions() as session:
        rows = list(await session.scalars(select(OutboxMessage)))
        oa = await accounts.find_identity(session, ZALO_OA, USER)
        owner = await accounts.find_identity(session, "web", "web-owner")
    assert oa is not None and owner is not None and oa.account_id != owner.account_id  # not assumed
    (sent,) = rows
    assert sent.identity_id == owner.id and sent.payload["msgid"] == CODE_SENT
    await web.send("/link " + sent.payload["values"]["code"])  # the owner, in the app they hold
    async with system.sessions() as session:
        oa = await accounts.find_identity(session, ZALO_OA, USER)
    assert oa is not None and oa.account_id == owner.account_id


async def test_receipts_and_the_oas_own_events_are_acknowledged_silently(
    system: System, fake: FakeZaloOa
) -> None:
    user = OaUser(fake, system)
    assert await user.send(fake.event("user_received_message", USER, {"tracking_id": "12345"})) == []
    assert await user.send(fake.event("user_seen_message", USER, {"msg_ids": ["x"]})) == []
    async with system.sessions() as session:
        assert await accounts.find_identity(session, ZALO_OA, USER) is None  # nobody was created
