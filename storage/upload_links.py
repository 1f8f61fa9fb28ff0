"""One-time upload links: how a user of a channel that cannot carry a PDF (Zalo) still sends one.

The chat shows a link to a small page on our server; the page puts the file on one checklist
item of one draft. The token in the link is the only key, so it is long and random
(`secrets.token_urlsafe`), only its SHA-256 is stored, it works once, and it expires. It is bound
to the account, the draft, the checklist item and the identity the link was shown to (where the
confirmation goes).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import execute_dml
from storage.models import Base, utcnow

LINK_TTL = timedelta(hours=24)
TOKEN_BYTES = 24  # 32 URL-safe characters


class UploadLink(Base):
    __tablename__ = "upload_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"))
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(48))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    def usable(self, now: datetime) -> bool:
        return self.used_at is None and self.expires_at > now


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def issue(
    session: AsyncSession,
    *,
    account_id: int,
    identity_id: int,
    application_id: int,
    item_id: str,
    now: datetime,
    ttl: timedelta = LINK_TTL,
) -> str:
    """A new token for one item of one draft; the plain token is returned once, never stored."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        UploadLink(
            token_hash=_hash(token),
            account_id=account_id,
            identity_id=identity_id,
            application_id=application_id,
            item_id=item_id,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    await session.flush()
    return token


async def find(session: AsyncSession, token: str) -> UploadLink | None:
    """The link with this token, used or not (the page says which); None for an unknown token."""
    return await session.scalar(select(UploadLink).where(UploadLink.token_hash == _hash(token)))


async def claim(session: AsyncSession, link: UploadLink, now: datetime) -> bool:
    """Use the link up, inside the caller's transaction; False when it was used or expired
    meanwhile (a double submit). Rolled back with the transaction if the upload fails."""
    result = await execute_dml(
        session,
        update(UploadLink)
        .where(UploadLink.id == link.id, UploadLink.used_at.is_(None), UploadLink.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False),
    )
    if result.rowcount:
        link.used_at = now
    return bool(result.rowcount)
