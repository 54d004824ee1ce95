"""``threadline serve --workers 2`` as a real process tree, on each backend, with the official SDKs:
limits exact across the worker processes, streams and cancels across them, a worker killed
(kill -9) and replaced, the first-run key printed once, and a drain on SIGTERM.

Which worker serves a connection is read from ``/proc`` (``tests/worker_processes.py``), so a
test acts from a connection served by the process it means. Two servers per backend, one per
test class, one at a time (a server takes up to a minute to start on a busy machine: hence the
longer timeout):

- ``shared``: a long run lease (90 s, renewed every 30 s), so a cancel that reaches the worker
  executing the run within ``RELAYED_WITHIN`` came through the supervisor's hub, not a renewal;
- ``lifecycle``: a 2 s lease and a 2 s grace period, so a killed worker's run is reaped within
  seconds and SIGTERM stops quickly. Its last test stops it (SIGTERM).

Every wait is a polling deadline."""

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
import pytest
from openai import OpenAI

from tests.databases import database
from tests.node_scripts import needs_node, run_script
from tests.runs_helpers import (
    MODEL,
    RUN_END_EVENTS,
    Event,
    assert_partial_message,
    assert_stream_ends_with,
    assert_thread_usable,
    names,
    run_id_of,
    sse_events,
    streamed_text,
    wait_for_run,
)
from tests.servers import ServeProcess
from tests.upstream import Gated, ScriptedUpstream, Slow, Text
from tests.worker_processes import client_of, gone, served_by, wait_for_workers

MASTER = "sk-master-workers-0123456789abcdef"
WORKERS = 2
# No lease renewal (every third of it) comes within RELAYED_WITHIN: a cancel seen by then was
# relayed by the hub (it takes well under a second).
LONG_LEASE_SECONDS = 90
RELAYED_WITHIN = 15.0
SHORT_LEASE_SECONDS = 2
GRACE_SECONDS = 2
REAPED_WITHIN = 20.0  # lease + reaper period, with room for a busy machine
STOPPED_WITHIN = 60.0
STREAM_STARTS_WITHIN = 30.0
OPENING = [
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
]

T = TypeVar("T")

pytestmark = pytest.mark.timeout(300)


@dataclass
class Cluster:
    """A running ``serve --workers 2`` and how to reach it."""

    server: ServeProcess

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def supervisor(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid

    def workers(self, without: Iterable[int] = ()) -> set[int]:
        """The two worker processes, each answering a request (a replacement may be starting)."""
        pids = wait_for_workers(self.supervisor, WORKERS, without=without)
        for pid in pids:
            with client_of(self.base_url, pid, pids):
                pass
        return pids

    def key(self, **limits: int) -> str:
        response = httpx.post(
            f"{self.base_url}/admin/keys",
            headers={"Authorization": f"Bearer {MASTER}"},
            json={"project": "workers", **limits},
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["key"])

    def sdk(self, key: str, http_client: httpx.Client | None = None) -> OpenAI:
        return OpenAI(
            base_url=f"{self.base_url}/v1",
            api_key=key,
            max_retries=0,
            timeout=30,
            http_client=http_client,
        )

    def stop(self) -> int | None:
        process = self.server.process
        if process is None or process.poll() is not None:
            return None if process is None else process.returncode
        return self.server.stop()


def _serve(
    backend: str, data_dir: Path, upstream: ScriptedUpstream, **extra: str
) -> Iterator[Cluster]:
    with database(backend) as url:
        env = {
            "THREADLINE_DATA_DIR": str(data_dir),
            "THREADLINE_DATABASE_URL": url,
            "THREADLINE_MASTER_KEY": MASTER,
            "THREADLINE_UPSTREAM_BASE_URL": upstream.base_url,
            "THREADLINE_UPSTREAM_API_KEY": upstream.api_key,
            **extra,
        }
        cluster = Cluster(ServeProcess(env, data_dir / "serve.log", workers=WORKERS).start())
        try:
            yield cluster
        finally:
            cluster.stop()


@pytest.fixture(scope="class")
def shared(
    backend: str, tmp_path_factory: pytest.TempPathFactory, upstream_server: ScriptedUpstream
) -> Iterator[Cluster]:
    yield from _serve(
        backend,
        tmp_path_factory.mktemp("shared"),
        upstream_server,
        THREADLINE_RUN_LEASE_SECONDS=str(LONG_LEASE_SECONDS),
    )


@pytest.fixture(scope="class")
def lifecycle(
    backend: str, tmp_path_factory: pytest.TempPathFactory, upstream_server: ScriptedUpstream
) -> Iterator[Cluster]:
    yield from _serve(
        backend,
        tmp_path_factory.mktemp("lifecycle"),
        upstream_server,
        THREADLINE_RUN_LEASE_SECONDS=str(SHORT_LEASE_SECONDS),
        THREADLINE_SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS),
    )


class Reader(Generic[T]):
    """Reads a stream in a daemon thread, so the test waits on it with deadlines."""

    def __init__(self, stream: Iterable[T]) -> None:
        self.events: list[T] = []
        self.error: BaseException | None = None
        self._changed = threading.Condition()
        self._ended = False
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Iterable[T]) -> None:
        try:
            for event in stream:
                with self._changed:
                    self.events.append(event)
                    self._changed.notify_all()
        except BaseException as error:  # the test looks at it
            self.error = error
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def wait_for(self, seen: Callable[[list[T]], bool], timeout: float) -> list[T]:
        with self._changed:
            self._changed.wait_for(lambda: seen(self.events) or self._ended, timeout)
            assert seen(self.events), (self.error, self.events)
            return list(self.events)

    def wait_end(self, timeout: float) -> list[T]:
        with self._changed:
            ended = self._changed.wait_for(lambda: self._ended, timeout)
            assert ended, f"the stream was still open after {timeout:.0f} s: {self.events}"
            return list(self.events)


def _sse(client: httpx.Client, path: str, body: dict[str, Any]) -> Iterator[Event]:
    with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200, response.read()
        yield from sse_events(response)


def _deltas(events: list[Any]) -> int:
    return sum(1 for event in events if getattr(event, "event", None) == "thread.message.delta")


def _raw_deltas(events: list[Event]) -> int:
    return names(events).count("thread.message.delta")


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}


class TestOneServer:
    """Tests sharing one server (long lease), stopped after the last of them."""

    def test_rate_limit_is_exact_across_the_workers(self, shared: Cluster) -> None:
        """A key allowing 12 requests a minute gets exactly 12 through, whichever workers serve its
        requests: one first on a connection of each worker (both admit), then many more on fresh
        connections from several threads. (All within the key's first minute: a few seconds.)"""
        workers = shared.workers()
        rpm, threads, each = 12, 6, 5
        headers = _auth(shared.key(rpm=rpm))
        served: list[tuple[int, int]] = []  # (status, worker)
        for pid in sorted(workers):
            with client_of(shared.base_url, pid, workers, headers=headers) as client:
                response = client.get("/v1/assistants", params={"limit": 1})
                assert served_by(response, workers) == pid
                assert response.status_code == 200, response.text
                served.append((200, pid))

        lock = threading.Lock()
        failures: list[BaseException] = []

        def burst() -> None:
            try:
                for _ in range(each):
                    with httpx.Client(
                        base_url=shared.base_url, headers=headers, timeout=30
                    ) as client:
                        response = client.get("/v1/assistants", params={"limit": 1})
                        pid = served_by(response, workers)
                    if response.status_code == 429:
                        assert response.json()["error"]["code"] == "rate_limit_exceeded"
                    with lock:
                        served.append((response.status_code, pid))
            except BaseException as error:
                failures.append(error)

        senders = [threading.Thread(target=burst, daemon=True) for _ in range(threads)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(60)
        assert not failures, failures
        assert not any(sender.is_alive() for sender in senders)

        statuses = Counter(status for status, _ in served)
        assert statuses == {200: rpm, 429: WORKERS + threads * each - rpm}, (statuses, served)
        by_worker = Counter(pid for _, pid in served)
        assert set(by_worker) == workers, by_worker  # both served requests (the first two at least)
        admitted = {pid for status, pid in served if status == 200}
        assert admitted == workers, served

    def test_cancel_from_the_other_worker_ends_the_stream(self, shared: Cluster, upstream) -> None:
        """A run streams from the worker executing it (the one that accepted it); a cancel sent to
        the other worker reaches it through the hub at once: the stream ends well-formed with
        ``thread.run.cancelled``, the partial message incomplete, the thread usable again."""
        workers = shared.workers()
        key = shared.key()
        gated = Gated(Text(["one", " two", " three", " four"]), after=2)
        upstream.script(gated)
        try:
            with shared.sdk(key) as client:
                assistant = client.beta.assistants.create(model=MODEL)
                thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
                stream = client.beta.threads.runs.create(
                    thread.id, assistant_id=assistant.id, stream=True
                )
                executing = served_by(stream.response, workers)
                (other,) = workers - {executing}
                reader: Reader[Any] = Reader(stream)
                events = reader.wait_for(lambda seen: _deltas(seen) >= 2, STREAM_STARTS_WITHIN)
                run_id = events[0].data.id

                with (
                    client_of(shared.base_url, other, workers) as pinned,
                    shared.sdk(key, pinned) as canceller,
                ):
                    raw = canceller.beta.threads.runs.with_raw_response.cancel(
                        run_id, thread_id=thread.id
                    )
                    assert served_by(raw.http_response, workers) == other
                    cancelled = raw.parse()
                assert cancelled.status in ("cancelling", "cancelled"), cancelled.to_dict()

                events = reader.wait_end(RELAYED_WITHIN)
                assert reader.error is None, reader.error
                got = [event.event for event in events]
                assert got == [
                    *OPENING,
                    "thread.message.delta",
                    "thread.message.delta",
                    "thread.run.cancelling",
                    "thread.run.step.cancelled",
                    "thread.message.incomplete",
                    "thread.run.cancelled",
                ], got
                assert len({event.data.id for event in events if "message." in event.event}) == 1
                assert events[-1].data.status == "cancelled" and events[-1].data.id == run_id
                run = wait_for_run(client, thread.id, run_id)
                assert run.status == "cancelled", run.to_dict()
                assert_partial_message(client, thread.id, run_id, "run_cancelled", "one two")
                assert_thread_usable(client, thread.id, assistant.id)
        finally:
            gated.gate.set()

    def test_cancel_a_response_from_the_other_worker(self, shared: Cluster, upstream) -> None:
        """A background response streams from the worker executing it; ``POST
        /v1/responses/{id}/cancel`` served by the other worker answers ``cancelled`` (it waits
        until the run stopped: relayed at once, not at a renewal 30 s later), and the stream
        ends."""
        workers = shared.workers()
        key = shared.key()
        gated = Gated(Text(["Never", " finished"]), after=1)
        upstream.script(gated)
        try:
            with shared.sdk(key) as client:
                stream = client.responses.create(
                    model=MODEL, input="Hi", background=True, stream=True
                )
                executing = served_by(stream.response, workers)
                (other,) = workers - {executing}
                reader: Reader[Any] = Reader(stream)
                events = reader.wait_for(
                    lambda seen: any(e.type == "response.output_text.delta" for e in seen),
                    STREAM_STARTS_WITHIN,
                )
                response_id = events[0].response.id

                with (
                    client_of(shared.base_url, other, workers) as pinned,
                    shared.sdk(key, pinned) as canceller,
                ):
                    raw = canceller.responses.with_raw_response.cancel(response_id)
                    assert served_by(raw.http_response, workers) == other
                    cancelled = raw.parse()
                assert cancelled.status == "cancelled", cancelled.to_dict()

                events = reader.wait_end(RELAYED_WITHIN)
                assert reader.error is None, reader.error
                types = [event.type for event in events]
                assert types[:3] == ["response.created", "response.queued", "response.in_progress"]
                assert [event.sequence_number for event in events] == list(range(len(events)))
                assert not {"response.completed", "response.failed"} & set(types), types
                assert client.responses.retrieve(response_id).status == "cancelled"
        finally:
            gated.gate.set()

    def test_resume_a_response_stream_on_the_other_worker(self, shared: Cluster, upstream) -> None:
        """A background response's stream, left mid-way, resumed through the worker that does
        not execute it (its events come from what the database keeps): the rest, in order,
        each once, to ``response.completed``."""
        workers = shared.workers()
        key = shared.key()
        gated = Gated(Text(["One", " two", " three", " four"]), after=2)
        upstream.script(gated)
        try:
            with shared.sdk(key) as client:
                stream = client.responses.create(
                    model=MODEL, input="Hi", background=True, stream=True
                )
                executing = served_by(stream.response, workers)
                (other,) = workers - {executing}
                seen = []
                for event in stream:
                    seen.append(event)
                    if event.type == "response.output_text.delta":
                        break
                stream.close()  # the client leaves; the response goes on
                response_id, last = seen[0].response.id, seen[-1].sequence_number

                with (
                    client_of(shared.base_url, other, workers) as pinned,
                    shared.sdk(key, pinned) as resumer,
                ):
                    resumed = resumer.responses.retrieve(
                        response_id, stream=True, starting_after=last
                    )
                    assert served_by(resumed.response, workers) == other
                    reader: Reader[Any] = Reader(resumed)
                    gated.gate.set()
                    rest = reader.wait_end(RELAYED_WITHIN)
                assert reader.error is None, reader.error
                numbers = [event.sequence_number for event in rest]
                assert numbers == list(range(last + 1, last + 1 + len(rest))), numbers
                assert rest[-1].type == "response.completed", [e.type for e in rest]
                assert rest[-1].response.output_text == "One two three four"
        finally:
            gated.gate.set()

    @needs_node
    def test_node_sdk_streams_arrive_whole_and_in_order(self, shared: Cluster, upstream) -> None:
        """The Node SDK's ``runs.stream`` and ``responses.stream`` against the two workers: every
        event once, in order, the text whole."""
        shared.workers()
        key = shared.key()
        words = [f"w{i} " for i in range(40)]
        with shared.sdk(key) as client:
            assistant = client.beta.assistants.create(model=MODEL)
            thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
        base = {"BASE_URL": f"{shared.base_url}/v1", "API_KEY": key, "WATCHDOG_MS": "40000"}

        upstream.script(Slow(Text(words), chunk_delay=0.01))
        env = {**base, "ASSISTANT_ID": assistant.id, "THREAD_ID": thread.id}
        run = run_script("runs.mjs", env, "stream-text")
        assert run.ok, (run.report, run.stderr)
        (stream,) = run.report["streams"]
        assert stream["events"] == [
            *OPENING,
            *["thread.message.delta"] * len(words),
            "thread.message.completed",
            "thread.run.step.completed",
            "thread.run.completed",
        ], stream["events"]
        assert stream["text_deltas"] == words
        assert stream["final_run"]["status"] == "completed"
        assert [m["text"] for m in stream["final_messages"]] == ["".join(words)]

        upstream.script(Slow(Text(words), chunk_delay=0.01))
        run = run_script("responses.mjs", {**base, "MODEL": MODEL})
        assert run.ok, (run.report, run.stderr)
        report = run.report
        assert report["deltas"] == words
        assert report["types"][0] == "response.created"
        assert report["types"][-1] == "response.completed"
        assert report["types"].count("response.output_text.delta") == len(words)
        assert report["final"]["output_text"] == "".join(words)
        assert report["next"]["status"] == "completed"


class TestLifecycle:
    """On one server (2 s lease, 2 s grace), in this order: a worker killed, then the whole
    server stopped (SIGTERM)."""

    def test_kill_9_of_a_worker(self, lifecycle: Cluster, upstream) -> None:
        """kill -9 of the worker executing a run: the other worker's stream goes on to its end, the
        supervisor starts a replacement, the killed worker's run is reaped (failed, interrupted)
        and its thread usable again, and the parallel slot its stream held is released."""
        workers = lifecycle.workers()
        doomed, survivor = sorted(workers)
        single = _auth(lifecycle.key(max_parallel=1))
        key = lifecycle.key()
        gated = Gated(Text(["b"] * 8), after=3)
        upstream.script(Slow(Text(["tok "] * 300), chunk_delay=0.1), gated)
        try:
            with lifecycle.sdk(key) as client:
                assistant = client.beta.assistants.create(model=MODEL)
                killed_thread, kept_thread = (
                    client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}]).id
                    for _ in range(2)
                )
                body = {"assistant_id": assistant.id, "stream": True}
                with client_of(lifecycle.base_url, doomed, workers, headers=single) as on_doomed:
                    # The stream of the max_parallel=1 key holds its one slot, in the doomed worker.
                    killed = Reader(_sse(on_doomed, f"/v1/threads/{killed_thread}/runs", body))
                    events = killed.wait_for(lambda seen: _raw_deltas(seen) >= 3, 30)
                    killed_run = run_id_of(events)
                    with client_of(lifecycle.base_url, survivor, workers, headers=single) as probe:
                        refused = probe.get("/v1/assistants", params={"limit": 1})
                        assert served_by(refused, workers) == survivor
                        assert refused.status_code == 429, refused.text  # the slot is shared

                    with client_of(
                        lifecycle.base_url, survivor, workers, headers=_auth(key)
                    ) as on_survivor:
                        kept = Reader(_sse(on_survivor, f"/v1/threads/{kept_thread}/runs", body))
                        kept.wait_for(lambda seen: _raw_deltas(seen) >= 3, 30)

                        os.kill(doomed, signal.SIGKILL)
                        killed.wait_end(30)  # its connection dropped with it
                        gated.gate.set()
                        kept_events = kept.wait_end(30)
                assert kept.error is None, kept.error
                assert_stream_ends_with(kept_events, "thread.run.completed")
                assert streamed_text(kept_events) == "b" * 8

                released = _wait_admitted(lifecycle.base_url, single, 15.0)
                assert released.status_code == 200, released.text

                replaced = lifecycle.workers(without=[doomed])
                assert survivor in replaced and doomed not in replaced, replaced

                run = wait_for_run(client, killed_thread, killed_run, timeout=REAPED_WITHIN)
                assert run.status == "failed", run.to_dict()
                assert run.last_error is not None and run.last_error.code == "server_error"
                assert "interrupted" in run.last_error.message, run.last_error.message
                assert_thread_usable(client, killed_thread, assistant.id)
        finally:
            gated.gate.set()

    def test_sigterm_drains_every_worker(self, lifecycle: Cluster, upstream) -> None:
        """SIGTERM to the supervisor while a run streams (12 s of text, beyond the 2 s grace):
        the stream gets its run's last event and ``done``, every worker exits, the supervisor
        exits 0."""
        workers = lifecycle.workers()
        key = lifecycle.key()
        upstream.script(Slow(Text(["tok "] * 60), chunk_delay=0.2))
        with lifecycle.sdk(key) as client:
            assistant = client.beta.assistants.create(model=MODEL)
            thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
        body = {"assistant_id": assistant.id, "stream": True}
        with httpx.Client(base_url=lifecycle.base_url, headers=_auth(key), timeout=30) as http:
            reader = Reader(_sse(http, f"/v1/threads/{thread.id}/runs", body))
            reader.wait_for(lambda seen: _raw_deltas(seen) >= 3, STREAM_STARTS_WITHIN)
            process = lifecycle.server.process
            assert process is not None
            process.send_signal(signal.SIGTERM)
            code = process.wait(STOPPED_WITHIN)
            events = reader.wait_end(30)
        assert reader.error is None, reader.error
        assert code == 0
        ends = [event for event in events if event.name in RUN_END_EVENTS]
        assert ends and ends[-1].name in ("thread.run.completed", "thread.run.failed"), names(
            events
        )
        assert_stream_ends_with(events, ends[-1].name)
        if ends[-1].name == "thread.run.failed":
            assert "interrupted" in ends[-1].json()["last_error"]["message"]
        _wait_gone(workers, 30.0)


# --- a first start ------------------------------------------------------------------------------


def test_first_run_key_is_printed_once(backend: str, tmp_path: Path) -> None:
    """An empty database and no master key: with two workers the key is made and printed once,
    by the supervisor, and works."""
    log = tmp_path / "serve.log"
    with database(backend) as url:
        env = {
            "THREADLINE_DATA_DIR": str(tmp_path),
            "THREADLINE_DATABASE_URL": url,
            "THREADLINE_MASTER_KEY": "",  # none, whatever the environment says
        }
        cluster = Cluster(ServeProcess(env, log, workers=WORKERS).start())
        try:
            cluster.workers()  # both started, so both went through their startup
            text = log.read_text()
            keys = [line.strip() for line in text.splitlines() if line.strip().startswith("sk-tl-")]
            assert len(keys) == 1, text
            assert text.count("Threadline created an API key") == 1, text
            with cluster.sdk(keys[0]) as client:
                assert client.beta.assistants.create(model=MODEL).object == "assistant"
        finally:
            assert cluster.stop() == 0


# --- helpers --------------------------------------------------------------------------------


def _wait_admitted(base_url: str, headers: dict[str, str], timeout: float) -> httpx.Response:
    """A request of the key, again until admitted or the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(
            f"{base_url}/v1/assistants", params={"limit": 1}, headers=headers, timeout=30
        )
        if response.status_code != 429 or time.monotonic() >= deadline:
            return response
        time.sleep(0.1)


def _wait_gone(pids: set[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (alive := {pid for pid in pids if not gone(pid)}) and (time.monotonic() < deadline):
        time.sleep(0.05)
    assert not alive, f"workers {sorted(alive)} still exist"
