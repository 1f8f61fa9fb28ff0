"""issue 9: certificates' match keys for case- and accent-insensitive comparisons

Certificate numbers and issuing bodies were compared with SQL lower(), which leaves "Đ" alone on
SQLite: re-importing "45/QĐ-UBND" was not recognised as already recorded. The keys are computed
in Python (storage.text_keys.match_key), filled here for existing rows, and carry a unique index.

Revision ID: 0002_issue9
Revises: 0002_issue12
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.text_keys import match_key

revision: str = "0002_issue9"
down_revision: str | None = "0002_issue12"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("issuing_body_key", sa.String(length=200), nullable=True))
    certificates = sa.table(
        "certificates",
        sa.column("id", sa.Integer),
        sa.column("number", sa.String),
        sa.column("issuing_body", sa.String),
        sa.column("number_key", sa.String),
        sa.column("issuing_body_key", sa.String),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(certificates.c.id, certificates.c.number, certificates.c.issuing_body))
    for row_id, number, body in rows.all():
        connection.execute(
            certificates.update()
            .where(certificates.c.id == row_id)
            .values(number_key=match_key(number), issuing_body_key=match_key(body))
        )
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.alter_column("number_key", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("issuing_body_key", existing_type=sa.String(length=200), nullable=False)
        batch_op.create_index(
            "uq_certificates_body_number_key", ["issuing_body_key", "number_key"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index("uq_certificates_body_number_key")
        batch_op.drop_column("issuing_body_key")
        batch_op.drop_column("number_key")
