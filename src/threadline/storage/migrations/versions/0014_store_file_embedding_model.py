"""The embedding model of each vector-store file's vectors (``vector_store_files.
embedding_model``), so that a server started with another model finds the files to re-embed with
one indexed query on the queue's own table (``storage/reembed_queue.py``). Filled here from the
search index's record of each completed file (``search_files.embedding_model``); NULL for files
never indexed, which are never re-embedded. Nullable, so PostgreSQL adds it without rewriting
the table.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 04:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vector_store_files") as batch:
        batch.add_column(sa.Column("embedding_model", sa.String(length=256), nullable=True))
    op.execute(
        "UPDATE vector_store_files SET embedding_model = ("
        "SELECT f.embedding_model FROM search_files f "
        "WHERE f.store_id = vector_store_files.vector_store_id "
        "AND f.file_id = vector_store_files.file_id) "
        "WHERE status = 'completed'"
    )
    op.create_index(
        "ix_vector_store_files_status_embedding_model",
        "vector_store_files",
        ["status", "embedding_model"],
    )


def downgrade() -> None:
    op.drop_index("ix_vector_store_files_status_embedding_model", table_name="vector_store_files")
    with op.batch_alter_table("vector_store_files") as batch:
        batch.drop_column("embedding_model")
