"""Runs that do not simply complete, on both backends: upstream errors and retries, hangs,
broken streams, the token limit, cancellation, client disconnects, races on one thread, no
upstream at all, and expiry.

Most tests use the session server (``upstream_max_retries=1``, ``upstream_max_retry_wait=2``);
the ones that need other settings start a server of their own on a fresh database. Every wait is
a polling deadline: a run that never gets where it should fails the test."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import MASTER_KEY, new_project_key, sdk_client
from tests.databases import database
from tests.runs_helpers import (
    MODEL,
    WEATHER,
    assert_no_upstream_secrets,
    assert_partial_message,
    assert_stream_ends_with,
    assert_thread_usable,
    names,
    run_id_of,
    run_messages,
    run_steps,
    sse_events,
    stream_run,
    streamed_text,
    text_of,
    wait_for_run,
)
from tests.servers import threaded_server
from tests.upstream import BROKEN_MODES, Broken, Fail, ScriptedUpstream, Slow, Text, ToolCalls
from threadline.settings import Settings

CALL = ("get_weather", '{"city": "Paris"}')


@pytest.fixture
def assistant(client: OpenAI) -> Any:
    return client.beta.assistants.create(model=MODEL, instructions="Be brief.", tools=[WEATHER])


@pytest.fixture
def thread(client: OpenAI) -> Any:
    return client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])


def start_run(client: OpenAI, thread_id: str, assistant_id: str) -> Any:
    return client.beta.threads.runs.create(thread_id, assistant_id=assistant_id)


def assert_failed(run: Any, code: str) -> None:
    assert run.status == "failed", run.to_dict()
    assert run.last_error is not None and run.last_error.code == code, run.to_dict()
    assert run.last_error.message
    assert run.failed_at is not None and run.failed_at >= run.created_at
    assert (run.completed_at, run.cancelled_at, run.expires_at) == (None, None, None)
    assert run.required_action is None


# --- upstream HTTP errors -----------------------------------------------------------------------


def test_server_errors_exhaust_the_retries_and_the_stream_ends_failed(
    client, http, upstream, assistant, thread
):
    upstream.script(Fail(503), Fail(503))
    events = stream_run(http, thread.id, {"assistant_id": assistant.id})

    assert_stream_ends_with(events, "thread.run.failed")
    assert names(events)[:3] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
    ]
    run = wait_for_run(client, thread.id, run_id_of(events))
    assert_failed(run, "server_error")
    assert events[-2].json()["last_error"] == run.last_error.to_dict()
    assert len(upstream.requests) == 2, "one attempt plus upstream_max_retries=1"
    assert_no_upstream_secrets(run.last_error.message, upstream.base_url, upstream.api_key)
    wire = "\n".join(event.data for event in events)
    assert_no_upstream_secrets(wire, upstream.base_url, upstream.api_key)
    assert run_messages(client, thread.id, run.id) == [], "no output, no assistant message"
    assert_thread_usable(client, thread.id, assistant.id)


def test_an_upstream_500_fails_the_run_after_one_request(client, upstream, assistant, thread):
    upstream.script(Fail(500), Text(["never asked"]))
    run = start_run(client, thread.id, assistant.id)
    run = wait_for_run(client, thread.id, run.id)

    assert_failed(run, "server_error")
    assert "HTTP 500" in run.last_error.message
    assert len(upstream.requests) == 1, "a plain 500 is not retried: the same body, the same answer"
    assert upstream.pending == 1
    assert_thread_usable(client, thread.id, assistant.id)


def test_429_retry_after_is_honoured_then_the_run_completes(client, upstream, assistant, thread):
    upstream.script(Fail(429, headers={"retry-after": "1"}), Text(["Back ", "again"]))
    run = start_run(client, thread.id, assistant.id)
    run = wait_for_run(client, thread.id, run.id)

    assert run.status == "completed", run.to_dict()
    assert len(upstream.requests) == 2
    (message,) = run_messages(client, thread.id, run.id)
    assert (message.status, text_of(message)) == ("completed", "Back again")


@pytest.mark.parametrize(
    "reply",
    [
        Fail(429, headers={"retry-after": "3600"}),
        Fail(
            429,
            body={
                "error": {
                    "message": "You exceeded your current quota.",
                    "type": "insufficient_quota",
                    "param": None,
                    "code": "insufficient_quota",
                }
            },
        ),
    ],
    ids=["retry-after-3600", "insufficient-quota"],
)
def test_429_that_cannot_be_waited_out_fails_at_once(client, upstream, assistant, thread, reply):
    upstream.script(reply)
    run = start_run(client, thread.id, assistant.id)
    run = wait_for_run(client, thread.id, run.id, timeout=10)

    assert_failed(run, "rate_limit_exceeded")
    assert len(upstream.requests) == 1, "not retried"
    assert run_messages(client, thread.id, run.id) == []
    assert_thread_usable(client, thread.id, assistant.id)


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "invalid_prompt"), (401, "server_error"), (404, "server_error")],
)
def test_non_retryable_errors_fail_after_one_attempt_and_leak_nothing(
    client, upstream, assistant, thread, status, code
):
    echo = f"Bad call to {upstream.base_url}/chat/completions with key {upstream.api_key}."
    body = {
        "error": {"message": echo, "type": "invalid_request_error", "param": None, "code": None}
    }
    upstream.script(Fail(status, body=body))
    run = start_run(client, thread.id, assistant.id)
    run = wait_for_run(client, thread.id, run.id)

    assert_failed(run, code)
    assert len(upstream.requests) == 1, "exactly one upstream attempt"
    assert_no_upstream_secrets(run.last_error.message, upstream.base_url, upstream.api_key)
    assert run_messages(client, thread.id, run.id) == [], "no output ever"
    assert_thread_usable(client, thread.id, assistant.id)


# --- broken streams -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", BROKEN_MODES)
def test_stream_broken_after_output_fails_the_run_and_keeps_the_partial_message(
    client, upstream, assistant, thread, mode
):
    upstream.script(Broken(["Partial ", "answer"], mode=mode))
    deltas: list[str] = []
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        seen = []
        for event in stream:
            seen.append(event.event)
            if event.event == "thread.message.delta":
                deltas += [part.text.value for part in event.data.delta.content or []]
        final = stream.current_run

    assert seen[-3:] == [
        "thread.run.step.failed",
        "thread.message.incomplete",
        "thread.run.failed",
    ], seen
    assert final is not None and final.status == "failed"
    run = wait_for_run(client, thread.id, final.id)
    assert_failed(run, "server_error")
    assert len(upstream.requests) == 1, "no retry once output went out"
    assert "".join(deltas) == "Partial answer"
    assert_partial_message(client, thread.id, run.id, "run_failed", text="Partial answer")
    (step,) = run_steps(client, thread.id, run.id)
    assert step.type == "message_creation"
    assert step.status == "failed" and step.failed_at is not None, step.to_dict()
    assert step.last_error is not None and step.last_error.code == "server_error"
    assert_thread_usable(client, thread.id, assistant.id)


def test_broken_stream_on_the_wire_ends_with_failed_then_done(
    client, http, upstream, assistant, thread
):
    upstream.script(Broken(["Half ", "said"], mode="garbage"))
    events = stream_run(http, thread.id, {"assistant_id": assistant.id})

    assert_stream_ends_with(
        events, "thread.run.step.failed", "thread.message.incomplete", "thread.run.failed"
    )
    incomplete = events[-3].json()
    assert incomplete["incomplete_details"] == {"reason": "run_failed"}
    assert streamed_text(events) == "Half said"
    assert_no_upstream_secrets(events[-2].data, upstream.base_url, upstream.api_key)


# --- the token limit ------------------------------------------------------------------------------


def test_finish_reason_length_makes_the_run_and_its_message_incomplete(
    client, http, upstream, assistant, thread
):
    upstream.script(Text(["Cut ", "short"], finish_reason="length"))
    events = stream_run(http, thread.id, {"assistant_id": assistant.id})

    assert_stream_ends_with(events, "thread.message.incomplete", "thread.run.incomplete")
    run = wait_for_run(client, thread.id, run_id_of(events))
    assert run.status == "incomplete", run.to_dict()
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert run.last_error is None and run.failed_at is None
    assert_partial_message(client, thread.id, run.id, "max_tokens", text="Cut short")
    assert [step.status for step in run_steps(client, thread.id, run.id)] == ["completed"]
    assert_thread_usable(client, thread.id, assistant.id)


# --- cancellation ---------------------------------------------------------------------------------


def test_cancel_while_streaming_from_the_upstream(client, http, upstream, assistant, thread):
    upstream.script(Slow(Text(["tick "] * 100), chunk_delay=0.1))  # 10 s unless cancelled
    path = f"/threads/{thread.id}/runs"
    with http.stream("POST", path, json={"assistant_id": assistant.id, "stream": True}) as response:
        assert response.status_code == 200
        events = []
        reading = sse_events(response)
        for event in reading:
            events.append(event)
            if names(events).count("thread.message.delta") >= 3:
                break
        run_id = run_id_of(events)
        cancelling = client.beta.threads.runs.cancel(run_id, thread_id=thread.id)
        assert cancelling.status in ("cancelling", "cancelled"), cancelling.to_dict()
        events += list(reading)

    run = wait_for_run(client, thread.id, run_id, timeout=5)
    assert run.status == "cancelled", run.to_dict()
    assert run.cancelled_at is not None and run.failed_at is None and run.expires_at is None
    assert_stream_ends_with(
        events, "thread.run.step.cancelled", "thread.message.incomplete", "thread.run.cancelled"
    )
    text = streamed_text(events)
    assert text.startswith("tick tick tick ")
    assert_partial_message(client, thread.id, run_id, "run_cancelled", text=text)
    (step,) = run_steps(client, thread.id, run_id)
    assert step.status == "cancelled" and step.cancelled_at is not None, step.to_dict()
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.cancel(run_id, thread_id=thread.id)
    assert_thread_usable(client, thread.id, assistant.id)


def test_cancel_in_requires_action(client, upstream, assistant, thread):
    upstream.script(ToolCalls([CALL]))
    run = start_run(client, thread.id, assistant.id)
    run = wait_for_run(client, thread.id, run.id, {"requires_action"})
    (call,) = run.required_action.submit_tool_outputs.tool_calls

    cancelled = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelled.status in ("cancelling", "cancelled")
    run = wait_for_run(client, thread.id, run.id, timeout=5)
    assert run.status == "cancelled" and run.required_action is None, run.to_dict()
    (step,) = run_steps(client, thread.id, run.id)
    assert (step.type, step.status) == ("tool_calls", "cancelled"), step.to_dict()
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "9C"}]
        )
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert_thread_usable(client, thread.id, assistant.id)


def test_cancel_right_after_create(client, upstream, assistant):
    """The cancel lands while the run is queued or has just started; either way it ends
    ``cancelled`` and leaves nothing open. (Whether it finds the run queued is up to timing: a
    run is normally claimed within milliseconds.)"""
    upstream.default(Slow(Text(["slow "] * 50), chunk_delay=0.1))
    runs = []
    for _ in range(3):
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
        run = start_run(client, thread.id, assistant.id)
        assert run.status == "queued"
        cancelled = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
        assert cancelled.status in ("cancelling", "cancelled"), cancelled.to_dict()
        runs.append(run)
    for run in runs:
        ended = wait_for_run(client, run.thread_id, run.id, timeout=5)
        assert ended.status == "cancelled", ended.to_dict()
        for message in run_messages(client, run.thread_id, run.id):
            assert message.status == "incomplete", message.to_dict()
        assert all(step.status == "cancelled" for step in run_steps(client, run.thread_id, run.id))
    upstream.default(Text(["Hello", " world"]))
    assert_thread_usable(client, runs[0].thread_id, assistant.id)


# --- client disconnect ----------------------------------------------------------------------------


def test_client_disconnect_mid_stream_does_not_stop_the_run(
    client, http, upstream, assistant, thread
):
    upstream.script(Slow(Text(["word "] * 10), chunk_delay=0.05))
    path = f"/threads/{thread.id}/runs"
    with http.stream("POST", path, json={"assistant_id": assistant.id, "stream": True}) as response:
        events = []
        for event in sse_events(response):
            events.append(event)
            if len(events) == 3:
                break
    run_id = run_id_of(events)

    run = wait_for_run(client, thread.id, run_id)
    assert run.status == "completed", run.to_dict()
    (message,) = run_messages(client, thread.id, run_id)
    assert (message.status, text_of(message)) == ("completed", "word " * 10)


# --- races on one thread --------------------------------------------------------------------------


async def _burst(http: httpx.Client, requests: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    async with httpx.AsyncClient(base_url=http.base_url, headers=http.headers, timeout=30) as raw:
        return await asyncio.gather(*(raw.post(path, json=body) for path, body in requests))


def _assert_rejected(response: httpx.Response, words: str) -> None:
    assert response.status_code == 400, (response.status_code, response.text)
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert words in error["message"], error


def _end_waiting_run(client: OpenAI, thread_id: str, run_id: str) -> None:
    run = wait_for_run(client, thread_id, run_id, {"requires_action"})
    client.beta.threads.runs.cancel(run.id, thread_id=thread_id)
    assert wait_for_run(client, thread_id, run.id).status == "cancelled"


def test_concurrent_run_creates_make_exactly_one_run(client, http, upstream, assistant, thread):
    upstream.script(ToolCalls([CALL]))  # the winner waits for tool outputs: the thread stays busy
    path = f"/threads/{thread.id}/runs"
    responses = asyncio.run(_burst(http, [(path, {"assistant_id": assistant.id})] * 20))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 19, statuses
    for response in responses:
        if response.status_code == 400:
            _assert_rejected(response, "already has an active run")
    (winner,) = [r.json() for r in responses if r.status_code == 200]
    assert [run.id for run in client.beta.threads.runs.list(thread.id)] == [winner["id"]]
    _end_waiting_run(client, thread.id, winner["id"])
    assert len(upstream.requests) == 1


def test_concurrent_message_creates_while_a_run_is_active_are_rejected(
    client, http, upstream, assistant, thread
):
    upstream.script(ToolCalls([CALL]))
    run = start_run(client, thread.id, assistant.id)
    path = f"/threads/{thread.id}/messages"
    responses = asyncio.run(_burst(http, [(path, {"role": "user", "content": "x"})] * 20))

    for response in responses:
        _assert_rejected(response, "Can't add messages")
    _end_waiting_run(client, thread.id, run.id)
    assert [m.content[0].text.value for m in client.beta.threads.messages.list(thread.id)] == ["Hi"]


def test_messages_racing_a_run_create_either_precede_it_or_are_rejected(
    client, http, upstream, assistant, thread
):
    upstream.script(ToolCalls([CALL]))
    first = client.beta.threads.messages.list(thread.id).data[0].id
    requests = [(f"/threads/{thread.id}/messages", {"role": "user", "content": "x"})] * 19
    requests.insert(10, (f"/threads/{thread.id}/runs", {"assistant_id": assistant.id}))
    responses = asyncio.run(_burst(http, requests))

    run_response = responses.pop(10)
    assert run_response.status_code == 200, run_response.text
    accepted = [r.json()["id"] for r in responses if r.status_code == 200]
    for response in responses:
        if response.status_code != 200:
            _assert_rejected(response, "Can't add messages")
    run_id = run_response.json()["id"]
    _end_waiting_run(client, thread.id, run_id)
    listed = [m.id for m in client.beta.threads.messages.list(thread.id, limit=100)]
    assert sorted(listed) == sorted([first, *accepted])
    # The run saw exactly the messages that were accepted (they all precede it).
    (request,) = upstream.requests
    users = [m for m in request["messages"] if m["role"] == "user"]
    assert len(users) == 1 + len(accepted), request["messages"]


# --- servers of their own: no upstream, timeouts, expiry ------------------------------------------


@dataclass
class OwnServer:
    client: OpenAI
    http: httpx.Client


@contextmanager
def own_server(backend: str, data_dir: Path, **settings: Any) -> Iterator[OwnServer]:
    """A threaded server on a fresh database (so no other server's worker touches its runs)."""
    with database(backend) as url:
        config = Settings(data_dir=data_dir, database_url=url, master_key=MASTER_KEY, **settings)
        with threaded_server(config) as base_url:
            headers = {"Authorization": f"Bearer {MASTER_KEY}"}
            with httpx.Client(base_url=base_url, headers=headers, timeout=30) as admin:
                key = new_project_key(admin)
            headers = {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}
            with (
                sdk_client(base_url, key) as sdk,
                httpx.Client(base_url=f"{base_url}/v1", headers=headers, timeout=30) as raw,
            ):
                yield OwnServer(sdk, raw)


def upstream_settings(upstream: ScriptedUpstream) -> dict[str, Any]:
    return {
        "upstream_base_url": upstream.base_url,
        "upstream_api_key": upstream.api_key,
        "upstream_max_retries": 1,
        "upstream_max_retry_wait": 2.0,
    }


def test_no_upstream_configured_fails_runs_with_a_message_that_says_what_to_set(
    backend, tmp_path, monkeypatch
):
    for name in (
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "THREADLINE_UPSTREAM_BASE_URL",
        "THREADLINE_UPSTREAM_API_KEY",
        "THREADLINE_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    with own_server(backend, tmp_path, upstream_base_url=None, upstream_api_key=None) as server:
        client = server.client
        assistant = client.beta.assistants.create(model=MODEL)
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
        run = wait_for_run(client, thread.id, start_run(client, thread.id, assistant.id).id)
        assert_failed(run, "server_error")
        assert "THREADLINE_UPSTREAM_BASE_URL" in run.last_error.message, run.last_error.message
        assert run_messages(client, thread.id, run.id) == []

        events = stream_run(server.http, thread.id, {"assistant_id": assistant.id})
        assert_stream_ends_with(events, "thread.run.failed")


def test_upstream_that_never_answers_times_out_and_fails_the_run(backend, tmp_path, upstream):
    """No response headers at all; the read timeout fires, the one retry too."""
    settings = {**upstream_settings(upstream), "upstream_read_timeout": 0.5}
    with own_server(backend, tmp_path, **settings) as server:
        client = server.client
        assistant = client.beta.assistants.create(model=MODEL)
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
        hang = Slow(Text(["never"]), first_byte_delay=5)
        upstream.script(hang, hang)
        run = wait_for_run(client, thread.id, start_run(client, thread.id, assistant.id).id)
        assert_failed(run, "server_error")
        assert "timed out" in run.last_error.message, run.last_error.message
        assert len(upstream.requests) == 2
        assert run_messages(client, thread.id, run.id) == []
        assert_thread_usable(client, thread.id, assistant.id)


@pytest.fixture
def expiring(backend: str, tmp_path: Path, upstream: ScriptedUpstream) -> Iterator[OwnServer]:
    """Runs expire 2 s after creation; the reaper looks every lease/3 s."""
    settings = {**upstream_settings(upstream), "run_expiry_seconds": 2, "run_lease_seconds": 1}
    with own_server(backend, tmp_path, **settings) as server:
        yield server


def test_runs_past_expires_at_expire(expiring, upstream):
    """Two runs reach ``expires_at`` together: one left waiting for tool outputs, one still
    streaming its answer (15 s of text). Both expire; neither leaves anything open."""
    client = expiring.client
    assistant = client.beta.assistants.create(model=MODEL, tools=[WEATHER])
    waiting, streaming = (
        client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}]).id
        for _ in range(2)
    )
    upstream.script(ToolCalls([CALL]), Slow(Text(["slow "] * 60), chunk_delay=0.25))
    run = start_run(client, waiting, assistant.id)
    assert run.expires_at is not None and run.expires_at - run.created_at == 2
    held = wait_for_run(client, waiting, run.id, {"requires_action", "expired"})
    assert held.status == "requires_action", held.to_dict()
    (call,) = held.required_action.submit_tool_outputs.tool_calls
    events = stream_run(expiring.http, streaming, {"assistant_id": assistant.id})

    # The waiting run: expired with its step; the thread is free; outputs come too late.
    run = wait_for_run(client, waiting, run.id, timeout=10)
    assert run.status == "expired", run.to_dict()
    assert run.required_action is None and run.expires_at is None
    (step,) = run_steps(client, waiting, run.id)
    assert (step.type, step.status) == ("tool_calls", "expired"), step.to_dict()
    assert step.expired_at is not None
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=waiting, tool_outputs=[{"tool_call_id": call.id, "output": "9C"}]
        )
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.cancel(run.id, thread_id=waiting)

    # The streaming run: expired mid-answer, its stream closed properly, its message incomplete.
    assert_stream_ends_with(
        events, "thread.run.step.expired", "thread.message.incomplete", "thread.run.expired"
    )
    assert streamed_text(events).startswith("slow ")
    run = wait_for_run(client, streaming, run_id_of(events))
    assert run.status == "expired", run.to_dict()
    assert_partial_message(client, streaming, run.id, "run_expired")
    (step,) = run_steps(client, streaming, run.id)
    assert step.status == "expired" and step.expired_at is not None, step.to_dict()

    for thread_id in (waiting, streaming):
        assert_thread_usable(client, thread_id, assistant.id)
