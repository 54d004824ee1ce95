"""A run reads only the newest messages that fit its model's window: each message's prompt
tokens are stored with it (``messages.tokens``: what ``engine.chat_turns`` counts for the
message, filled when a message is written, NULL for older rows until a run counts them), so a
run reads ids, statuses and counts newest first until its budget is met, and decodes only the
messages it sends. ``ix_run_steps_thread_id_type_id``: a thread's tool steps (its context, and
the calls a response's input answers) are found without walking its message-creation steps.
The new column is nullable, so PostgreSQL adds it without rewriting the table.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 02:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("tokens", sa.Integer(), nullable=True))
    op.create_index("ix_run_steps_thread_id_type_id", "run_steps", ["thread_id", "type", "id"])


def downgrade() -> None:
    op.drop_index("ix_run_steps_thread_id_type_id", table_name="run_steps")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("tokens")
