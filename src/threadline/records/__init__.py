"""Typed records: the rows and JSON documents that cross the layers, as ``TypedDict``s.

A row read from the database is a plain dict keyed by column name (cheap to build, see
``storage.repositories.records``); these types say which keys it has and what they hold, at no
cost at run time. Every layer may import them; they import nothing else of threadline."""
