"""One-time codes that link two channel identities (Zalo and Telegram) to one account.

A code is shown on one channel and typed on the other. Only its SHA-256 is kept: the plain code
exists in the chat it was shown in and nowhere else. Codes are six digits so they can be read off
one phone and typed on another; that small space is why they live ten minutes, are used once,
and why the dialogue limits wrong guesses.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import execute_dml
from storage.models import Base, Identity, utcnow

CODE_TTL = timedelta(minutes=10)
CODE_DIGITS = 6
FAILURE_WINDOW = timedelta(hours=1)


class LinkCode(Base):
    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), index=True)
    # The identity (and so the account) that asked for the code.
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class LinkFailure(Base):
    """A wrong code typed, kept an hour: guesses are counted per identity, so a million codes
    cannot be walked through."""

    __tablename__ = "link_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


async def issue(session: AsyncSession, identity: Identity, now: datetime) -> str:
    """A fresh code for this identity; its earlier unused codes stop working.

    The code is unique among the codes still valid, so typing it can only mean one account.
    """
    await session.execute(
        delete(LinkCode).where(LinkCode.identity_id == identity.id, LinkCode.used_at.is_(None))
    )
    for _ in range(20):
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        if await find_valid(session, code, now) is None:
            break
    else:  # a million codes, a handful alive at once: this does not happen
        raise RuntimeError("no free link code")
    session.add(
        LinkCode(code_hash=_hash(code), identity_id=identity.id, created_at=now, expires_at=now + CODE_TTL)
    )
    await session.flush()
    return code


async def find_valid(session: AsyncSession, code: str, now: datetime) -> LinkCode | None:
    """The unused, unexpired code with these digits, or None."""
    return await session.scalar(
        select(LinkCode).where(
            LinkCode.code_hash == _hash(code), LinkCode.used_at.is_(None), LinkCode.expires_at > now
        )
    )


async def consume(session: AsyncSession, code: LinkCode, now: datetime) -> bool:
    """Mark the code used; False when another request used it first (two phones, one code)."""
    result = await execute_dml(
        session,
        update(LinkCode)
        .where(LinkCode.id == code.id, LinkCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False),
    )
    return bool(result.rowcount)


async def record_failure(session: AsyncSession, identity: Identity, now: datetime) -> None:
    await session.execute(delete(LinkFailure).where(LinkFailure.at <= now - FAILURE_WINDOW))
    session.add(LinkFailure(identity_id=identity.id, at=now))
    await session.flush()


async def recent_failures(session: AsyncSession, identity: Identity, now: datetime) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(LinkFailure)
            .where(LinkFailure.identity_id == identity.id, LinkFailure.at > now - FAILURE_WINDOW)
        )
        or 0
    )
