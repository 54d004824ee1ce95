"""The hybrid search index: the Protocol, attribute filters, and the in-memory vector matrix.

The SQL implementations live in ``storage/`` (the only package that talks SQL): SQLite with FTS5
and an in-memory vector matrix per store, PostgreSQL with pgvector (HNSW) and full-text search."""
