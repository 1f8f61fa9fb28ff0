"""Sign-in to the staff console: one-time links and browser sessions.

Staff have no password: a link sent to them in chat (/web) or printed by an admin on the server
proves they hold that chat identity. The link is single use and short-lived; the session it opens
expires after a working day of idleness. Only SHA-256 hashes of the secrets are stored, so a
copy of the database opens nobody's session. Whether the identity is still staff is checked on
every request (storage.staff), not here: removing a member ends their console at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, utcnow

LINK_TTL = timedelta(minutes=15)
SESSION_IDLE = timedelta(hours=8)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ConsoleLoginLink(Base):
    __tablename__ = "console_login_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsoleSession(Base):
    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    # Sent back with every form; a cross-site page cannot read it, so cannot forge a POST.
    csrf: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


@dataclass(frozen=True)
class SignedIn:
    channel: str
    external_id: str
    csrf: str
    locale: str | None


async def issue_link(session: AsyncSession, channel: str, external_id: str, now: datetime) -> str:
    """A new one-time token for this identity (the caller checks it is staff)."""
    token = secrets.token_urlsafe(32)
    session.add(
        ConsoleLoginLink(
            token_hash=_digest(token),
            channel=channel,
            external_id=external_id,
            expires_at=now + LINK_TTL,
            created_at=now,
        )
    )
    await session.flush()
    return token


async def link_is_live(session: AsyncSession, token: str, now: datetime) -> bool:
    """Whether a token would sign in now (unused, unexpired), without using it up."""
    row = await session.get(ConsoleLoginLink, _digest(token))
    return row is not None and row.used_at is None and row.expires_at > now


async def redeem_link(session: AsyncSession, token: str, now: datetime) -> tuple[str, str] | None:
    """Use a token once: the (channel, external id) it names, or None when unknown, used or expired.
    A conditional UPDATE, so two tabs opening the same link cannot both sign in."""
    digest = _digest(token)
    result = await session.execute(
        update(ConsoleLoginLink)
        .where(
            ConsoleLoginLink.token_hash == digest,
            ConsoleLoginLink.used_at.is_(None),
            ConsoleLoginLink.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    found = await session.execute(
        select(ConsoleLoginLink.channel, ConsoleLoginLink.external_id).where(
            ConsoleLoginLink.token_hash == digest
        )
    )
    channel, external_id = found.one()
    return channel, external_id


async def open_session(
    session: AsyncSession, channel: str, external_id: str, now: datetime, locale: str | None = None
) -> str:
    """A new browser session; returns the cookie value (only its hash is kept)."""
    sid = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            id_hash=_digest(sid),
            channel=channel,
            external_id=external_id,
            csrf=secrets.token_urlsafe(24),
            locale=locale,
            created_at=now,
            last_seen_at=now,
        )
    )
    # Old sessions and links are of no use to anyone: drop them while we are here.
    await session.execute(delete(ConsoleSession).where(ConsoleSession.last_seen_at < now - SESSION_IDLE))
    await session.execute(delete(ConsoleLoginLink).where(ConsoleLoginLink.expires_at < now - LINK_TTL))
    await session.flush()
    return sid


async def current(session: AsyncSession, sid: str, now: datetime) -> SignedIn | None:
    """The live session of this cookie, its idle clock restarted; None when unknown or idle too long."""
    row = await session.get(ConsoleSession, _digest(sid))
    if row is None:
        return None
    if row.last_seen_at < now - SESSION_IDLE:
        await session.delete(row)
        return None
    if now - row.last_seen_at > timedelta(minutes=1):  # not a write on every click
        row.last_seen_at = now
    return SignedIn(row.channel, row.external_id, row.csrf, row.locale)


async def set_locale(session: AsyncSession, sid: str, locale: str) -> None:
    row = await session.get(ConsoleSession, _digest(sid))
    if row is not None:
        row.locale = locale


async def close(session: AsyncSession, sid: str) -> None:
    await session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == _digest(sid)))
