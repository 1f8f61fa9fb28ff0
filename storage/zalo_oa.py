"""What the Zalo Official Account channel keeps: its rotating OAuth tokens, when each OA user last
interacted (the 7-day consultation window), ZNS consent, and what each outbox row became on OA.

Kept apart from the core tables because every rule here is Zalo's, not ours:
- the refresh token is single-use and every refresh returns a new one, so it lives in one row
  read FOR UPDATE (PostgreSQL) or under SQLite's write lock while the refresh request is out:
  two workers never spend the same refresh token;
- a consultation message may go only to a user who interacted within 7 days, so the last
  interaction is recorded on every event;
- a ZNS message is paid and sent by phone number, so it needs its own consent (withdrawn in
  /settings) and its cost is kept per send;
- `OaDelivery` records, committed before the request goes out, which route (consultation or
  ZNS) an outbox row took: after a crash the row never goes the other way, nor twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import insert_for
from storage.models import Base, utcnow

TOKEN_NAME = "zalo_oa"


class OAuthToken(Base):
    """The OA's access token and the refresh token that replaces it (one row per OA)."""

    __tablename__ = "oauth_tokens"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    access_token: Mapped[str | None] = mapped_column(Text)
    access_expires_at: Mapped[datetime | None]
    refresh_token: Mapped[str] = mapped_column(Text)
    # sha256 of the ZALO_OA_REFRESH_TOKEN last adopted: a different one in the environment is an
    # operator's fresh authorisation (the stored token was lost or revoked) and replaces it.
    seed_sha256: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OaUser(Base):
    """An OA follower as Zalo knows them (a per-OA user id): when they last interacted."""

    __tablename__ = "zalo_oa_users"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_interaction_at: Mapped[datetime] = mapped_column(default=utcnow)
    following: Mapped[bool] = mapped_column(Boolean, default=True)


class ZnsConsent(Base):
    """An owner agreed to reminders as Zalo notifications (ZNS) to the phone they gave."""

    __tablename__ = "zns_consents"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    given_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None]


class OaDelivery(Base):
    """What an outbox row became on the OA: route `cs` (consultation) or `zns`; state `sending`
    (committed before the request), `sent`; the platform's message id and the cost in VND."""

    __tablename__ = "zalo_oa_deliveries"

    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True)
    route: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(12), default="sending")
    msg_id: Mapped[str | None] = mapped_column(String(64))
    cost: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime] = mapped_column(default=utcnow)


# --- tokens ----------------------------------------------------------------------------------------


async def token_for_update(session: AsyncSession, seed_refresh_token: str | None) -> OAuthToken | None:
    """The token row, locked for this transaction (FOR UPDATE on PostgreSQL; the caller holds
    SQLite's write lock). The first start seeds it from ZALO_OA_REFRESH_TOKEN; later starts use
    the stored, rotated token, unless the variable now holds a different token than the one
    adopted last (an operator re-authorised the app)."""
    seed_sha = hashlib.sha256(seed_refresh_token.encode("utf-8")).hexdigest() if seed_refresh_token else None
    query = select(OAuthToken).where(OAuthToken.name == TOKEN_NAME).with_for_update()
    row = await session.scalar(query)
    if row is None and seed_refresh_token:
        await session.execute(
            insert_for(session)(OAuthToken)
            .values(
                name=TOKEN_NAME, refresh_token=seed_refresh_token, seed_sha256=seed_sha, updated_at=utcnow()
            )
            .on_conflict_do_nothing(index_elements=["name"])
        )
        row = await session.scalar(query)
    elif row is not None and seed_refresh_token and row.seed_sha256 != seed_sha:
        row.refresh_token, row.seed_sha256 = seed_refresh_token, seed_sha
        row.access_token = row.access_expires_at = None
    return row


async def read_token(session: AsyncSession) -> OAuthToken | None:
    return await session.scalar(select(OAuthToken).where(OAuthToken.name == TOKEN_NAME))


# --- interactions ------------------------------------------------------------------------------


async def record_interaction(
    session: AsyncSession, user_id: str, at: datetime, *, following: bool | None = None
) -> None:
    """The user did something the OA counts as interaction (wrote, followed): the window restarts."""
    values: dict[str, object] = {"user_id": user_id, "last_interaction_at": at, "following": True}
    changes: dict[str, object] = {"last_interaction_at": at}
    if following is not None:
        values["following"] = changes["following"] = following
    stmt = insert_for(session)(OaUser).values(**values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["user_id"], set_=changes))


async def oa_user(session: AsyncSession, user_id: str) -> OaUser | None:
    return await session.get(OaUser, user_id)


# --- ZNS consent --------------------------------------------------------------------------------


async def set_zns_consent(session: AsyncSession, account_id: int, given: bool, at: datetime) -> None:
    row = await session.get(ZnsConsent, account_id)
    if given:
        if row is None:
            session.add(ZnsConsent(account_id=account_id, given_at=at))
        else:
            row.given_at, row.withdrawn_at = at, None
    elif row is not None and row.withdrawn_at is None:
        row.withdrawn_at = at


async def has_zns_consent(session: AsyncSession, account_id: int) -> bool:
    row = await session.get(ZnsConsent, account_id)
    return row is not None and row.withdrawn_at is None


# --- deliveries ------------------------------------------------------------------------------


async def delivery_of(session: AsyncSession, outbox_id: int) -> OaDelivery | None:
    return await session.get(OaDelivery, outbox_id)


async def start_delivery(session: AsyncSession, outbox_id: int, route: str, kind: str, at: datetime) -> None:
    session.add(OaDelivery(outbox_id=outbox_id, route=route, kind=kind, state="sending", at=at))


async def finish_delivery(
    session: AsyncSession, outbox_id: int, *, msg_id: str | None, cost: int, at: datetime
) -> None:
    await session.execute(
        update(OaDelivery)
        .where(OaDelivery.outbox_id == outbox_id)
        .values(state="sent", msg_id=msg_id, cost=cost, at=at)
        .execution_options(synchronize_session=False)
    )


async def drop_delivery(session: AsyncSession, outbox_id: int) -> None:
    """The platform refused the request outright: nothing went out, the row may be tried again."""
    row = await session.get(OaDelivery, outbox_id)
    if row is not None:
        await session.delete(row)


async def promotions_since(session: AsyncSession, identity_id: int, since: datetime) -> int:
    """How many promotion-type messages (broadcasts) went to this OA identity since `since`."""
    from storage.outbox import OutboxMessage

    return (
        await session.scalar(
            select(func.count())
            .select_from(OaDelivery)
            .join(OutboxMessage, OutboxMessage.id == OaDelivery.outbox_id)
            .where(
                OutboxMessage.identity_id == identity_id,
                OaDelivery.kind == "promotion",
                OaDelivery.at >= since,
            )
        )
        or 0
    )


@dataclass(frozen=True)
class ZnsTotals:
    sent: int
    cost: int


async def zns_totals(session: AsyncSession, *, since: datetime | None = None) -> ZnsTotals:
    """ZNS messages sent and what they cost (VND), for the reports."""
    query = select(func.count(), func.coalesce(func.sum(OaDelivery.cost), 0)).where(
        OaDelivery.route == "zns", OaDelivery.state == "sent"
    )
    if since is not None:
        query = query.where(OaDelivery.at >= since)
    count, cost = (await session.execute(query)).one()
    return ZnsTotals(int(count or 0), int(cost or 0))


async def skipped_for_reason(session: AsyncSession, batch: str, reason: str) -> int:
    """Rows of a broadcast skipped for `reason` (e.g. "outside the window"), for its report."""
    from storage.outbox import OutboxMessage

    return (
        await session.scalar(
            select(func.count()).where(
                OutboxMessage.batch == batch,
                OutboxMessage.status == "skipped",
                OutboxMessage.last_error == reason,
            )
        )
        or 0
    )


async def settle_in_doubt(
    session: AsyncSession, outbox_id: int, in_doubt_error: str, at: datetime, costs: dict[str, int]
) -> bool:
    """Zalo confirmed delivery of a ZNS message whose answer a crash lost: its record becomes
    `sent` (costing what its template costs, `costs` by template key), and its outbox row too if
    it is still sending or was failed as in doubt."""
    from storage.outbox import OutboxMessage

    delivery = await session.get(OaDelivery, outbox_id)
    if delivery is None or delivery.route != "zns" or delivery.state == "sent":
        return False
    delivery.state, delivery.at, delivery.cost = "sent", at, costs.get(delivery.kind, 0)
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == outbox_id,
            (OutboxMessage.status == "sending")
            | ((OutboxMessage.status == "failed") & (OutboxMessage.last_error == in_doubt_error)),
        )
        .values(status="sent", sent_at=at, last_error=None, claimed_by=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return True
