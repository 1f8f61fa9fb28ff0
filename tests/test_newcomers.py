"""A newcomer's rows, created with plain INSERTs (storage/signup.py `insert_account`) instead of
a read, a savepoint and the ORM's flush: still one account per person however their first
updates and other writers meet, on SQLite and, when 127.0.0.1:5432 answers, on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from conversations.dialogue import Dialogue
from conversations.messages import Incoming
from conversations.programmes import load_programmes
from handlers.runtime import APOLOGY, Pipeline
from storage import accounts, signup, zalo_oa
from storage.db import create_engine, session_factory
from storage.files import FileStore
from storage.models import Account, ConversationState, Identity
from tests.test_storage import until_blocked

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


async def _counts(engine: AsyncEngine) -> tuple[int, int, int]:
    async with session_factory(engine)() as s:
        return (
            await s.scalar(select(func.count()).select_from(Account)) or 0,
            await s.scalar(select(func.count()).select_from(Identity)) or 0,
            await s.scalar(select(func.count()).select_from(ConversationState)) or 0,
        )


def _worker(engine: AsyncEngine, tmp_path: Path) -> Pipeline:
    """A worker of its own: its own connections to the same database, as a second process has."""
    second = create_engine(engine.url.render_as_string(hide_password=False))
    return Pipeline(
        session_factory(second), Dialogue(programmes=load_programmes(), files=FileStore(tmp_path / "files"))
    )


async def test_a_newcomers_first_two_updates_on_two_workers_make_one_account(
    any_engine: AsyncEngine, tmp_path: Path
) -> None:
    """/start and a tap reaching two workers at the same moment: one account, and both answered
    (neither is an apology), whichever was first."""
    workers = [_worker(any_engine, tmp_path), _worker(any_engine, tmp_path)]
    updates = [
        Incoming(channel="telegram", user_id="5001", update_id="1", command="start", locale_hint="en"),
        Incoming(channel="telegram", user_id="5001", update_id="2", text="hello", locale_hint="en"),
    ]
    try:
        answers = await asyncio.gather(*(w.handle(u) for w, u in zip(workers, updates, strict=True)))
    finally:
        for worker in workers:
            await worker.sessions.kw["bind"].dispose()
    assert all(answer for answer in answers)
    assert not any(message.text == APOLOGY for answer in answers for message in answer)
    assert await _counts(any_engine) == (1, 1, 1)


async def test_a_sign_in_racing_a_newcomers_first_update_makes_one_account(any_engine: AsyncEngine) -> None:
    """The console's sign-in creates an account without the user's lock: while it holds the
    identity it just inserted, the bot's first update of the same person waits, then takes that
    account rather than failing or leaving a second one behind."""
    sessions = session_factory(any_engine)
    inserted = asyncio.Event()
    committed: list[int] = []

    async def sign_in() -> None:
        async with sessions() as s, s.begin():
            account, _ = await accounts.get_or_create_account(s, "telegram", "5002")
            inserted.set()
            if any_engine.dialect.name == "postgresql":
                await until_blocked(any_engine)  # the bot's update waits on the identity's key
            account.locale = "en"
            committed.append(account.id)

    async def first_update() -> tuple[int, str | None]:
        await inserted.wait()
        async with sessions() as s, s.begin():
            account, _, state = await accounts.load_for_update(s, "telegram", "5002")
            state.step = "consent"
            return account.id, account.locale

    _, (account_id, locale) = await asyncio.gather(sign_in(), first_update())
    assert (account_id, locale) == (committed[0], "en")  # the sign-in's account, as it committed it
    assert await _counts(any_engine) == (1, 1, 1)


async def test_an_owner_who_deleted_their_data_keeps_their_account_and_language(
    any_engine: AsyncEngine,
) -> None:
    """Deleting the data removes the conversation state; the next message finds the identity
    without one: a state is made for the same account, no second account appears."""
    sessions = session_factory(any_engine)
    async with sessions() as s, s.begin():
        account, _, _ = await accounts.load_for_update(s, "zalo", "5003")
        account.locale = "en"
        await s.flush()
        await accounts.delete_personal_data(s, account)
    async with sessions() as s, s.begin():
        again, _, state = await accounts.load_for_update(s, "zalo", "5003")
        assert (again.id, again.locale, state.flow) == (account.id, "en", None)
    assert await _counts(any_engine) == (1, 1, 1)


@pytest.mark.parametrize("before", ["never", "withdrawn"])
async def test_agreeing_to_the_notice_turns_zns_reminders_on(any_engine: AsyncEngine, before: str) -> None:
    """Whether the owner never had ZNS consent or turned it off and agrees again (after deleting
    their data): agreeing records the consent and turns Zalo notifications on."""
    sessions = session_factory(any_engine)
    async with sessions() as s, s.begin():
        account, _ = await accounts.get_or_create_account(s, "zalo", "5004")
        if before == "withdrawn":
            await zalo_oa.set_zns_consent(s, account.id, True, NOW)
            await s.flush()
            await zalo_oa.set_zns_consent(s, account.id, False, NOW)
    async with sessions() as s, s.begin():
        account, _ = await accounts.get_or_create_account(s, "zalo", "5004")
        await signup.agree_to_notice(s, account, "v2", NOW)
    async with sessions() as s:
        account, _ = await accounts.get_or_create_account(s, "zalo", "5004")
        assert (account.consent_version, account.consent_at) == ("v2", NOW)
        assert await zalo_oa.has_zns_consent(s, account.id)
