"""issue 11: document ids are never reused, so a file sent again to a returned dossier counts as new

A returned dossier remembers the highest document id at the time (its "watermark"); a file with a
higher id is the owner's new file for a flagged item. SQLite without AUTOINCREMENT gives a new row
the highest id *now* plus one, so when the owner deletes the files just sent and sends again, the
new row can take an id at or under the watermark and not count as sent. AUTOINCREMENT keeps the
highest id ever used (sqlite_sequence). The table is recreated (SQLite cannot alter this in place)
and the sequence starts above both the rows kept and every open watermark, since rows deleted
before this migration are already gone from the table.

PostgreSQL's ids come from a sequence that never hands out a number twice: nothing to do there.

Revision ID: 0005_issue11
Revises: 0004_issue12
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005_issue11"
down_revision: str | None = "0004_issue12"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _watermark(changes: Any) -> int:
    if isinstance(changes, str):
        changes = json.loads(changes)
    if not isinstance(changes, dict):
        return 0
    value = changes.get("document_watermark", 0)
    return value if isinstance(value, int) else 0


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "documents", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.alter_column("id", existing_type=sa.Integer(), autoincrement=True)
    rows = bind.execute(sa.text("SELECT requested_changes FROM applications WHERE requested_changes IS NOT NULL"))
    highest = max((_watermark(changes) for (changes,) in rows), default=0)
    kept = bind.execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM documents")).scalar_one()
    start = max(highest, kept)
    if start:
        bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'documents'"))
        bind.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('documents', :seq)"), {"seq": start})


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("documents", recreate="always", table_kwargs={"sqlite_autoincrement": False}):
        pass
