"""Usage, cost, the request log and metrics: figures for chat, embeddings and runs per key,
project, model and day; log lines with filters; charges beyond tokens; Prometheus metrics."""

import secrets
import time
from decimal import Decimal

import httpx
import pytest

from tests.conftest import new_project_key
from tests.gateway.conftest import PRICED, cost_of, make_key, raw, sdk
from tests.runs_helpers import WEATHER
from tests.upstream import Text, ToolCalls

CHAT = {"model": PRICED, "messages": [{"role": "user", "content": "hi"}]}


def usage(admin: httpx.Client, **params: str) -> dict:
    response = admin.get("/admin/usage", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_chat_and_embeddings_usage_and_cost(gateway_url, gw_admin, upstream):
    created = make_key(gw_admin)
    upstream.script(Text(["a"], usage=(100, 20)), Text(["b"], usage=(50, 10)))
    with raw(gateway_url, created["key"]) as http:
        http.post("/chat/completions", json=CHAT)
        http.post("/chat/completions", json={**CHAT, "stream": True})
        http.post("/embeddings", json={"model": "embed-model", "input": "one two three"})
    report = usage(gw_admin, project=created["project"], group_by="key,model,meter")
    rows = {row["meter"]: row for row in report["data"]}
    chat, embeddings = rows["chat.completions"], rows["embeddings"]
    assert (chat["requests"], chat["input_tokens"], chat["output_tokens"]) == (2, 150, 30)
    assert Decimal(chat["cost_usd"]) == Decimal(str(cost_of(150, 30)))
    assert (chat["key_id"], chat["model"]) == (created["id"], PRICED)
    assert (embeddings["input_tokens"], embeddings["output_tokens"]) == (3, 0)
    assert Decimal(embeddings["cost_usd"]) == Decimal("0.003")
    assert report["requests"] == 3
    assert Decimal(report["cost_usd"]) == Decimal(str(cost_of(150, 30))) + Decimal("0.003")


def test_run_usage_and_cost_across_tool_rounds(gateway_url, gw_admin, upstream):
    created = make_key(gw_admin)
    upstream.script(
        ToolCalls([("get_weather", '{"city": "Paris"}')], usage=(30, 10)),
        Text(["Sunny."], usage=(45, 4)),
    )
    with sdk(gateway_url, created["key"]) as client:
        assistant = client.beta.assistants.create(model=PRICED, tools=[WEATHER])
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
        )
        assert run.status == "requires_action"
        call = run.required_action.submit_tool_outputs.tool_calls[0]
        run = client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}],
            poll_interval_ms=50,
        )
        assert run.status == "completed"
    assert (run.usage.prompt_tokens, run.usage.completion_tokens) == (75, 14)
    [row] = usage(gw_admin, project=created["project"], group_by="key,model,meter")["data"]
    assert (row["meter"], row["key_id"], row["model"]) == ("runs", created["id"], PRICED)
    assert (row["requests"], row["input_tokens"], row["output_tokens"]) == (2, 75, 14)
    assert Decimal(row["cost_usd"]) == Decimal(str(cost_of(75, 14)))


def test_usage_groups_and_filters(gateway_url, gw_admin, upstream):
    project = f"gw-{secrets.token_hex(5)}"
    first, second = make_key(gw_admin, project=project), make_key(gw_admin, project=project)
    for created in (first, second, second):
        with raw(gateway_url, created["key"]) as http:
            http.post("/chat/completions", json=CHAT)
    by_key = usage(gw_admin, project=project, group_by="key")["data"]
    assert {row["key_id"]: row["requests"] for row in by_key} == {first["id"]: 1, second["id"]: 2}
    today = time.strftime("%Y-%m-%d", time.gmtime())
    [day] = usage(gw_admin, project=project, group_by="day")["data"]
    assert (day["day"], day["requests"]) == (today, 3)
    assert usage(gw_admin, project=project, key=first["id"])["requests"] == 1
    assert usage(gw_admin, project=project, since="2000-01-01", until="2000-01-02")["data"] == []
    assert gw_admin.get("/admin/usage", params={"group_by": "colour"}).status_code == 400
    assert gw_admin.get("/admin/usage", params={"since": "yesterday"}).status_code == 400
    assert gw_admin.get("/admin/usage", params={"project": "no-such"}).status_code == 404


def test_request_log_lines_and_filters(gateway_url, gw_admin, upstream):
    created = make_key(gw_admin)
    upstream.script(Text(["ok"], usage=(10, 5)))
    with raw(gateway_url, created["key"]) as http:
        ok = http.post("/chat/completions", json=CHAT)
        missing = http.get("/assistants/asst_nope")
    logs = gw_admin.get("/admin/logs", params={"project": created["project"]}).json()
    by_id = {line["id"]: line for line in logs["data"]}
    line = by_id[ok.headers["x-threadline-request-id"]]
    assert (line["method"], line["path"], line["status"]) == ("POST", "/v1/chat/completions", 200)
    assert (line["key_id"], line["project"], line["model"]) == (
        created["id"],
        created["project"],
        PRICED,
    )
    assert (line["input_tokens"], line["output_tokens"]) == (10, 5)
    assert Decimal(line["cost_usd"]) == Decimal(str(cost_of(10, 5)))
    assert line["latency_ms"] > 0 and line["request_body"] is None
    failed = by_id[missing.headers["x-threadline-request-id"]]
    assert (failed["status"], failed["error_code"]) == (404, "invalid_request_error")
    only_errors = gw_admin.get(
        "/admin/logs", params={"project": created["project"], "status": "4xx"}
    ).json()["data"]
    assert [entry["status"] for entry in only_errors] == [404]
    page = gw_admin.get("/admin/logs", params={"project": created["project"], "limit": 1}).json()
    assert page["has_more"] is True
    older = gw_admin.get(
        "/admin/logs",
        params={"project": created["project"], "before": page["last_id"], "limit": 10},
    ).json()["data"]
    assert [entry["id"] for entry in older] == [ok.headers["x-threadline-request-id"]]
    for bad in ({"status": "4x"}, {"since": "today"}, {"limit": "0"}):
        assert gw_admin.get("/admin/logs", params=bad).status_code == 400


def test_unauthenticated_requests_are_logged_without_a_key(gateway_url, gw_admin):
    response = httpx.get(f"{gateway_url}/v1/assistants")
    request_id = response.headers["x-threadline-request-id"]
    logs = gw_admin.get("/admin/logs", params={"status": "401", "limit": 1000}).json()["data"]
    [line] = [entry for entry in logs if entry["id"] == request_id]
    assert line["key_id"] is None and line["error_code"] == "invalid_request_error"


def test_charges_beyond_tokens():
    """code_interpreter sessions and vector-store storage are priced by the gateway as the
    features that use them record them (their routes arrive later)."""
    from threadline.gateway.pricing import VECTOR_STORE_GB_DAYS, Charges, PriceTable

    prices = PriceTable(charges=Charges(vector_store_gb_day=0.1, vector_store_free_gb=1.0))
    assert prices.billable_gb_days(0.5, 10) == 0
    assert prices.billable_gb_days(3.0, 2) == pytest.approx(4.0)
    assert prices.charge_cost(VECTOR_STORE_GB_DAYS, 4.0) == 400_000_000  # $0.40


def test_thread_fee_and_request_log_retention(tmp_path, upstream_server):
    from tests.gateway.conftest import admin_client, gateway_server

    with (
        gateway_server(
            tmp_path, upstream_server, thread_fee=0.25, request_log_retention_days=0
        ) as url,
        admin_client(url) as admin,
    ):
        created = make_key(admin)
        with sdk(url, created["key"]) as client:
            client.beta.threads.create()
            assistant = client.beta.assistants.create(model=PRICED)
            client.beta.threads.create_and_run_poll(assistant_id=assistant.id, poll_interval_ms=50)
            client.conversations.create()  # a conversation is a thread
        rows = usage(admin, project=created["project"], group_by="meter")["data"]
        [threads] = [row for row in rows if row["meter"] == "threads"]
        assert (threads["quantity"], Decimal(threads["cost_usd"])) == (3.0, Decimal("0.75"))
        # Retention 0 days: the sweep deletes every line older than now.
        time.sleep(1.5)
        logs = admin.get("/admin/logs", params={"project": created["project"]}).json()["data"]
        assert logs == []


def test_metrics(gateway_url, gw_admin, upstream):
    key = make_key(gw_admin, rpm=1)["key"]
    with raw(gateway_url, key) as http:
        http.post("/chat/completions", json=CHAT)
        http.post("/chat/completions", json=CHAT)  # refused: rpm 1
    text = httpx.get(f"{gateway_url}/metrics").text
    assert (
        'threadline_http_requests_total{method="POST",route="/v1/chat/completions",status="200"}'
        in text
    )
    assert 'threadline_rate_limit_rejections_total{reason="rpm"}' in text
    assert (
        'threadline_http_requests_total{method="POST",route="/v1/chat/completions",status="429"}'
        in text
    )
    assert f'threadline_tokens_total{{kind="input",model="{PRICED}"}}' in text
    assert "threadline_http_request_duration_seconds_bucket" in text
    assert "threadline_upstream_response_seconds_bucket" in text
    assert "threadline_active_runs" in text and "threadline_cost_usd_total" in text
    assert key not in text


def test_metrics_label_every_route_with_its_full_template(gateway_url, gw_admin):
    key = make_key(gw_admin)["key"]
    with raw(gateway_url, key) as http:
        thread = http.post("/threads", json={}).json()
        http.get(f"/threads/{thread['id']}")
        http.get("/files")
        http.get("/no-such-route")
    text = httpx.get(f"{gateway_url}/metrics").text
    for method, route in [
        ("POST", "/v1/threads"),
        ("GET", "/v1/threads/{thread_id}"),
        ("GET", "/v1/files"),
        ("GET", "unmatched"),
    ]:
        assert f'threadline_http_requests_total{{method="{method}",route="{route}"' in text
    assert 'route="/threads"' not in text and thread["id"] not in text


def test_usage_is_recorded_on_every_database(server_url, admin, upstream):
    """The session's server (SQLite, then PostgreSQL): tokens of chat and of a run."""
    project = f"usage-{secrets.token_hex(5)}"
    key = new_project_key(admin, project)
    upstream.script(Text(["a"], usage=(11, 2)), Text(["b"], usage=(13, 3)))
    with raw(server_url, key) as http:
        assert http.post("/chat/completions", json={**CHAT, "model": "gpt-test"}).is_success
    with sdk(server_url, key) as client:
        assistant = client.beta.assistants.create(model="gpt-test")
        run = client.beta.threads.create_and_run_poll(
            assistant_id=assistant.id, poll_interval_ms=50
        )
        assert run.status == "completed"
    rows = usage(admin, project=project, group_by="meter")["data"]
    assert {row["meter"]: (row["input_tokens"], row["output_tokens"]) for row in rows} == {
        "chat.completions": (11, 2),
        "runs": (13, 3),
    }
