"""The gateway on the Responses API, as on runs: the key's allowed models, RPM, TPM, parallel
slots and budgets; ``x-threadline-cost`` on a synchronous answer; the request-log line with
the model and tokens; ``/admin/usage`` (meter ``responses``)."""

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from tests.gateway.conftest import PRICED, cost_of, make_key, raw, sdk
from tests.gateway.test_limits import statuses
from tests.upstream import Slow, Text

RESPONSE = {"model": PRICED, "input": "hi"}


def _sum_usage(admin: httpx.Client, project: str) -> list[dict[str, Any]]:
    response = admin.get("/admin/usage", params={"project": project, "group_by": "model,meter"})
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


def _log_line(admin: httpx.Client, project: str, request_id: str) -> dict[str, Any]:
    logs = admin.get("/admin/logs", params={"project": project, "limit": 100}).json()["data"]
    [line] = [entry for entry in logs if entry["id"] == request_id]
    return line  # type: ignore[no-any-return]


async def _burst(base_url: str, key: str, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(
        base_url=f"{base_url}/v1", headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as client:
        return list(
            await asyncio.gather(*(client.post("/responses", json=RESPONSE) for _ in range(count)))
        )


def test_allowed_models_on_responses(gateway_url, gw_admin, upstream):
    key = make_key(gw_admin, models=[PRICED])["key"]
    with sdk(gateway_url, key) as client:
        with pytest.raises(openai.PermissionDeniedError) as refused:
            client.responses.create(model="gpt-test", input="hi")
        assert refused.value.code == "model_not_found"
        with pytest.raises(openai.PermissionDeniedError):
            client.responses.create(model="gpt-test", input="hi", stream=True)
        first = client.responses.create(model=PRICED, input="hi")
        assert first.status == "completed"
        # A continuation is held to the key's models too.
        with pytest.raises(openai.PermissionDeniedError):
            client.responses.create(model="gpt-test", input="more", previous_response_id=first.id)


def test_rpm_on_responses(counted_gateway_url, counted_admin, upstream):
    key = make_key(counted_admin, rpm=2)["key"]
    with raw(counted_gateway_url, key) as http:
        codes = [http.post("/responses", json=RESPONSE).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_response_tokens_count_against_tpm(counted_gateway_url, counted_admin, upstream):
    key = make_key(counted_admin, tpm=25)["key"]
    upstream.default(Text(["answer"], usage=(10, 5)))
    with raw(counted_gateway_url, key) as http:
        assert http.post("/responses", json=RESPONSE).status_code == 200
        assert http.post("/responses", json=RESPONSE).status_code == 200
        # 30 response tokens used in this minute: a model call is refused, a read is not.
        refused = http.post("/responses", json=RESPONSE)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "rate_limit_exceeded"
        assert http.get("/conversations/conv_nope").status_code == 404


def test_max_parallel_on_responses(counted_gateway_url, counted_admin, upstream):
    key = make_key(counted_admin, max_parallel=2)["key"]
    upstream.default(Slow(Text(["slow"]), first_byte_delay=0.5))
    try:
        responses = asyncio.run(_burst(counted_gateway_url, key, 5))
    finally:
        upstream.default(Text(["fast"]))
    assert statuses(responses) == {200: 2, 429: 3}
    assert statuses(asyncio.run(_burst(counted_gateway_url, key, 2))) == {200: 2}


def test_budget_exhausted_on_responses(counted_gateway_url, counted_admin, upstream):
    # Each response costs 10 * $0.001 + 5 * $0.002 = $0.02: a $0.05 budget allows three.
    key = make_key(counted_admin, budget_usd="0.05", budget_period="day")["key"]
    upstream.default(Text(["ok"], usage=(10, 5)))
    with raw(counted_gateway_url, key) as http:
        codes = [http.post("/responses", json=RESPONSE).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = http.post("/responses", json={**RESPONSE, "stream": True})
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "insufficient_quota"
        assert refused.headers["x-should-retry"] == "false"


def test_cost_header_log_line_and_usage_of_a_response(gateway_url, gw_admin, upstream):
    created = make_key(gw_admin)
    upstream.script(Text(["ok"], usage=(10, 5)), Text(["streamed"], usage=(20, 7)))
    with raw(gateway_url, created["key"]) as http:
        answered = http.post("/responses", json=RESPONSE)
        assert answered.status_code == 200, answered.text
        assert Decimal(answered.headers["x-threadline-cost"]) == Decimal(str(cost_of(10, 5)))
        with http.stream("POST", "/responses", json={**RESPONSE, "stream": True}) as streamed:
            assert streamed.status_code == 200
            assert "response.completed" in streamed.read().decode()
    project = created["project"]
    line = _log_line(gw_admin, project, answered.headers["x-threadline-request-id"])
    assert (line["method"], line["path"], line["status"]) == ("POST", "/v1/responses", 200)
    assert (line["model"], line["input_tokens"], line["output_tokens"]) == (PRICED, 10, 5)
    assert Decimal(line["cost_usd"]) == Decimal(str(cost_of(10, 5)))
    line = _log_line(gw_admin, project, streamed.headers["x-threadline-request-id"])
    assert (line["model"], line["input_tokens"], line["output_tokens"]) == (PRICED, 20, 7)
    [row] = _sum_usage(gw_admin, project)
    assert (row["meter"], row["model"]) == ("responses", PRICED)
    assert (row["requests"], row["input_tokens"], row["output_tokens"]) == (2, 30, 12)
    assert Decimal(row["cost_usd"]) == Decimal(str(cost_of(30, 12)))
