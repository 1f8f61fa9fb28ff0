"""A file sent again to a returned dossier counts as sent, even after the owner deleted the new
files of that item and started again (document ids are never reused: migration 0005)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import create_engine
from storage.migrate import alembic_config, migrate
from tests.conftest import JPEG_BYTES, Chat, Clock
from tests.test_staff_loop import NEW_DESCRIPTION, return_with_comments
from tests.test_staff_support import (
    add_staff,
    any_payload,
    application,
    notice_for,
    outbox,
    staff_chat,
    submitted,
    tap_payload,
)


async def test_photos_deleted_and_sent_again_count_as_new(
    chat: Chat, pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    app = await submitted(chat, sessions)  # the product photos are the dossier's newest files
    await add_staff(sessions, "r1", "reviewer", "Hưng Yên", name="Trần Thị Bình")
    reviewer = staff_chat(pipeline, "r1")
    clock.now = clock.now.replace(hour=5)
    await return_with_comments(reviewer, app.id)
    notice, _ = await notice_for(sessions, (await outbox(sessions))[0])
    await tap_payload(chat, any_payload(notice, "go:apply:"))
    await chat.send(NEW_DESCRIPTION)

    await chat.tap("Product photos")
    await chat.upload("wrong.jpg", JPEG_BYTES + b"wrong", "image/jpeg")
    assert "Received 1/3" in chat.text
    await chat.tap("Back to the list")
    await chat.tap("Product photos")
    await chat.tap("Delete the files sent and start again")  # the owner picked the wrong photo
    assert "Removed the files sent for “Product photos”" in chat.text
    await chat.tap("Product photos")
    for i in range(3):
        await chat.upload(f"sharp{i}.jpg", JPEG_BYTES + b"sharp" + bytes([i]), "image/jpeg")
    assert "Please check your dossier" in chat.text  # all three count as the new photos
    await chat.tap("Submit")
    assert (await application(sessions, app.id)).status == "resubmitted"


async def test_migrate_keeps_documents_and_starts_ids_above_an_open_watermark(tmp_path: Path) -> None:
    """`migrate` on a database from before 0005: rows kept, the next id above every id a returned
    dossier may have seen (rows deleted before the migration are gone from the table)."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")

    def to_0004(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0004_issue12")

    async with engine.begin() as conn:
        await conn.run_sync(to_0004)
    async with engine.begin() as conn:
        for statement in (
            "INSERT INTO accounts VALUES (1, 'vi', NULL, NULL, NULL, 0, '2026-01-01')",
            "INSERT INTO facilities VALUES (1, 1, 'HTX', 'cooperative', 'Hà Nội', 'Xã A', 'commune', 0,"
            " '0100109106', 'A', '0912345678', 'giỏ', '2026-01-01', '2026-01-01')",
            "INSERT INTO applications VALUES (1, 1, 'selection', 'returned', '{}', NULL, NULL, 'KC-2026-AAAAA',"
            " '2026-01-01', '2026-01-01', '2026-01-01', NULL, NULL, NULL,"
            ' \'{"documents": {"product_photos": "blurred"}, "document_watermark": 9}\')',
            "INSERT INTO documents VALUES (3, 1, 'registration_form', 'a.pdf', 'application/pdf', 10, 's',"
            " 'k1', '2026-01-01')",
            "INSERT INTO documents VALUES (5, 1, 'product_photos', 'b.jpg', 'image/jpeg', 10, 's2', 'k2', '2026-01-01')",
        ):
            await conn.execute(text(statement))
    await migrate(engine)
    async with engine.begin() as conn:
        kept = (await conn.execute(text("SELECT id, doc_type FROM documents ORDER BY id"))).all()
        await conn.execute(
            text(
                "INSERT INTO documents (application_id, doc_type, filename, content_type, size, sha256,"
                " storage_key, uploaded_at) VALUES (1, 'product_photos', 'c.jpg', 'image/jpeg', 1, 's3', 'k3',"
                " '2026-01-02')"
            )
        )
        new_id = (await conn.execute(text("SELECT MAX(id) FROM documents"))).scalar_one()
    await engine.dispose()
    assert [tuple(r) for r in kept] == [(3, "registration_form"), (5, "product_photos")]
    assert new_id == 10
