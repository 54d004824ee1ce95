"""Chat Completions ↔ Anthropic Messages for providers of kind ``anthropic``: the request
translation (pure), the stream read as ``ChatDelta``s and written as ``chat.completion.chunk``s
(incremental, split anywhere), the whole answer as a ``chat.completion``, the run engine's
``AnthropicProvider`` against the scripted Anthropic upstream (retries, failures), and the
registry picking it by kind."""

import asyncio
import json
from typing import Any

import pytest

from tests.anthropic_upstream import (
    Fail,
    ScriptedAnthropic,
    StreamError,
    Text,
    ToolUse,
    Usage,
    frame,
    stream_events,
)
from threadline.providers.llm.anthropic_completions import ChunkStream, chat_completion
from threadline.providers.llm.anthropic_provider import AnthropicProvider
from threadline.providers.llm.anthropic_requests import (
    DEFAULT_MAX_TOKENS,
    Untranslatable,
    messages_request,
)
from threadline.providers.llm.anthropic_stream import AnthropicTurn
from threadline.providers.llm.base import ChatDelta, ChatRequest, ToolCallDelta, UpstreamFailure
from threadline.providers.llm.chunks import Malformed
from threadline.providers.llm.config import parse_config
from threadline.providers.llm.openai_compatible import UpstreamOptions
from threadline.providers.llm.registry import ModelRegistry
from threadline.providers.llm.status import InBandError


def _request(**chat: Any) -> dict[str, Any]:
    chat.setdefault("messages", [{"role": "user", "content": "Hi"}])
    return dict(messages_request(chat, model="claude-x", stream=False))


# --- requests --------------------------------------------------------------------------------


def test_a_minimal_request():
    assert _request() == {
        "model": "claude-x",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
    }
    assert messages_request({"messages": []}, model="m", stream=True)["stream"] is True


def test_tool_results_open_the_next_user_turn_and_ids_are_sanitised():
    call = {"id": "functions.Bash:0", "type": "function"}
    messages = [
        {"role": "user", "content": "Run it"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {**call, "function": {"name": "Bash", "arguments": '{"cmd": "ls"}'}},
                {"id": "c2", "type": "function", "function": {"name": "Noop", "arguments": ""}},
                {"id": "c3", "type": "function", "function": {"name": "Cut", "arguments": '{"a'}},
            ],
        },
        {"role": "user", "content": "(and be quick)"},
        {"role": "tool", "tool_call_id": "functions.Bash:0", "content": "a.txt"},
        {"role": "tool", "tool_call_id": "c2", "content": ""},
        {"role": "tool", "tool_call_id": "c3", "content": [{"type": "text", "text": "ok"}]},
    ]
    turns = _request(messages=messages)["messages"]
    assert turns[1] == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "functions_Bash_0", "name": "Bash", "input": {"cmd": "ls"}},
            {"type": "tool_use", "id": "c2", "name": "Noop", "input": {}},
            {"type": "tool_use", "id": "c3", "name": "Cut", "input": {"arguments": '{"a'}},
        ],
    }
    assert turns[2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "functions_Bash_0", "content": "a.txt"},
            {"type": "tool_result", "tool_use_id": "c2"},
            {"type": "tool_result", "tool_use_id": "c3", "content": "ok"},
            {"type": "text", "text": "(and be quick)"},
        ],
    }
    assert len(turns) == 3


def test_system_developer_and_empty_texts():
    request = _request(
        messages=[
            {"role": "system", "content": "One."},
            {"role": "developer", "content": [{"type": "text", "text": "Two."}]},
            {
                "role": "user",
                "content": [{"type": "text", "text": "  "}, {"type": "text", "text": "Q"}],
            },
            {"role": "assistant", "content": "   "},
            {"role": "user", "content": "More"},
        ]
    )
    assert request["system"] == [{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}]
    assert request["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Q"}, {"type": "text", "text": "More"}],
        }
    ]


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", False, {"type": "none"}),
        ("required", None, {"type": "any"}),
        ({"type": "function", "function": {"name": "f"}}, None, {"type": "tool", "name": "f"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        (None, True, None),
    ],
)
def test_tool_choice(choice, parallel, expected):
    tool = {"type": "function", "function": {"name": "f"}}
    request = _request(tools=[tool], tool_choice=choice, parallel_tool_calls=parallel)
    assert request.get("tool_choice") == expected
    assert request["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]
    assert "tool_choice" not in _request(tool_choice="required")  # no tools: no choice


def test_sampling_stop_and_user():
    request = _request(temperature=0.2, top_p=0.5, stop="END", user="u", max_tokens=9, seed=1)
    assert (request["temperature"], request["top_p"]) == (0.2, 0.5)
    assert request["stop_sequences"] == ["END"]
    assert request["metadata"] == {"user_id": "u"}
    assert request["max_tokens"] == 9
    assert "seed" not in request


def test_images_and_pdfs():
    pdf = {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}
    content = [
        {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklGRg=="}},
        {"type": "file", "file": pdf},
    ]
    [turn] = _request(messages=[{"role": "user", "content": content}])["messages"]
    assert turn["content"] == [
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/webp", "data": "UklGRg=="},
        },
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
            "title": "a.pdf",
        },
    ]


NOT_BASE64 = {"type": "image_url", "image_url": {"url": "data:image/png,abc"}}
NOT_BASE64_PARAM = "messages[0].content[0].image_url.url"
F_TOOL = {"type": "function", "function": {"name": "f"}}


@pytest.mark.parametrize(
    ("chat", "param"),
    [
        ({"n": 3}, "n"),
        ({"messages": [{"role": "function", "content": "x", "name": "f"}]}, "messages[0].role"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "user", "content": [NOT_BASE64]}]}, NOT_BASE64_PARAM),
        ({"tools": [{"type": "custom", "custom": {"name": "g"}}]}, "tools[0].type"),
        ({"tools": [F_TOOL], "tool_choice": {"type": "custom"}}, "tool_choice"),
    ],
)
def test_untranslatable(chat, param):
    with pytest.raises(Untranslatable) as refused:
        _request(**chat)
    assert refused.value.param == param


# --- streams ---------------------------------------------------------------------------------


def _wire(reply: Any) -> bytes:
    return b"".join(frame(name, data) for name, data in stream_events(reply, "claude-x", 1))


def _turn_deltas(wire: bytes) -> tuple[list[ChatDelta], AnthropicTurn]:
    turn = AnthropicTurn()
    deltas = []
    for block in wire.split(b"\n\n"):
        data = [line[6:] for line in block.split(b"\n") if line.startswith(b"data: ")]
        if data:
            deltas += turn.feed(json.loads(data[0]))
    return deltas, turn


def test_a_stream_as_chat_deltas():
    reply = ToolUse([("get_weather", '{"city": "Paris"}')], text=["Checking."], split=2)
    reply.usage = Usage(412, 38, cache_read_input_tokens=100)
    deltas, turn = _turn_deltas(_wire(reply))
    assert deltas == [
        ChatDelta(text="Checking."),
        ChatDelta(tool_calls=(ToolCallDelta(0, "toolu_1", "get_weather", ""),)),
        ChatDelta(tool_calls=(ToolCallDelta(0, arguments='{"city": '),)),
        ChatDelta(tool_calls=(ToolCallDelta(0, arguments='"Paris"}'),)),
    ]
    last = turn.last()
    assert last is not None and last.finish_reason == "tool_calls"
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (512, 38)
    assert turn.ended


def test_stream_details():
    turn = AnthropicTurn()
    turn.feed({"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 5}}})
    thinking = {"type": "thinking", "thinking": "", "signature": ""}
    turn.feed({"type": "content_block_start", "index": 0, "content_block": thinking})
    delta = {"type": "thinking_delta", "thinking": "hmm"}
    assert turn.feed({"type": "content_block_delta", "index": 0, "delta": delta}) == [
        ChatDelta(reasoning="hmm")
    ]
    block = {"type": "tool_use", "id": "toolu_9", "name": "now", "input": {}}
    turn.feed({"type": "content_block_start", "index": 1, "content_block": block})
    # A call streamed without any input: its arguments are an empty object.
    assert turn.feed({"type": "content_block_stop", "index": 1}) == [
        ChatDelta(tool_calls=(ToolCallDelta(0, arguments="{}"),))
    ]
    assert turn.last() is None  # no message_delta yet: truncated
    usage = {"output_tokens": 7, "input_tokens": 6, "cache_creation_input_tokens": 2}
    turn.feed({"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": usage})
    last = turn.last()
    assert last is not None and last.finish_reason == "length"
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (8, 7)
    assert turn.feed({"type": "ping"}) == [] and turn.feed({"type": "future_event"}) == []
    with pytest.raises(Malformed):
        turn.feed({"type": "content_block_delta", "index": 5, "delta": delta})
    with pytest.raises(InBandError) as failed:
        turn.feed({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    assert failed.value.body["type"] == "overloaded_error"


def _chunks(wire: bytes, step: int, include_usage: bool) -> list[Any]:
    stream = ChunkStream("claude-test", include_usage=include_usage)
    out = b"".join(stream.feed(wire[i : i + step]) for i in range(0, len(wire), step))
    out += stream.end()
    assert out.endswith(b"data: [DONE]\n\n")
    frames = [f.removeprefix(b"data: ") for f in out.split(b"\n\n") if f]
    chunks = [json.loads(f) for f in frames[:-1]]
    assert len({c.pop("id") for c in chunks}) == 1  # one completion
    return chunks


@pytest.mark.parametrize("step", [1, 7, 10_000])
def test_a_stream_as_chunks_split_anywhere(step):
    reply = ToolUse([("f", '{"x": 1}')], text=["Hé", "llo"], usage=Usage(3, 4, 5))
    chunks = _chunks(_wire(reply), step, include_usage=True)
    assert chunks == _chunks(_wire(reply), 10_000, include_usage=True)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content", "") for d in deltas[1:]) == "Héllo"
    calls = [call for d in deltas for call in d.get("tool_calls", [])]
    assert calls[0] == {
        "index": 0,
        "id": "toolu_1",
        "type": "function",
        "function": {"name": "f", "arguments": ""},
    }
    assert "".join(c["function"]["arguments"] for c in calls) == '{"x": 1}'
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 8,
        "completion_tokens": 4,
        "total_tokens": 12,
        "prompt_tokens_details": {"cached_tokens": 5},
    }


def test_chunk_stream_failures():
    stream = ChunkStream("m", include_usage=False)
    wire = _wire(StreamError(["partial"]))
    out = stream.feed(wire)
    assert b'"content":"partial"' in out  # what came before the error is still sent
    assert isinstance(stream.failure, InBandError)
    cut = ChunkStream("m", include_usage=False)
    cut.feed(_wire(Text(["a"])).split(b"event: message_delta")[0])
    with pytest.raises(Malformed):
        cut.end()


def test_a_whole_answer_as_a_chat_completion():
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 2, "cache_read_input_tokens": 30},
    }
    body, usage = chat_completion(message, "claude-test")  # type: ignore[arg-type]
    assert body["model"] == "claude-test" and body["object"] == "chat.completion"
    [choice] = body["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking."
    assert choice["message"]["tool_calls"] == [
        {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
    ]
    assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 30}
    assert (usage.prompt_tokens, usage.output_tokens) == (40, 2)
    refused = {**message, "content": [], "stop_reason": "refusal"}
    body, _ = chat_completion(refused, "m")  # type: ignore[arg-type]
    assert body["choices"][0]["finish_reason"] == "content_filter"
    assert body["choices"][0]["message"]["content"] == ""


# --- the run engine's provider ---------------------------------------------------------------


async def _drain(provider: AnthropicProvider, request: ChatRequest) -> list[ChatDelta]:
    try:
        return [delta async for delta in provider.stream(request)]
    finally:
        await provider.aclose()


def _provider(upstream: ScriptedAnthropic, **options: Any) -> AnthropicProvider:
    async def no_sleep(_: float) -> None:
        return None

    return AnthropicProvider(
        base_url=upstream.base_url,
        api_key=upstream.api_key,
        anthropic_version="2099-01-01",
        options=UpstreamOptions(**options),
        sleep=no_sleep,
    )


REQUEST = ChatRequest(model="claude-x", messages=[{"role": "user", "content": "Hi"}])


def test_provider_retries_before_output(anthropic_upstream):
    anthropic_upstream.script(Fail(529), StreamError([]), Fail(429), Text(["ok"]))
    deltas = asyncio.run(_drain(_provider(anthropic_upstream, max_retries=3), REQUEST))
    assert [d.text for d in deltas] == ["ok", ""]
    assert deltas[-1].finish_reason == "stop"
    assert len(anthropic_upstream.requests) == 4
    headers = anthropic_upstream.requests[0]["_headers"]
    assert headers["anthropic-version"] == "2099-01-01"
    assert headers["x-api-key"] == anthropic_upstream.api_key


@pytest.mark.parametrize(
    ("reply", "code", "words"),
    [
        (Fail(529), "server_error", "overloaded (HTTP 529)"),
        (Fail(400, "prompt is too long: 9 tokens > 1 maximum"), "invalid_prompt", "too long"),
        (Fail(401), "server_error", "rejected Threadline's API key"),
        (StreamError(["half"]), "server_error", "after output had started"),
    ],
)
def test_provider_failures(anthropic_upstream, reply, code, words):
    anthropic_upstream.script(reply)
    with pytest.raises(UpstreamFailure) as failed:
        asyncio.run(_drain(_provider(anthropic_upstream, max_retries=0), REQUEST))
    assert failed.value.code == code
    assert words in failed.value.message
    assert anthropic_upstream.api_key not in failed.value.message


def test_provider_refuses_what_it_cannot_translate(anthropic_upstream):
    request = ChatRequest(model="m", messages=[{"role": "tool", "content": "x"}])  # type: ignore[typeddict-item]
    with pytest.raises(UpstreamFailure) as failed:
        asyncio.run(_drain(_provider(anthropic_upstream), request))
    assert failed.value.code == "invalid_prompt"
    assert anthropic_upstream.requests == []


# --- the registry ----------------------------------------------------------------------------


def test_the_registry_picks_the_provider_by_kind():
    config = parse_config(
        """
providers:
  claude: {kind: anthropic, base_url: "https://api.anthropic.com/v1", api_key: sk-ant-x}
  local: {base_url: "http://127.0.0.1:9/v1"}
models:
  claude-test: {provider: claude, upstream_model: claude-sonnet-4-5}
  mixed: {provider: local, fallbacks: [claude-test]}
  plain: {provider: local}
"""
    )
    registry = ModelRegistry(config=config, environ={})
    assert isinstance(registry.route("claude-test").provider.provider, AnthropicProvider)  # type: ignore[attr-defined]
    assert registry.translates_chat("claude-test") and registry.translates_chat("mixed")
    assert not registry.translates_chat("plain") and not registry.translates_chat("unknown")
    claude = registry.raw_upstream("claude")
    assert claude is not None
    assert dict(claude.auth_headers()) == {
        "anthropic-version": "2023-06-01",
        "x-api-key": "sk-ant-x",
    }
    local = registry.raw_upstream("local")
    assert local is not None and dict(local.auth_headers()) == {}
