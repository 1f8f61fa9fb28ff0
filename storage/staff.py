"""The staff registry: who may review, broadcast or administer, and for which province.

Staff are channel identities (a Telegram user id, a Zalo id), like facility owners; a role is
scoped to one province, except an admin with no province, who is national.
"""

from __future__ import annotations

import functools
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Select, String, UniqueConstraint, bindparam, select
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
    # The name the channel gave them (Telegram's first and last name), so a reviewer told that a
    # dossier is taken learns by whom; refreshed whenever they use a staff command.
    name: Mapped[str | None] = mapped_column(String(120))
    added_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))


@functools.cache
def _roles_of() -> Select[StaffMember]:
    """Built once: every menu shown to an owner asks (is this person staff too?)."""
    return select(StaffMember).where(
        StaffMember.channel == bindparam("channel"),
        StaffMember.external_id == bindparam("external_id"),
        StaffMember.active.is_(True),
    )


# session.info key: the (channel, external id) this transaction already knows hold no role (the hot
# path's sender query says so, storage/accounts.py): `roles_of` answers them without a query.
NOT_STAFF = "kc_not_staff"


async def roles_of(session: AsyncSession, channel: str, external_id: str) -> list[StaffMember]:
    """The active roles of a channel identity. Every menu shown to an owner asks twice (staff
    entries, broadcasts); for a sender known not to be staff, no query: each one was a round trip
    on PostgreSQL, and it flushed the batch's pending UPDATEs one by one (autoflush)."""
    if (channel, external_id) in session.info.get(NOT_STAFF, ()):
        return []
    rows = await session.scalars(_roles_of(), {"channel": channel, "external_id": external_id})
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
    session.info.get(NOT_STAFF, set()).discard((channel, external_id))
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


# --- who a staff member is, and what they may see ----------------------------------------------------

CHANNEL_NAMES = {"telegram": "Telegram", "zalo": "Zalo", "web": "Web"}


def actor_key(channel: str, external_id: str) -> str:
    """How a staff member is named in claims and audit events: "telegram:12345"."""
    return f"{channel}:{external_id}"


def scope_of(members: list[StaffMember], roles: tuple[str, ...]) -> set[str] | None:
    """The provinces the given roles of one person cover: None for all (a national admin), else
    the set of province names, empty when they hold none of these roles."""
    provinces: set[str] = set()
    for member in members:
        if member.role not in roles:
            continue
        if member.province is None:
            return None
        provinces.add(member.province)
    return provinces


def note_name(members: list[StaffMember], name: str | None) -> None:
    """Keep the channel's display name of a staff member current (shown to colleagues)."""
    if not name:
        return
    for member in members:
        if member.name != name[:120]:
            member.name = name[:120]


async def describe(session: AsyncSession, actor: str) -> str:
    """ "Nguyễn Văn B (Telegram 12345)" for an actor key, or "Telegram 12345" without a name."""
    channel, _, external_id = actor.partition(":")
    where = f"{CHANNEL_NAMES.get(channel, channel)} {external_id}".strip()
    name = await session.scalar(
        select(StaffMember.name)
        .where(
            StaffMember.channel == channel,
            StaffMember.external_id == external_id,
            StaffMember.name.is_not(None),
        )
        .limit(1)
    )
    return f"{name} ({where})" if name else where


async def listed(session: AsyncSession, province: str | None = None) -> list[StaffMember]:
    """Active staff: everyone (no province given), or one province's staff and the national admins."""
    query = select(StaffMember).where(StaffMember.active.is_(True))
    if province is not None:
        query = query.where((StaffMember.province == province) | StaffMember.province.is_(None))
    rows = await session.scalars(query.order_by(StaffMember.province, StaffMember.role, StaffMember.id))
    return list(rows)
