"""The Anthropic Messages <-> Chat Completions translation, as pure functions: what the
end-to-end tests (tests/gateway/test_messages_api.py) cannot script: interleaved tool calls,
odd tool ids, cached tokens, a known stop sequence, documents, images in tool results, reasoning
models, context overflow, and a pass-through stream's usage read across reads."""

import json
from typing import Any

import pytest

from threadline.api.anthropic_front.errors import as_prompt_too_long
from threadline.errors import InvalidRequest
from threadline.gateway.messages_usage import MessagesStreamUsage, message_usage
from threadline.providers.llm.chunks import Malformed
from threadline.providers.llm.messages_answer import ToolIds, message_from_completion
from threadline.providers.llm.messages_request import chat_request, check_envelope
from threadline.providers.llm.messages_stream import StreamTranslator, encode_events


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish, **extra}
    return {"object": "chat.completion.chunk", "choices": [choice]}


def call(index: int, arguments: str, call_id: str | None = None, name: str | None = None) -> dict:
    fragment: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if call_id:
        fragment["id"] = call_id
        fragment["function"]["name"] = name
    return chunk({"tool_calls": [fragment]})


def translate(chunks: list[dict], stop_sequences: Any = None) -> list[dict]:
    translator = StreamTranslator(
        message_id="msg_1", model="m", estimated_input=7, stop_sequences=stop_sequences
    )
    events = translator.start()
    for item in chunks:
        events += translator.feed(item)
    return [*events, *translator.finish()]


def blocks_of(events: list[dict]) -> list[dict]:
    """The content the events accumulate to, checking their order as the SDK does."""
    content: list[dict] = []
    json_parts: dict[int, str] = {}
    open_index = None
    for event in events:
        kind = event["type"]
        if kind == "content_block_start":
            assert open_index is None and event["index"] == len(content)
            content.append(dict(event["content_block"]))
            open_index = event["index"]
        elif kind == "content_block_delta":
            assert event["index"] == open_index
            delta = event["delta"]
            if delta["type"] == "text_delta":
                content[open_index]["text"] += delta["text"]
            else:
                json_parts[open_index] = json_parts.get(open_index, "") + delta["partial_json"]
        elif kind == "content_block_stop":
            assert event["index"] == open_index
            open_index = None
    for index, text in json_parts.items():
        content[index]["input"] = json.loads(text)
    return content


def test_interleaved_tool_calls_become_whole_blocks_in_turn():
    events = translate(
        [
            chunk({"content": "Looking"}),
            call(0, "", "call_a", "first"),
            call(1, "", "functions.Bash:0", "second"),
            call(1, '{"cmd": '),
            call(0, '{"x": 1'),
            chunk({"content": " more"}),
            call(1, '"ls"}'),
            call(0, "}"),
            chunk(finish="tool_calls"),
        ]
    )
    assert blocks_of(events) == [
        {"type": "text", "text": "Looking"},
        {"type": "tool_use", "id": "call_a", "name": "first", "input": {"x": 1}},
        {"type": "tool_use", "id": "functions_Bash_0", "name": "second", "input": {"cmd": "ls"}},
        {"type": "text", "text": " more"},
    ]
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
    encoded = encode_events(events).decode()
    assert encoded.startswith("event: message_start\ndata: {") and encoded.endswith("\n\n")


def test_usage_with_cached_tokens_and_a_known_stop_sequence():
    usage = {"prompt_tokens": 100, "completion_tokens": 9}
    usage["prompt_tokens_details"] = {"cached_tokens": 40}  # type: ignore[assignment]
    events = translate(
        [
            chunk({"content": "ok"}),
            chunk(finish="stop", stop_reason="END"),
            {"choices": [], "usage": usage},
        ],
        stop_sequences=["END"],
    )
    delta = events[-2]
    assert delta["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}
    assert delta["usage"] == {
        "output_tokens": 9,
        "input_tokens": 60,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 40,
    }


def test_a_stream_without_a_finish_reason_is_no_answer():
    translator = StreamTranslator(message_id="m", model="m", estimated_input=1, stop_sequences=None)
    translator.feed(chunk({"content": "half"}))
    with pytest.raises(Malformed):
        translator.finish()
    with pytest.raises(Malformed):
        translator.feed({"error": {"message": "boom"}})


def test_a_whole_completion_as_a_message():
    completion = {
        "choices": [
            {
                "message": {
                    "content": None,
                    "tool_calls": [
                        {"id": "x.y", "function": {"name": "f", "arguments": ""}},
                        {"function": {"name": "g", "arguments": '{"a": [1]}'}},
                    ],
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2},
    }
    message = message_from_completion(
        completion, model="claude-x", stop_sequences=None, estimated_input=0
    )
    first, second = message["content"]
    assert (first["id"], first["input"], second["input"]) == ("x_y", {}, {"a": [1]})
    assert second["id"].startswith("toolu_")
    assert (message["stop_reason"], message["model"]) == ("tool_use", "claude-x")
    completion["choices"][0]["message"]["tool_calls"][1]["function"]["arguments"] = "[1]"
    with pytest.raises(Malformed):
        message_from_completion(completion, model="m", stop_sequences=None, estimated_input=0)


def test_tool_ids_are_stable_and_distinct():
    ids = ToolIds()
    assert ids("a:b") == ids("a:b") == "a_b"
    assert ids("a.b") != "a_b"


def test_documents_tool_result_images_server_tools_and_reasoning_models():
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    pdf = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}
    pdf_part = {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}
    data = {
        "model": "m",
        "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "tools": [
            {"type": "web_search_20250305", "name": "web_search"},
            {"name": "shot", "input_schema": {"type": "object"}},
        ],
        "messages": [
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "shot"}]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": [image]},
                    {"type": "document", "source": pdf, "title": "a.pdf"},
                ],
            },
        ],
    }
    check_envelope(data)
    body = chat_request(data, "o4-mini", stream=False)
    assert [tool["function"]["name"] for tool in body["tools"]] == ["shot"]
    assert body["reasoning_effort"] == "low"
    assert body["messages"][1:] == [
        {"role": "tool", "tool_call_id": "t1", "content": ""},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                {"type": "file", "file": pdf_part},
            ],
        },
    ]
    assert "reasoning_effort" not in chat_request(data, "gpt-4o", stream=False)


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({"max_tokens": 1, "messages": []}, "model"),
        ({"model": "m", "max_tokens": 0, "messages": []}, "max_tokens"),
        ({"model": "m", "max_tokens": 1, "messages": {}}, "messages"),
    ],
)
def test_envelope_checks(data, param):
    with pytest.raises(InvalidRequest) as failed:
        check_envelope(data)
    assert failed.value.param == param


def test_context_overflow_is_worded_as_anthropic_words_it():
    error = InvalidRequest(
        "This model's maximum context length is 128000 tokens. However, your messages resulted "
        "in 130512 tokens. Please reduce the length of the messages.",
        code="context_length_exceeded",
    )
    assert as_prompt_too_long(error).message == "prompt is too long: 130512 tokens > 128000 maximum"


def test_a_passed_through_streams_usage_across_reads():
    stream = (
        b'event: message_start\ndata: {"type":"message_start","message":{"usage":'
        b'{"input_tokens":30,"cache_creation_input_tokens":3,"cache_read_input_tokens":5,'
        b'"output_tokens":1}}}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":7}}\n\n'
    )
    sniffer = MessagesStreamUsage()
    for start in range(0, len(stream), 13):
        sniffer.feed(stream[start : start + 13])
    assert sniffer.usage == (38, 7) and sniffer.between_events
    assert message_usage(b'{"usage": {"input_tokens": 4, "output_tokens": 2}}') == (4, 2)
