"""The staff registry: who may review, broadcast or administer, and for which province.

Staff are channel identities (a Telegram user id, a Zalo id), like facility owners; a role is
scoped to one province, except an admin with no province, who is national.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, utcnow

ROLES = ("admin", "reviewer", "broadcaster")


class StaffMember(Base):
    __tablename__ = "staff_members"
    __table_args__ = (UniqueConstraint("channel", "external_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    # None: every province (a national admin).
    province: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    added_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))


async def roles_of(session: AsyncSession, channel: str, external_id: str) -> list[StaffMember]:
    rows = await session.scalars(
        select(StaffMember).where(
            StaffMember.channel == channel,
            StaffMember.external_id == external_id,
            StaffMember.active.is_(True),
        )
    )
    return list(rows)


async def add_staff(
    session: AsyncSession,
    *,
    channel: str,
    external_id: str,
    role: str,
    province: str | None,
    added_by: str | None = None,
) -> StaffMember:
    """Add (or re-activate and re-scope) a role; idempotent, so bootstrap can run at every start."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role != "admin" and not province:
        raise ValueError("reviewers and broadcasters work for one province: give --province")
    existing = await session.scalar(
        select(StaffMember).where(
            StaffMember.channel == channel, StaffMember.external_id == external_id, StaffMember.role == role
        )
    )
    if existing is not None:
        existing.active = True
        existing.province = province
        return existing
    member = StaffMember(
        channel=channel, external_id=external_id, role=role, province=province, added_by=added_by
    )
    session.add(member)
    await session.flush()
    return member


async def remove_staff(
    session: AsyncSession, *, channel: str, external_id: str, role: str | None = None
) -> int:
    members = await roles_of(session, channel, external_id)
    removed = 0
    for member in members:
        if role is None or member.role == role:
            member.active = False
            removed += 1
    return removed


def covers(member: StaffMember, province: str) -> bool:
    return member.province is None or member.province == province
