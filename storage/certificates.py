"""The certificates registry: recognised products with their level, number, issue date and expiry.

A certificate comes from a reviewed selection dossier (recorded by staff) or from a province's
existing list (imported). It names the facility by tax code as well as by link, because the
lists predate the bot: a certificate imported before its facility ever wrote to us is linked the
first time that facility looks at its certificates. Deleting a facility's personal data keeps
the certificate (it is a public record of a recognised product) but drops the link.

`valid_until` is stored, not recomputed, so reminders can be planned from it with a query; it is
computed once by the programme's validity rule (`conversations.rules.certificate_valid_until`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column, validates

from storage.models import Base, Facility, utcnow
from storage.text_keys import match_key

LEVELS = ("commune", "province", "region", "nation")


class Certificate(Base):
    __tablename__ = "certificates"
    # A number is unique for the body that issued it.
    __table_args__ = (
        UniqueConstraint("issuing_body", "number"),
        # The same number typed with other case, accents or spacing is the same certificate.
        Index("uq_certificates_body_number_key", "issuing_body_key", "number_key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme: Mapped[str] = mapped_column(String(32), default="selection")
    facility_id: Mapped[int | None] = mapped_column(
        ForeignKey("facilities.id", ondelete="SET NULL"), index=True
    )
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("applications.id", ondelete="SET NULL"), unique=True
    )
    facility_name: Mapped[str] = mapped_column(String(200))
    tax_code: Mapped[str | None] = mapped_column(String(20), index=True)
    province: Mapped[str] = mapped_column(String(64), index=True)
    product: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    number: Mapped[str] = mapped_column(String(64))
    issue_date: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date, index=True)
    issuing_body: Mapped[str] = mapped_column(String(200))
    number_key: Mapped[str] = mapped_column(String(64))
    issuing_body_key: Mapped[str] = mapped_column(String(200))
    # "review" (recorded from a dossier) or "import" (from a province's list).
    source: Mapped[str] = mapped_column(String(16))
    import_batch: Mapped[str | None] = mapped_column(String(40), index=True)
    recorded_by: Mapped[str] = mapped_column(String(80))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    @validates("number", "issuing_body")
    def _keep_key(self, name: str, value: str) -> str:
        setattr(self, f"{name}_key", match_key(value))
        return value

    def as_detail(self) -> dict[str, Any]:
        """The certificate as an audit event's "after"."""
        return {
            "id": self.id,
            "level": self.level,
            "number": self.number,
            "issue_date": self.issue_date.isoformat(),
            "valid_until": self.valid_until.isoformat(),
            "issuing_body": self.issuing_body,
            "product": self.product,
        }


async def of_facility(session: AsyncSession, facility: Facility) -> list[Certificate]:
    """A facility's certificates, newest first; links imported ones that carry its tax code."""
    if facility.tax_code:
        unlinked = await session.scalars(
            select(Certificate).where(
                Certificate.facility_id.is_(None), Certificate.tax_code == facility.tax_code
            )
        )
        for certificate in unlinked:
            certificate.facility_id = facility.id
    rows = await session.scalars(
        select(Certificate)
        .where(Certificate.facility_id == facility.id)
        .order_by(Certificate.issue_date.desc(), Certificate.id.desc())
    )
    return list(rows)


async def of_application(session: AsyncSession, application_id: int) -> Certificate | None:
    return await session.scalar(select(Certificate).where(Certificate.application_id == application_id))


async def numbers_taken(session: AsyncSession, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (issuing body, number) pairs are already recorded, ignoring case and spacing;
    returned as the caller wrote them."""
    if not pairs:
        return set()
    numbers = {match_key(number) for _, number in pairs}
    rows = await session.execute(
        select(Certificate.issuing_body_key, Certificate.number_key).where(
            Certificate.number_key.in_(sorted(numbers))
        )
    )
    taken = {(body, number) for body, number in rows}
    return {pair for pair in pairs if certificate_key(*pair) in taken}


def certificate_key(body: str, number: str) -> tuple[str, str]:
    """What makes two (issuing body, number) pairs one certificate: their match keys."""
    return match_key(body), match_key(number)


async def facilities_by_tax_code(session: AsyncSession, tax_codes: set[str]) -> dict[str, int]:
    """Facility ids by tax code, to link imported certificates to facilities that use the bot."""
    if not tax_codes:
        return {}
    rows = await session.execute(
        select(Facility.tax_code, Facility.id).where(Facility.tax_code.in_(sorted(tax_codes)))
    )
    return {code: facility_id for code, facility_id in rows}
