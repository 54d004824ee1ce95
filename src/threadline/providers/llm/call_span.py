"""The GenAI client span of one model turn a provider streams (``chat {upstream model}``),
made only when tracing is on: what was asked (model, budget, sampling), what came back (the
response's id and model from its first chunk, the finish reason and usage from its last delta),
and, with content capture on, the prompt and the completion as span events."""

from typing import Any

from threadline.providers.llm.base import ChatDelta, ChatRequest, UpstreamFailure
from threadline.telemetry import Tracer, genai


class ModelCallSpan:
    def __init__(
        self, tracer: Tracer, request: ChatRequest, base_url: str, provider: str = "openai"
    ) -> None:
        self._tracer = tracer
        self.span = genai.start_model_call(
            tracer,
            "chat",
            request.model,
            base_url,
            provider=provider,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
        )
        self.head_read = not self.span.recording  # nothing to read when nothing is kept
        self._id: str | None = None
        self._model: str | None = None
        self._finish: str | None = None
        self._usage: tuple[int, int] | None = None
        self._text: list[str] | None = None
        if self.span.recording and tracer.capture_content:
            genai.prompt(tracer, self.span, request.messages)
            self._text = []

    def headers(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` with the span's ``traceparent``, for the upstream request."""
        return {**base, **self.span.outgoing_headers()}

    def head(self, chunk: Any) -> None:
        """The stream's first chunk: the response's id and model."""
        self.head_read = True
        if isinstance(chunk, dict):
            found_id, found_model = chunk.get("id"), chunk.get("model")
            self._id = found_id if isinstance(found_id, str) else None
            self._model = found_model if isinstance(found_model, str) else None

    def delta(self, delta: ChatDelta) -> None:
        if delta.finish_reason is not None:
            self._finish = delta.finish_reason
        if delta.usage is not None:
            self._usage = (delta.usage.prompt_tokens, delta.usage.completion_tokens)
        if self._text is not None:
            if delta.text:
                self._text.append(delta.text)
            for call in delta.tool_calls:
                self._text.append((call.name or "") + call.arguments)

    def end(self, failure: BaseException | None) -> None:
        if isinstance(failure, UpstreamFailure):
            self.span.fail(failure.code, failure.message)
        if self._text:
            genai.completion(self._tracer, self.span, "".join(self._text))
        genai.end_model_call(
            self.span,
            response_id=self._id,
            response_model=self._model,
            finish_reasons=(self._finish,) if self._finish else (),
            input_tokens=self._usage[0] if self._usage else None,
            output_tokens=self._usage[1] if self._usage else None,
        )
