"""A typed number or label means the menu of the newest message that carries one, on that channel
(issue 11 #1): a notice's menu once it was sent, and each linked channel its own menu."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.i18n import N_
from conversations.payloads import Go
from storage.models import Identity
from storage.outbox import OutboxMessage
from tests.conftest import Chat, Clock
from tests.test_flows import onboard_english
from tests.test_flows_vi import onboard_vietnamese


async def _identity(sessions: async_sessionmaker[AsyncSession], user_id: str) -> Identity:
    async with sessions() as s:
        identity = await s.scalar(select(Identity).where(Identity.external_id == user_id))
        assert identity is not None
        return identity


async def _notice_sent(sessions: async_sessionmaker[AsyncSession], identity: Identity, clock: Clock) -> None:
    """A status notice with a one-item menu, delivered after the bot's last reply."""
    async with sessions() as s, s.begin():
        s.add(
            OutboxMessage(
                purpose="status:1:returned",
                identity_id=identity.id,
                channel=identity.channel,
                payload={
                    "msgid": N_("Your dossier was returned for changes."),
                    "choices": [{"label": N_("📋 My dossiers"), "payload": Go("status").pack()}],
                },
                status="sent",
                sent_at=clock.now + timedelta(minutes=5),
            )
        )


async def test_a_number_after_a_notice_picks_from_the_notice_not_the_older_menu_vi(
    chat: Chat, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await onboard_vietnamese(chat)
    assert "Anh/chị muốn làm gì tiếp ạ?" in chat.text  # the main menu: 1 is "check eligibility"
    await _notice_sent(sessions, await _identity(sessions, chat.user_id), clock)
    clock.now += timedelta(minutes=10)
    await chat.send("1")
    assert "Anh/chị chưa có hồ sơ nào" in chat.text  # /status answered, not the eligibility check


async def test_a_typed_label_after_a_notice_picks_from_the_notice_en(
    chat: Chat, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await onboard_english(chat)
    await _notice_sent(sessions, await _identity(sessions, chat.user_id), clock)
    clock.now += timedelta(minutes=10)
    await chat.send("my dossiers")
    assert "You have no dossiers yet" in chat.text


async def test_linked_channels_keep_their_own_menu_en(
    pipeline: object, sessions: async_sessionmaker[AsyncSession]
) -> None:
    web = Chat(pipeline, user_id="w1", channel="web")  # type: ignore[arg-type]
    await onboard_english(web)
    web_identity = await _identity(sessions, "w1")
    async with sessions() as s, s.begin():
        s.add(Identity(channel="zalo", external_id="z1", account_id=web_identity.account_id))
    zalo = Chat(pipeline, user_id="z1", channel="zalo", has_buttons=False)  # type: ignore[arg-type]
    await zalo.send("/settings")
    assert zalo.last[-1].choices[0].label == "🌐 Language"  # Zalo now shows the settings menu
    await web.send("1")  # the web chat still shows the main menu: 1 is the eligibility check
    assert "Which programme" in web.text or "programme" in web.text.lower()
    await zalo.send("1")
    assert "Which language" in zalo.text  # on Zalo, 1 is still "Language" of its own menu
