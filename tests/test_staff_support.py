"""Helpers the staff tests share (no tests here): staff members, a submitted dossier, the outbox.

Staff talk to the real pipeline like owners do, on Telegram; their accounts are set to English so
what the tests read does not change when the Vietnamese catalog grows.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.i18n import translator
from conversations.messages import Incoming, Outgoing
from conversations.notices import render_payload
from handlers.runtime import Pipeline
from storage import accounts, staff
from storage.models import Account, Application, ApplicationEvent, Identity
from storage.outbox import OutboxMessage
from tests.conftest import Chat
from tests.rows import add_facility
from tests.test_flows import full_application, onboard_english, upload_required


async def add_staff(
    sessions: async_sessionmaker[AsyncSession],
    user_id: str,
    role: str,
    province: str | None,
    *,
    name: str | None = None,
    locale: str | None = "en",
    channel: str = "telegram",
) -> None:
    async with sessions() as s, s.begin():
        member = await staff.add_staff(
            s, channel=channel, external_id=user_id, role=role, province=province, added_by="test"
        )
        member.name = name
        account, _ = await accounts.get_or_create_account(s, channel, user_id)
        if locale:
            account.locale = locale


def staff_chat(pipeline: Pipeline, user_id: str) -> Chat:
    return Chat(pipeline, user_id=user_id, channel="telegram")


async def submitted(chat: Chat, sessions: async_sessionmaker[AsyncSession]) -> Application:
    """An English-speaking owner in Hưng Yên who sent a complete selection dossier."""
    await onboard_english(chat)
    await full_application(chat, sessions)
    await upload_required(chat, sessions)
    assert "Please check your dossier" in chat.text  # the last document leads to the summary
    await chat.tap("Submit")
    assert "Receipt code: KC-" in chat.text
    async with sessions() as s:
        app = await s.scalar(select(Application).order_by(Application.id.desc()))
    assert app is not None and app.status == "submitted"
    return app


async def application(sessions: async_sessionmaker[AsyncSession], app_id: int) -> Application:
    async with sessions() as s:
        app = await s.get(Application, app_id)
    assert app is not None
    return app


async def outbox(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with sessions() as s:
        return list(await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def notice_for(
    sessions: async_sessionmaker[AsyncSession], row: OutboxMessage
) -> tuple[list[Outgoing], Identity]:
    """How the delivery worker will render a queued notice: in the recipient's language."""
    async with sessions() as s:
        identity = await s.get(Identity, row.identity_id)
        assert identity is not None
        account = await s.get(Account, identity.account_id)
        assert account is not None
    return render_payload(row.payload, translator(account.locale)), identity


async def tap_payload(chat: Chat, payload: str) -> list[Outgoing]:
    """Tap a button whose payload we know (one from a delivered notice)."""
    incoming = Incoming(
        channel=chat.channel, user_id=chat.user_id, update_id=f"tap-{next(_taps)}", choice=payload
    )
    chat.last = await chat.pipeline.handle(incoming)
    return chat.last


_taps = itertools.count(1)


def texts(messages: list[Outgoing]) -> str:
    return "\n---\n".join(m.text for m in messages)


def payloads(messages: list[Outgoing]) -> list[str]:
    return [c.payload for m in messages for c in m.choices]


def any_payload(messages: list[Outgoing], prefix: str) -> str:
    found = [p for p in payloads(messages) if p.startswith(prefix)]
    assert found, f"no button payload starting {prefix!r}: {payloads(messages)}"
    return found[0]


async def dossier(
    sessions: async_sessionmaker[AsyncSession],
    *,
    province: str = "Hưng Yên",
    programme: str = "selection",
    status: str = "submitted",
    product: str = "Nón lá",
    submitted_at: datetime | None = None,
    commune: str = "Xã Phú Vinh",
    tax_code: str = "0100109106",
) -> Application:
    """A sent dossier written straight into the database (for queue, filter and scope tests)."""
    global _owners
    _owners += 1
    async with sessions() as s, s.begin():
        account, _ = await accounts.get_or_create_account(s, "web", f"owner{_owners}")
        account.locale = "vi"
        facility = await add_facility(
            s,
            account.id,
            name=f"Cơ sở {product}",
            province=province,
            commune=commune,
            tax_code=tax_code,
            contact_name="Lê Văn C",
            products=product,
        )
        when = submitted_at or datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
        app = Application(
            facility_id=facility.id,
            programme=programme,
            status=status,
            answers={"programme": programme, "product_name": product},
            receipt_code=f"KC-2611-{_owners:05d}"[:13],
            submitted_at=when,
            created_at=when,
            last_activity_at=when,
        )
        s.add(app)
        await s.flush()
        if status != "draft":
            s.add(
                ApplicationEvent(
                    application_id=app.id,
                    actor="owner",
                    action="submitted",
                    from_status="draft",
                    to_status="submitted",
                    at=when,
                )
            )
    return app


_owners = 0
