"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens``: Anthropic's Messages API in
front of every configured model.

Raw ASGI endpoints served by the gateway middleware like the chat-completions pass-through
(``model_passthrough``): the middleware has authenticated the key (``Authorization: Bearer`` or
``x-api-key``), checked its IP allowlist and taken the request's share of the limits; failures,
its own and these endpoints', are rendered in Anthropic's shape for these paths. Here the body
is read once and checked, the key's models are enforced, and the request goes the way the
model's provider speaks: translated to Chat Completions for OpenAI-compatible upstreams
(``translated``), passed through untouched to providers of kind ``anthropic`` (``forward``).
The ``anthropic-version`` and ``anthropic-beta`` headers and a ``?beta=true`` query are
accepted whatever they say."""

from starlette.types import Receive, Scope, Send

from threadline.api import cached_answers
from threadline.api.anthropic_front import forward, translated
from threadline.api.anthropic_front.call import MessagesCall, messages_chain
from threadline.api.asgi import header_values, read_body
from threadline.api.meter import RequestMeter
from threadline.api.model_passthrough import MAX_BODY_BYTES, json_object
from threadline.errors import ModelNotAllowed, NotFound
from threadline.providers.llm.messages_request import check_envelope

_ROUTE = "/v1/messages"
# A stream is complete, and may be kept in the response cache, once this event is in.
MESSAGES_STREAM_END = b"event: message_stop"


class MessagesEndpoint:
    """One of the two endpoints: creating a message, or counting its tokens."""

    def __init__(self, *, counting: bool) -> None:
        self.counting = counting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state.threadline
        meter: RequestMeter = scope["state"]["gateway"]
        principal = meter.principal
        assert principal is not None  # the gateway middleware authenticated every /v1 request
        body = await read_body(scope, receive, MAX_BODY_BYTES)
        data = check_envelope(json_object(body), counting=self.counting)
        model = data["model"]
        if not principal.allows_model(model):
            raise ModelNotAllowed(model)
        route = messages_chain(state.models, model)
        if route is None:
            raise NotFound(f"model: {model}", param="model", code="model_not_found")
        meter.model = model
        if principal.cache_ttl is not None and not self.counting:
            # Before ``data`` is changed for the upstream; betas change the answer, so they are
            # part of the key.
            vary = ",".join(header_values(scope, b"anthropic-beta"))
            cached = await cached_answers.look_up(scope, meter, _ROUTE, model, data, vary=vary)
            if cached.hit is not None:
                await cached_answers.replay(send, meter, cached.hit)
                return
            stream = data.get("stream") is True
            send = cached_answers.storing(
                send, state.gateway.cache, cached, stream=stream, end_marker=MESSAGES_STREAM_END
            )
        kind, chain = route
        call = MessagesCall(
            scope, receive, send, state, meter, principal, body, data, model, kind, chain
        )
        way = forward if kind == "anthropic" else translated
        if self.counting:
            await way.count_tokens(call)
        else:
            await way.create(call)
