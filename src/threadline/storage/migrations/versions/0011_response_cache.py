"""The exact-match response cache: how long a key's or a project's model answers are kept
(``cache_ttl``, seconds; NULL: not cached), the answers themselves when Redis is not configured
(``response_cache``), and whether a request-log line was answered from the cache
(``request_logs.cache``). The new columns are nullable, so PostgreSQL adds them without
rewriting the tables.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ID = sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("cache_ttl", sa.Integer(), nullable=True))
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("cache_ttl", sa.Integer(), nullable=True))
    with op.batch_alter_table("request_logs") as batch:
        batch.add_column(sa.Column("cache", sa.String(length=8), nullable=True))
    op.create_table(
        "response_cache",
        # SHA-256 of (route, project id, model, canonical body): the project is in the key.
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("project_id", _ID, nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),  # Unix milliseconds
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_response_cache_expires_at", "response_cache", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_response_cache_expires_at", table_name="response_cache")
    op.drop_table("response_cache")
    with op.batch_alter_table("request_logs") as batch:
        batch.drop_column("cache")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("cache_ttl")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("cache_ttl")
