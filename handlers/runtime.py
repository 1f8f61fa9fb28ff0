"""The one path every update takes, whatever the channel: inbound text cleaned, dedupe, per-user
ordering (across processes on PostgreSQL), one transaction, locale, the dialogue, and a dead
letter with an apology when something breaks; plus what an adapter does when a platform refuses
to deliver (wait out a "retry after", mark a user who is gone).

Done once here (the middleware idea of aiogram) so no channel adapter can forget a step: an
adapter parses its platform's updates into `Incoming`, renders `Outgoing`, and calls `Runtime`.

The hot path, per update (`Pipeline.handle`; measured by benchmarks/inbound_peers.py and
benchmarks/engine_answers.py):
1. Before any transaction: the text cleaned, a file fetched, the user's turn taken (one user's
   updates one at a time, in arrival order; different users side by side).
2. Group commit (handlers/group_commit.py): the update joins the users waiting for the writer,
   which takes all of them (up to 64) into one transaction: on SQLite BEGIN IMMEDIATE (its one
   writer; sent straight to the driver, storage/db.py); the batch's dedupe in one INSERT ..
   RETURNING, on PostgreSQL with the users' advisory locks taken first in the same statement, in
   key order (other workers' updates of the same users wait; two batches never deadlock); the known
   senders in one SELECT (identity, account, profile, state locked on PostgreSQL, open draft, when
   the newest outbox message was sent, whether the sender is staff: the menus' role checks then ask
   nothing); each update through the dialogue in turn (a newcomer's account and identity created
   then in plain INSERTs, storage/signup.py: one statement on PostgreSQL, two on SQLite; their
   state inserted by the batch's flush with its final values; a sender whose update says they can
   be written to again, as Telegram's /start does, marked reachable on the identity already
   loaded); the changed states (in full, so they share one column list) and drafts (the columns
   changed) written as UPDATEs built once, one executemany per table, not by the unit of work
   (storage/answer_writes.py); a flush for anything else (a new profile, a document); one COMMIT. On
   PostgreSQL: BEGIN, dedupe, senders, UPDATEs, COMMIT, five round trips for a batch of any
   size, plus what a step of the journey asks of its own (a new profile, a draft); no ping
   before it (storage/db.py). The hot path's statements are built once (storage/accounts.py)
   and only bound to each update's values. A failure rolls the batch back and applies its
   updates one by one, so only the broken one is dead-lettered and apologised to; a
   connection that broke before COMMIT (a database restart) has the batch tried once more on
   a new one first (handlers/group_commit.py `write_retrying`), so nobody is apologised to.
   The transaction's begin, its opening statements (dedupe, senders: `accounts.open_batch`) and
   its end (UPDATEs, flush, COMMIT) are each one call of the session's greenlet
   (`AsyncSession.run_sync`) rather than one per step, and its Core statements go to the
   session's connection: 4,616 -> 4,415 thousand instructions per answer, measured back to back
   (benchmarks/engine_instructions.py).
3. Alone (`Pipeline(group_commit=False)`, and on PostgreSQL an update with a file, whose check
   would hold up its batch; `_apply`): the same `open_batch` for one update, dialogue, UPDATEs,
   COMMIT, retried the same way. Either way the newest-menu query runs only when a notice came
   after the menu the user saw, and the draft's SELECT never (it came with the state).
4. After COMMIT, the replies go out: an answer the user sees is already durable (WAL,
   synchronous=NORMAL: a kill -9 loses nothing committed; tests/trials/test_crash.py).
On SQLite these transactions (`claim_writer(on_loop=True)`) run on the event loop's thread,
without a hand-off per statement (storage/sqlite_driver.py; aiosqlite's 3 or 4 hand-offs per
statement were most of an update's cost). They cannot block the loop: the BEGIN IMMEDIATE runs
with busy_timeout=0 and, when another connection or process holds the write lock (a console
import, a CLI), it waits on the connection's thread instead; once it has the lock nothing else
in the transaction waits, its statements are point reads and writes by key, and the WAL
checkpoint's fsync runs on a thread of its own. Everything else (reads outside these
transactions, console queries, imports, exports) takes one hand-off per statement. On
PostgreSQL each statement is a round trip: the main cost per update there, hence the batch.
`python -m bot run` serves with start-up's objects out of the garbage collector's sight and
young collections rarer (handlers/heap.py): the collector was 11-15 % of a worker's CPU.

Logging policy, for every channel: a log line names the channel, the update id and the type and
place of an exception; never what a user wrote, their name, their platform id or an exception's
message (it may quote the user's text). Full tracebacks go to the dead_letters table only.
"""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations import filecheck
from conversations.dialogue import Dialogue
from conversations.i18n import DEFAULT_LOCALE, N_, normalise_locale, translator
from conversations.messages import Incoming, Outgoing
from handlers.group_commit import GroupCommit, write_retrying
from handlers.senders import Refused, RetryAfter, SendError, Unreachable
from storage import accounts
from storage.models import Identity

log = logging.getLogger(__name__)

T = TypeVar("T")

APOLOGY = N_(
    "Sorry, something went wrong on our side and your last message was not processed. Your earlier "
    "answers are safe. Please try again in a moment, or send /menu."
)
REPLY_RETRIES = 2  # after a 429, for a reply the user is waiting for
MAX_RETRY_WAIT = 30.0  # seconds; a longer flood wait is given up on (and recorded) rather than held
HELD_TURNS = 8

# C0 and C1 controls except tab and newline: a NUL cannot be stored on PostgreSQL, and the others
# cut names in the tools staff export to. Zero-width and bidirectional overrides make two equal-
# looking names or codes differ, or display reversed.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def clean_text(text: str) -> str:
    """Text as the engine may see it: line ends as "\\n", no controls, no invisible formatting."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _INVISIBLE.sub("", _CONTROLS.sub("", text))


def clean_incoming(incoming: Incoming) -> Incoming:
    """Every field a user typed, cleaned; the same on every channel because it is done here."""

    def clean(value: str | None) -> str | None:
        return None if value is None else clean_text(value)

    return replace(
        incoming,
        text=clean(incoming.text),
        choice=clean(incoming.choice),
        command_args=clean_text(incoming.command_args),
        display_name=clean(incoming.display_name),
    )


def _reachable_again(identity: Identity, incoming: Incoming) -> None:
    """The sender marked reachable in their update's transaction when the update says they can be
    written to again (`Incoming.reachable_again`): no transaction of its own, and no write at all
    when they were reachable (the identity came with the update's sender SELECT)."""
    if incoming.reachable_again and not identity.reachable:
        identity.reachable = True
        identity.unreachable_reason = None


class Gone(Exception):
    """The platform refused to deliver to this user: the rest of this update's replies are
    dropped (the identity was marked unreachable when the refusal is permanent)."""


class Malformed(ValueError):
    """An update the adapter cannot read (a message without a chat, a number where text belongs):
    skipped with one log line, never a dead letter: retrying it could never succeed."""


def log_failure(logger: logging.Logger, what: str, exc: BaseException, *, note: str = "") -> None:
    """One line: what failed, and the exception's type and place; never its message."""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    logger.error(
        "%s failed: %s at %s:%s%s",
        what,
        type(exc).__name__,
        frame.filename if frame else "?",
        frame.lineno if frame else "?",
        note,
    )


def skip_malformed(channel: str, update_id: str, reason: str) -> None:
    """`reason` is the adapter's own words (which field is wrong), never the update's content."""
    log.info("%s: update %s skipped: %s", channel, update_id, reason)


class _Turn:
    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.owner: asyncio.Task[Any] | None = None


class UserTurns:
    """One user's updates one at a time, in arrival order (asyncio.Lock is first come, first
    served); different users side by side. Re-entrant within a task, so an adapter can hold a
    user's turn over handling and replying while `Pipeline.handle` takes it too."""

    def __init__(self) -> None:
        self._turns: weakref.WeakValueDictionary[tuple[str, str], _Turn] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def turn(self, channel: str, user_id: str) -> AsyncIterator[None]:
        key = (channel, user_id)
        turn = self._turns.get(key)
        if turn is None:
            turn = self._turns[key] = _Turn()
        task = asyncio.current_task()
        if turn.owner is not None and turn.owner is task:
            yield
            return
        async with turn.lock:
            turn.owner = task
            try:
                yield
            finally:
                turn.owner = None


class Runtime(Protocol):
    """What a channel adapter calls: the one declaration of the pipeline's interface."""

    default_locale: str

    def turn(self, channel: str, user_id: str, *, across_processes: bool = False) -> Any:
        """`async with runtime.turn(...)`: this user's updates, one at a time, in order; with
        `across_processes`, also against other workers on the same PostgreSQL database (for an
        adapter whose handling spans several transactions; `handle` alone serialises itself)."""
        ...

    async def handle(self, incoming: Incoming) -> list[Outgoing]:
        """Apply one update; [] when it is a redelivery of one already applied."""
        ...

    async def locale_of(self, channel: str, user_id: str, hint: str | None = None) -> str: ...

    async def failed(self, channel: str, update_id: str, exc: BaseException) -> None:
        """Log (policy above) and record a dead letter for a failure outside `handle`."""
        ...

    async def first_delivery(self, channel: str, update_id: str) -> bool:
        """Record an update the engine never sees (a sticker answered by the adapter); False
        when it was recorded before (a redelivery: answered the first time)."""
        ...

    async def apology(self, channel: str, user_id: str, hint: str | None = None) -> str: ...

    async def set_unreachable(self, channel: str, user_id: str, reason: str) -> None: ...

    async def set_reachable(self, channel: str, user_id: str) -> None: ...

    async def deliver(
        self,
        channel: str,
        user_id: str,
        call: Callable[[], Awaitable[T]],
        classify: Callable[[Exception], SendError | None],
    ) -> T:
        """One platform call for a reply (see `Pipeline.deliver`)."""
        ...


class Pipeline:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        dialogue: Dialogue,
        *,
        default_locale: str = DEFAULT_LOCALE,
        engine_slots: int | None = None,
        group_commit: bool | None = None,
    ) -> None:
        self.sessions = sessions
        self.dialogue = dialogue
        self.default_locale = default_locale
        self._turns = UserTurns()
        # Transactions at once. SQLite has one writer: more would only take turns in its
        # busy-wait, which sleeps in steps of up to 100 ms (measured: the same throughput, p99
        # three times worse at 32). PostgreSQL locks per user and gains from more.
        self._slots = asyncio.Semaphore(engine_slots) if engine_slots else None
        engine = sessions.kw.get("bind")
        self._postgres = engine is not None and engine.dialect.name == "postgresql"
        # Turns held across processes at once, each on a connection of its own: well under the
        # pool (20), so a holder always finds the one more connection its work needs.
        self._held_turns = asyncio.Semaphore(HELD_TURNS)
        # The users waiting together go in one transaction (see the module's docstring): SQLite
        # has one writer anyway, and on PostgreSQL a batch saves most round trips (measured: 50
        # owners at once, 4.7 -> 1.0 ms CPU per answer, 3 to 5 times the answers per second).
        if group_commit is None:
            group_commit = engine is not None
        self.writer = GroupCommit(sessions, self._apply_many, self._slot) if group_commit else None

    def turn(self, channel: str, user_id: str, *, across_processes: bool = False) -> Any:
        return self._turn(channel, user_id, across_processes)

    @asynccontextmanager
    async def _turn(self, channel: str, user_id: str, across_processes: bool) -> AsyncIterator[None]:
        async with self._turns.turn(channel, user_id):
            if not (across_processes and self._postgres):
                yield  # one process (SQLite): the in-process turn is the whole story
                return
            engine = self.sessions.kw["bind"]
            async with self._held_turns, engine.connect() as conn:
                await accounts.hold_turn(conn, channel, user_id)
                try:
                    yield
                finally:
                    await accounts.release_turn(conn, channel, user_id)

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        if self._slots is None:
            yield
        else:
            async with self._slots:
                yield

    async def _prefetch(self, incoming: Incoming) -> Incoming:
        """Download a file before the transaction: a slow download inside it would hold the
        database's write lock (SQLite) and make every other user wait. Files larger than the
        engine accepts, or of a type it refuses, are left alone: it refuses them unread."""
        file = incoming.file
        if file is None or file.size > self.dialogue.settings.max_file_bytes:
            return incoming
        if filecheck.kind_from_name(file.filename, file.content_type) is None:
            return incoming  # refused by its name alone (a .docx): never downloaded
        try:
            data = await file.read()
        except Exception as exc:
            failure = exc

            async def failed() -> bytes:
                # Handled like any failing update: dead letter, apology, the same file works later.
                raise failure

            return replace(incoming, file=replace(file, read=failed))

        async def read() -> bytes:
            return data

        return replace(incoming, file=replace(file, size=len(data), read=read))

    async def handle(self, incoming: Incoming) -> list[Outgoing]:
        """Apply one update; [] when it is a redelivery of one already applied."""
        incoming = clean_incoming(incoming)
        async with self.turn(incoming.channel, incoming.user_id):
            incoming = await self._prefetch(incoming)
            try:
                # A file's check takes long: on PostgreSQL it runs in a transaction of its own,
                # beside the batches, rather than holding up every user batched with it.
                if self.writer is not None and not (self._postgres and incoming.file is not None):
                    return await self.writer.submit(incoming)
                return await write_retrying(
                    self.sessions, self._slot, lambda session: self._apply(session, incoming)
                )
            except accounts.DuplicateUpdate:
                return []
            except Exception as exc:
                await self.failed(incoming.channel, incoming.update_id, exc)
                if incoming.reachable_again:  # rolled back with the update; the next message must reach them
                    try:
                        await self.set_reachable(incoming.channel, incoming.user_id)
                    except Exception as second:
                        log_failure(log, f"{incoming.channel}: marking a user reachable", second)
                return [Outgoing(text=await self.apology(incoming.channel, incoming.user_id))]

    async def _apply(self, session: AsyncSession, incoming: Incoming) -> list[Outgoing]:
        """One update inside a transaction that holds the write lock (alone, or in a group)."""
        # Before anything is read: another worker handling this user waits here, so dedupe,
        # account creation and the state all see what it committed.
        sender = (incoming.channel, incoming.user_id)
        fresh, known = await session.run_sync(
            accounts.open_batch, [sender], [(incoming.channel, incoming.update_id)]
        )
        if not fresh:
            raise accounts.DuplicateUpdate(incoming.update_id)
        account, identity, state = await accounts.sender_of(session, known, *sender)
        _reachable_again(identity, incoming)
        return await self.dialogue.handle(session, account, state, incoming)

    async def _apply_many(
        self, session: AsyncSession, batch: list[Incoming]
    ) -> list[list[Outgoing] | accounts.DuplicateUpdate]:
        """A group commit's updates (different users, SQLite's one writer): their dedupe in one
        statement and their senders in one query, then each through the dialogue in turn."""
        # Before anything is read, as in `_apply`: other workers' updates of these users wait.
        fresh, known = await session.run_sync(
            accounts.open_batch,
            [(i.channel, i.user_id) for i in batch],
            [(i.channel, i.update_id) for i in batch],
        )
        # At every flush of the batch, not only its last: a step that flushes on its own (a
        # newcomer's rows, a new draft, a query's autoflush) writes the states of the updates
        # before it too, and those, changed in different columns, went one UPDATE each
        # (measured on PostgreSQL: 300 single UPDATEs per 1,000 updates, a round trip each).
        # Alone, there is nothing to write together: no listener (set up per session, it cost
        # 0.1 ms of an answer given alone).
        if len(batch) > 1:
            event.listen(
                session.sync_session, "before_flush", lambda *_: accounts.write_states_together(session)
            )
        outcomes: list[list[Outgoing] | accounts.DuplicateUpdate] = []
        for incoming in batch:
            key = (incoming.channel, incoming.update_id)
            if key not in fresh:
                outcomes.append(accounts.DuplicateUpdate(incoming.update_id))
                continue
            fresh.discard(key)  # the same update twice in one batch: the second is a redelivery
            account, identity, state = await accounts.sender_of(
                session, known, incoming.channel, incoming.user_id
            )
            _reachable_again(identity, incoming)
            outcomes.append(await self.dialogue.handle(session, account, state, incoming))
        return outcomes

    async def first_delivery(self, channel: str, update_id: str) -> bool:
        try:
            await self.write(lambda session: accounts.mark_processed(session, channel, update_id))
        except accounts.DuplicateUpdate:
            return False
        return True

    async def failed(self, channel: str, update_id: str, exc: BaseException) -> None:
        log_failure(log, f"update {channel}/{update_id}", exc, note=" (traceback in dead_letters)")
        try:
            await self.write(
                lambda session: accounts.record_dead_letter(
                    session, channel, update_id, "".join(traceback.format_exception(exc))
                )
            )
        except Exception as second:
            log.error("could not record dead letter for %s/%s: %s", channel, update_id, type(second).__name__)

    async def apology(self, channel: str, user_id: str, hint: str | None = None) -> str:
        return translator(await self.locale_of(channel, user_id, hint))(APOLOGY)

    async def write(self, change: Callable[[AsyncSession], Awaitable[Any]]) -> None:
        """A small transaction of an adapter's own, taking its turn with the engine's."""
        async with self._slot(), self.sessions() as session, session.begin():
            await change(session)

    async def set_unreachable(self, channel: str, user_id: str, reason: str) -> None:
        try:
            await self.write(lambda session: accounts.mark_unreachable(session, channel, user_id, reason))
            log.info("%s: a user is now unreachable (%s)", channel, reason)
        except Exception as exc:
            log.error("%s: could not mark a user unreachable: %s", channel, type(exc).__name__)

    async def set_reachable(self, channel: str, user_id: str) -> None:
        await self.write(lambda session: accounts.mark_reachable(session, channel, user_id))

    async def deliver(
        self,
        channel: str,
        user_id: str,
        call: Callable[[], Awaitable[T]],
        classify: Callable[[Exception], SendError | None],
    ) -> T:
        """One platform call for a reply the user is waiting for. `classify` (the channel's own
        reading of its errors, also used by the delivery worker) says what a failure means: a
        "retry after" is waited out twice at most (and at most MAX_RETRY_WAIT); a user who is
        gone is marked and `Gone` raised; a refusal that may pass raises `Gone` without marking;
        anything else propagates (dead letter and apology)."""
        attempt = 0
        while True:
            try:
                return await call()
            except Exception as exc:
                error = classify(exc)
                if isinstance(error, RetryAfter):
                    if attempt >= REPLY_RETRIES or error.seconds > MAX_RETRY_WAIT:
                        raise
                    attempt += 1
                    log.info("%s: flood control, retrying in %.0f s", channel, error.seconds)
                    await asyncio.sleep(error.seconds)
                    continue
                if isinstance(error, Unreachable):
                    await self.set_unreachable(channel, user_id, error.reason)
                    raise Gone(error.reason) from exc
                if isinstance(error, Refused):
                    log.warning("%s: delivery refused: %s", channel, error)
                    raise Gone(str(error)) from exc
                raise

    async def locale_of(self, channel: str, user_id: str, hint: str | None = None) -> str:
        async with self.sessions() as session:
            identity = await accounts.find_identity(session, channel, user_id)
            if identity is not None:
                from storage.models import Account

                account = await session.get(Account, identity.account_id)
                if account is not None and account.locale:
                    return account.locale
        return normalise_locale(hint) or self.default_locale
