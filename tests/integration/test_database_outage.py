"""The database goes away under a streaming run, just as the run's answer is to be saved (real
fault injection: a PostgreSQL server of the test's own, stopped with ``pg_ctl stop`` and started
again). The official SDK's stream helper drives the run.

Back within the bound (``run_end_retry_seconds``): the end is retried and the run completes as
if nothing happened. Away past it: the stream ends well formed (the message with its text, then
``thread.run.failed`` with a ``last_error`` that says why), and once the database is back the
run reads back exactly so, its text kept."""

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import AssistantEventHandler, OpenAI
from openai.types.beta import AssistantStreamEvent
from typing_extensions import override

from tests.conftest import MASTER_KEY, new_project_key, sdk_client
from tests.databases import ThrowawayPostgres, postgres_database, throwaway_postgres
from tests.runs_helpers import MODEL, TERMINAL, assert_thread_usable, run_messages, text_of
from tests.servers import threaded_server
from tests.upstream import Gated, ScriptedUpstream, Text, scripted_upstream
from threadline.settings import Settings

CHUNKS = ["The answer ", "so far ", "and its end."]
ANSWER = "".join(CHUNKS)


@dataclass
class Outage:
    client: OpenAI
    database: ThrowawayPostgres
    upstream: ScriptedUpstream


@pytest.fixture(scope="module")
def postgres() -> Iterator[ThrowawayPostgres]:
    with throwaway_postgres() as server:
        yield server


@contextmanager
def outage_server(
    postgres: ThrowawayPostgres, tmp_path: Path, end_retry_seconds: float
) -> Iterator[Outage]:
    """A server on a fresh database of ``postgres``, which the test may stop."""
    with postgres_database(postgres.admin_dsn) as url, scripted_upstream() as upstream:
        settings = Settings(
            data_dir=tmp_path,
            database_url=url,
            master_key=MASTER_KEY,
            upstream_base_url=upstream.base_url,
            upstream_api_key=upstream.api_key,
            run_end_retry_seconds=end_retry_seconds,
        )
        try:
            with (
                threaded_server(settings) as server_url,
                httpx.Client(
                    base_url=server_url, headers={"Authorization": f"Bearer {MASTER_KEY}"}
                ) as admin,
                sdk_client(server_url, new_project_key(admin)) as client,
            ):
                yield Outage(client, postgres, upstream)
        finally:
            postgres.start()  # whatever the test did, the database is there to be dropped


class Recorder(AssistantEventHandler):
    """Every event as the SDK's stream helper handed it over; ``streaming`` is set once the
    first two text deltas arrived (the upstream then waits at its gate)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[AssistantStreamEvent] = []
        self.streaming = threading.Event()

    @override
    def on_event(self, event: AssistantStreamEvent) -> None:
        self.events.append(event.model_copy(deep=True))
        if sum(e.event == "thread.message.delta" for e in self.events) >= 2:
            self.streaming.set()


class Said(logging.Handler):
    """Set ``seen`` once the server logs a record containing ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


def stream_to_the_end(client: OpenAI, thread_id: str, assistant_id: str, recorder: Recorder) -> Any:
    with client.beta.threads.runs.stream(
        thread_id=thread_id, assistant_id=assistant_id, event_handler=recorder
    ) as stream:
        stream.until_done()
        return stream.get_final_run()


@contextmanager
def streaming_run(outage: Outage) -> Iterator[tuple[Recorder, Any, Any, Gated]]:
    """A streamed run whose upstream is held at its gate after two chunks: the recorder, the
    future of the stream's final run, the thread and the gate."""
    client = outage.client
    assistant = client.beta.assistants.create(model=MODEL, instructions="Be brief.")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    gated = Gated(Text(CHUNKS), after=2)
    outage.upstream.script(gated)
    recorder = Recorder()
    with ThreadPoolExecutor(1) as pool:
        final = pool.submit(stream_to_the_end, client, thread.id, assistant.id, recorder)
        assert recorder.streaming.wait(timeout=30), [e.event for e in recorder.events]
        yield recorder, final, thread, gated
        gated.gate.set()  # whatever happened, the upstream must not hold the stream forever


def test_an_end_saved_once_the_database_is_back_within_the_bound(
    postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    retrying = Said("retrying the run's end")
    engine_log = logging.getLogger("threadline.engine")
    engine_log.addHandler(retrying)
    try:
        with (
            outage_server(postgres, tmp_path, end_retry_seconds=600) as outage,
            streaming_run(outage) as (recorder, final, thread, gated),
        ):
            outage.database.stop()
            gated.gate.set()
            assert retrying.seen.wait(timeout=60), "the run's end was never tried"
            outage.database.start()
            run = final.result(timeout=60)

            assert run.status == "completed", run.to_dict()
            assert recorder.events[-1].event == "thread.run.completed"
            (message,) = run_messages(outage.client, thread.id, run.id)
            assert (message.status, text_of(message)) == ("completed", ANSWER)
    finally:
        engine_log.removeHandler(retrying)


def test_an_end_past_the_bound_ends_the_stream_failed_and_keeps_the_text(
    postgres: ThrowawayPostgres, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        outage_server(postgres, tmp_path, end_retry_seconds=0.5) as outage,
        streaming_run(outage) as (recorder, final, thread, gated),
    ):
        client = outage.client
        outage.database.stop()
        gated.gate.set()
        # The SDK's stream helper reads a well-formed end (no IndexError) while the database
        # is still away.
        run = final.result(timeout=60)

        names = [event.event for event in recorder.events]
        assert names[-3:] == [
            "thread.run.step.failed",
            "thread.message.incomplete",
            "thread.run.failed",
        ], names
        told_message = recorder.events[-2].data
        assert told_message.content[0].text.value == ANSWER
        assert told_message.incomplete_details.reason == "run_failed"
        assert run.status == "failed"
        assert run.last_error.code == "server_error"
        assert "database was unavailable" in run.last_error.message
        assert "saved" in run.last_error.message

        outage.database.start()
        # The run reads back as the stream was told, once its end is stored.
        stored = wait_until_ended(client, thread.id, run.id)
        assert stored.status == "failed"
        assert stored.last_error.to_dict() == run.last_error.to_dict()
        assert stored.failed_at == run.failed_at
        (message,) = run_messages(client, thread.id, run.id)
        assert message.to_dict() == told_message.to_dict()
        assert text_of(message) == ANSWER
        (step,) = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
        assert step.status == "failed"
        assert_thread_usable(client, thread.id, run.assistant_id)
    assert not [r for r in caplog.records if "execution died" in r.getMessage()]


def wait_until_ended(client: OpenAI, thread_id: str, run_id: str) -> Any:
    """The run once its end is stored; the database may answer 503 for a moment yet."""
    deadline = time.monotonic() + 60
    while True:
        try:
            run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        except openai.InternalServerError:
            run = None
        if run is not None and run.status in TERMINAL:
            return run
        assert time.monotonic() < deadline, run and run.to_dict()
        time.sleep(0.05)
