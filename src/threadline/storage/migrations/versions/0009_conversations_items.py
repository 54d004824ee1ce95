"""Conversation items that are not thread messages: function calls and their outputs, server
tool calls, reasoning, system and developer messages (docs/responses-design.md, §a). A
conversation is a thread and a user or assistant message item is a thread message, so this is
the only table the Conversations API adds.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 09:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("project_id", _ID, nullable=False),
        sa.Column(
            "thread_id",
            _ID,
            sa.ForeignKey("threads.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", _ID, nullable=False),
        sa.Column("response_id", _ID, nullable=True),
        sa.Column("run_id", _ID, nullable=True),
        sa.Column("step_id", _ID, nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("body", _JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_items_thread_id_position", "items", ["thread_id", "position"])
    op.create_index("ix_items_thread_id_call_id", "items", ["thread_id", "call_id"])


def downgrade() -> None:
    op.drop_index("ix_items_thread_id_call_id", table_name="items")
    op.drop_index("ix_items_thread_id_position", table_name="items")
    op.drop_table("items")
