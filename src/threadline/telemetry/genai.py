"""Spans of model calls, runs and tool calls, after OpenTelemetry's GenAI semantic conventions.

A model call is a client span named ``{operation} {model}`` (``chat gpt-4o``, ``embeddings
text-embedding-3-small``); a run or a response an internal span named ``run`` or ``response``
(operation ``invoke_agent``); a tool call an ``execute_tool {name}`` span. Every helper returns
``NO_SPAN`` at once when tracing is off, so its arguments are all it costs then. Message content
is kept only when the tracer captures it (``capture_content``), truncated to ``CONTENT_LIMIT``
characters."""

import functools
from collections.abc import Sequence
from urllib.parse import urlsplit

import orjson

from threadline.telemetry.base import NO_SPAN, AttributeValue, Span, TraceParent, Tracer

OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_TOP_P = "gen_ai.request.top_p"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
AGENT_ID = "gen_ai.agent.id"
CONVERSATION_ID = "gen_ai.conversation.id"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
# Content, only when captured: these events with their one attribute each.
PROMPT_EVENT, PROMPT = "gen_ai.content.prompt", "gen_ai.prompt"
COMPLETION_EVENT, COMPLETION = "gen_ai.content.completion", "gen_ai.completion"
CONTENT_LIMIT = 8192  # characters kept of a prompt, a completion, a tool's arguments or result

# Threadline's own attributes.
RUN_ID = "threadline.run_id"
THREAD_ID = "threadline.thread_id"
ASSISTANT_ID = "threadline.assistant_id"
RESPONSE_OBJECT_ID = "threadline.response_id"
RUN_STATUS = "threadline.run.status"
PROJECT = "threadline.project"
KEY_ID = "threadline.key_id"
TOOL_EXECUTED_BY = "threadline.tool.executed_by"

# How the conventions type the built-in tools (a function is run by the client).
_TOOL_TYPES = {"file_search": "datastore", "code_interpreter": "extension"}


@functools.lru_cache(maxsize=256)
def server_of(base_url: str) -> tuple[str, int]:
    """An upstream's host and port, from its base URL (parsed once per upstream)."""
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname or "", port


def start_model_call(
    tracer: Tracer,
    operation: str,
    model: str,
    base_url: str,
    *,
    provider: str = "openai",
    max_tokens: object = None,
    temperature: object = None,
    top_p: object = None,
) -> Span:
    """A client span for one call of an upstream model (retries and all)."""
    if not tracer.enabled:
        return NO_SPAN
    host, port = server_of(base_url)
    attributes: dict[str, AttributeValue] = {
        OPERATION: operation,
        PROVIDER: provider,
        REQUEST_MODEL: model,
        SERVER_ADDRESS: host,
        SERVER_PORT: port,
    }
    # Only what the request set, with the right types (a client's JSON may hold anything).
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        attributes[REQUEST_MAX_TOKENS] = max_tokens
    if isinstance(temperature, int | float) and not isinstance(temperature, bool):
        attributes[REQUEST_TEMPERATURE] = float(temperature)
    if isinstance(top_p, int | float) and not isinstance(top_p, bool):
        attributes[REQUEST_TOP_P] = float(top_p)
    return tracer.start(f"{operation} {model}", "client", attributes)


def end_model_call(
    span: Span,
    *,
    response_id: str | None = None,
    response_model: str | None = None,
    finish_reasons: Sequence[str] = (),
    input_tokens: int | None = None,
    output_tokens: int | None = None,
) -> None:
    """What the upstream answered, then the span's end."""
    if span.recording:
        attributes: dict[str, AttributeValue] = {}
        if response_id:
            attributes[RESPONSE_ID] = response_id
        if response_model:
            attributes[RESPONSE_MODEL] = response_model
        if finish_reasons:
            attributes[FINISH_REASONS] = tuple(finish_reasons)
        if input_tokens is not None:
            attributes[INPUT_TOKENS] = input_tokens
        if output_tokens is not None:
            attributes[OUTPUT_TOKENS] = output_tokens
        span.set(attributes)
    span.end()


def start_run(
    tracer: Tracer,
    *,
    kind: str,
    run_id: str,
    thread_id: str,
    assistant_id: str | None,
    model: str,
    project: str,
    parent: TraceParent | None,
) -> Span:
    """The span of one execution of a run (``kind`` "run") or a response ("response"): each
    time the worker takes it up (a run resumed with tool outputs has a span per execution)."""
    if not tracer.enabled:
        return NO_SPAN
    attributes: dict[str, AttributeValue] = {
        OPERATION: "invoke_agent",
        RUN_ID: run_id,
        THREAD_ID: thread_id,
        CONVERSATION_ID: thread_id,
        REQUEST_MODEL: model,
        PROJECT: project,
    }
    if assistant_id:
        attributes[AGENT_ID] = assistant_id
        attributes[ASSISTANT_ID] = assistant_id
    return tracer.start(kind, "internal", attributes, parent=parent)


def end_run(
    span: Span,
    *,
    status: str,
    input_tokens: int | None,
    output_tokens: int | None,
    error_code: str | None = None,
    response_id: str | None = None,
) -> None:
    """The run's status and usage so far, then the span's end (an error if it failed)."""
    if span.recording:
        attributes: dict[str, AttributeValue] = {RUN_STATUS: status}
        if input_tokens is not None:
            attributes[INPUT_TOKENS] = input_tokens
        if output_tokens is not None:
            attributes[OUTPUT_TOKENS] = output_tokens
        if response_id:
            attributes[RESPONSE_OBJECT_ID] = response_id
        span.set(attributes)
        if status == "failed" or status == "expired":
            span.fail(error_code or status)
    span.end()


def start_tool_call(
    tracer: Tracer, name: str, call_id: str, *, arguments: str | None = None
) -> Span:
    """The span of one tool call the server executes (file_search, code_interpreter)."""
    if not tracer.enabled:
        return NO_SPAN
    attributes: dict[str, AttributeValue] = {
        OPERATION: "execute_tool",
        TOOL_NAME: name,
        TOOL_CALL_ID: call_id,
        TOOL_TYPE: _TOOL_TYPES.get(name, "function"),
    }
    if arguments is not None and tracer.capture_content:
        attributes[TOOL_ARGUMENTS] = truncated(arguments)
    return tracer.start(f"execute_tool {name}", "internal", attributes)


def function_calls_requested(tracer: Tracer, calls: Sequence[tuple[str, str, str]]) -> None:
    """Function calls (``(name, call id, arguments)``) the model made, handed to the client to
    execute: one ``execute_tool`` span each, ending at once (the client runs the function,
    Threadline only sees it asked for)."""
    if not tracer.enabled:
        return
    for name, call_id, arguments in calls:
        span = start_tool_call(tracer, name, call_id, arguments=arguments)
        span.set({TOOL_EXECUTED_BY: "client"})
        span.end()


def tool_result(tracer: Tracer, span: Span, output: str) -> None:
    if span.recording and tracer.capture_content:
        span.set({TOOL_RESULT: truncated(output)})


def prompt(tracer: Tracer, span: Span, messages: object) -> None:
    """The prompt as an event, when content is captured (JSON of the messages, truncated)."""
    if span.recording and tracer.capture_content:
        span.event(PROMPT_EVENT, {PROMPT: truncated(_text(messages))})


def completion(tracer: Tracer, span: Span, content: object) -> None:
    """The completion as an event, when content is captured (text or JSON, truncated)."""
    if span.recording and tracer.capture_content:
        span.event(COMPLETION_EVENT, {COMPLETION: truncated(_text(content))})


def truncated(text: str) -> str:
    return text if len(text) <= CONTENT_LIMIT else text[:CONTENT_LIMIT] + "…"


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, bytes):
        return content.decode("utf-8", "replace")
    return orjson.dumps(content, default=str).decode()
