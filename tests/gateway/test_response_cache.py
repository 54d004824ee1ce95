"""The exact-match response cache, with the official SDK against the scripted upstream, on each
store: the database (SQLite, PostgreSQL) and Redis (skipped, visibly, without one).

A hit gives the first answer again byte for byte (a stream as a stream) without calling the
upstream, costs nothing and is logged as a hit; a miss is anything else: another body, another
project, an expired entry, ``Cache-Control: no-cache``. Only whole successful answers are kept.
Expiry moves the cache's clock (``ResponseCache.clock``) instead of waiting."""

import asyncio
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import openai
import orjson
import pytest
from sqlalchemy import text

from tests.databases import database
from tests.gateway.conftest import (
    MASTER_KEY,
    PRICED,
    PROVIDER_KEY_ENV,
    admin_client,
    config_yaml,
    cost_of,
    gateway_server,
    make_key,
    raw,
    sdk,
)
from tests.servers import free_port, threaded_app
from tests.upstream import Broken, Fail, ScriptedUpstream, Text
from threadline.gateway.response_cache import (
    ResponseCache,
    response_key,
)
from threadline.settings import Settings
from threadline.storage.database import Database

CACHE = "x-threadline-cache"
EMBED = "embed-model"


@dataclass
class CacheServer:
    url: str
    cache: ResponseCache
    admin: httpx.Client
    store: str  # "sqlite", "postgres" or "redis"
    store_url: str  # the database's URL, or Redis's


@pytest.fixture(scope="module", params=["sqlite", "postgres", "redis"])
def server(
    request: pytest.FixtureRequest,
    upstream_server: ScriptedUpstream,
    redis_url: str | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[CacheServer]:
    """A gateway whose cache lives in the database named, or in Redis (on SQLite)."""
    store = str(request.param)
    if store == "redis" and redis_url is None:
        pytest.skip("no Redis server available (none at 127.0.0.1:6379, no redis-server)")
    tmp = tmp_path_factory.mktemp(f"cache-{store}")
    config = tmp / "threadline.yaml"
    config.write_text(config_yaml(upstream_server.base_url))
    os.environ[PROVIDER_KEY_ENV] = upstream_server.api_key
    with database("postgres" if store == "postgres" else "sqlite") as url:
        settings = Settings(
            data_dir=tmp,
            database_url=url,
            master_key=MASTER_KEY,
            upstream_base_url=upstream_server.base_url,
            upstream_api_key=upstream_server.api_key,
            config=config,
            upstream_max_retries=0,
            request_log_flush_seconds=0.2,
            redis_url=redis_url if store == "redis" else None,
        )
        with threaded_app(settings) as (base_url, app), admin_client(base_url) as admin:
            cache = app.state.threadline.gateway.cache
            store_url = redis_url if store == "redis" else url
            assert store_url is not None
            yield CacheServer(base_url, cache, admin, store, store_url)


def cached_key(server: CacheServer, ttl: int | None = 60, **options: Any) -> dict[str, Any]:
    return make_key(server.admin, **({"cache_ttl": ttl} if ttl is not None else {}), **options)


def ask(client: openai.OpenAI, text: str, **extra: Any) -> Any:
    return client.chat.completions.with_raw_response.create(
        model=PRICED, messages=[{"role": "user", "content": text}], **extra
    )


# --- hits and misses ---------------------------------------------------------------------------


def test_miss_then_hit_gives_the_same_answer_without_the_upstream(server, upstream):
    upstream.script(Text(["Bonjour", " !"], usage=(12, 3)))
    with sdk(server.url, cached_key(server)["key"]) as client:
        first = ask(client, "Hello")
        second = ask(client, "Hello")
    assert (first.headers[CACHE], second.headers[CACHE]) == ("miss", "hit")
    assert second.http_response.content == first.http_response.content
    assert second.parse().choices[0].message.content == "Bonjour !"
    assert second.parse().id == first.parse().id
    assert len(upstream.requests) == 1


def test_answers_live_in_the_configured_store(server, upstream):
    created = cached_key(server, ttl=60)
    messages = [{"role": "user", "content": "Where am I kept?"}]
    with sdk(server.url, created["key"]) as client:
        client.chat.completions.create(model=PRICED, messages=messages)
    body = {"messages": messages, "model": PRICED}  # as the SDK sends it
    key = response_key("/v1/chat/completions", created["project_id"], PRICED, body)
    if server.store == "redis":
        import redis

        client = redis.Redis.from_url(server.store_url)
        assert 0 < client.pttl(f"threadline:cache:{key}") <= 60_000
        client.close()
    else:
        rows = asyncio.run(_cached_rows(server.store_url))
        assert (key, created["project_id"], False) in rows


async def _cached_rows(url: str) -> list[tuple[str, str, bool]]:
    def read(connection: Any) -> list[tuple[str, str, bool]]:
        query = text("SELECT key, project_id, stream FROM response_cache")
        return [(row[0], row[1], bool(row[2])) for row in connection.execute(query)]

    db = Database(url)
    try:
        return await db.read(read)
    finally:
        await db.dispose()


def test_a_stream_is_replayed_as_a_stream(server, upstream):
    upstream.script(Text(["a", "b", "c"], usage=(8, 3)))
    with sdk(server.url, cached_key(server)["key"]) as client:
        first = ask(client, "Stream please", stream=True)
        first_chunks = [chunk.model_dump() for chunk in first.parse()]
        second = ask(client, "Stream please", stream=True)
        assert second.headers["content-type"].startswith("text/event-stream")
        second_chunks = [chunk.model_dump() for chunk in second.parse()]
        # The same body unstreamed is another request: a miss.
        plain = ask(client, "Stream please")
    assert (first.headers[CACHE], second.headers[CACHE]) == ("miss", "hit")
    assert second_chunks == first_chunks
    text = "".join(c["choices"][0]["delta"]["content"] or "" for c in second_chunks)
    assert text == "abc"
    assert plain.headers[CACHE] == "miss"
    assert len(upstream.requests) == 2


def test_embeddings_are_cached(server, upstream):
    with raw(server.url, cached_key(server)["key"]) as http:
        body = {"model": EMBED, "input": ["one two", "three"]}
        first = http.post("/embeddings", json=body)
        second = http.post("/embeddings", json=body)
        # The same fields in another order and spacing: the same request.
        shuffled = orjson.dumps({"input": ["one two", "three"], "model": EMBED})
        third = http.post(
            "/embeddings", content=b" " + shuffled, headers={"content-type": "application/json"}
        )
    assert [r.headers[CACHE] for r in (first, second, third)] == ["miss", "hit", "hit"]
    assert second.content == first.content == third.content
    assert [r["_path"] for r in upstream.requests] == ["/v1/embeddings"]


def test_another_body_or_another_project_is_a_miss(server, upstream):
    with sdk(server.url, cached_key(server)["key"]) as client:
        assert ask(client, "Same").headers[CACHE] == "miss"
        assert ask(client, "Other").headers[CACHE] == "miss"
        assert ask(client, "Same", temperature=0.5).headers[CACHE] == "miss"
        assert ask(client, "Same").headers[CACHE] == "hit"
    with sdk(server.url, cached_key(server)["key"]) as elsewhere:  # a key of another project
        assert ask(elsewhere, "Same").headers[CACHE] == "miss"
    assert len(upstream.requests) == 4


def test_no_header_and_no_cache_when_the_key_has_no_ttl(server, upstream):
    with sdk(server.url, cached_key(server, ttl=None)["key"]) as client:
        first, second = ask(client, "Uncached"), ask(client, "Uncached")
    assert CACHE not in first.headers and CACHE not in second.headers
    assert len(upstream.requests) == 2


def test_the_keys_ttl_wins_over_the_projects(server, upstream, monkeypatch):
    project = f"cache-{secrets.token_hex(4)}"
    response = server.admin.post(f"/admin/projects/{project}", json={"cache_ttl": 3600})
    assert response.status_code == 200 and response.json()["cache_ttl"] == 3600
    inherits = cached_key(server, ttl=None, project=project)
    short = cached_key(server, ttl=5, project=project)
    off = cached_key(server, ttl=0, project=project)
    with (
        sdk(server.url, inherits["key"]) as a,
        sdk(server.url, short["key"]) as b,
        sdk(server.url, off["key"]) as c,
    ):
        assert ask(a, "Q").headers[CACHE] == "miss"
        assert ask(b, "Q").headers[CACHE] == "hit"  # one project: its keys share answers
        assert CACHE not in ask(c, "Q").headers  # 0 on the key: off, whatever the project says
        later = time.time() + 60
        monkeypatch.setattr(server.cache, "clock", lambda: later)
        assert ask(b, "R").headers[CACHE] == "miss"
        assert ask(a, "R").headers[CACHE] == "hit"  # kept an hour for the project's other keys
        later += 10
        assert ask(b, "R").headers[CACHE] == "miss"  # stored by b for 5 s: gone for b's lookup
    assert len(upstream.requests) == 4


def test_an_answer_expires_after_its_ttl(server, upstream, monkeypatch):
    with sdk(server.url, cached_key(server, ttl=1)["key"]) as client:
        assert ask(client, "Soon gone").headers[CACHE] == "miss"
        assert ask(client, "Soon gone").headers[CACHE] == "hit"
        moved = time.time() + 1.1
        monkeypatch.setattr(server.cache, "clock", lambda: moved)
        assert ask(client, "Soon gone").headers[CACHE] == "miss"
    assert len(upstream.requests) == 2


def test_cache_control_skips_the_lookup_and_no_store_the_storing(server, upstream):
    upstream.script(Text(["one"]), Text(["two"]), Text(["three"]), Text(["four"]))
    with sdk(server.url, cached_key(server)["key"]) as client:
        ask(client, "CC")
        no_cache = ask(client, "CC", extra_headers={"Cache-Control": "no-cache"})
        assert no_cache.headers[CACHE] == "miss"
        # no-cache still stores: the next lookup finds the fresher answer.
        assert ask(client, "CC").parse().choices[0].message.content == "two"
        no_store = ask(client, "CC", extra_headers={"Cache-Control": "no-store"})
        assert no_store.headers[CACHE] == "miss"
        assert no_store.parse().choices[0].message.content == "three"
        assert ask(client, "CC").parse().choices[0].message.content == "two"
    assert len(upstream.requests) == 3


def test_failed_or_broken_answers_are_not_cached(server, upstream):
    upstream.script(
        Fail(500), Broken(["cut"], mode="eof"), Broken(["reset"], mode="reset"), Text(["whole"])
    )
    with sdk(server.url, cached_key(server)["key"]) as client:
        with pytest.raises(openai.InternalServerError) as failed:
            ask(client, "Fragile")
        assert failed.value.response.headers[CACHE] == "miss"
        # Ends cleanly, but without a finish or [DONE]: not whole.
        assert text_of(ask(client, "Fragile", stream=True)) == "cut"
        with pytest.raises(openai.APIError):  # the gateway's in-band error after a reset
            text_of(ask(client, "Fragile", stream=True))
        assert text_of(ask(client, "Fragile", stream=True)) == "whole"
        again = ask(client, "Fragile", stream=True)
        assert again.headers[CACHE] == "hit"
        assert text_of(again) == "whole"
    assert len(upstream.requests) == 4


def text_of(streamed: Any) -> str:
    return "".join(c.choices[0].delta.content or "" for c in streamed.parse() if c.choices)


def test_a_hit_costs_nothing_counts_as_a_request_and_is_logged(server, upstream):
    # Room for one answer's cost in the budget, not two: hits must not spend it.
    assert cost_of(100, 50) == 0.2
    created = cached_key(server, rpm=100, tpm=100_000, budget_usd="0.3")
    upstream.default(Text(["paid"], usage=(100, 50)))
    with raw(server.url, created["key"]) as http:
        body = {"model": PRICED, "messages": [{"role": "user", "content": "Costly"}]}
        miss = http.post("/chat/completions", json=body)
        hits = [http.post("/chat/completions", json=body) for _ in range(3)]
        assert Decimal(miss.headers["x-threadline-cost"]) == Decimal(str(cost_of(100, 50)))
        for hit in hits:
            assert (hit.status_code, hit.headers[CACHE]) == (200, "hit")
            assert hit.headers["x-threadline-cost"] == "0"
            assert hit.content == miss.content
        # Tokens untouched by hits; each hit is one more request against the RPM.
        tokens = {h.headers["x-ratelimit-remaining-tokens"] for h in hits}
        assert tokens == {str(100_000 - 150)}
        requests = [int(h.headers["x-ratelimit-remaining-requests"]) for h in hits]
        assert requests == [98, 97, 96]
        # The budget still has room for one more paid answer, then none.
        other = {**body, "messages": [{"role": "user", "content": "Costly too"}]}
        assert http.post("/chat/completions", json=other).status_code == 200
        refused = http.post("/chat/completions", json={**other, "user": "x"})
        assert refused.status_code == 429
    assert len(upstream.requests) == 2
    report = server.admin.get("/admin/usage", params={"project": created["project"]}).json()
    assert (report["requests"], report["input_tokens"], report["output_tokens"]) == (2, 200, 100)

    def logged(cache: str) -> dict[str, dict[str, Any]]:
        params = {"project": created["project"], "cache": cache}
        lines = server.admin.get("/admin/logs", params=params).json()["data"]
        return {line["id"]: line for line in lines}

    hit_lines = logged("hit")
    assert set(hit_lines) == {hit.headers["x-threadline-request-id"] for hit in hits}
    assert {(line["status"], line["cost_usd"], line["model"]) for line in hit_lines.values()} == {
        (200, "0", PRICED)
    }
    assert miss.headers["x-threadline-request-id"] in logged("miss")


def test_metrics_count_hits_and_misses(server, upstream):
    def count(name: str) -> float:
        text = httpx.get(f"{server.url}/metrics").text
        prefix = f'{name}_total{{route="/v1/chat/completions"}} '
        lines = [line for line in text.splitlines() if line.startswith(prefix)]
        return float(lines[0].removeprefix(prefix)) if lines else 0.0

    hits = count("threadline_response_cache_hits")
    misses = count("threadline_response_cache_misses")
    with sdk(server.url, cached_key(server)["key"]) as client:
        for _ in range(3):
            ask(client, "Counted")
    assert count("threadline_response_cache_hits") == hits + 2
    assert count("threadline_response_cache_misses") == misses + 1


def test_a_store_that_is_down_is_a_miss_not_a_failure(tmp_path, upstream):
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with gateway_server(tmp_path, upstream, redis_url=dead) as url, admin_client(url) as admin:
        key = make_key(admin, cache_ttl=60)["key"]  # no limits: the counters are not needed
        with sdk(url, key) as client:
            answers = [ask(client, "Redis is down") for _ in range(2)]
    assert [a.headers[CACHE] for a in answers] == ["miss", "miss"]
    assert all(a.parse().choices[0].message.content == "Hello world" for a in answers)
    assert len(upstream.requests) == 2
