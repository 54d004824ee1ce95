"""Stream events built as plain dicts on the hot path have exactly the SDK's shapes (deltas, and
the runs, steps and messages of the run engine's events), and the SSE framing is what both SDKs
parse."""

import orjson
import pytest
from openai.types.beta.threads import MessageDeltaEvent
from openai.types.beta.threads.runs import RunStepDeltaEvent

from threadline.api.sse import DONE, encode
from threadline.schemas.objects import dump, message, message_data
from threadline.schemas.run_objects import (
    StreamEvent,
    message_text_delta,
    run,
    run_data,
    run_step,
    run_step_data,
    tool_call_delta,
)


def _roundtrip(model: type, event: StreamEvent) -> dict:
    data = orjson.loads(event.data)
    parsed = model.model_validate(data)
    assert parsed.model_dump(exclude_unset=True) == data
    return data


def test_text_deltas_carry_annotations_only_first() -> None:
    first = _roundtrip(MessageDeltaEvent, message_text_delta("msg_1", 0, "Hel", first=True))
    later = _roundtrip(MessageDeltaEvent, message_text_delta("msg_1", 0, "lo", first=False))
    assert first["delta"]["content"][0]["text"] == {"value": "Hel", "annotations": []}
    assert later["delta"]["content"][0] == {"index": 0, "type": "text", "text": {"value": "lo"}}


def test_tool_call_delta_is_a_run_step_delta() -> None:
    call = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "f", "arguments": "", "output": None},
    }
    data = _roundtrip(RunStepDeltaEvent, tool_call_delta("step_1", call))
    assert data["delta"]["step_details"] == {"type": "tool_calls", "tool_calls": [call]}


def test_sse_framing() -> None:
    event = StreamEvent("thread.run.created", b'{"id":"run_1"}')
    assert encode(event) == b'event: thread.run.created\ndata: {"id":"run_1"}\n\n'
    assert DONE == b"event: done\ndata: [DONE]\n\n"


def test_terminal_run_events_end_a_stream_segment() -> None:
    for status in ("completed", "failed", "cancelled", "expired", "incomplete", "requires_action"):
        assert StreamEvent(f"thread.run.{status}", b"{}").ends_segment
    for name in ("thread.run.in_progress", "thread.run.cancelling", "thread.message.completed"):
        assert not StreamEvent(name, b"{}").ends_segment


# --- the run engine's object events: plain dicts, exactly what the SDK models dump -------------

RUN = {
    "id": "run_1",
    "project_id": "proj_1",
    "thread_id": "thread_1",
    "assistant_id": "asst_1",
    "created_at": 1700000000,
    "status": "requires_action",
    "required_action": {
        "type": "submit_tool_outputs",
        "submit_tool_outputs": {
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ]
        },
    },
    "last_error": None,
    "expires_at": 1700000600,
    "started_at": 1700000001,
    "cancelled_at": None,
    "failed_at": None,
    "completed_at": None,
    "incomplete_details": None,
    "model": "gpt-4o",
    "instructions": None,
    "tools": [
        {"type": "code_interpreter"},
        {"type": "file_search", "file_search": {"max_num_results": 5}},
        {
            "type": "function",
            "function": {
                "name": "f",
                "description": None,
                "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}},
                "strict": False,
            },
        },
    ],
    "tool_resources": None,
    "metadata": {"k": "v"},
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    "temperature": 0.5,
    "top_p": 1.0,
    "max_prompt_tokens": None,
    "max_completion_tokens": 300,
    "truncation_strategy": {"type": "last_messages", "last_messages": 3},
    "tool_choice": {"type": "function", "function": {"name": "f"}},
    "parallel_tool_calls": True,
    "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {}}},
    "reasoning_effort": None,
    "lease_owner": "worker-1",
    "lease_expires_at": 1700000030.5,
    "attempt": 1,
}
ENDED_RUN = {
    **RUN,
    "status": "failed",
    "required_action": None,
    "last_error": {"code": "server_error", "message": "boom"},
    "failed_at": 1700000002,
    "incomplete_details": {"reason": "max_prompt_tokens"},
    "instructions": "Be brief.",
    "tools": [],
    "usage": None,
    "tool_choice": "auto",
    "response_format": "auto",
}
STEP = {
    "id": "step_1",
    "project_id": "proj_1",
    "run_id": "run_1",
    "thread_id": "thread_1",
    "assistant_id": "asst_1",
    "created_at": 1700000001,
    "type": "tool_calls",
    "status": "completed",
    "step_details": {
        "type": "tool_calls",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "f", "arguments": '{"x": 1}', "output": "2"},
            }
        ],
    },
    "last_error": None,
    "expired_at": None,
    "cancelled_at": None,
    "failed_at": None,
    "completed_at": 1700000002,
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    "metadata": {},
}
MESSAGE_STEP = {
    **STEP,
    "type": "message_creation",
    "status": "in_progress",
    "step_details": {"type": "message_creation", "message_creation": {"message_id": "msg_1"}},
    "completed_at": None,
    "usage": None,
}
MESSAGE = {
    "id": "msg_1",
    "project_id": "proj_1",
    "thread_id": "thread_1",
    "created_at": 1700000001,
    "status": "incomplete",
    "incomplete_details": {"reason": "run_failed"},
    "completed_at": None,
    "incomplete_at": 1700000002,
    "role": "assistant",
    "content": [{"type": "text", "text": {"value": "Hello", "annotations": []}}],
    "assistant_id": "asst_1",
    "run_id": "run_1",
    "attachments": [{"file_id": "file-1", "tools": [{"type": "code_interpreter"}]}],
    "metadata": {},
}


@pytest.mark.parametrize("record", [RUN, ENDED_RUN], ids=["requires-action", "failed"])
def test_run_data_is_what_the_sdk_run_dumps(record: dict) -> None:
    wire = orjson.loads(StreamEvent.of("thread.run.failed", run_data(record)).data)
    assert wire == dump(run(record))
    assert "lease_owner" not in wire and "project_id" not in wire


@pytest.mark.parametrize("record", [STEP, MESSAGE_STEP], ids=["tool-calls", "message-creation"])
def test_run_step_data_is_what_the_sdk_step_dumps(record: dict) -> None:
    assert orjson.loads(orjson.dumps(run_step_data(record))) == dump(run_step(record))


def test_message_data_is_what_the_sdk_message_dumps() -> None:
    in_progress = {**MESSAGE, "status": "in_progress", "content": [], "attachments": []}
    for record in (MESSAGE, in_progress):
        assert orjson.loads(orjson.dumps(message_data(record))) == dump(message(record))


def test_renamed_keeps_the_encoded_data() -> None:
    created = StreamEvent.of("thread.message.created", message_data(MESSAGE))
    in_progress = created.renamed("thread.message.in_progress")
    assert in_progress.name == "thread.message.in_progress" and in_progress.data is created.data
