"""File bytes in the database, for replicas without shared storage (THREADLINE_BLOB_STORE).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 07:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "blob_parts",
        sa.Column("blob_id", _ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("blob_id", "seq"),
    )
    op.create_index("ix_blob_parts_created_at", "blob_parts", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_blob_parts_created_at", table_name="blob_parts")
    op.drop_table("blob_parts")
