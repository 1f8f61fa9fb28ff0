"""A person's first rows (account and identity, profile, consent), written with plain INSERTs
and put in the session as if loaded, rather than added to the ORM's flush.

These run in the journey's first steps, the heaviest answers of all (benchmarks/engine_answers.py
prints them): the ORM's flush of a new row cost a read first (is it there?), a savepoint, and
a second flush for the rows that need its id; and a flush for an id also wrote the conversation
state, which the same update changed again after, so it was written twice. Here each row is one
statement, prepared once per dialect, and the state is written once, by the transaction's flush.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, delete, insert, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql import Executable

from storage.models import Account, Facility, Identity, utcnow
from storage.zalo_oa import ZnsConsent

T = TypeVar("T")


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


@functools.cache
def _new_account(dialect: str) -> tuple[Executable, Executable | None]:
    """The statements that create an account and its identity, built once per dialect; the
    identity's "on conflict do nothing" is what makes creating it safe without a lock.

    PostgreSQL: one statement (one round trip). The identity takes the account's id from its
    sequence and the account is inserted only when the identity was (the foreign key is checked
    at the statement's end), so a conflict leaves nothing behind. SQLite, which has no sequence
    and no INSERT in a WITH: the account (RETURNING its id), then the identity."""
    at = bindparam("at", type_=cast(Table, Account.__table__).c.created_at.type)
    if dialect == "postgresql":
        return (
            text(
                "with i as (insert into identities (channel, external_id, account_id, reachable, created_at) "
                "values (:channel, :external_id, nextval(pg_get_serial_sequence('accounts', 'id')), true, :at) "
                "on conflict (channel, external_id) do nothing returning id, account_id), "
                "a as (insert into accounts (id, announcements_opt_in, created_at) "
                "select account_id, true, :at from i returning id) "
                "select i.id, a.id from i join a on a.id = i.account_id"
            ).bindparams(at),
            None,
        )
    accounts_table = cast(Table, Account.__table__)
    identities = cast(Table, Identity.__table__)
    return (
        sqlite_insert(accounts_table)
        .values(announcements_opt_in=True, created_at=at)
        .returning(accounts_table.c.id),
        sqlite_insert(identities)
        .values(
            channel=bindparam("channel"),
            external_id=bindparam("external_id"),
            account_id=bindparam("account_id"),
            reachable=True,
            created_at=at,
        )
        .on_conflict_do_nothing(index_elements=["channel", "external_id"])
        .returning(identities.c.id),
    )


async def insert_account(
    session: AsyncSession, channel: str, external_id: str
) -> tuple[Account, Identity] | None:
    """A new account and its identity; None when the identity exists (made by another worker
    just now, or an account whose conversation state is gone: then it is read instead)."""
    at = utcnow()
    first, then = _new_account(_dialect(session))
    params = {"channel": channel, "external_id": external_id, "at": at}
    if then is None:
        row = (await session.execute(first, params)).first()
        if row is None:
            return None
        identity_id, account_id = row
    else:
        account_id = (await session.execute(first, {"at": at})).scalar_one()
        identity_id = (await session.execute(then, {**params, "account_id": account_id})).scalar()
        if identity_id is None:  # nobody else writes meanwhile (one writer): this account is ours
            await session.execute(delete(Account).where(Account.id == account_id))
            return None
    account = _as_loaded(
        session,
        Account(
            id=account_id,
            locale=None,
            consent_version=None,
            consent_at=None,
            handover_at=None,
            announcements_opt_in=True,
            created_at=at,
        ),
    )
    set_committed_value(account, "facility", None)  # a new account has no profile: never asked
    identity = _as_loaded(
        session,
        Identity(
            id=identity_id,
            channel=channel,
            external_id=external_id,
            account_id=account_id,
            reachable=True,
            unreachable_reason=None,
            created_at=at,
        ),
    )
    return account, identity


def _as_loaded(session: AsyncSession, obj: T) -> T:
    """A row this transaction inserted itself, in the session as if it had been loaded: the
    dialogue's changes to it become UPDATEs at the flush."""
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


@functools.cache
def _give_zns_consent(dialect: str) -> Executable:
    table = cast(Table, ZnsConsent.__table__)
    insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(table).values(
        account_id=bindparam("account_id"),
        given_at=bindparam("at", type_=table.c.given_at.type),
        withdrawn_at=None,
    )
    return insert.on_conflict_do_update(
        index_elements=["account_id"], set_={"given_at": insert.excluded.given_at, "withdrawn_at": None}
    )


async def agree_to_notice(session: AsyncSession, account: Account, version: str, at: datetime) -> None:
    """The owner agreed to the personal-data notice: recorded on the account, with the consent to
    reminders as Zalo notifications (ZNS) that the notice announces. The latter is
    `zalo_oa.set_zns_consent(.., True, ..)` in one upsert instead of a read and then a write:
    this is in every newcomer's first steps."""
    account.consent_at = at
    account.consent_version = version
    loaded = session.identity_map.get(identity_key(ZnsConsent, account.id))
    if isinstance(loaded, ZnsConsent):  # read in this transaction: the ORM's copy is kept true
        loaded.given_at, loaded.withdrawn_at = at, None
        return
    await session.execute(_give_zns_consent(_dialect(session)), {"account_id": account.id, "at": at})


@functools.cache
def _insert_facility() -> Executable:
    table = cast(Table, Facility.__table__)
    return insert(table).returning(table.c.id)


async def add_facility(session: AsyncSession, account: Account, values: dict[str, Any]) -> Facility:
    """A new profile, inserted now for its id (a draft that may follow in the same update names
    it). A plain INSERT, outside the ORM's flush: that flush would also write the conversation
    state, which this update has not finished changing, and which would then be written twice."""
    at = utcnow()
    row = {**values, "account_id": account.id, "created_at": at, "updated_at": at}
    with session.no_autoflush:
        facility_id = (await session.execute(_insert_facility(), row)).scalar_one()
    facility = _as_loaded(session, Facility(id=facility_id, **row))
    set_committed_value(account, "facility", facility)  # `facility_of` answers from it
    return facility
