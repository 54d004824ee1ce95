"""Helpers for the run failure and durability suites: polling with a deadline (a run that never
gets where it should fails the test instead of hanging it), server-sent events read off the wire,
and the checks an ended run, its steps and its messages must pass."""

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from openai import OpenAI

MODEL = "gpt-test"
TERMINAL = frozenset({"completed", "incomplete", "failed", "cancelled", "expired"})
ACTIVE = frozenset({"queued", "in_progress", "requires_action", "cancelling"})
RUN_END_EVENTS = frozenset(f"thread.run.{status}" for status in (*TERMINAL, "requires_action"))
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def wait_for_run(
    client: OpenAI,
    thread_id: str,
    run_id: str,
    statuses: Iterable[str] = TERMINAL,
    timeout: float = 15.0,
) -> Any:
    """Poll the run until its status is one of ``statuses``; fail the test at the deadline."""
    wanted = frozenset(statuses)
    deadline = time.monotonic() + timeout
    while True:
        run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        if run.status in wanted:
            return run
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"run {run_id} is still {run.status!r} after {timeout:.0f} s, "
                f"never one of {sorted(wanted)}"
            )
        time.sleep(0.05)


@dataclass(frozen=True)
class Event:
    """One server-sent event as it came over the wire."""

    name: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def sse_events(response: httpx.Response) -> Iterator[Event]:
    """The events of an SSE response, parsed as the SDKs do (comments skipped)."""
    name: str | None = None
    data: list[str] = []
    for line in response.iter_lines():
        if not line:
            if name is not None or data:
                yield Event(name or "message", "\n".join(data))
            name, data = None, []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if name is not None or data:  # an unterminated last event: kept, so a test can see it
        yield Event(name or "message", "\n".join(data))


def stream_run(http: httpx.Client, thread_id: str, body: dict[str, Any]) -> list[Event]:
    """``POST /threads/{id}/runs`` with ``stream: true``, read to the end."""
    path = f"/threads/{thread_id}/runs"
    with http.stream("POST", path, json={**body, "stream": True}) as response:
        assert response.status_code == 200, response.read()
        return list(sse_events(response))


def names(events: Iterable[Event]) -> list[str]:
    return [event.name for event in events]


def run_id_of(events: list[Event]) -> str:
    created = [event for event in events if event.name == "thread.run.created"]
    assert created, names(events)
    return str(created[0].json()["id"])


def assert_stream_ends_with(events: list[Event], *last: str) -> None:
    """The stream's last events are ``last`` then ``done``; it carries exactly one event that
    ends the run (nothing after it but ``done``)."""
    got = names(events)
    assert got[-len(last) - 1 :] == [*last, "done"], got
    assert events[-1].data == "[DONE]", events[-1]
    assert [n for n in got if n in RUN_END_EVENTS] == [last[-1]], got


def streamed_text(events: list[Event]) -> str:
    """The text of every ``thread.message.delta`` event, joined."""
    parts = []
    for event in events:
        if event.name == "thread.message.delta":
            for part in event.json()["delta"].get("content") or []:
                if part.get("type") == "text":
                    parts.append(part["text"].get("value") or "")
    return "".join(parts)


def run_messages(client: OpenAI, thread_id: str, run_id: str) -> list[Any]:
    return list(client.beta.threads.messages.list(thread_id, run_id=run_id, order="asc"))


def run_steps(client: OpenAI, thread_id: str, run_id: str) -> list[Any]:
    return list(client.beta.threads.runs.steps.list(run_id, thread_id=thread_id, order="asc"))


def text_of(message: Any) -> str:
    return "".join(part.text.value for part in message.content if part.type == "text")


def assert_partial_message(
    client: OpenAI, thread_id: str, run_id: str, reason: str, text: str | None = None
) -> Any:
    """The run left exactly one assistant message, ``incomplete`` for ``reason`` (I5)."""
    messages = run_messages(client, thread_id, run_id)
    assert len(messages) == 1, [m.to_dict() for m in messages]
    (message,) = messages
    assert message.role == "assistant"
    assert message.status == "incomplete", message.to_dict()
    assert message.incomplete_details is not None, message.to_dict()
    assert message.incomplete_details.reason == reason, message.to_dict()
    assert message.incomplete_at is not None
    assert message.completed_at is None
    if text is not None:
        assert text_of(message) == text, message.to_dict()
    return message


def assert_no_upstream_secrets(text: str, base_url: str, api_key: str) -> None:
    """Neither the upstream's URL (nor its host:port) nor its key, nor any 8 characters of the
    key, appear in ``text`` (I7). (Windows that are plain words, like the "upstream" of the test
    key "sk-upstream-test", are no secret.)"""
    host = httpx.URL(base_url)
    for secret in (base_url, f"{host.host}:{host.port}", api_key):
        assert secret not in text, (secret, text)
    for start in range(len(api_key) - 7):
        window = api_key[start : start + 8]
        assert window.isalpha() or window not in text, (window, text)


def assert_thread_usable(client: OpenAI, thread_id: str, assistant_id: str) -> Any:
    """The thread takes a new message and a new run, which completes (the upstream's default
    reply must be a plain text one)."""
    client.beta.threads.messages.create(thread_id, role="user", content="Are you there?")
    run = client.beta.threads.runs.create(thread_id, assistant_id=assistant_id)
    run = wait_for_run(client, thread_id, run.id)
    assert run.status == "completed", run.to_dict()
    (message,) = run_messages(client, thread_id, run.id)
    assert message.status == "completed"
    return run
