"""The OA for the delivery worker: each outbox row goes as a consultation message, as ZNS, later,
or not at all, as conversations/outreach/oa_window.py decides; and never two ways, nor twice.

The route is recorded (`storage.zalo_oa.OaDelivery`, committed) before the request goes out.
A row that comes back after a crash finds that record: `sent` means done (nothing is sent
again), `sending` means the request may have reached Zalo and its answer was lost. Unlike the
other channels, which send such a row again (at least once), the OA does not: a ZNS message is
paid and goes to a phone, and a second copy of a consultation message counts against the same
quotas, so the row is failed as "in doubt" and the report says so. ZNS also carries the outbox
row id as `tracking_id`, and Zalo's delivery receipt for it settles such a row as sent
(channel.py, `storage.zalo_oa.settle_in_doubt`).

ZNS has its own pacing (`ZNS_PER_SECOND`) inside the OA's delivery loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.messages import ZALO_OA, Outgoing
from conversations.outreach.oa_window import OUTSIDE_WINDOW, Decision, OaPolicy, decide
from handlers.channels.zalo_oa import zns
from handlers.channels.zalo_oa.client import (
    UNREACHABLE_CODES,
    OaApiError,
    OaClient,
    OaError,
    OaNetworkError,
    ZnsResult,
)
from handlers.channels.zalo_oa.render import render
from handlers.channels.zalo_oa.tokens import TokenKeeper
from handlers.file_links import FileLinks
from handlers.senders import Later, RetryAfter, SendError, Skipped, Transient, Unreachable
from storage import zalo_oa
from storage.accounts import facility_of
from storage.models import Account, Identity

log = logging.getLogger(__name__)

ZNS_PER_SECOND = 1.0  # UNCONFIRMED: no ZNS rate limit is published; low until measured
RETRY_AFTER = 10.0  # seconds after an HTTP 429 (Zalo sends no retry_after)
IN_DOUBT = "in doubt: the worker stopped while sending; not sent again"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def send_error(exc: OaError) -> SendError:
    if isinstance(exc, OaApiError):
        if exc.code == 429:
            return RetryAfter(RETRY_AFTER)
        if exc.code in UNREACHABLE_CODES:
            return Unreachable(f"zalo oa {exc.code}")
        if exc.outside_window:
            return Skipped(OUTSIDE_WINDOW)
    return Transient(str(exc))


@dataclass(frozen=True)
class Recipient:
    last_interaction: datetime | None
    phone: str | None
    zns_consent: bool
    contact_name: str
    facility_name: str
    promotions_today: int


class OaSender:
    channel = ZALO_OA

    def __init__(
        self,
        client: OaClient,
        tokens: TokenKeeper,
        sessions: async_sessionmaker[AsyncSession],
        *,
        public_base: str,
        links: FileLinks | None = None,
        templates: list[zns.Template] | None = None,
        policy: OaPolicy | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.client = client
        self.tokens = tokens
        self.sessions = sessions
        self.public_base = public_base
        self.links = links
        self.templates = zns.load_templates() if templates is None else templates
        self.policy = policy or OaPolicy()
        self.clock = clock
        self._zns_slot = 0.0
        self._zns_lock = asyncio.Lock()
        self._users: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # --- consultation messages (replies, and rows inside the window) -----------------------------

    async def send(self, external_id: str, messages: list[Outgoing]) -> None:
        """Consultation messages to a user who is inside the window (a reply, an upload receipt)."""
        for message in render(messages, self.public_base, self.links):
            try:
                await self._cs(external_id, message)
            except OaError as exc:
                raise send_error(exc) from None

    async def reply(self, user_id: str, message: dict[str, Any]) -> str | None:
        """One consultation message (render.cs_message), raising the client's own errors."""
        return await self._cs(user_id, message)

    async def _cs(self, user_id: str, message: dict[str, Any]) -> str | None:
        token = await self.tokens.access_token()
        try:
            return await self.client.send_cs(token, user_id, message)
        except OaApiError as exc:
            if not exc.invalid_token:
                raise
        return await self.client.send_cs(await self.tokens.invalid(token), user_id, message)

    async def _zns(self, **kwargs: Any) -> ZnsResult:
        async with self._zns_lock:  # ZNS's own pace, whatever the OA loop's
            wait = self._zns_slot - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._zns_slot = time.monotonic() + 1.0 / ZNS_PER_SECOND
        token = await self.tokens.access_token()
        try:
            return await self.client.send_zns(token, **kwargs)
        except OaApiError as exc:
            if not exc.invalid_token:
                raise
        return await self.client.send_zns(await self.tokens.invalid(token), **kwargs)

    # --- outbox rows ---------------------------------------------------------------------------

    async def send_row(self, row: Any, messages: list[Outgoing]) -> None:
        """One outbox row (`storage.outbox.Claimed`), by the route the OA's rules allow. One user's
        rows go one at a time, so the daily promotion cap counts the one before."""
        lock = self._users.get(row.external_id)
        if lock is None:
            lock = self._users[row.external_id] = asyncio.Lock()
        async with lock:
            await self._send_row(row, messages)

    async def _send_row(self, row: Any, messages: list[Outgoing]) -> None:
        now = self.clock()
        promotion = str(row.purpose).startswith("broadcast:")
        template = zns.template_for(self.templates, row.purpose)
        async with self.sessions() as session:
            prior = await zalo_oa.delivery_of(session, row.id)
            if prior is not None:
                if prior.state == "sent":
                    return  # sent before a crash; only the outbox row's result was lost
                raise SendError(IN_DOUBT)
            who = await self._recipient(session, row, now, promotion)
        decision = decide(
            self.policy,
            now=now,
            last_interaction=who.last_interaction,
            promotion=promotion,
            promotions_today=who.promotions_today,
            zns_allowed=who.zns_consent and who.phone is not None,
            has_template=template is not None,
        )
        if decision.route == "cs":
            try:
                await self._send_cs_row(row, messages, "promotion" if promotion else "personal", now)
                return
            except Skipped:
                # Zalo says the window closed (-230) although our record says otherwise: the
                # user's last interaction is older than we knew. Try ZNS if it is allowed.
                decision = decide(
                    self.policy,
                    now=now,
                    last_interaction=None,
                    promotion=promotion,
                    zns_allowed=who.zns_consent and who.phone is not None,
                    has_template=template is not None,
                )
        if decision.route == "zns":
            assert template is not None and who.phone is not None
            await self._send_zns_row(row, template, who, now)
            return
        self._refuse(decision)

    @staticmethod
    def _refuse(decision: Decision) -> None:
        if decision.route == "later":
            assert decision.not_before is not None
            raise Later(decision.not_before, decision.reason)
        raise Skipped(decision.reason or OUTSIDE_WINDOW)

    async def _recipient(self, session: AsyncSession, row: Any, now: datetime, promotion: bool) -> Recipient:
        identity = await session.get(Identity, row.identity_id)
        account = await session.get(Account, identity.account_id) if identity is not None else None
        facility = await facility_of(session, account.id) if account is not None else None
        user = await zalo_oa.oa_user(session, row.external_id)
        return Recipient(
            last_interaction=user.last_interaction_at if user is not None else None,
            phone=zns.phone_84(facility.phone) if facility is not None else None,
            # Withdrawing the data consent (or deleting one's data) withdraws ZNS with it.
            zns_consent=account is not None
            and account.consent_at is not None
            and await zalo_oa.has_zns_consent(session, account.id),
            contact_name=facility.contact_name if facility is not None else "",
            facility_name=facility.name if facility is not None else "",
            promotions_today=await zalo_oa.promotions_since(
                session, row.identity_id, self.policy.day_start(now)
            )
            if promotion
            else 0,
        )

    async def _record(self, row_id: int, route: str, kind: str, now: datetime) -> None:
        async with self.sessions() as session, session.begin():
            await zalo_oa.start_delivery(session, row_id, route, kind, now)

    async def _done(self, row_id: int, msg_id: str | None, cost: int) -> None:
        async with self.sessions() as session, session.begin():
            await zalo_oa.finish_delivery(session, row_id, msg_id=msg_id, cost=cost, at=self.clock())

    async def _undo(self, row_id: int) -> None:
        async with self.sessions() as session, session.begin():
            await zalo_oa.drop_delivery(session, row_id)

    async def _send_cs_row(self, row: Any, messages: list[Outgoing], kind: str, now: datetime) -> None:
        await self._record(row.id, "cs", kind, now)
        msg_id = None
        for index, message in enumerate(render(messages, self.public_base, self.links)):
            try:
                msg_id = await self._cs(row.external_id, message) or msg_id
            except OaError as exc:
                nothing_out = index == 0 and not (isinstance(exc, OaNetworkError) and exc.maybe_delivered)
                if nothing_out:
                    await self._undo(row.id)  # Zalo refused it: the row may take another route
                raise send_error(exc) from None
        await self._done(row.id, msg_id, 0)

    async def _send_zns_row(self, row: Any, template: zns.Template, who: Recipient, now: datetime) -> None:
        params = zns.params_for(
            template, row.payload, contact_name=who.contact_name, facility_name=who.facility_name
        )
        async with self.sessions() as session, session.begin():
            prior = await zalo_oa.delivery_of(session, row.id)
            if prior is not None:  # the -230 fallback: the consultation attempt was refused
                await session.delete(prior)
                await session.flush()
            await zalo_oa.start_delivery(session, row.id, "zns", template.key, now)
        try:
            result = await self._zns(
                phone=who.phone, template_id=template.template_id, params=params, tracking_id=str(row.id)
            )
        except OaError as exc:
            if not (isinstance(exc, OaNetworkError) and exc.maybe_delivered):
                await self._undo(row.id)
            raise send_error(exc) from None
        await self._done(row.id, result.msg_id, result.fee if result.fee is not None else template.cost)
