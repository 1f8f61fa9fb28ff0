"""The one path every update takes, whatever the channel: dedupe, per-user lock, one
transaction, locale, the dialogue, and a dead letter with an apology when something breaks.

Done once here (the middleware idea of aiogram) so no channel adapter can forget a step.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
import weakref
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations import filecheck
from conversations.dialogue import Dialogue
from conversations.i18n import DEFAULT_LOCALE, N_, normalise_locale, translator
from conversations.messages import Incoming, Outgoing
from storage import accounts
from storage.db import claim_writer

log = logging.getLogger(__name__)

APOLOGY = N_(
    "Sorry, something went wrong on our side and your last message was not processed. Your earlier "
    "answers are safe. Please try again in a moment, or send /menu."
)


class Pipeline:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        dialogue: Dialogue,
        *,
        default_locale: str = DEFAULT_LOCALE,
    ) -> None:
        self.sessions = sessions
        self.dialogue = dialogue
        self.default_locale = default_locale
        # One lock per user: two updates of one user never run at once in this process; across
        # processes the state row is locked FOR UPDATE inside the transaction.
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def _lock(self, channel: str, user_id: str) -> asyncio.Lock:
        key = (channel, user_id)
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

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
        async with self._lock(incoming.channel, incoming.user_id):
            incoming = await self._prefetch(incoming)
            try:
                async with self.sessions() as session, session.begin():
                    await claim_writer(session)
                    await accounts.mark_processed(session, incoming.channel, incoming.update_id)
                    account, _, state = await accounts.load_for_update(
                        session, incoming.channel, incoming.user_id
                    )
                    return await self.dialogue.handle(session, account, state, incoming)
            except accounts.DuplicateUpdate:
                return []
            except Exception as exc:
                # Type and place only: an exception's message may quote what the user typed, so
                # the full traceback goes to the dead_letters table, not to the log.
                frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
                log.error(
                    "update %s/%s failed: %s at %s:%s (traceback in dead_letters)",
                    incoming.channel,
                    incoming.update_id,
                    type(exc).__name__,
                    frame.filename if frame else "?",
                    frame.lineno if frame else "?",
                )
                await self._dead_letter(incoming, exc)
                locale = await self.locale_of(incoming.channel, incoming.user_id)
                return [Outgoing(text=translator(locale)(APOLOGY))]

    async def _dead_letter(self, incoming: Incoming, exc: BaseException) -> None:
        try:
            async with self.sessions() as session, session.begin():
                await accounts.record_dead_letter(
                    session, incoming.channel, incoming.update_id, "".join(traceback.format_exception(exc))
                )
        except Exception:
            log.exception("could not record dead letter for %s/%s", incoming.channel, incoming.update_id)

    async def locale_of(self, channel: str, user_id: str, hint: str | None = None) -> str:
        async with self.sessions() as session:
            identity = await accounts.find_identity(session, channel, user_id)
            if identity is not None:
                from storage.models import Account

                account = await session.get(Account, identity.account_id)
                if account is not None and account.locale:
                    return account.locale
        return normalise_locale(hint) or self.default_locale
