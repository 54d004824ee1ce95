"""Gateway: key and project limits and budgets, usage, request log, billed pass-through runs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 04:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("rpm", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tpm", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("max_parallel", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("budget_nanos", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("budget_period", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("models", _JSON, nullable=True))
        batch.add_column(sa.Column("assistants_passthrough", sa.String(length=256), nullable=True))
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("max_parallel", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("budget_nanos", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("budget_period", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("ip_allowlist", _JSON, nullable=True))
        batch.add_column(sa.Column("metadata", _JSON, nullable=True))
        batch.add_column(sa.Column("rotated_at", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("api_key_id", _ID, nullable=True))

    op.create_table(
        "usage",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("project_id", _ID, nullable=False),
        sa.Column("api_key_id", _ID, nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("meter", sa.String(length=64), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "project_id", "api_key_id", "model", "meter"),
    )
    op.create_table(
        "request_logs",
        sa.Column("id", _ID, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=2048), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("api_key_id", _ID, nullable=True),
        sa.Column("project_id", _ID, nullable=True),
        sa.Column("model", sa.String(length=256), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), nullable=True),
        sa.Column("output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("request_body", sa.Text(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_request_logs_created_at", "request_logs", ["created_at"])
    op.create_index("ix_request_logs_project_id_id", "request_logs", ["project_id", "id"])
    op.create_table(
        "billed_runs",
        sa.Column("run_id", sa.String(length=128), nullable=False),
        sa.Column("project_id", _ID, nullable=False),
        sa.Column("billed_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
    )


def downgrade() -> None:
    op.drop_table("billed_runs")
    op.drop_index("ix_request_logs_project_id_id", table_name="request_logs")
    op.drop_index("ix_request_logs_created_at", table_name="request_logs")
    op.drop_table("request_logs")
    op.drop_table("usage")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("api_key_id")
    with op.batch_alter_table("api_keys") as batch:
        for column in (
            "rotated_at",
            "metadata",
            "ip_allowlist",
            "expires_at",
            "budget_period",
            "budget_nanos",
            "max_parallel",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("projects") as batch:
        for column in (
            "assistants_passthrough",
            "models",
            "budget_period",
            "budget_nanos",
            "max_parallel",
            "tpm",
            "rpm",
        ):
            batch.drop_column(column)
