"""Several files in one message (the web chat's picker takes several): the checklist files them
all under the document it asked for and answers once; anywhere else only the first is taken, and
the owner is told so rather than the others vanishing."""

from __future__ import annotations

import itertools

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.messages import WEB, FileRef, Incoming
from storage.models import StoredDocument
from tests.conftest import JPEG_BYTES, Chat
from tests.test_flows import FORM_ANSWERS, SELECTION_ANSWERS, answer_current, onboard_english, state_of
from tests.test_flows_vi import onboard_vietnamese

_ids = itertools.count(1)


def _photo(i: int) -> FileRef:
    data = JPEG_BYTES + bytes([i])

    async def read() -> bytes:
        return data

    return FileRef(filename=f"anh{i}.jpg", content_type="image/jpeg", size=len(data), read=read)


async def send_together(chat: Chat, count: int, first: int = 0) -> None:
    photos = [_photo(i) for i in range(first, first + count)]
    incoming = Incoming(
        channel=WEB,
        user_id=chat.user_id,
        update_id=f"many-{next(_ids)}",
        file=photos[0],
        more_files=tuple(photos[1:]),
    )
    chat.last = await chat.pipeline.handle(incoming)


async def at_the_checklist(chat: Chat, sessions: async_sessionmaker[AsyncSession], programme: str) -> None:
    await chat.send("/apply")
    await chat.tap(programme)
    for _ in range(40):
        if (await state_of(sessions)).step == "documents":
            return
        await answer_current(chat, sessions, {**SELECTION_ANSWERS, **FORM_ANSWERS})
    raise AssertionError("never reached the documents")


async def photos_count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as s:
        found = await s.scalar(
            select(func.count())
            .select_from(StoredDocument)
            .where(StoredDocument.doc_type == "product_photos")
        )
    return found or 0


async def test_three_photos_in_one_message_are_received_once_vi(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_vietnamese(chat)
    await at_the_checklist(chat, sessions, "Cấp tỉnh")
    await chat.tap("Quay lại danh sách")  # the bot asked for the form first
    await chat.tap("Ảnh sản phẩm")
    await send_together(chat, 3)
    assert len(chat.last) == 1 and "✅ Đã nhận “Ảnh sản phẩm”" in chat.text  # one reply for three
    assert await photos_count(sessions) == 3


async def test_photos_sent_together_in_two_goes_count_each_once_en(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_english(chat)
    await at_the_checklist(chat, sessions, "Provincial level")
    await chat.tap("Back to the list")  # the bot asked for the form first
    await chat.tap("Product photos")
    await send_together(chat, 2)
    assert "Received 2/3 for “Product photos”" in chat.text  # counted, the third asked for
    await send_together(chat, 2, first=1)  # the same photo again counts once; the new one completes it
    assert "counts once" in chat.text and "✅ Received “Product photos”" in chat.text
    assert await photos_count(sessions) == 3


async def test_several_files_at_a_question_take_the_first_and_say_so_en(chat: Chat) -> None:
    await onboard_english(chat)
    await chat.send("/check")
    await send_together(chat, 2)
    assert "Only the first file was taken here" in chat.text


async def test_several_files_at_a_question_take_the_first_and_say_so_vi(chat: Chat) -> None:
    await onboard_vietnamese(chat)
    await chat.send("/check")
    await send_together(chat, 2)
    assert "chỉ nhận tệp đầu tiên" in chat.text
