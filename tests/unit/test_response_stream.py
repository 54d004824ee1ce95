"""The run events the engine publishes, translated into the ``response.*`` stream, read by the
official SDK's stream helper (``client.responses.stream``) through a transport that serves the
translated events: what the helper accepts and the final Response it builds are the contract."""

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from openai import OpenAI
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from threadline.engine.response_stream import ResponseStreamTranslator
from threadline.records.responses import ResponseRecord
from threadline.schemas.objects import message_data
from threadline.schemas.run_objects import (
    FILE_SEARCH_CONTENT,
    StreamEvent,
    message_extras_delta,
    message_text_delta,
    run_data,
    run_step_data,
    tool_call_delta,
)

EVENT = TypeAdapter[Any](ResponseStreamEvent)
NOW = 1_741_290_958


def response_record(**changes: Any) -> ResponseRecord:
    record: ResponseRecord = {
        "id": "resp_1",
        "project_id": "proj_1",
        "created_at": NOW,
        "status": "in_progress",
        "completed_at": None,
        "model": "gpt-4o",
        "instructions": None,
        "tools": [],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "text": {"format": {"type": "text"}},
        "reasoning": {"effort": None, "summary": None},
        "temperature": None,
        "top_p": None,
        "top_logprobs": None,
        "max_output_tokens": None,
        "max_tool_calls": None,
        "truncation": "disabled",
        "store": True,
        "background": False,
        "previous_response_id": None,
        "conversation": None,
        "metadata": {},
        "user": None,
        "safety_identifier": None,
        "prompt_cache_key": None,
        "service_tier": None,
        "error": None,
        "incomplete_details": None,
        "usage": None,
        "output": [],
    }
    record.update(changes)  # type: ignore[typeddict-item]
    return record


# -- the engine's events, built with the engine's own helpers --------------------------------


def run(status: str, **changes: Any) -> dict[str, Any]:
    record = {
        "id": "run_1",
        "created_at": NOW,
        "thread_id": "thread_1",
        "assistant_id": "",
        "status": status,
        "required_action": None,
        "last_error": None,
        "expires_at": None,
        "started_at": NOW,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "incomplete_details": None,
        "model": "gpt-4o",
        "instructions": None,
        "tools": [],
        "metadata": {},
        "usage": None,
        "temperature": None,
        "top_p": None,
        "max_prompt_tokens": None,
        "max_completion_tokens": None,
        "truncation_strategy": None,
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "response_format": "auto",
    }
    record.update(changes)
    return record


USAGE = {"prompt_tokens": 36, "completion_tokens": 87, "total_tokens": 123}


def run_event(status: str, **changes: Any) -> StreamEvent:
    return StreamEvent.of(f"thread.run.{status}", run_data(run(status, **changes)))


def message(
    message_id: str, status: str, text: str | None, annotations: Any = ()
) -> dict[str, Any]:
    content = (
        []
        if text is None
        else [{"type": "text", "text": {"value": text, "annotations": list(annotations)}}]
    )
    return {
        "id": message_id,
        "object": "thread.message",
        "created_at": NOW,
        "thread_id": "thread_1",
        "status": status,
        "incomplete_details": {"reason": "max_tokens"} if status == "incomplete" else None,
        "completed_at": NOW + 1 if status == "completed" else None,
        "incomplete_at": NOW + 1 if status == "incomplete" else None,
        "role": "assistant",
        "content": content,
        "assistant_id": "",
        "run_id": "run_1",
        "attachments": [],
        "metadata": {},
    }


def message_events(message_id: str, pieces: list[str], annotations: Any = ()) -> list[StreamEvent]:
    events = [
        StreamEvent.of(
            "thread.message.created", message_data(message(message_id, "in_progress", None))
        )
    ]  # type: ignore[arg-type]
    events += [message_text_delta(message_id, 0, p, i == 0) for i, p in enumerate(pieces)]
    if annotations:
        events.append(message_extras_delta(message_id, list(annotations), []))
    done = message(message_id, "completed", "".join(pieces), annotations)
    events.append(StreamEvent.of("thread.message.completed", message_data(done)))  # type: ignore[arg-type]
    return events


def step(step_id: str, calls: list[dict[str, Any]], status: str = "completed") -> StreamEvent:
    record = {
        "id": step_id,
        "created_at": NOW,
        "run_id": "run_1",
        "assistant_id": "",
        "thread_id": "thread_1",
        "type": "tool_calls",
        "status": status,
        "step_details": {"type": "tool_calls", "tool_calls": calls},
        "last_error": None,
        "expired_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": NOW + 1,
        "usage": None,
        "metadata": {},
    }
    # With the passages: the engine feeds a response's translator the steps as it stores them
    # (docs/responses-design.md, §c), not as an Assistants client sees them without include[].
    details = run_step_data(record, frozenset({FILE_SEARCH_CONTENT}))
    return StreamEvent.of(f"thread.run.step.{status}", details)


CALL_A = "call_0abcdefghi0123456789abcd"
CALL_B = "call_0abcdefghj0123456789abcd"


def function_opening(index: int, call_id: str, name: str) -> StreamEvent:
    function = {"name": name, "arguments": "", "output": None}
    return tool_call_delta(
        "step_1", {"index": index, "id": call_id, "type": "function", "function": function}
    )


def function_fragment(index: int, fragment: str) -> StreamEvent:
    return tool_call_delta(
        "step_1", {"index": index, "type": "function", "function": {"arguments": fragment}}
    )


# -- running them through the translator and the SDK ----------------------------------------


def translate(events: list[StreamEvent], **options: Any) -> list[StreamEvent]:
    translator = ResponseStreamTranslator(
        options.pop("record", None) or response_record(), **options
    )
    out = translator.start()
    for event in events:
        out += translator.feed(event)
    return out


def sse(events: list[StreamEvent]) -> bytes:
    return b"".join(b"event: " + e.name.encode() + b"\ndata: " + e.data + b"\n\n" for e in events)


def sdk_client(body: bytes, seen: list[httpx.Request] | None = None) -> OpenAI:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    transport = httpx.MockTransport(handler)
    return OpenAI(
        api_key="k", base_url="http://test/v1", http_client=httpx.Client(transport=transport)
    )


def stream_through_sdk(events: list[StreamEvent], **stream_args: Any) -> tuple[list[Any], Any]:
    """The events as the SDK's helper yields them, and its final response (or None)."""
    client = sdk_client(sse(events))
    args = stream_args or {"model": "gpt-4o", "input": "Hi"}
    with client.responses.stream(**args) as stream:
        yielded = list(stream)
        try:
            final = stream.get_final_response()
        except RuntimeError:
            final = None
    return yielded, final


def payloads(events: list[StreamEvent]) -> list[dict[str, Any]]:
    return [orjson.loads(e.data) for e in events]


def kinds(events: list[StreamEvent]) -> list[str]:
    return [e.name for e in events]


def check_wire(events: list[StreamEvent]) -> None:
    """Every event validates as the SDK's event type, carries its own name as ``type``, and
    the sequence numbers count up from 0 by one."""
    for number, (event, data) in enumerate(zip(events, payloads(events), strict=True)):
        assert data["type"] == event.name
        assert data["sequence_number"] == number
        EVENT.validate_python(data)


# -- the cases -----------------------------------------------------------------------------


def text_answer() -> list[StreamEvent]:
    return [
        run_event("in_progress"),
        *message_events("msg_1", ["Hel", "lo"]),
        run_event("completed", completed_at=NOW + 2, usage=USAGE),
    ]


def test_text_answer_in_openais_order() -> None:
    events = translate(text_answer())
    check_wire(events)
    assert kinds(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    data = payloads(events)
    assert data[0]["response"]["status"] == "in_progress"
    assert data[0]["response"]["usage"] is None
    assert data[2]["item"] == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "status": "in_progress",
        "content": [],
    }
    completed = data[-1]["response"]
    assert completed["status"] == "completed"
    assert completed["completed_at"] == NOW + 2
    assert completed["usage"]["input_tokens"] == 36
    assert completed["usage"]["output_tokens_details"] == {"reasoning_tokens": 0}


def test_sdk_helper_builds_the_final_text_response() -> None:
    yielded, final = stream_through_sdk(translate(text_answer()))
    assert [e.type for e in yielded if e.type == "response.output_text.delta"] == [
        "response.output_text.delta"
    ] * 2
    assert final is not None
    assert final.output_text == "Hello"
    assert final.usage.total_tokens == 123
    assert final.output[0].status == "completed"


def test_parallel_function_calls_complete_the_response() -> None:
    events = translate(
        [
            run_event("in_progress"),
            step("step_1", [], status="created"),
            function_opening(0, CALL_A, "get_weather"),
            function_fragment(0, '{"city":'),
            function_fragment(0, '"Paris"}'),
            function_opening(1, CALL_B, "get_time"),
            function_fragment(1, "{}"),
            run_event(
                "requires_action",
                usage=USAGE,
                required_action={
                    "type": "submit_tool_outputs",
                    "submit_tool_outputs": {
                        "tool_calls": [
                            {
                                "id": CALL_A,
                                "type": "function",
                                "function": {
                                    "name": "get_weather",
                                    "arguments": '{"city":"Paris"}',
                                },
                            },
                            {
                                "id": CALL_B,
                                "type": "function",
                                "function": {"name": "get_time", "arguments": "{}"},
                            },
                        ]
                    },
                },
            ),
        ]
    )
    check_wire(events)
    assert kinds(events)[2:] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    _, final = stream_through_sdk(events)
    assert final is not None
    calls = final.output
    assert [c.type for c in calls] == ["function_call", "function_call"]
    assert [c.call_id for c in calls] == [CALL_A, CALL_B]
    assert calls[0].id.startswith("fc_") and calls[0].id != calls[1].id
    assert calls[0].arguments == '{"city":"Paris"}'
    assert [c.status for c in calls] == ["completed", "completed"]
    assert final.output_text == ""


def file_search_answer() -> list[StreamEvent]:
    marker = "【0:0†a.pdf】"
    text = f"Dragons breathe fire {marker}."
    start = text.index(marker)
    annotation = {
        "type": "file_citation",
        "text": marker,
        "start_index": start,
        "end_index": start + len(marker),
        "file_citation": {"file_id": "file-9"},
    }
    search_call = {
        "id": CALL_A,
        "type": "file_search",
        "file_search": {
            "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0},
            "results": [
                {
                    "file_id": "file-9",
                    "file_name": "a.pdf",
                    "score": 0.91,
                    "content": [{"type": "text", "text": "chunk"}],
                }
            ],
        },
    }
    opening = {
        "index": 0,
        "id": CALL_A,
        "type": "file_search",
        "file_search": {
            "ranking_options": search_call["file_search"]["ranking_options"],
            "results": [],
        },
    }
    return [
        run_event("in_progress"),
        tool_call_delta("step_1", opening),
        tool_call_delta(
            "step_1", {"index": 0, "type": "file_search", "file_search": {"queries": ["dragon"]}}
        ),
        step("step_1", [search_call]),
        *message_events("msg_2", ["Dragons breathe fire ", marker, "."], [annotation]),
        run_event("completed", completed_at=NOW + 2, usage=USAGE),
    ]


def test_file_search_then_a_cited_answer() -> None:
    events = translate(file_search_answer(), include=frozenset({"file_search_call.results"}))
    check_wire(events)
    names = kinds(events)
    assert names[2:7] == [
        "response.output_item.added",
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.file_search_call.completed",
        "response.output_item.done",
    ]
    # The citation is told after the text that ends the cited span, before the text is done.
    assert names.index("response.output_text.annotation.added") < names.index(
        "response.output_text.done"
    )
    assert names.index("response.output_text.annotation.added") > max(
        i for i, n in enumerate(names) if n == "response.output_text.delta"
    )
    _, final = stream_through_sdk(events)
    assert final is not None
    search, answer = final.output
    assert search.type == "file_search_call" and search.queries == ["dragon"]
    assert search.results[0].filename == "a.pdf" and search.results[0].text == "chunk"
    citation = answer.content[0].annotations[0]
    assert (citation.type, citation.file_id, citation.filename) == (
        "file_citation",
        "file-9",
        "a.pdf",
    )
    assert citation.index == final.output_text.index("【")
    assert final.output_text == "Dragons breathe fire 【0:0†a.pdf】."


def test_search_results_only_with_include() -> None:
    data = payloads(translate(file_search_answer()))
    done = next(d for d in data if d["type"] == "response.output_item.done")
    assert done["item"]["results"] is None


def test_code_interpreter_call_in_openais_order() -> None:
    call = {
        "id": CALL_A,
        "type": "code_interpreter",
        "code_interpreter": {"input": "print(2+2)", "outputs": [{"type": "logs", "logs": "4\n"}]},
    }
    opening = {
        "index": 0,
        "id": CALL_A,
        "type": "code_interpreter",
        "code_interpreter": {"input": "", "outputs": []},
    }
    events = translate(
        [
            run_event("in_progress"),
            tool_call_delta("step_1", opening),
            tool_call_delta(
                "step_1",
                {"index": 0, "type": "code_interpreter", "code_interpreter": {"input": "print("}},
            ),
            tool_call_delta(
                "step_1",
                {"index": 0, "type": "code_interpreter", "code_interpreter": {"input": "2+2)"}},
            ),
            tool_call_delta(
                "step_1",
                {
                    "index": 0,
                    "type": "code_interpreter",
                    "code_interpreter": {"outputs": [{"index": 0, "type": "logs", "logs": "4\n"}]},
                },
            ),
            step("step_1", [call]),
            *message_events("msg_3", ["It is 4."]),
            run_event("completed", completed_at=NOW + 2, usage=USAGE),
        ],
        container_id="cntr_1",
        include=frozenset({"code_interpreter_call.outputs"}),
    )
    check_wire(events)
    assert kinds(events)[2:11] == [
        "response.output_item.added",
        "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call_code.delta",
        "response.code_interpreter_call_code.delta",
        "response.code_interpreter_call_code.done",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed",
        "response.output_item.done",
        "response.output_item.added",
    ]
    added = payloads(events)[2]["item"]
    assert added["code"] == "" and added["container_id"] == "cntr_1"
    _, final = stream_through_sdk(events)
    assert final is not None
    code_call = final.output[0]
    assert code_call.code == "print(2+2)" and code_call.container_id == "cntr_1"
    assert code_call.outputs[0].logs == "4\n"
    assert final.output_text == "It is 4."


def test_failure_ends_with_response_failed() -> None:
    events = translate(
        [
            run_event("in_progress"),
            StreamEvent.of(
                "thread.message.created", message_data(message("msg_4", "in_progress", None))
            ),  # type: ignore[arg-type]
            message_text_delta("msg_4", 0, "Par", True),
            StreamEvent.of(
                "thread.message.incomplete", message_data(message("msg_4", "incomplete", "Par"))
            ),  # type: ignore[arg-type]
            run_event(
                "failed", last_error={"code": "upstream_timeout", "message": "The model timed out."}
            ),
        ]
    )
    check_wire(events)
    assert kinds(events)[-1] == "response.failed"
    failed = payloads(events)[-1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "server_error", "message": "The model timed out."}
    assert failed["output"][0]["status"] == "incomplete"
    yielded, final = stream_through_sdk(events)
    assert final is None  # get_final_response needs response.completed
    assert yielded[-1].type == "response.failed"


def test_token_limit_ends_incomplete() -> None:
    events = translate(
        [
            run_event("in_progress"),
            StreamEvent.of(
                "thread.message.created", message_data(message("msg_5", "in_progress", None))
            ),  # type: ignore[arg-type]
            message_text_delta("msg_5", 0, "Once upon", True),
            StreamEvent.of(
                "thread.message.incomplete",
                message_data(message("msg_5", "incomplete", "Once upon")),
            ),  # type: ignore[arg-type]
            run_event(
                "incomplete", usage=USAGE, incomplete_details={"reason": "max_completion_tokens"}
            ),
        ],
        record=response_record(max_output_tokens=16),
    )
    check_wire(events)
    names = kinds(events)
    assert names[-2:] == ["response.output_item.done", "response.incomplete"]
    last = payloads(events)[-1]["response"]
    assert last["incomplete_details"] == {"reason": "max_output_tokens"}
    assert last["output"][0]["status"] == "incomplete"
    assert last["usage"]["total_tokens"] == 123
    yielded, _ = stream_through_sdk(events)
    assert yielded[-1].type == "response.incomplete"


def test_an_open_message_is_closed_when_the_run_ends() -> None:
    events = translate(
        [
            StreamEvent.of(
                "thread.message.created", message_data(message("msg_6", "in_progress", None))
            ),  # type: ignore[arg-type]
            message_text_delta("msg_6", 0, "Hi", True),
            run_event("completed", completed_at=NOW + 3, usage=USAGE),
        ]
    )
    check_wire(events)
    _, final = stream_through_sdk(events)
    assert final is not None and final.output_text == "Hi"


def test_background_starts_queued_and_resumes_after_a_sequence_number() -> None:
    events = translate(text_answer(), record=response_record(status="queued", background=True))
    check_wire(events)
    assert kinds(events)[:3] == ["response.created", "response.queued", "response.in_progress"]
    assert payloads(events)[0]["response"]["status"] == "queued"
    # The SDK resumes with GET /responses/{id}?stream=true, the server replaying from 0; the
    # helper drops what the client saw (≤ starting_after) and still builds the response.
    seen: list[httpx.Request] = []
    client = sdk_client(sse(events), seen)
    with client.responses.stream(response_id="resp_1", starting_after=4) as stream:
        yielded = list(stream)
        final = stream.get_final_response()
    assert seen[0].method == "GET" and seen[0].url.path == "/v1/responses/resp_1"
    assert [e.sequence_number for e in yielded] == list(range(5, len(events)))
    assert final.output_text == "Hello"


def test_cancelled_ends_without_an_event() -> None:
    translator = ResponseStreamTranslator(response_record(status="queued", background=True))
    translator.start()
    assert translator.feed(run_event("cancelled")) == []
    assert translator.finished and translator.record["status"] == "cancelled"
    assert translator.feed(run_event("completed")) == []


def test_an_error_event_has_both_shapes() -> None:
    events = translate(
        [StreamEvent.of("error", {"code": "rate_limit_exceeded", "message": "Slow down"})]
    )
    data = payloads(events)[-1]
    assert data["type"] == "error" and data["code"] == "rate_limit_exceeded"
    assert data["error"]["message"] == "Slow down"


def test_numbering_continues_from_a_given_sequence() -> None:
    translator = ResponseStreamTranslator(response_record(), first_sequence=7)
    first = translator.start()
    assert [orjson.loads(e.data)["sequence_number"] for e in first] == [7, 8]
    assert translator.next_sequence == 9


def test_same_events_give_the_same_stream() -> None:
    assert [e.data for e in translate(file_search_answer())] == [
        e.data for e in translate(file_search_answer())
    ]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    yield
