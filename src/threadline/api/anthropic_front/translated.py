"""``/v1/messages`` for models of OpenAI-compatible upstreams: the request translated to Chat
Completions, the answer back to a ``Message`` or to Anthropic's stream events
(``providers/llm/messages_*``), sent through the gateway's pass-through client (its retries
and fallbacks, before any byte reached the client).

A stream is answered 200 only once the upstream has accepted the request (its first chunk
arrived): until then a failure is an error with its real status, which the SDKs retry. After
it, a failure (the upstream broke off, sent something that is not a chunk, or ended without a
finish reason) is an ``error`` event, never a quiet ``end_turn``. A ``ping`` goes out after
``PING_SECONDS`` of upstream silence, so that clients' stall watchdogs and proxies' idle
timeouts do not cut a long answer. ``count_tokens`` is answered here, with the token counter
the run engine fits prompts with."""

import asyncio
import contextlib
import logging
from typing import Any

import orjson

from threadline import ids
from threadline.api.anthropic_front.call import MessagesCall
from threadline.api.anthropic_front.errors import as_prompt_too_long, error_event
from threadline.api.model_passthrough import disconnected, upstream_error
from threadline.engine.tokens import count_prompt
from threadline.errors import APIError, UpstreamError
from threadline.providers.llm.chunks import Malformed
from threadline.providers.llm.event_stream import EventStreamDecoder
from threadline.providers.llm.messages_answer import message_from_completion, prompt_tokens
from threadline.providers.llm.messages_request import (
    chat_messages,
    chat_request,
    chat_tools,
    retarget,
)
from threadline.providers.llm.messages_stream import StreamTranslator, encode_events
from threadline.providers.llm.passthrough import Opened, StreamBroken, UpstreamUnreachable
from threadline.records.anthropic import StreamEvent

log = logging.getLogger("threadline.api")

PING_SECONDS = 15.0
_PING_EVENT = b'event: ping\ndata: {"type":"ping"}\n\n'
_DONE = b"[DONE]"


async def create(call: MessagesCall) -> None:
    data = call.data
    stream = call.stream
    chat = chat_request(data, call.chain[0].model, stream=stream)  # a bad body fails here
    estimated_input = len(call.body) // 4
    gateway = call.state.gateway
    await gateway.reserve(call.meter.ticket, estimated_input + call.max_tokens)

    def body_for(upstream_model: str) -> bytes:
        return orjson.dumps(retarget(chat, upstream_model, data))

    trace_headers = call.start_span()  # the model call's span, when tracing is on
    try:
        opened = await call.state.passthrough.open(
            call.chain,
            "/chat/completions",
            body_for,
            stream=stream,
            extra_headers=trace_headers or None,
        )
    except UpstreamUnreachable as failure:
        raise await call.unreachable(failure, estimated_input) from None
    except BaseException:  # the client left (cancelled) while the upstream was asked
        call.span_failed("interrupted")
        raise
    gateway.metrics.upstream_latency.labels(opened.target.upstream.name).observe(opened.waited)
    if call.span is not None:
        call.span.answered(opened.target)
    try:
        if opened.status >= 300:
            call.span_failed(str(opened.status))
            await call.finish(None)
            raise as_prompt_too_long(upstream_error(opened))
        if stream:
            await _stream(call, opened, estimated_input)
        else:
            await _answer(call, opened, estimated_input)
    finally:
        opened.close()
        call.span_failed("interrupted")  # unless it has ended


async def count_tokens(call: MessagesCall) -> None:
    tokens = count_prompt(chat_messages(call.data), chat_tools(call.data))
    await call.send_json(orjson.dumps({"input_tokens": tokens}), 0)


async def _answer(call: MessagesCall, opened: Opened, estimated_input: int) -> None:
    if call.span is not None:
        call.span.body(opened.body or b"")
    try:
        message = message_from_completion(
            orjson.loads(opened.body or b""),
            model=call.model,
            stop_sequences=call.data.get("stop_sequences"),
            estimated_input=estimated_input,
        )
    except (orjson.JSONDecodeError, Malformed) as failure:
        if call.span is not None:
            call.span.broke("malformed")
        await call.finish((estimated_input, 0))
        raise _malformed(opened, failure) from None
    usage = message["usage"]
    cost = await call.finish((prompt_tokens(usage), usage["output_tokens"]))
    await call.send_json(orjson.dumps(message), cost)


async def _stream(call: MessagesCall, opened: Opened, estimated_input: int) -> None:
    translator = StreamTranslator(
        message_id=ids.message_id(),
        model=call.model,
        estimated_input=estimated_input,
        stop_sequences=call.data.get("stop_sequences"),
    )
    send = call.send
    await call.start_stream()
    # message_start and its ping go out with the first of the answer (one write, not two).
    out = encode_events(translator.start())
    decoder = EventStreamDecoder()
    gone: asyncio.Task[Any] | None = None
    ended = False
    events: list[StreamEvent] = []
    try:
        async for read in opened.chunks_or_silence(PING_SECONDS):
            events = []
            if read and call.span is not None:
                call.span.chunk(read)
            if read is None:
                out += _PING_EVENT
            for event in decoder.feed(read) if read else ():
                if event.data == _DONE:
                    ended = True
                    break
                if event.data:
                    events += translator.feed(orjson.loads(event.data))
            if ended:
                break
            if events:
                out += encode_events(events)
            if out:
                await send({"type": "http.response.body", "body": out, "more_body": True})
                out = b""
            if gone is None:
                # Still going after its first read: watch for the client leaving, so a long
                # answer is not read to its end for nobody.
                gone = asyncio.ensure_future(disconnected(call.receive))
            elif gone.done():
                return
        if ended:
            out += encode_events(events)  # what came before [DONE] in its read
        # [DONE], or the body's end: an answer all the same if it had finished.
        out += encode_events(translator.finish())
        await send({"type": "http.response.body", "body": out, "more_body": False})
    except (StreamBroken, Malformed, orjson.JSONDecodeError) as failure:
        if call.span is not None:
            call.span.broke("stream_broken" if isinstance(failure, StreamBroken) else "malformed")
        error = _malformed(opened, failure)
        log.warning("/v1/messages: %s", error.message)
        with contextlib.suppress(OSError):
            body = out + error_event(error, call.request_id)
            await send({"type": "http.response.body", "body": body, "more_body": False})
    finally:
        if gone is not None:
            gone.cancel()
        await call.finish(translator.metered_usage() or (estimated_input, 0))


def _malformed(opened: Opened, failure: Exception) -> APIError:
    upstream = opened.target.upstream
    if isinstance(failure, StreamBroken):
        what = "dropped the stream"
    elif isinstance(failure, Malformed):
        what = str(failure)
    else:
        what = "sent an answer that is not JSON"
    return UpstreamError(f"The upstream model server ({upstream.name}) {what}.")
