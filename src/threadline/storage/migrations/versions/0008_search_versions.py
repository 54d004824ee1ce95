"""Search index versions: a counter per vector store, raised by every change to its files, and
the value it had when each file was last written, so a process holding a store's keyword
postings in memory can tell whether they are current and which files to read again (PostgreSQL
replicas share the database but not their memory).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 07:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "search_store_versions",
        sa.Column("store_id", _ID, primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    with op.batch_alter_table("search_files") as batch:
        batch.add_column(sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("search_files") as batch:
        batch.drop_column("version")
    op.drop_table("search_store_versions")
