"""Applications (dossiers): drafts, submission, receipt codes and their append-only history."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from storage.models import Application, ApplicationEvent

# Letters and digits that cannot be misread on a phone screen or over the phone (no 0/O, 1/I/L).
RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
OPEN_STATUSES = ("draft", "returned")


def new_receipt_code(now: datetime) -> str:
    suffix = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(5))
    return f"KC-{now:%y%m}-{suffix}"


async def receipt_code_free(session: AsyncSession, code: str) -> bool:
    return await session.scalar(select(Application.id).where(Application.receipt_code == code)) is None


@contextmanager
def unflushed(session: AsyncSession, *read: type) -> Iterator[None]:
    """A read of the rows of the models `read` without the flush SQLAlchemy does before every
    query, unless a row of one of them changed in this transaction (then the read must see it).
    That flush wrote the conversation state of a /apply, a /status or a checklist shown before
    the query, and the transaction's flush wrote it again after: one statement for nothing, a
    round trip on PostgreSQL."""
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, read) for obj in changed):
        yield
        return
    with session.no_autoflush:
        yield


@functools.cache
def _open_drafts() -> Select[Application]:
    """Built once, like the hot path's statements in storage/accounts.py: /apply and the menus
    ask it often, and building it again each time cost more than running it."""
    return (
        select(Application)
        .where(Application.facility_id == bindparam("facility_id"), Application.status.in_(OPEN_STATUSES))
        .order_by(Application.last_activity_at.desc())
    )


@functools.cache
def _of_facility() -> Select[Application]:
    return (
        select(Application)
        .where(Application.facility_id == bindparam("facility_id"))
        .options(joinedload(Application.events))
        .order_by(Application.created_at.desc())
    )


async def open_drafts(session: AsyncSession, facility_id: int) -> list[Application]:
    with unflushed(session, Application):
        return list(await session.scalars(_open_drafts(), {"facility_id": facility_id}))


async def of_facility(session: AsyncSession, facility_id: int) -> list[Application]:
    """The facility's dossiers, newest first, with their history: in one query (/status)."""
    with unflushed(session, Application, ApplicationEvent):
        rows = await session.scalars(_of_facility(), {"facility_id": facility_id})
        return list(rows.unique())


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
