"""A response as its API shows it, from what is stored: the echo (``responses``), the state of
its run, and the messages and tool steps the run wrote — replayed through the same translator
that streams it, so a response read back is the response streamed, item for item."""

from typing import cast

from threadline.engine.response_stream import ResponseStreamTranslator
from threadline.engine.response_stream_reasoning import reasoning_events
from threadline.engine.tools.base import CALL_KEY
from threadline.engine.tools.file_search import queries_of
from threadline.ids import creation_key
from threadline.records.items import ItemRow
from threadline.records.jsonvalue import JsonObject
from threadline.records.response_rows import StoredResponse
from threadline.records.responses import ResponseRecord, ResponseStatus
from threadline.records.runs import RunRecord, RunStatus, StepRecord
from threadline.records.threads import MessageRecord
from threadline.schemas.run_objects import run_data

ENDED: frozenset[RunStatus] = frozenset(
    {"completed", "incomplete", "failed", "cancelled", "expired"}
)
_RUNNING: dict[RunStatus, ResponseStatus] = {
    "queued": "queued",
    "in_progress": "in_progress",
    "requires_action": "in_progress",
    "cancelling": "in_progress",
}


def opening_record(stored: StoredResponse, run: RunRecord) -> ResponseRecord:
    """The response with no output yet, in the status its run is in (a run not yet started
    is ``queued`` only in the background: a synchronous response is being worked on)."""
    status = _RUNNING.get(run["status"], "in_progress")
    if status == "queued" and not stored["background"]:
        status = "in_progress"
    conversation = stored["conversation_id"]
    return {
        "id": stored["id"],
        "project_id": stored["project_id"],
        "created_at": stored["created_at"],
        "status": status,
        "completed_at": None,
        "model": run["model"],
        "instructions": stored["instructions"],
        "tools": stored["tools"],
        "tool_choice": stored["tool_choice"],
        "parallel_tool_calls": run["parallel_tool_calls"],
        "text": stored["text"],
        "reasoning": stored["reasoning"],
        "temperature": run["temperature"],
        "top_p": run["top_p"],
        "top_logprobs": stored["top_logprobs"],
        "max_output_tokens": stored["max_output_tokens"],
        "max_tool_calls": run.get("max_tool_calls"),
        "truncation": stored["truncation"],
        "store": stored["store"],
        "background": stored["background"],
        "previous_response_id": stored["previous_response_id"],
        "conversation": {"id": conversation} if conversation else None,
        "metadata": stored["metadata"],
        "user": stored["user"],
        "safety_identifier": stored["safety_identifier"],
        "prompt_cache_key": stored["prompt_cache_key"],
        "service_tier": stored["service_tier"],
        "error": None,
        "incomplete_details": None,
        "usage": None,
        "output": [],
    }


def translator_for(
    stored: StoredResponse, run: RunRecord, include: frozenset[str] = frozenset()
) -> ResponseStreamTranslator:
    return ResponseStreamTranslator(
        opening_record(stored, run), include=include, container_id=stored["container_id"]
    )


def response_record(
    stored: StoredResponse,
    run: RunRecord,
    messages: list[MessageRecord],
    steps: list[StepRecord],
    include: frozenset[str] = frozenset(),
    reasoning: list[ItemRow] | None = None,
) -> ResponseRecord:
    """The response now: its run's output so far (its own messages, tool steps and reasoning
    items, ``messages``, ``steps`` and ``reasoning``) and, once the run ended, how it ended."""
    translator = translator_for(stored, run, include)
    status = translator.record["status"]
    translator.start()
    # Steps made before the run (a fork's copies) are context, not output.
    started = creation_key(run["id"])
    output_steps = [step for step in steps if creation_key(step["id"]) > started]
    for name, data in _replay(messages, output_steps, reasoning or []):
        translator.feed_data(name, data)
    if run["status"] in ENDED:
        translator.feed_data(f"thread.run.{run['status']}", cast(JsonObject, run_data(run)))
    record = translator.record
    if run["status"] not in ENDED:
        record["status"] = status
        record["output"] = list(translator.items)
    return record


def _replay(
    messages: list[MessageRecord], steps: list[StepRecord], reasoning: list[ItemRow]
) -> list[tuple[str, JsonObject]]:
    """The run events that would have told what ``messages``, ``steps`` and ``reasoning``
    hold, in order."""
    rows: list[tuple[str, MessageRecord | StepRecord | ItemRow]] = [
        (creation_key(m["id"]), m) for m in messages if m["role"] == "assistant"
    ]
    rows += [(creation_key(s["id"]), s) for s in steps if s["type"] == "tool_calls"]
    rows += [(item["position"], item) for item in reasoning]
    rows.sort(key=lambda row: row[0])
    events: list[tuple[str, JsonObject]] = []
    for _, row in rows:
        if "body" in row:
            events.extend(reasoning_events(cast(ItemRow, row)))
        elif "role" in row:
            events.extend(_message_events(cast(MessageRecord, row)))
        else:
            events.extend(step_events(cast(StepRecord, row)))
    return events


def _message_events(message: MessageRecord) -> list[tuple[str, JsonObject]]:
    events: list[tuple[str, JsonObject]] = [
        ("thread.message.created", {"id": message["id"], "role": "assistant"})
    ]
    content = cast(list[JsonObject], message["content"])
    if message["status"] == "in_progress":
        texts = [part for part in content if part.get("type") == "text"]
        if texts:
            entry = {**texts[0], "index": 0}
            events.append(
                ("thread.message.delta", {"id": message["id"], "delta": {"content": [entry]}})
            )
        return events
    events.append(
        (f"thread.message.{message['status']}", {"id": message["id"], "content": content})
    )
    return events


def step_events(step: StepRecord) -> list[tuple[str, JsonObject]]:
    calls = cast(list[JsonObject], step["step_details"].get("tool_calls", []))
    entries = [
        {"index": index, "id": call["id"], "type": call["type"], call["type"]: _opening(call)}
        for index, call in enumerate(calls)
        if isinstance(call.get("function"), dict) or call["type"] != "function"
    ]
    events: list[tuple[str, JsonObject]] = [
        (
            "thread.run.step.delta",
            {"id": step["id"], "delta": {"step_details": {"tool_calls": entries}}},
        )
    ]
    if step["status"] != "in_progress":
        events.append(
            (
                "thread.run.step.completed",
                {"id": step["id"], "step_details": cast(JsonObject, step["step_details"])},
            )
        )
    return events


def _opening(call: JsonObject) -> JsonObject:
    """A stored call's first delta: a function's name; a file search's queries (read from the
    call the model made, as the search published them when it ran)."""
    if call["type"] == "function":
        function = cast(JsonObject, call["function"])
        return {"name": function["name"], "arguments": ""}
    made = call.get(CALL_KEY)
    if call["type"] == "file_search" and isinstance(made, dict):
        return {"queries": list(queries_of(str(made.get("arguments") or "")))}
    return {}
