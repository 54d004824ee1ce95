"""Responses: the request echo of each response (``responses``, 1:1 with the run that executes
it), what kind of thread a thread is (``threads.kind``: an Assistants thread, a conversation, or
the hidden thread of a ``previous_response_id`` chain), what kind of run a run is (``runs.kind``)
and a response's cap on built-in tool calls (``runs.max_tool_calls``). The new columns have
server defaults, so PostgreSQL adds them without rewriting the tables.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 09:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql")
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("threads") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="thread")
        )
    with op.batch_alter_table("runs") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="run")
        )
        batch.add_column(sa.Column("max_tool_calls", sa.Integer(), nullable=True))
    op.create_table(
        "responses",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("project_id", _ID, nullable=False),
        sa.Column(
            "run_id",
            _ID,
            sa.ForeignKey("runs.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("thread_id", _ID, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("previous_response_id", _ID, nullable=True),
        sa.Column("conversation_id", _ID, nullable=True),
        sa.Column("instructions", sa.Text(), nullable=True),
        sa.Column("text", _JSON, nullable=False),
        sa.Column("tools", _JSON, nullable=False),
        sa.Column("tool_choice", _JSON, nullable=False),
        sa.Column("include", _JSON, nullable=False),
        sa.Column("reasoning", _JSON, nullable=False),
        sa.Column("truncation", sa.String(length=16), nullable=False),
        sa.Column("max_output_tokens", sa.Integer(), nullable=True),
        sa.Column("top_logprobs", sa.Integer(), nullable=True),
        sa.Column("store", sa.Boolean(), nullable=False),
        sa.Column("background", sa.Boolean(), nullable=False),
        sa.Column("user", sa.String(length=512), nullable=True),
        sa.Column("safety_identifier", sa.String(length=512), nullable=True),
        sa.Column("prompt_cache_key", sa.String(length=512), nullable=True),
        sa.Column("service_tier", sa.String(length=16), nullable=True),
        sa.Column("metadata", _JSON, nullable=False),
        sa.Column("container_id", sa.String(length=64), nullable=True),
        sa.Column("input_first", _ID, nullable=True),
        sa.Column("input_last", _ID, nullable=True),
        sa.Column("output", _JSON, nullable=True),
        sa.Column("next_sequence", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_responses_thread_id_id", "responses", ["thread_id", "id"])
    op.create_index("ix_responses_project_id_id", "responses", ["project_id", "id"])
    # A background response's stream, each event as sent (resumed from any sequence_number).
    op.create_table(
        "response_events",
        sa.Column(
            "response_id",
            _ID,
            sa.ForeignKey("responses.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sequence_number", sa.Integer(), primary_key=True),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("response_events")
    op.drop_index("ix_responses_project_id_id", table_name="responses")
    op.drop_index("ix_responses_thread_id_id", table_name="responses")
    op.drop_table("responses")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("max_tool_calls")
        batch.drop_column("kind")
    with op.batch_alter_table("threads") as batch:
        batch.drop_column("kind")
