"""The tables, as typed SQLAlchemy 2 models.

A person is an `Account`; each channel they reach us on is an `Identity` of it, so a facility
linked on Telegram and Zalo is one account with one draft. Conversation state lives here (never
in a worker's memory) so any worker, or the same one after a restart, continues a conversation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}  # noqa: RUF012


class Account(Base):
    """A person using the bot, whatever channel they come from."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    locale: Mapped[str | None] = mapped_column(String(8))
    consent_version: Mapped[str | None] = mapped_column(String(32))
    consent_at: Mapped[datetime | None]
    # Set while a staff member has taken over the conversation ("talk to staff").
    handover_at: Mapped[datetime | None]
    announcements_opt_in: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    identities: Mapped[list[Identity]] = relationship(back_populates="account")
    facility: Mapped[Facility | None] = relationship(back_populates="account", uselist=False)


class Identity(Base):
    """One channel address of an account: (telegram, 12345), (web, <cookie id>), (zalo, ...)."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    unreachable_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    account: Mapped[Account] = relationship(back_populates="identities")


class Facility(Base):
    """The cơ sở CNNT an account speaks for: the profile every application starts from."""

    __tablename__ = "facilities"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    province: Mapped[str] = mapped_column(String(64), index=True)
    commune: Mapped[str] = mapped_column(String(120))
    commune_kind: Mapped[str] = mapped_column(String(16))
    craft_village: Mapped[bool] = mapped_column(Boolean, default=False)
    tax_code: Mapped[str] = mapped_column(String(20))
    contact_name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(15))
    products: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    account: Mapped[Account] = relationship(back_populates="facility")
    applications: Mapped[list[Application]] = relationship(back_populates="facility")


class ConversationState(Base):
    """Where an account is in which flow, and the answers of flows that keep no record of their own."""

    __tablename__ = "conversation_states"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    flow: Mapped[str | None] = mapped_column(String(32))
    flow_version: Mapped[int] = mapped_column(Integer, default=0)
    step: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    strikes: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Application(Base):
    """A dossier: a draft while the owner fills it in, then a case staff review."""

    __tablename__ = "applications"
    __table_args__ = (Index("ix_applications_status_submitted", "status", "submitted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id", ondelete="CASCADE"), index=True)
    programme: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    verdict: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    rules_version: Mapped[str | None] = mapped_column(String(32))
    receipt_code: Mapped[str | None] = mapped_column(String(20), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    submitted_at: Mapped[datetime | None]
    # The staff member ("telegram:12345") holding it under review, then the one who decided it;
    # taken with a conditional UPDATE (storage.review.claim) so two reviewers never both hold it.
    reviewer: Mapped[str | None] = mapped_column(String(80))
    claimed_at: Mapped[datetime | None]
    # While returned for changes: the flagged answers and documents with the reviewer's comments,
    # and what the dossier held when it was returned (see the docstring of storage.returned).
    requested_changes: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    facility: Mapped[Facility] = relationship(back_populates="applications")
    documents: Mapped[list[StoredDocument]] = relationship(
        back_populates="application", order_by="StoredDocument.id", cascade="all, delete-orphan"
    )
    events: Mapped[list[ApplicationEvent]] = relationship(
        back_populates="application", order_by="ApplicationEvent.id"
    )


class StoredDocument(Base):
    """A file of a dossier; the bytes live in the file store under `storage_key`."""

    __tablename__ = "documents"
    # ids are never reused (a returned dossier's watermark tells new files by id): migration 0005
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    doc_type: Mapped[str] = mapped_column(String(48))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(80))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)

    application: Mapped[Application] = relationship(back_populates="documents")


class ApplicationEvent(Base):
    """Append-only history of an application: every status change and staff action."""

    __tablename__ = "application_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    application: Mapped[Application] = relationship(back_populates="events")


class ProcessedUpdate(Base):
    """Inbound idempotency: a (channel, update id) is applied once; a redelivery is skipped."""

    __tablename__ = "processed_updates"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    update_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class DeadLetter(Base):
    """An update whose handling raised: kept with the error so it can be looked at and replayed."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    update_id: Mapped[str] = mapped_column(String(64))
    error: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class WebMessage(Base):
    """The web chat's transcript, so a reload shows the conversation so far."""

    __tablename__ = "web_messages"
    __table_args__ = (Index("ix_web_messages_user", "web_user", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    web_user: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(3))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)
