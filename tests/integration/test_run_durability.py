"""Runs across a crash and a graceful stop of a real ``threadline serve`` process, on a fresh
database per backend, with a scripted upstream of the test's own.

The lease is 2 s (``THREADLINE_RUN_LEASE_SECONDS``), so after a restart the reaper ends what the
dead process was executing within about 3 s; every wait below is a polling deadline."""

import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.databases import database
from tests.runs_helpers import (
    ACTIVE,
    MODEL,
    TERMINAL,
    WEATHER,
    Event,
    assert_partial_message,
    assert_stream_ends_with,
    assert_thread_usable,
    names,
    run_id_of,
    run_messages,
    run_steps,
    sse_events,
    wait_for_run,
)
from tests.servers import ServeProcess
from tests.upstream import ScriptedUpstream, Slow, Text, ToolCalls, scripted_upstream

MASTER = "sk-master-durability-0123456789abcdef"
LEASE_SECONDS = 2
GRACE_SECONDS = 2
# The correct shutdown takes the grace period plus a little; this much more fails the test.
EXIT_MARGIN = 4.0
REAPED_WITHIN = 15.0  # lease + reaper period, with room for a slow machine


@pytest.fixture
def fresh_database(backend: str) -> Iterator[str]:
    with database(backend) as url:
        yield url


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    with scripted_upstream(api_key="sk-durability-upstream-7f3a9c") as scripted:
        yield scripted


def _env(data_dir: Path, database_url: str, upstream: ScriptedUpstream, **extra: str) -> dict:
    return {
        "THREADLINE_DATA_DIR": str(data_dir),
        "THREADLINE_DATABASE_URL": database_url,
        "THREADLINE_MASTER_KEY": MASTER,
        "THREADLINE_UPSTREAM_BASE_URL": upstream.base_url,
        "THREADLINE_UPSTREAM_API_KEY": upstream.api_key,
        "THREADLINE_RUN_LEASE_SECONDS": str(LEASE_SECONDS),
        **extra,
    }


def _project_key(server: ServeProcess) -> str:
    response = httpx.post(
        f"{server.base_url}/admin/keys",
        headers={"Authorization": f"Bearer {MASTER}"},
        json={"project": "durability"},
    )
    response.raise_for_status()
    return str(response.json()["key"])


def _sdk(server: ServeProcess, key: str) -> OpenAI:
    return OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0, timeout=30)


def _raw(server: ServeProcess, key: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}
    return httpx.Client(base_url=f"{server.base_url}/v1", headers=headers, timeout=30)


def _kill(server: ServeProcess) -> None:
    if server.process is not None and server.process.poll() is None:
        server.stop(signal.SIGKILL)


def _exits_within(server: ServeProcess, seconds: float) -> bool:
    assert server.process is not None
    deadline = time.monotonic() + seconds
    while server.process.poll() is None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _new_thread(client: OpenAI) -> str:
    return client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}]).id


def _assert_interrupted(run: Any) -> None:
    assert run.status == "failed", run.to_dict()
    assert run.last_error is not None and run.last_error.code == "server_error", run.to_dict()
    assert "interrupted" in run.last_error.message, run.last_error.message
    assert run.failed_at is not None and run.expires_at is None


def _assert_sqlite_intact(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        with sqlite3.connect(path) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_kill_9_mid_run_then_restart(fresh_database, tmp_path, upstream):
    """Runs that were executing when the process died end ``failed`` (interrupted) after a
    restart, with their partial message ``incomplete``; a run waiting for tool outputs survives
    and, once they are submitted, is queued again and picked up by the new process."""
    env = _env(tmp_path, fresh_database, upstream)
    log = tmp_path / "serve.log"
    upstream.script(
        ToolCalls([("get_weather", '{"city": "Paris"}')]),  # the waiting run
        Slow(Text(["tok "] * 100), chunk_delay=0.2),  # the streaming run: 20 s of text
        Slow(Text(["late"]), first_byte_delay=60),  # the run with no upstream byte yet
    )
    server = ServeProcess(env, log).start()
    try:
        key = _project_key(server)
        with _sdk(server, key) as client, _raw(server, key) as http:
            assistant = client.beta.assistants.create(model=MODEL, tools=[WEATHER])
            waiting, streaming, hanging = (_new_thread(client) for _ in range(3))
            waiting_run = client.beta.threads.runs.create(waiting, assistant_id=assistant.id)
            wait_for_run(client, waiting, waiting_run.id, {"requires_action"})

            body = {"assistant_id": assistant.id, "stream": True}
            with http.stream("POST", f"/threads/{streaming}/runs", json=body) as response:
                events: list[Event] = []
                for event in sse_events(response):
                    events.append(event)
                    if names(events).count("thread.message.delta") >= 3:
                        break
                streaming_run = run_id_of(events)
                hanging_run = client.beta.threads.runs.create(hanging, assistant_id=assistant.id)
                upstream.wait_for_requests(3)
                server.stop(signal.SIGKILL)
    finally:
        _kill(server)

    restarted = ServeProcess(env, log).start()
    try:
        with _sdk(restarted, key) as client:
            for thread_id, run_id in ((streaming, streaming_run), (hanging, hanging_run.id)):
                _assert_interrupted(wait_for_run(client, thread_id, run_id, timeout=REAPED_WITHIN))
            assert_partial_message(client, streaming, streaming_run, "run_failed")
            (step,) = run_steps(client, streaming, streaming_run)
            assert (step.type, step.status) == ("message_creation", "failed"), step.to_dict()
            assert run_messages(client, hanging, hanging_run.id) == []

            # The waiting run kept its state and deadline; its outputs re-queue it, and the new
            # process executes it.
            run = client.beta.threads.runs.retrieve(waiting_run.id, thread_id=waiting)
            assert run.status == "requires_action" and run.expires_at is not None, run.to_dict()
            (call,) = run.required_action.submit_tool_outputs.tool_calls
            client.beta.threads.runs.submit_tool_outputs(
                run.id, thread_id=waiting, tool_outputs=[{"tool_call_id": call.id, "output": "9C"}]
            )
            assert wait_for_run(client, waiting, run.id).status == "completed"

            for thread_id in (streaming, hanging):
                assert_thread_usable(client, thread_id, assistant.id)
            for thread_id in (waiting, streaming, hanging):
                users = [
                    m for m in client.beta.threads.messages.list(thread_id) if m.role == "user"
                ]
                assert [m.content[0].text.value for m in users].count("Hi") == 1
                statuses = [r.status for r in client.beta.threads.runs.list(thread_id)]
                assert not ACTIVE.intersection(statuses), statuses
    finally:
        restarted.stop()
    _assert_sqlite_intact(fresh_database)


def test_sigterm_with_an_open_stream(fresh_database, tmp_path, upstream):
    """SIGTERM while a run streams (12 s of text, far beyond the 2 s grace period): the
    process exits within the grace period, the stream ends with the run's final event and
    ``done``, and the run is terminal (failed as interrupted, or completed), never left
    ``in_progress`` for the next process."""
    env = _env(
        tmp_path, fresh_database, upstream, THREADLINE_SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS)
    )
    log = tmp_path / "serve.log"
    upstream.script(Slow(Text(["tok "] * 60), chunk_delay=0.2))
    server = ServeProcess(env, log).start()
    events: list[Event] = []
    errors: list[Exception] = []
    streaming = threading.Event()
    try:
        key = _project_key(server)
        with _sdk(server, key) as client, _raw(server, key) as http:
            assistant = client.beta.assistants.create(model=MODEL)
            thread_id = _new_thread(client)

            def read() -> None:
                body = {"assistant_id": assistant.id, "stream": True}
                try:
                    with http.stream("POST", f"/threads/{thread_id}/runs", json=body) as response:
                        for event in sse_events(response):
                            events.append(event)
                            if names(events).count("thread.message.delta") >= 3:
                                streaming.set()
                except httpx.HTTPError as exc:
                    errors.append(exc)
                finally:
                    streaming.set()

            reader = threading.Thread(target=read, name="sse-reader", daemon=True)
            reader.start()
            assert streaming.wait(10) and not errors, (errors, names(events))
            run_id = run_id_of(events)
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            exited = _exits_within(server, GRACE_SECONDS + EXIT_MARGIN)
            _kill(server)
            reader.join(10)
    finally:
        _kill(server)

    restarted = ServeProcess(env, log).start()
    try:
        with _sdk(restarted, key) as client:
            run = wait_for_run(client, thread_id, run_id, TERMINAL, timeout=REAPED_WITHIN)
            assert run.status in ("completed", "failed"), run.to_dict()
            if run.status == "failed":
                _assert_interrupted(run)
                assert_partial_message(client, thread_id, run_id, "run_failed")
            else:
                (message,) = run_messages(client, thread_id, run_id)
                assert message.status == "completed"
            assert_thread_usable(client, thread_id, assistant.id)
    finally:
        restarted.stop()
    _assert_sqlite_intact(fresh_database)

    assert exited, (
        f"the server still ran {GRACE_SECONDS + EXIT_MARGIN:.0f} s after SIGTERM "
        f"(THREADLINE_SHUTDOWN_GRACE_SECONDS={GRACE_SECONDS}); it was killed"
    )
    assert not errors, errors
    assert_stream_ends_with(events, f"thread.run.{run.status}")
