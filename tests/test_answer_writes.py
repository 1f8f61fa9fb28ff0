"""An answer's state and draft written as plain UPDATEs (storage/answer_writes.py) instead of the
unit of work: what the owner answered is saved all the same, nothing is written twice, what else
the update changed (a new document) still reaches the database, and a column staff changed
meanwhile is not put back; on SQLite and, when 127.0.0.1:5432 answers, PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage import answer_writes
from storage.db import session_factory
from storage.models import Account, Application, ConversationState, StoredDocument
from tests.conftest import throwaway_postgres
from tests.rows import add_facility


async def _owner_with_draft(sessions: async_sessionmaker[AsyncSession], n: int = 1) -> tuple[int, int]:
    """An owner at the application form's first question: (account id, draft id)."""
    async with sessions() as s, s.begin():
        account = Account(locale="vi")
        s.add(account)
        await s.flush()
        facility = await add_facility(s, account.id, name=f"Cơ sở {n}")
        draft = Application(facility_id=facility.id, programme="selection.province", answers={})
        s.add(draft)
        await s.flush()
        s.add(
            ConversationState(
                account_id=account.id,
                flow="application",
                step="product_name",
                data={"application_id": draft.id},
            )
        )
        return account.id, draft.id


@contextmanager
def _statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(" ".join(statement.split()[:2]))

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def _answer(session: AsyncSession, account_id: int, draft_id: int, name: str) -> None:
    """What the dialogue does with an answer to the form: the draft's answers and the next step."""
    state = await session.get(ConversationState, account_id)
    draft = await session.get(Application, draft_id)
    assert state is not None and draft is not None
    draft.answers = {**draft.answers, "product_name": name}
    state.step = "description"
    state.data = {**state.data, "last_choices": []}


async def test_an_answer_is_saved_with_one_update_of_the_state_and_one_of_the_draft(
    any_engine: AsyncEngine,
) -> None:
    sessions = session_factory(any_engine)
    account_id, draft_id = await _owner_with_draft(sessions)
    async with sessions() as s, s.begin():
        await _answer(s, account_id, draft_id, "Giỏ mây đan Phú Vinh")
        with _statements(any_engine) as written:
            await s.run_sync(answer_writes.write_changed)
        with _statements(any_engine) as flushed:
            await s.flush()  # what the transaction's end does: nothing is left to write
    assert written == ["UPDATE conversation_states", "UPDATE applications"]
    assert flushed == []
    async with sessions() as s:
        state = await s.get(ConversationState, account_id)
        draft = await s.get(Application, draft_id)
        assert state is not None and draft is not None
        assert (state.step, state.data["application_id"]) == ("description", draft_id)
        assert draft.answers == {"product_name": "Giỏ mây đan Phú Vinh"}
        assert draft.updated_at > draft.created_at


async def test_several_owners_answering_in_one_transaction_share_one_update_of_their_states(
    any_engine: AsyncEngine,
) -> None:
    sessions = session_factory(any_engine)
    owners = [await _owner_with_draft(sessions, n) for n in range(3)]
    async with sessions() as s, s.begin():
        for n, (account_id, draft_id) in enumerate(owners):
            await _answer(s, account_id, draft_id, f"Sản phẩm {n}")
        with _statements(any_engine) as seen:
            await s.run_sync(answer_writes.write_changed)
    # executemany: one statement each for the states and the drafts (SQLite and asyncpg alike)
    assert seen == ["UPDATE conversation_states", "UPDATE applications"]
    async with sessions() as s:
        for n, (account_id, draft_id) in enumerate(owners):
            state = await s.get(ConversationState, account_id)
            draft = await s.get(Application, draft_id)
            assert state is not None and draft is not None
            assert (state.step, draft.answers) == ("description", {"product_name": f"Sản phẩm {n}"})


async def test_a_document_added_with_the_answer_is_saved_with_it(any_engine: AsyncEngine) -> None:
    """A new row waiting for the flush (here a document): the unit of work writes everything, in
    the order its foreign keys need, rather than the draft going ahead of it."""
    sessions = session_factory(any_engine)
    account_id, draft_id = await _owner_with_draft(sessions)
    async with sessions() as s, s.begin():
        await _answer(s, account_id, draft_id, "Khay tre")
        s.add(
            StoredDocument(
                application_id=draft_id,
                doc_type="product_photo",
                filename="anh.jpg",
                content_type="image/jpeg",
                size=3,
                sha256="0" * 64,
                storage_key="k",
            )
        )
        with _statements(any_engine) as seen:
            await s.run_sync(answer_writes.write_changed)
        assert seen == []
    async with sessions() as s:
        draft = await s.get(Application, draft_id)
        state = await s.get(ConversationState, account_id)
        assert draft is not None and state is not None
        assert draft.answers == {"product_name": "Khay tre"} and state.step == "description"
        documents = await s.scalars(
            select(StoredDocument.filename).where(StoredDocument.application_id == draft_id)
        )
        assert list(documents) == ["anh.jpg"]


async def test_a_column_staff_changed_meanwhile_is_not_put_back() -> None:
    """On PostgreSQL the draft is not locked by an answer: a reviewer claiming it in between keeps
    the claim, as with the unit of work, since only the columns the answer changed are written."""
    async with throwaway_postgres() as engine:
        sessions = session_factory(engine)
        account_id, draft_id = await _owner_with_draft(sessions)
        async with sessions() as s, s.begin():
            await _answer(s, account_id, draft_id, "Giỏ mây")
            async with sessions() as staff, staff.begin():
                await staff.execute(
                    update(Application).where(Application.id == draft_id).values(reviewer="telegram:9")
                )
            await s.run_sync(answer_writes.write_changed)
        async with sessions() as s:
            draft = await s.get(Application, draft_id)
            assert draft is not None
            assert (draft.reviewer, draft.answers) == ("telegram:9", {"product_name": "Giỏ mây"})
