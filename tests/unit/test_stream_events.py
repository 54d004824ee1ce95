"""Stream events built as plain dicts on the hot path have exactly the SDK's shapes, and the SSE
framing is what both SDKs parse."""

import orjson
from openai.types.beta.threads import MessageDeltaEvent
from openai.types.beta.threads.runs import RunStepDeltaEvent

from threadline.api.sse import DONE, encode
from threadline.schemas.run_objects import StreamEvent, message_text_delta, tool_call_delta


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
