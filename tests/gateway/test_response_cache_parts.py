"""The response cache's parts without a server: the key, ``Cache-Control``, what a stream must
end with to be kept, and the database store's lazy deletion of expired rows."""

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from tests.databases import database
from threadline.gateway.response_cache import (
    CHAT_STREAM_END,
    StreamCapture,
    directives,
    response_key,
)
from threadline.records.gateway import CachedResponse
from threadline.storage import cache_store
from threadline.storage.cache_store import DatabaseCacheStore
from threadline.storage.database import Database
from threadline.storage.migrate import upgrade_to_head


def test_the_key_is_canonical_and_names_route_project_and_model():
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 0}
    reordered = {"temperature": 0, "messages": [{"content": "x", "role": "user"}], "model": "m"}
    key = response_key("/v1/chat/completions", "proj_a", "m", body)
    assert key == response_key("/v1/chat/completions", "proj_a", "m", reordered)
    assert key != response_key("/v1/chat/completions", "proj_b", "m", body)
    assert key != response_key("/v1/embeddings", "proj_a", "m", body)
    assert key != response_key("/v1/chat/completions", "proj_a", "m", {**body, "stream": True})
    assert key != response_key("/v1/chat/completions", "proj_a", "m", body, vary="beta-1")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], (True, True)),
        (["no-cache"], (False, True)),
        (["No-Store"], (False, False)),
        (["max-age=0"], (False, True)),
        (["private, no-cache"], (False, True)),
        (["max-age=60"], (True, True)),
    ],
)
def test_cache_control_directives(values, expected):
    assert directives(values) == expected


def test_a_stream_is_kept_only_whole_and_small_enough():
    whole = StreamCapture(1000, CHAT_STREAM_END)
    assert not whole.add(b'data: {"a":1}\n\ndata: [DO')
    assert whole.add(b"NE]\n\n")  # the end marker across two reads
    assert whole.body() == b'data: {"a":1}\n\ndata: [DONE]\n\n'
    cut = StreamCapture(1000, CHAT_STREAM_END)
    assert not cut.add(b'data: {"a":1}\n\n')
    anthropic = StreamCapture(1000, b"event: message_stop")
    assert not anthropic.add(b"event: message_stop\n")  # its data line is still to come
    assert anthropic.add(b'data: {"type":"message_stop"}\n\n')
    big = StreamCapture(10, CHAT_STREAM_END)
    assert not big.add(b"data: [DONE]\n\n")
    assert big.body() is None


def test_the_database_store_deletes_expired_rows_lazily():
    with database("sqlite") as url:
        upgrade_to_head(url)
        asyncio.run(_sweep(url))


async def _sweep(url: str) -> None:
    db = Database(url)
    store = DatabaseCacheStore(db)

    def entry(key: str, expires_at: int) -> CachedResponse:
        body = b"{}"
        return {
            "key": key,
            "project_id": "proj_x",
            "expires_at": expires_at,
            "stream": False,
            "content_type": "application/json",
            "body": body,
        }

    try:
        await store.put(entry("a" * 64, 2_000), 1_000)
        assert await store.get("a" * 64, 1_999) is not None
        assert await store.get("a" * 64, 2_000) is None  # expired, though still stored
        await store.put(entry("b" * 64, 90_000), 30_000)  # within a minute: no sweep yet
        assert await db.read(cache_store.delete_expired, 0) == 0
        await store.put(entry("c" * 64, 200_000), 61_000)  # a minute on: swept
        assert await db.read(_keys) == ["b" * 64, "c" * 64]
    finally:
        await db.dispose()


def _keys(connection: Any) -> list[str]:
    query = text("SELECT key FROM response_cache ORDER BY key")
    return [row[0] for row in connection.execute(query)]
