"""The file_search index: files, chunks (with full-text search) and passage vectors.

SQLite: an FTS5 table over the chunks (external content, kept in step by triggers); vectors are
float32 blobs, searched in memory. PostgreSQL: a generated ``tsvector`` column with a GIN index,
and pgvector ``vector`` columns; HNSW indexes are created per dimension count when the first
vectors of that size arrive (see ``storage/search_index_postgres.py``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 04:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql")
_JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


class _Vector(sa.types.UserDefinedType):
    """pgvector's ``vector`` of any dimension count."""

    cache_ok = True

    def get_col_spec(self, **_: object) -> str:
        return "vector"


PGVECTOR_MISSING = (
    "Threadline on PostgreSQL needs the pgvector extension for vector stores, and this server "
    "does not offer it. Install pgvector (https://github.com/pgvector/pgvector, packaged as "
    "postgresql-NN-pgvector) on the database server, then run `threadline migrate` again."
)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        available = op.get_bind().execute(
            sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        )
        if available.first() is None:
            raise RuntimeError(PGVECTOR_MISSING)
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "search_files",
        sa.Column("store_id", _ID, nullable=False),
        sa.Column("file_id", _ID, nullable=False),
        sa.Column("embedding_model", sa.String(length=256), nullable=False),
        sa.Column("attributes", _JSON, nullable=True),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "file_id"),
    )
    op.create_table(
        "search_chunks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("store_id", _ID, nullable=False),
        sa.Column("file_id", _ID, nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index(
        "ix_search_chunks_file", "search_chunks", ["store_id", "file_id", "chunk_index"]
    )
    op.create_table(
        "search_passages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("store_id", _ID, nullable=False),
        sa.Column("file_id", _ID, nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("dims", sa.Integer(), nullable=False),
        sa.Column("first_chunk", sa.Integer(), nullable=False),
        sa.Column("last_chunk", sa.Integer(), nullable=False),
        sa.Column(
            "embedding", sa.LargeBinary().with_variant(_Vector(), "postgresql"), nullable=False
        ),
    )
    op.create_index("ix_search_passages_file", "search_passages", ["store_id", "file_id"])
    if postgres:
        op.execute(
            "ALTER TABLE search_chunks ADD COLUMN tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED"
        )
        op.execute("CREATE INDEX ix_search_chunks_tsv ON search_chunks USING gin (tsv)")
    else:
        # FTS5 over (store_id, text): a search names its stores inside MATCH, so FTS5 itself
        # narrows to them. Porter stemming: "indexes" finds "indexing".
        op.execute(
            "CREATE VIRTUAL TABLE search_chunks_fts USING fts5("
            "store_id, text, content='search_chunks', content_rowid='id', "
            "tokenize='porter unicode61 remove_diacritics 2')"
        )
        # Per-term document counts, for the common-terms cutoff of large stores.
        op.execute(
            "CREATE VIRTUAL TABLE search_chunks_vocab USING fts5vocab(search_chunks_fts, row)"
        )
        op.execute(
            "CREATE TRIGGER search_chunks_ai AFTER INSERT ON search_chunks BEGIN "
            "INSERT INTO search_chunks_fts(rowid, store_id, text) "
            "VALUES (new.id, new.store_id, new.text); END"
        )
        op.execute(
            "CREATE TRIGGER search_chunks_ad AFTER DELETE ON search_chunks BEGIN "
            "INSERT INTO search_chunks_fts(search_chunks_fts, rowid, store_id, text) "
            "VALUES ('delete', old.id, old.store_id, old.text); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS search_chunks_vocab")
        op.execute("DROP TABLE IF EXISTS search_chunks_fts")
    op.drop_table("search_passages")
    op.drop_table("search_chunks")
    op.drop_table("search_files")
