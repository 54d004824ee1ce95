"""Rate limits and budgets, exact under concurrency, with in-memory counters and with a real
Redis: OpenAI's headers and 429s, parallel slots, tokens per
minute, budgets for chat and for runs, project-wide limits, and no immortal Redis key."""

import asyncio
import secrets
from typing import Any

import httpx
import openai
import pytest

from tests.gateway.conftest import PRICED, make_key, raw, sdk
from tests.runs_helpers import wait_for_run
from tests.upstream import Slow, Text

CHAT = {"model": PRICED, "messages": [{"role": "user", "content": "hi"}]}


async def _burst(base_url: str, key: str, count: int, body: dict[str, Any]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(
        base_url=f"{base_url}/v1",
        headers={"Authorization": f"Bearer {key}"},
        limits=limits,
        timeout=60,
    ) as client:
        return list(
            await asyncio.gather(
                *(client.post("/chat/completions", json=body) for _ in range(count))
            )
        )


def burst(base_url: str, key: str, count: int, body: dict[str, Any] = CHAT) -> list[httpx.Response]:
    return asyncio.run(_burst(base_url, key, count, body))


def statuses(responses: list[httpx.Response]) -> dict[int, int]:
    found: dict[int, int] = {}
    for response in responses:
        found[response.status_code] = found.get(response.status_code, 0) + 1
    return found


def test_rpm_is_exact_with_60_concurrent_requests(counted_gateway_url, counted_admin, upstream):
    key = make_key(counted_admin, rpm=20)["key"]
    responses = burst(counted_gateway_url, key, 60)
    assert statuses(responses) == {200: 20, 429: 40}
    for response in responses:
        if response.status_code == 429:
            error = response.json()["error"]
            assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
            assert 1 <= int(response.headers["retry-after"]) <= 60
            assert 0 < int(response.headers["retry-after-ms"]) <= 60_000
            assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert len(upstream.requests) == 20


def test_ratelimit_headers_count_down(counted_gateway_url, counted_admin):
    key = make_key(counted_admin, rpm=5, tpm=100_000)["key"]
    with raw(counted_gateway_url, key) as http:
        seen = []
        for _ in range(3):
            response = http.post("/chat/completions", json=CHAT)
            assert response.status_code == 200
            seen.append(response.headers)
        assert [h["x-ratelimit-remaining-requests"] for h in seen] == ["4", "3", "2"]
        assert all(h["x-ratelimit-limit-requests"] == "5" for h in seen)
        assert all(h["x-ratelimit-limit-tokens"] == "100000" for h in seen)
        assert seen[0]["x-ratelimit-reset-requests"].endswith("s")
        # The Assistants API is limited too.
        response = http.get("/assistants")
        assert response.headers["x-ratelimit-remaining-requests"] == "1"


def test_keys_without_limits_get_no_ratelimit_headers(counted_gateway_url, counted_admin):
    key = make_key(counted_admin)["key"]
    with raw(counted_gateway_url, key) as http:
        response = http.post("/chat/completions", json=CHAT)
    assert response.status_code == 200
    assert not [name for name in response.headers if name.startswith("x-ratelimit")]


def test_max_parallel_requests(counted_gateway_url, counted_admin, upstream):
    key = make_key(counted_admin, max_parallel=3)["key"]
    upstream.default(Slow(Text(["slow"]), first_byte_delay=0.5))
    responses = burst(counted_gateway_url, key, 10)
    assert statuses(responses) == {200: 3, 429: 7}
    assert "parallel" in responses[[r.status_code for r in responses].index(429)].text
    upstream.default(Text(["fast"]))
    # Slots are freed when the responses end.
    assert statuses(burst(counted_gateway_url, key, 3)) == {200: 3}


def test_tokens_per_minute_count_actual_usage(counted_gateway_url, counted_admin, upstream):
    key = make_key(counted_admin, tpm=40)["key"]
    upstream.default(Text(["ok"], usage=(10, 5)))  # 15 tokens a call
    with raw(counted_gateway_url, key) as http:
        # A call reserves its estimate (a quarter of its body's bytes, ~17 here) and is then
        # charged what it used: 15, 30, and 30 + 17 > 40 is refused.
        responses = [http.post("/chat/completions", json=CHAT) for _ in range(3)]
        assert [r.status_code for r in responses] == [200, 200, 429]
        # The headers show what is left with this call's reservation taken.
        assert 0 < int(responses[1].headers["x-ratelimit-remaining-tokens"]) < 25
        refused = responses[2]
        assert refused.json()["error"]["code"] == "rate_limit_exceeded"
        assert "tokens per minute" in refused.json()["error"]["message"]


def test_a_request_larger_than_the_token_limit_is_refused_for_good(
    counted_gateway_url, counted_admin
):
    key = make_key(counted_admin, tpm=100)["key"]
    body = {**CHAT, "max_tokens": 500}
    with raw(counted_gateway_url, key) as http:
        response = http.post("/chat/completions", json=body)
    assert response.status_code == 429
    assert response.headers["x-should-retry"] == "false"


def test_budget_exhausted_is_insufficient_quota(counted_gateway_url, counted_admin, upstream):
    # Each call costs 10 * $0.001 + 5 * $0.002 = $0.02; a $0.05 budget allows three calls
    # (the third starts below the budget and ends above it), then refuses.
    created = make_key(counted_admin, budget_usd="0.05", budget_period="day")
    key, key_id = created["key"], created["id"]
    upstream.default(Text(["ok"], usage=(10, 5)))
    with raw(counted_gateway_url, key) as http:
        codes = [http.post("/chat/completions", json=CHAT).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = http.post("/chat/completions", json=CHAT)
        assert refused.json()["error"]["type"] == "insufficient_quota"
        assert refused.json()["error"]["code"] == "insufficient_quota"
        assert refused.headers["x-should-retry"] == "false"
        assert "retry-after" not in refused.headers
        # Budgets limit model calls, not reading what is there.
        assert http.get("/assistants").status_code == 200
    # The official SDK does not retry it (x-should-retry: false), even with retries on.
    client = openai.OpenAI(base_url=f"{counted_gateway_url}/v1", api_key=key, max_retries=2)
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model=PRICED, messages=CHAT["messages"])
    assert refused.value.code == "insufficient_quota"
    logs = counted_admin.get("/admin/logs", params={"key": key_id, "status": 429}).json()["data"]
    assert len(logs) == 3  # two raw requests above, and one SDK attempt


def test_budget_under_concurrency_overshoots_by_at_most_the_calls_in_flight(
    counted_gateway_url, counted_admin, upstream
):
    key = make_key(counted_admin, budget_usd="0.10", max_parallel=4)["key"]
    upstream.default(Text(["ok"], usage=(10, 5)))
    for _ in range(5):
        burst(counted_gateway_url, key, 8)
    with raw(counted_gateway_url, key) as http:
        assert http.post("/chat/completions", json=CHAT).status_code == 429
    spent = len(upstream.requests) * 0.02
    assert 0.10 <= spent <= 0.10 + 4 * 0.02


def test_run_tokens_count_against_tpm_and_budget(counted_gateway_url, counted_admin, upstream):
    key = make_key(counted_admin, tpm=25, budget_usd="1")["key"]
    upstream.default(Text(["answer"], usage=(10, 5)))
    with sdk(counted_gateway_url, key) as client:
        assistant = client.beta.assistants.create(model=PRICED)
        thread = client.beta.threads.create()
        run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        wait_for_run(client, thread.id, run.id)
        run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        wait_for_run(client, thread.id, run.id)
    with raw(counted_gateway_url, key) as http:
        # 30 run tokens used in this minute: a model call is refused, a read is not.
        refused = http.post(f"/threads/{thread.id}/runs", json={"assistant_id": assistant.id})
        assert refused.status_code == 429, refused.text
        assert refused.headers["x-ratelimit-remaining-tokens"] == "0"
        assert http.get(f"/threads/{thread.id}/runs").status_code == 200


def test_project_limits_are_shared_by_its_keys(counted_gateway_url, counted_admin):
    project = f"gw-{secrets.token_hex(5)}"
    response = counted_admin.post(f"/admin/projects/{project}", json={"rpm": 4})
    assert response.status_code == 200, response.text
    assert response.json()["rpm"] == 4
    first = make_key(counted_admin, project=project)["key"]
    second = make_key(counted_admin, project=project)["key"]
    with raw(counted_gateway_url, first) as a, raw(counted_gateway_url, second) as b:
        codes = [client.get("/assistants").status_code for client in (a, b, a, b, a, b)]
    assert codes == [200, 200, 200, 200, 429, 429]


def test_project_budget(counted_gateway_url, counted_admin, upstream):
    project = f"gw-{secrets.token_hex(5)}"
    counted_admin.post(f"/admin/projects/{project}", json={"budget_usd": 0.03})
    key = make_key(counted_admin, project=project)["key"]
    upstream.default(Text(["ok"], usage=(10, 5)))
    with raw(counted_gateway_url, key) as http:
        codes = [http.post("/chat/completions", json=CHAT).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_every_redis_key_expires(counters, redis_url, counted_gateway_url, counted_admin):
    if counters != "redis":
        pytest.skip("Redis only")
    import redis

    key = make_key(counted_admin, rpm=100, tpm=10_000, max_parallel=5, budget_usd=1)["key"]
    burst(counted_gateway_url, key, 5)
    client = redis.Redis.from_url(redis_url)
    names = list(client.scan_iter(match="threadline:*", count=1000))
    assert names
    assert [name for name in names if client.pttl(name) < 0] == []


@pytest.mark.parametrize("fail_open", [False, True])
def test_redis_unreachable(tmp_path, upstream_server, fail_open: bool):
    """Redis outage: with the shared counters gone, limited keys get a retryable 503 (or,
    configured so, go through unlimited); keys without limits never notice."""
    from tests.gateway.conftest import admin_client, gateway_server
    from tests.servers import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    with gateway_server(
        tmp_path, upstream_server, redis_url=dead, redis_fail_open=fail_open
    ) as url:
        with admin_client(url) as admin:
            limited = make_key(admin, rpm=10)["key"]
            free = make_key(admin)["key"]
        with raw(url, limited) as http:
            response = http.post("/chat/completions", json=CHAT)
            if fail_open:
                assert response.status_code == 200, response.text
            else:
                assert response.status_code == 503, response.text
                assert response.headers["retry-after"] == "1"
        with raw(url, free) as http:
            assert http.post("/chat/completions", json=CHAT).status_code == 200
