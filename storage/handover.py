"""Conversations handed to a person ("talk to staff"): one open case per account at a time.

The bot stays quiet for that account while its case is open; the staff of the facility's
province are told, see what the owner writes, reply, and hand the conversation back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, utcnow


class HandoverCase(Base):
    __tablename__ = "handover_cases"
    __table_args__ = (Index("ix_handover_open", "closed_at", "province"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    # The facility's province when there is a profile; None reaches the national admins.
    province: Mapped[str | None] = mapped_column(String(64))
    # Where the owner was stuck (flow:step), so staff know what the question was.
    context: Mapped[str | None] = mapped_column(String(100))
    taken_by: Mapped[str | None] = mapped_column(String(80))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(80))


async def open_case_of(session: AsyncSession, account_id: int) -> HandoverCase | None:
    return await session.scalar(
        select(HandoverCase).where(HandoverCase.account_id == account_id, HandoverCase.closed_at.is_(None))
    )


async def open_cases(session: AsyncSession, provinces: set[str] | None) -> list[HandoverCase]:
    """Open cases in these provinces (None: every case, for national admins), oldest first."""
    query = select(HandoverCase).where(HandoverCase.closed_at.is_(None))
    if provinces is not None:
        query = query.where(HandoverCase.province.in_(sorted(provinces)))
    return list(await session.scalars(query.order_by(HandoverCase.opened_at, HandoverCase.id).limit(20)))
