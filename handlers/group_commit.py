"""Group commit: one writer applies the updates of different users that are waiting together in
one transaction, and each user's replies are released only once it has committed.

Why: SQLite lets one transaction write at a time, so a burst of users queued for the write lock
one by one, each paying for its own BEGIN IMMEDIATE, COMMIT, session and five statements, every
one a hand-off to the driver's thread (on PostgreSQL a round trip). A batch reads and writes
for all its users at once (handlers/runtime.py's docstring). Whoever is waiting when the writer
comes round goes in the next transaction (at most MAX_BATCH): a quiet moment gives a batch of
one, a burst a batch of many, and nobody is held back to wait for company.

One user never has two updates in a batch: `Pipeline.handle` submits inside that user's turn and
waits for the commit, so their next update cannot arrive before. When one update of a batch
fails (the dialogue raises, a constraint breaks at flush), the whole transaction rolls back and
every update of it is applied again on its own: only the broken one gets its dead letter and
apology, and the others are answered as if they had never met it. A redelivered update
(`DuplicateUpdate`) wrote nothing and is simply answered with nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from conversations.messages import Incoming, Outgoing
from storage import answer_writes
from storage.accounts import DuplicateUpdate
from storage.db import claim_writer_sync, dropped

MAX_BATCH = 64  # updates in one transaction: a long batch delays its first user's reply
T = TypeVar("T")
DROPPED_RETRIES = 1  # a connection found broken: a second one is new (the pool replaced them all)

# Applies updates of different users in the caller's transaction, in order; for each, its replies
# or `DuplicateUpdate` (a redelivery, which wrote nothing). Anything else raised breaks the batch.
ApplyMany = Callable[[AsyncSession, list[Incoming]], Awaitable[list[list[Outgoing] | DuplicateUpdate]]]


@dataclass
class _Waiting:
    incoming: Incoming
    done: asyncio.Future[list[Outgoing]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def settle(self, outcome: list[Outgoing] | BaseException) -> None:
        if self.done.done():  # the caller gave up (cancelled at shutdown): nobody to tell
            return
        if isinstance(outcome, BaseException):
            self.done.set_exception(outcome)
        else:
            self.done.set_result(outcome)


class GroupCommit:
    """`await submit(incoming)`: the update applied by `apply` (with the others waiting at the
    time, in one transaction); its replies once that transaction has committed. Raises
    what applying it alone raised (`DuplicateUpdate` for a redelivery)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        apply: ApplyMany,
        slot: Callable[[], AbstractAsyncContextManager[None]],
        *,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._sessions = sessions
        self._apply = apply
        self._slot = slot  # the pipeline's writer slot, shared with adapters' small transactions
        self._max_batch = max_batch
        self._waiting: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0  # transactions committed or tried, for tests and benchmarks

    async def submit(self, incoming: Incoming) -> list[Outgoing]:
        waiting = _Waiting(incoming)
        self._waiting.append(waiting)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return await waiting.done

    async def _write(self) -> None:
        """Runs while anybody waits: each turn takes everybody waiting (up to MAX_BATCH)."""
        batch: list[_Waiting] = []
        try:
            while self._waiting:
                batch = [w for w in self._waiting[: self._max_batch] if not w.done.done()]
                del self._waiting[: self._max_batch]
                if batch:
                    await self._commit(batch)
                batch = []
        except BaseException as exc:  # cancelled (shutdown): nobody is left waiting forever
            for waiting in [*batch, *self._waiting]:
                waiting.settle(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            self._waiting.clear()
            raise

    async def _commit(self, batch: list[_Waiting]) -> None:
        self.batches += 1
        try:
            outcomes = await self._transaction([waiting.incoming for waiting in batch])
        except Exception as exc:
            if len(batch) == 1:
                batch[0].settle(exc)
                return
            # Which one broke it is not knowable from here: each alone, so only that one fails.
            for waiting in batch:
                await self._commit([waiting])
            return
        for waiting, outcome in zip(batch, outcomes, strict=True):
            waiting.settle(outcome)

    async def _transaction(self, batch: list[Incoming]) -> list[list[Outgoing] | DuplicateUpdate]:
        return await write_retrying(self._sessions, self._slot, lambda session: self._apply(session, batch))


async def write_retrying(
    sessions: async_sessionmaker[AsyncSession],
    slot: Callable[[], AbstractAsyncContextManager[None]],
    work: Callable[[AsyncSession], Awaitable[T]],
) -> T:
    """`work` in one hot-path transaction (the writer claimed); once more on a new connection
    when the connection broke before COMMIT (a database restart, a terminated backend: nothing
    of it was committed, and the users need not hear an apology for it). A break during COMMIT
    is not retried: whether it committed is unknown (a batch then applies each update alone,
    and a committed one shows as a redelivery).

    The transaction's begin and its end are each one call of the session's greenlet
    (`AsyncSession.run_sync`), not one per step: every call of an AsyncSession method is a
    greenlet of its own (handlers/runtime.py's docstring has the figures). A failure anywhere is
    rolled back by `_close`."""
    for attempt in range(DROPPED_RETRIES + 1):
        committing: list[bool] = []  # set once COMMIT is under way: no retry after that
        try:
            async with slot():
                session = sessions()
                try:
                    await session.run_sync(_begin)
                    outcome = await work(session)
                    await session.run_sync(_finish, committing)
                finally:
                    await _close(session)
            return outcome
        except Exception as exc:
            if committing or attempt == DROPPED_RETRIES or not dropped(exc):
                raise
    raise AssertionError("unreachable")


def _begin(session: Session) -> None:
    session.begin()
    claim_writer_sync(session, on_loop=True)


def _finish(session: Session, committing: list[bool]) -> None:
    """While a retry is still safe: the states and drafts the updates changed, as UPDATEs built
    once, then whatever else is left (a new profile); then COMMIT."""
    answer_writes.write_changed(session)
    session.flush()
    committing.append(True)
    session.commit()


async def _close(session: AsyncSession) -> None:
    """The session closed once its transaction ended (committed or rolled back). Its connection
    went back to the pool then, so closing asks nothing of the database and is done here and
    now, without the task of its own that `async with sessions()` starts to close a session
    (0.1 ms of an answer given alone); a transaction still open (cancelled midway) is closed
    the usual way, to completion even if cancelled again."""
    if session.in_transaction():
        await session.__aexit__(None, None, None)
    else:
        session.sync_session.close()
