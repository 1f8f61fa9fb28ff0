"""Who a broadcast reaches: facilities matching staff's filters, who agreed to announcements.

Filters combine (all must hold): provinces (a broadcaster's own, always), one commune, a product
group (from their dossiers), a certification level (a certificate still valid today), being
registered for a fair. Everyone else in the audience is a facility whose owner gave consent and
has not opted out. One message per person, to the app that shows it best.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.validators import fold
from storage import outreach
from storage.certificates import Certificate
from storage.models import Account, Application, Facility
from storage.outreach import FairRegistration


@dataclass(frozen=True)
class Audience:
    provinces: tuple[str, ...] | None = None  # None: every province
    commune: str | None = None
    product_group: str | None = None
    cert_level: str | None = None
    fair_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "provinces": list(self.provinces) if self.provinces is not None else None,
            "commune": self.commune,
            "product_group": self.product_group,
            "cert_level": self.cert_level,
            "fair_id": self.fair_id,
        }


@dataclass(frozen=True)
class Recipients:
    identities: list[tuple[int, str]]  # (identity id, channel)

    @property
    def count(self) -> int:
        return len(self.identities)

    @property
    def channels(self) -> dict[str, int]:
        return dict(Counter(channel for _, channel in self.identities))


async def recipients(session: AsyncSession, audience: Audience, today: date) -> Recipients:
    query = (
        select(Facility.account_id, Facility.commune)
        .join(Account, Account.id == Facility.account_id)
        .where(Account.announcements_opt_in.is_(True), Account.consent_at.is_not(None))
    )
    if audience.provinces is not None:
        query = query.where(Facility.province.in_(audience.provinces))
    if audience.product_group is not None:
        query = query.where(
            exists().where(
                Application.facility_id == Facility.id,
                Application.answers["product_group"].as_string() == audience.product_group,
            )
        )
    if audience.cert_level is not None:
        query = query.where(
            exists().where(
                Certificate.facility_id == Facility.id,
                Certificate.level == audience.cert_level,
                Certificate.valid_until >= today,
            )
        )
    if audience.fair_id is not None:
        query = query.where(
            exists().where(
                FairRegistration.facility_id == Facility.id,
                FairRegistration.fair_id == audience.fair_id,
                FairRegistration.status == "registered",
            )
        )
    rows: Sequence[tuple[int, str]] = (await session.execute(query)).all()
    if audience.commune:
        # Folded in Python: SQLite's lower() leaves Vietnamese letters alone.
        wanted = fold(audience.commune)
        rows = [(a, c) for a, c in rows if wanted in fold(c or "")]
    found = await outreach.preferred_identities(session, sorted({a for a, _ in rows}))
    return Recipients(identities=[found[a] for a in sorted(found)])
