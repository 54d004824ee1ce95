"""The GenAI client span of one pass-through model call (``chat {model}``, ``embeddings
{model}``): made by ``model_passthrough`` and ``/v1/messages`` (``anthropic_front``) only when
tracing is on.

The answer is forwarded as bytes, never parsed: what the span says of it (its id, model and
finish reasons) is read from the bytes as they pass, as ``usage_sniff`` reads the usage — the
first ``"id"`` and ``"model"`` of a body or of a stream's first chunk (an object's own come
before any nested one), and every ``"finish_reason"`` (``"stop_reason"`` from an upstream of
kind ``anthropic``, whose provider the span names ``anthropic``). Only with content capture on
is the answer decoded, for its text."""

import re
from collections.abc import Mapping

import orjson

from threadline.providers.llm.event_stream import EventStreamDecoder
from threadline.providers.llm.passthrough import Target
from threadline.telemetry import Span, Tracer, genai

_ID = re.compile(rb'"id"\s*:\s*"([^"\\]{1,256})"')
_MODEL = re.compile(rb'"model"\s*:\s*"([^"\\]{1,256})"')
_FINISH = re.compile(rb'"finish_reason"\s*:\s*"([A-Za-z_]{1,64})"')
_STOP = re.compile(rb'"stop_reason"\s*:\s*"([A-Za-z_]{1,64})"')  # Anthropic's Messages API
_CAPTURED_STREAM_BYTES = 1024 * 1024  # of a stream kept to read its text from, when captured


class PassthroughSpan:
    """One call's span: started before the request goes upstream (its ``headers`` carry the
    span's ``traceparent``), fed the answer, ended with the usage."""

    def __init__(
        self, tracer: Tracer, operation: str, data: Mapping[str, object], first: Target
    ) -> None:
        """``data``: the request body (a chat completion's, an embeddings', a Messages
        API's), read only for the span's attributes and, with content capture, its prompt."""
        self._tracer = tracer
        self._chat = operation == "chat"
        # An Anthropic upstream answers in the Messages API's shape.
        self._anthropic = first.upstream.kind == "anthropic"
        self._finish_key, self._finish_re = (
            (b'"stop_reason"', _STOP) if self._anthropic else (b'"finish_reason"', _FINISH)
        )
        self.span: Span = genai.start_model_call(
            tracer,
            operation,
            first.model,
            first.upstream.base_url,
            provider="anthropic" if self._anthropic else "openai",
            max_tokens=data.get("max_completion_tokens") or data.get("max_tokens"),
            temperature=data.get("temperature"),
            top_p=data.get("top_p"),
        )
        self.headers = self.span.outgoing_headers()
        self._recording = self.span.recording
        self._id: str | None = None
        self._model: str | None = None
        self._finish: list[str] = []
        self._first = True
        self._captured: bytearray | None = None
        self._ended = False
        if self._recording and tracer.capture_content:
            genai.prompt(tracer, self.span, _prompt(data) if self._chat else data.get("input"))
            self._captured = bytearray()

    def answered(self, target: Target) -> None:
        """The upstream that answered (a fallback may have)."""
        if self._recording:
            host, port = genai.server_of(target.upstream.base_url)
            self.span.set({genai.SERVER_ADDRESS: host, genai.SERVER_PORT: port})

    def body(self, body: bytes) -> None:
        """A whole (non-streamed) answer."""
        if not self._recording:
            return
        if self._chat:
            self._read_head(body)
            self._finish = [m.decode() for m in self._finish_re.findall(body)]
            if self._captured is not None:
                texts = _content_texts(body) if self._anthropic else _message_texts(body)
                genai.completion(self._tracer, self.span, texts)
        else:  # an embeddings list: its model comes after the vectors
            found = _MODEL.search(body, max(body.rfind(b'"model"'), 0))
            self._model = found.group(1).decode() if found else None

    def chunk(self, chunk: bytes) -> None:
        """The next bytes of a stream."""
        if not self._recording:
            return
        if self._first:
            self._first = False
            self._read_head(chunk)
        if self._finish_key in chunk:
            self._finish += [m.decode() for m in self._finish_re.findall(chunk)]
        captured = self._captured
        if captured is not None and len(captured) < _CAPTURED_STREAM_BYTES:
            captured += chunk

    def broke(self, error_type: str = "stream_broken") -> None:
        """The stream broke off after it had started, or its answer could not be read (the
        span still ends with the usage)."""
        self.span.fail(error_type)

    def failed(self, error_type: str, message: str | None = None) -> None:
        """The call failed (or was given up): the span ends as an error, unless it had ended."""
        if not self._ended:
            self._ended = True
            self.span.fail(error_type, message)
            self.span.end()

    def end(self, usage: tuple[int, int] | None) -> None:
        if self._ended:
            return
        self._ended = True
        if self._captured is not None and self._captured:
            read = _streamed_content if self._anthropic else _streamed_text
            genai.completion(self._tracer, self.span, read(bytes(self._captured)))
        genai.end_model_call(
            self.span,
            response_id=self._id,
            response_model=self._model,
            finish_reasons=self._finish,
            input_tokens=usage[0] if usage else None,
            output_tokens=usage[1] if usage and self._chat else None,
        )

    def _read_head(self, data: bytes) -> None:
        found = _ID.search(data)
        self._id = found.group(1).decode() if found else None
        found = _MODEL.search(data)
        self._model = found.group(1).decode() if found else None


def _prompt(data: Mapping[str, object]) -> object:
    """A chat request's messages; a Messages API request's with its system prompt first."""
    messages = data.get("messages")
    system = data.get("system")
    if system and isinstance(messages, list):
        return [{"role": "system", "content": system}, *messages]
    return messages


def _message_texts(body: bytes) -> object:
    """A chat completion's messages (content and tool calls), for content capture."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list):
        return body
    return [choice.get("message") for choice in choices if isinstance(choice, dict)]


def _streamed_text(stream: bytes) -> str:
    """The text a chat stream's deltas add up to (its first choice), for content capture."""
    parts: list[str] = []
    for event in EventStreamDecoder().feed(stream):
        if event.data.startswith(b"[DONE]"):
            break
        try:
            chunk = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            continue
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        if not choices or not isinstance(choices[0], dict):
            continue
        delta = choices[0].get("delta") or {}
        if isinstance(delta.get("content"), str):
            parts.append(delta["content"])
        for call in delta.get("tool_calls") or ():
            function = (call.get("function") or {}) if isinstance(call, dict) else {}
            parts.append(str(function.get("name") or "") + str(function.get("arguments") or ""))
    return "".join(parts)


def _content_texts(body: bytes) -> object:
    """A Messages API answer's content blocks, for content capture."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    content = data.get("content") if isinstance(data, dict) else None
    return content if isinstance(content, list) else body


def _streamed_content(stream: bytes) -> str:
    """The text (and tool calls) a Messages API stream's events add up to, for capture."""
    parts: list[str] = []
    for event in EventStreamDecoder().feed(stream):
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        block = data.get("content_block")
        if isinstance(block, dict) and block.get("type") == "tool_use":
            parts.append(str(block.get("name") or ""))
        delta = data.get("delta")
        if isinstance(delta, dict):
            text = delta.get("text", delta.get("partial_json"))
            if isinstance(text, str):
                parts.append(text)
    return "".join(parts)
