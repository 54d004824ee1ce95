"""One ``/v1/messages`` request as its two ways of being served share it: who asked, for which
model, served by which upstreams; and what both do at the end (metering, the answer's
headers, the model call's span when tracing is on)."""

from dataclasses import dataclass, field
from typing import Literal

from starlette.types import Receive, Scope, Send

from threadline.api.anthropic_front.errors import id_headers, request_id_of
from threadline.api.asgi import JSON
from threadline.api.meter import RequestMeter
from threadline.api.passthrough_spans import PassthroughSpan
from threadline.app_state import AppState
from threadline.errors import APIError, UpstreamError, UpstreamTimeout
from threadline.gateway.pricing import MESSAGES, format_usd
from threadline.gateway.principal import Principal
from threadline.gateway.usage_sniff import Usage
from threadline.providers.llm.messages_request import completion_budget
from threadline.providers.llm.passthrough import Target, UpstreamUnreachable
from threadline.providers.llm.registry import ModelRegistry
from threadline.records.anthropic import MessagesBody

Kind = Literal["openai", "anthropic"]
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


@dataclass(slots=True)
class MessagesCall:
    scope: Scope
    receive: Receive
    send: Send
    state: AppState
    meter: RequestMeter
    principal: Principal
    body: bytes  # as the client sent it
    data: MessagesBody  # the body, parsed
    model: str  # as the client named it
    kind: Kind  # the API the model's upstreams speak
    chain: list[Target]  # the model's upstreams, fallbacks in order
    span: PassthroughSpan | None = field(default=None)  # the model call's, when traced

    def start_span(self) -> dict[str, str]:
        """The model call's span (tracing on), ended by ``finish``; the headers that carry its
        trace upstream."""
        if not self.state.tracer.enabled:
            return {}
        self.span = PassthroughSpan(self.state.tracer, "chat", self.data, self.chain[0])
        return self.span.headers

    def span_failed(self, error_type: str, message: str | None = None) -> None:
        """The model call failed: its span ends as an error (unless it has ended)."""
        if self.span is not None:
            self.span.failed(error_type, message)

    @property
    def stream(self) -> bool:
        return self.data.get("stream") is True

    @property
    def max_tokens(self) -> int:
        """The completion budget asked for (0 when counting tokens)."""
        return completion_budget(self.data)

    @property
    def request_id(self) -> str | None:
        return request_id_of(self.scope)

    async def finish(self, usage: Usage | None) -> int:
        """Free the request's share of the limits; meter ``usage`` (None: nothing was used).
        Returns the cost in nano-USD."""
        if self.span is not None:
            self.span.end(usage)
        prompt, completion = usage or (0, 0)
        meter = self.meter
        meter.input_tokens, meter.output_tokens = prompt, completion
        cost = await self.state.gateway.finish(
            self.principal,
            meter.ticket,
            model=self.model,
            meter=MESSAGES if usage is not None else None,
            input_tokens=prompt,
            output_tokens=completion,
        )
        meter.cost_nanos = cost
        return int(cost)

    async def send_json(self, body: bytes, cost: int, content_type: bytes = JSON) -> None:
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"x-threadline-cost", format_usd(cost).encode()),
            *id_headers(self.scope),
        ]
        await self.send({"type": "http.response.start", "status": 200, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})

    async def start_stream(self) -> None:
        headers = [*SSE_HEADERS, *id_headers(self.scope)]
        await self.send({"type": "http.response.start", "status": 200, "headers": headers})

    async def unreachable(self, failure: UpstreamUnreachable, estimate: int) -> APIError:
        """The error for an upstream that never answered (metered as the chat path meters it:
        the attempts may have cost; ``estimate`` 0: not metered)."""
        self.span_failed("timeout" if failure.timed_out else "unreachable", failure.message)
        await self.finish((estimate, 0) if estimate else None)
        error_class = UpstreamTimeout if failure.timed_out else UpstreamError
        return error_class(
            f"The upstream model server ({failure.message}).", code="upstream_unavailable"
        )


def messages_chain(models: ModelRegistry, model: str) -> tuple[Kind, list[Target]] | None:
    """The upstreams of ``model`` that speak the API of its first one (a fallback speaking the
    other is left out: the request would need translating the other way), and that API."""
    chain = models.passthrough_chain(model)
    if not chain:
        return None
    kind = chain[0].upstream.kind
    return kind, [target for target in chain if target.upstream.kind == kind]
