"""Ingestion progress of a vector-store file: how many of its chunks are embedded
(``chunks_done``) out of how many it has (``chunks_total``), both NULL until the file is parsed
and chunked. The ingestion writes them every half second or so while it embeds; the API shows
them as the store file's ``progress`` (and their sums as its batch's). Nullable columns, so
PostgreSQL adds them without rewriting the table.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vector_store_files") as batch:
        batch.add_column(sa.Column("chunks_done", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("chunks_total", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vector_store_files") as batch:
        batch.drop_column("chunks_total")
        batch.drop_column("chunks_done")
