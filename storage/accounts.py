"""Accounts, their channel identities, conversation state and inbound idempotency."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Row,
    Select,
    String,
    Table,
    any_,
    bindparam,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql import Executable

from storage import signup
from storage.answer_writes import STATE_COLUMNS
from storage.models import (
    Account,
    Application,
    ConversationState,
    DeadLetter,
    Facility,
    Identity,
    ProcessedUpdate,
    utcnow,
)
from storage.outbox import OutboxMessage, newest_menu_sent
from storage.staff import NOT_STAFF, StaffMember

# session.info key: {identity id: its newest outbox message's sent_at (None: never)}, as
# `load_for_update` read it in this transaction.
NEWEST_SENT = "kc_newest_sent"

HELD = "kc_held"  # session.info key: rows loaded ahead of their use, referenced until the session ends


class DuplicateUpdate(Exception):
    """The (channel, update id) was applied before: a redelivery."""


async def mark_processed(session: AsyncSession, channel: str, update_id: str) -> None:
    """Record the update inside the caller's transaction; raise DuplicateUpdate if seen before.

    Recorded in the same transaction as the update's effects: if handling fails and rolls back,
    the update is not marked and a redelivery is processed again. One statement ("insert, or
    nothing if it is there"), built once (`mark_processed_many`'s): a statement built per call
    cost 0.3 ms of CPU against 0.13 ms.
    """
    if not await mark_processed_many(session, [(channel, update_id)]):
        raise DuplicateUpdate(update_id)


def _dialect(session: AsyncSession | Session) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _user_key(channel: str, external_id: str) -> int:
    digest = hashlib.sha256(f"user:{channel}:{external_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _turn_key(channel: str, external_id: str) -> int:
    digest = hashlib.sha256(f"turn:{channel}:{external_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def hold_turn(conn: AsyncConnection, channel: str, external_id: str) -> None:
    """A user's turn across processes for work that spans several transactions (the web chat's
    "already answered?" check, the update, the transcript): a session-level advisory lock held
    by this connection until `release_turn` (PostgreSQL only). Its key differs from the one
    `lock_and_record` takes inside the turn on another connection."""
    await conn.execute(text("select pg_advisory_lock(:k)"), {"k": _turn_key(channel, external_id)})
    await conn.commit()  # the lock outlives the transaction, bound to this connection


async def release_turn(conn: AsyncConnection, channel: str, external_id: str) -> None:
    await conn.execute(text("select pg_advisory_unlock(:k)"), {"k": _turn_key(channel, external_id)})
    await conn.commit()


async def find_identity(session: AsyncSession, channel: str, external_id: str) -> Identity | None:
    """The identity, from the session when this transaction already loaded it (every update's
    `load_for_update` does, and the dialogue asks again for the menus shown): a query then would
    return that same object, at the cost of a round trip on the hot path."""
    for obj in session.identity_map.values():
        if (
            isinstance(obj, Identity)
            and obj.channel == channel
            and obj.external_id == external_id
            and obj not in session.deleted
        ):
            return obj
    return await session.scalar(
        select(Identity).where(Identity.channel == channel, Identity.external_id == external_id)
    )


async def menu_sent_after(
    session: AsyncSession, identity_id: int, *, after: datetime | None
) -> dict[str, Any] | None:
    """`outbox.newest_menu_sent`, without its query when this transaction's `load_for_update`
    saw that nothing was sent to the identity after `after`: the usual case, every typed answer."""
    if identity_id in (known := session.info.get(NEWEST_SENT, {})):
        newest = known[identity_id]
        if newest is None or (after is not None and newest.replace(tzinfo=newest.tzinfo or UTC) <= after):
            return None
    return await newest_menu_sent(session, identity_id, after=after)


async def identities_of(session: AsyncSession, account_id: int) -> list[Identity]:
    return list(await session.scalars(select(Identity).where(Identity.account_id == account_id)))


@functools.cache
def _identity_and_account() -> Select[Identity, Account]:
    """Identity, account and profile in one query, built once: this runs for every newcomer."""
    return (
        select(Identity, Account)
        .join(Account, Identity.account_id == Account.id)
        .options(joinedload(Account.facility))
        .where(Identity.channel == bindparam("channel"), Identity.external_id == bindparam("external_id"))
    )


async def get_or_create_account(
    session: AsyncSession, channel: str, external_id: str
) -> tuple[Account, Identity]:
    """The account and identity, created when there is none. For callers that do not hold the
    user's lock (the console's sign-in, a handover to staff): another worker may create the same
    identity at the same moment, and the loser then reads the winner's rows instead of failing."""
    found = await _identity_and_account_of(session, channel, external_id)
    if found is not None:
        return found
    created = await _insert_account(session, channel, external_id)
    if created is not None:
        return created
    found = await _identity_and_account_of(session, channel, external_id)
    if found is None:  # not ours and not there: nothing a retry of ours could fix
        raise RuntimeError("an identity vanished while it was being created")
    return found


async def _identity_and_account_of(
    session: AsyncSession, channel: str, external_id: str
) -> tuple[Account, Identity] | None:
    row = (
        await session.execute(_identity_and_account(), {"channel": channel, "external_id": external_id})
    ).first()
    return (row[1], row[0]) if row is not None else None


async def _insert_account(
    session: AsyncSession, channel: str, external_id: str
) -> tuple[Account, Identity] | None:
    """`signup.insert_account`, and what this transaction knows of the new identity: nothing was
    ever sent to it (`menu_sent_after` then asks nothing)."""
    created = await signup.insert_account(session, channel, external_id)
    if created is not None:
        session.info.setdefault(NEWEST_SENT, {})[created[1].id] = None
    return created


Sender = tuple[Account, Identity, ConversationState]


def _senders() -> Select[Identity, Account, ConversationState, Application, datetime | None, bool]:
    """Identity, account, profile, conversation state, the open draft the state names, when the
    newest outbox message to the identity was sent, and whether it holds a staff role: all an
    update reads about its sender."""
    newest_sent = (
        select(func.max(OutboxMessage.sent_at))
        .where(OutboxMessage.identity_id == Identity.id, OutboxMessage.status == "sent")
        .correlate(Identity)
        .scalar_subquery()
    )
    staff = (
        select(StaffMember.id)
        .where(
            StaffMember.channel == Identity.channel,
            StaffMember.external_id == Identity.external_id,
            StaffMember.active.is_(True),
        )
        .correlate(Identity)
        .exists()
    )
    return (
        select(Identity, Account, ConversationState, Application, newest_sent, staff)
        .join(Account, Identity.account_id == Account.id)
        .join(ConversationState, ConversationState.account_id == Account.id)
        .outerjoin(Application, Application.id == ConversationState.data["application_id"].as_integer())
        .options(joinedload(Account.facility))
    )


def _keep(
    session: AsyncSession | Session,
    row: Row[Identity, Account, ConversationState, Application, datetime | None, bool],
) -> Sender:
    session.info.setdefault(NEWEST_SENT, {})[row[0].id] = row[4]
    if not row[5]:  # `staff.roles_of` then answers without a query
        session.info.setdefault(NOT_STAFF, set()).add((row[0].channel, row[0].external_id))
    if row[3] is not None:  # the identity map holds objects weakly: kept for the transaction
        session.info.setdefault(HELD, []).append(row[3])
    return row[1], row[0], row[2]


@functools.cache
def _senders_by_ids(
    dialect: str,
) -> Select[Identity, Account, ConversationState, Application, datetime | None, bool]:
    """`_senders` of a channel's external ids, built once (the hot path's one SELECT: building it
    again each time cost more than running it). On PostgreSQL the ids go as one array, so the
    statement's text is the same for any number of them and stays prepared (asyncpg keeps 100
    statements; "IN (?, ?, ..)" would be a new one for every batch size)."""
    if dialect == "postgresql":
        among = Identity.external_id == any_(bindparam("external_ids", type_=ARRAY(String)))
    else:
        among = Identity.external_id.in_(bindparam("external_ids", expanding=True))
    return (
        _senders()
        .where(Identity.channel == bindparam("channel"), among)
        .with_for_update(of=ConversationState)
    )


async def load_for_update(session: AsyncSession, channel: str, external_id: str) -> Sender:
    """Everything an update needs about its sender (`load_known`, one query for a known user); a
    newcomer gets their rows created."""
    known = await session.run_sync(load_known, [(channel, external_id)])
    return await sender_of(session, known, channel, external_id)


async def sender_of(
    session: AsyncSession, known: dict[tuple[str, str], Sender], channel: str, external_id: str
) -> Sender:
    """The sender as `open_batch` or `load_known` found them (`known`); one they did not find
    (they asked under the user's lock) gets a newcomer's rows created, or a state for an account
    that has none. A newcomer's state is inserted by the transaction's flush, with what the
    update made of it, rather than inserted now and updated then."""
    found = known.get((channel, external_id))
    if found is not None:
        return found
    created = await _insert_account(session, channel, external_id)
    if created is None:
        account, identity = await get_or_create_account(session, channel, external_id)
        return account, identity, await locked_state(session, account.id)
    account, identity = created
    state = ConversationState(
        account_id=account.id, flow=None, flow_version=0, step=None, data={}, strikes=0, updated_at=utcnow()
    )
    session.add(state)
    return account, identity, state


def open_batch(
    session: Session, senders: Sequence[tuple[str, str]], updates: Sequence[tuple[str, str]]
) -> tuple[set[tuple[str, str]], dict[tuple[str, str], Sender]]:
    """The first statements of every hot-path transaction, in one call of the session's greenlet
    (`AsyncSession.run_sync`: one greenlet instead of one per statement): the senders locked
    and the updates recorded (`lock_and_record`), then the known senders read (`load_known`).
    Returns the updates seen for the first time and the senders found; a newcomer is missing,
    for `sender_of`."""
    fresh = lock_and_record(session, senders, updates)
    return fresh, load_known(session, senders)


def load_known(session: Session, senders: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Sender]:
    """Everything an update needs about each known sender among (channel, external id)s, one query
    per channel (`_senders`): identity, account, profile, state (its row locked on PostgreSQL, FOR
    UPDATE OF that table only), the open draft, left in the session where `session.get` finds it
    without asking again; and what lets `outbox.newest_menu_sent` and the staff check skip their
    queries. Newcomers are missing from the answer."""
    by_channel: dict[str, set[str]] = {}
    for channel, external_id in senders:
        by_channel.setdefault(channel, set()).add(external_id)
    found: dict[tuple[str, str], Sender] = {}
    for channel, ids in by_channel.items():
        rows = session.execute(
            _senders_by_ids(_dialect(session)), {"channel": channel, "external_ids": sorted(ids)}
        )
        for row in rows:
            found[(channel, row[0].external_id)] = _keep(session, row)
    return found


@functools.cache
def _record_updates(dialect: str) -> Executable:
    """INSERT .. ON CONFLICT DO NOTHING RETURNING for processed updates, built once per dialect.
    On PostgreSQL the rows go as two arrays (one statement text for any batch size, see
    `_senders_by_ids`); on SQLite as a list of rows, which SQLAlchemy sends as one multi-row
    INSERT ("insertmanyvalues")."""
    table = cast(Table, ProcessedUpdate.__table__)  # Core, not the ORM bulk insert: less work per row
    if dialect == "postgresql":
        rows = select(
            func.unnest(bindparam("channels", type_=ARRAY(String))),
            func.unnest(bindparam("update_ids", type_=ARRAY(String))),
            bindparam("at", type_=table.c.at.type),
        )
        return (
            pg_insert(table)
            .from_select(["channel", "update_id", "at"], rows)
            .on_conflict_do_nothing(index_elements=["channel", "update_id"])
            .returning(table.c.channel, table.c.update_id)
        )
    return (
        sqlite_insert(table)
        .on_conflict_do_nothing(index_elements=["channel", "update_id"])
        .returning(table.c.channel, table.c.update_id)
    )


# `_record_updates` on PostgreSQL with the users' locks folded in, one round trip instead of two: the
# uncorrelated sub-select is a one-time filter, evaluated (its locks taken, in key order) before
# the INSERT reads or writes a row, so dedupe and everything after run under the locks.
_LOCK_AND_RECORD = text(
    "insert into processed_updates (channel, update_id, at) "
    "select c, u, :at from unnest(cast(:channels as varchar[]), cast(:update_ids as varchar[])) as t(c, u) "
    "where (select count(pg_advisory_xact_lock(k)) "
    "from (select unnest(cast(:keys as bigint[])) as k order by 1) as ordered) >= 0 "
    "on conflict (channel, update_id) do nothing returning channel, update_id"
).bindparams(
    bindparam("at", type_=ProcessedUpdate.__table__.c.at.type),
    bindparam("channels", type_=ARRAY(String)),
    bindparam("update_ids", type_=ARRAY(String)),
    bindparam("keys", type_=ARRAY(BigInteger)),
)


def lock_and_record(
    session: Session, users: Iterable[tuple[str, str]], updates: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """The updates' users locked for this transaction, then `record_updates`: the first
    statement of every hot-path transaction; returns the updates seen for the first time.

    The lock serialises one user's updates across processes: a transaction-scoped advisory lock
    on PostgreSQL, taken before anything of theirs is read, released at commit or rollback. It
    exists before their rows do (a newcomer's /start and next message reaching two workers at
    once), which a row lock cannot. The users' locks are taken in the order of their keys, so two
    workers' batches sharing users wait for each other instead of deadlocking. Lock and dedupe
    go in one statement (`_LOCK_AND_RECORD`): every round trip of a batch counts, the more so
    when two workers split the load and each batch is smaller. SQLite has one writer: BEGIN
    IMMEDIATE already does this, and it has nothing to lock."""
    if _dialect(session) != "postgresql" or not updates:
        return record_updates(session, updates)
    unique = list(dict.fromkeys(updates))
    params = {
        "at": utcnow(),
        "channels": [c for c, _ in unique],
        "update_ids": [u for _, u in unique],
        "keys": sorted({_user_key(channel, external_id) for channel, external_id in users}),
    }
    return {(c, u) for c, u in session.connection().execute(_LOCK_AND_RECORD, params).all()}


async def mark_processed_many(
    session: AsyncSession, updates: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """`mark_processed` for many (channel, update id) in one statement; returns those seen for
    the first time (the others are redeliveries)."""
    return await session.run_sync(record_updates, updates)


def record_updates(session: Session, updates: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """`mark_processed_many` inside the session's greenlet, on its connection (a Core statement:
    Session.execute's ORM layer has nothing to add). SQLite 3.35+ and PostgreSQL (RETURNING)."""
    if not updates:
        return set()
    at = utcnow()
    unique = list(dict.fromkeys(updates))
    dialect = _dialect(session)
    if dialect == "postgresql":
        params: Any = {"channels": [c for c, _ in unique], "update_ids": [u for _, u in unique], "at": at}
    elif len(unique) == 1:  # one row: a plain execute, without the multi-row INSERT's batching
        params = {"channel": unique[0][0], "update_id": unique[0][1], "at": at}
    else:
        params = [{"channel": c, "update_id": u, "at": at} for c, u in unique]
    return {(c, u) for c, u in session.connection().execute(_record_updates(dialect), params).all()}


def write_states_together(session: AsyncSession) -> None:
    """Before a flush midway through a group commit (a newcomer's rows, a new draft; the batch's
    last writes go by storage/answer_writes.py): every changed conversation state written in
    full, so their UPDATEs share one column list and go out as one executemany. SQLAlchemy
    groups a flush's UPDATEs by the columns changed; a batch's updates change different ones (the
    step alone, the data alone, a new flow), and each group of one was a statement of its own (on
    PostgreSQL a round trip: 3 or 4 per batch instead of 1)."""
    states = [obj for obj in session.dirty if isinstance(obj, ConversationState)]
    if len(states) > 1:
        for state in states:
            for column in STATE_COLUMNS:
                flag_modified(state, column)


@functools.cache
def _state_of() -> Select[ConversationState]:
    return (
        select(ConversationState)
        .where(ConversationState.account_id == bindparam("account_id"))
        .with_for_update()
    )


@functools.cache
def _facility_of() -> Select[Facility]:
    return select(Facility).where(Facility.account_id == bindparam("account_id"))


async def locked_state(session: AsyncSession, account_id: int) -> ConversationState:
    """The account's conversation state, locked for this transaction on PostgreSQL so two workers
    never advance one conversation at once (SQLite serialises writers anyway)."""
    state = await session.scalar(_state_of(), {"account_id": account_id})
    if state is None:
        state = ConversationState(account_id=account_id, data={})
        session.add(state)
        await session.flush()
    return state


async def facility_of(session: AsyncSession, account_id: int) -> Facility | None:
    account = session.identity_map.get(identity_key(Account, account_id))
    if account is not None and "facility" in account.__dict__:
        return account.facility  # loaded with the account already, see get_or_create_account
    return await session.scalar(_facility_of(), {"account_id": account_id})


async def delete_personal_data(session: AsyncSession, account: Account) -> None:
    """Erase the profile, dossiers and files' records; the account keeps only its language so the
    bot can still answer in it. Irreversible, as the user was told."""
    await session.execute(delete(Facility).where(Facility.account_id == account.id))
    await session.execute(delete(ConversationState).where(ConversationState.account_id == account.id))
    account.consent_at = None
    account.consent_version = None
    account.handover_at = None


async def record_dead_letter(session: AsyncSession, channel: str, update_id: str, error: str) -> None:
    session.add(DeadLetter(channel=channel, update_id=update_id, error=error[:4000]))


async def mark_unreachable(session: AsyncSession, channel: str, external_id: str, reason: str) -> bool:
    """The user blocked the bot or deleted their account: stop sending to this identity."""
    identity = await find_identity(session, channel, external_id)
    if identity is None:
        return False
    identity.reachable = False
    identity.unreachable_reason = reason[:200]
    return True


async def mark_reachable(session: AsyncSession, channel: str, external_id: str) -> None:
    """The user wrote to us again (or unblocked the bot): they can be reached once more."""
    identity = await find_identity(session, channel, external_id)
    if identity is not None and not identity.reachable:
        identity.reachable = True
        identity.unreachable_reason = None
