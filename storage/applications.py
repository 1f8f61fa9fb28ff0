"""Applications (dossiers): drafts, submission, receipt codes and their append-only history."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import Application, ApplicationEvent

# Letters and digits that cannot be misread on a phone screen or over the phone (no 0/O, 1/I/L).
RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
OPEN_STATUSES = ("draft", "returned")


def new_receipt_code(now: datetime) -> str:
    suffix = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(5))
    return f"KC-{now:%y%m}-{suffix}"


async def receipt_code_free(session: AsyncSession, code: str) -> bool:
    return await session.scalar(select(Application.id).where(Application.receipt_code == code)) is None


async def open_drafts(session: AsyncSession, facility_id: int) -> list[Application]:
    rows = await session.scalars(
        select(Application)
        .where(Application.facility_id == facility_id, Application.status.in_(OPEN_STATUSES))
        .order_by(Application.last_activity_at.desc())
    )
    return list(rows)


async def of_facility(session: AsyncSession, facility_id: int) -> list[Application]:
    rows = await session.scalars(
        select(Application)
        .where(Application.facility_id == facility_id)
        .options(selectinload(Application.events))
        .order_by(Application.created_at.desc())
    )
    return list(rows)


def record_event(
    session: AsyncSession,
    application: Application,
    *,
    actor: str,
    action: str,
    to_status: str | None,
    at: datetime,
    detail: dict | None = None,
) -> ApplicationEvent:
    event = ApplicationEvent(
        application_id=application.id,
        actor=actor,
        action=action,
        from_status=application.status,
        to_status=to_status,
        detail=detail or {},
        at=at,
    )
    session.add(event)
    if to_status is not None:
        application.status = to_status
    return event
