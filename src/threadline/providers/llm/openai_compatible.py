"""A ``ChatProvider`` over any OpenAI-compatible Chat Completions endpoint.

The SDK's own retries are off (``max_retries=0``): this module owns the one retry loop, and it
retries only before the first delta was yielded. After that a failure is final, because the
caller may already have shown the output to its client. Failure messages are written here, never
copied from the upstream unsanitised: they name no key and no URL."""

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from threadline.ids import tool_call_id
from threadline.providers.llm.base import (
    ChatDelta,
    ChatRequest,
    FailureCode,
    ToolCallDelta,
    UpstreamFailure,
    Usage,
)

log = logging.getLogger("threadline.providers.llm")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class UpstreamOptions:
    """Timeouts and the retry policy of one upstream."""

    connect_timeout: float = 10.0
    read_timeout: float = 120.0  # waiting for the first byte, and between two reads
    max_retries: int = 2  # retries after the first attempt, before any output only
    max_retry_wait: float = 60.0  # a longer Retry-After fails at once instead of waiting
    backoff_base: float = 0.25  # 0.25 s, 0.5 s, 1 s, … when the upstream names no delay
    backoff_cap: float = 4.0


class _Retryable(Exception):
    def __init__(self, failure: UpstreamFailure, retry_after: float | None = None) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.retry_after = retry_after


class _Malformed(Exception):
    pass


_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_KEY_LIKE = re.compile(
    r"\b(?:sk|pk|rk|ak|key|api[-_]?key)[-_][A-Za-z0-9_*.\-]{4,}|\bBearer\s+\S+", re.IGNORECASE
)
_WORD = re.compile(r"[^\s'\"`,;()\[\]{}<>]+")
_WINDOW = 8


class Redactor:
    """Removes from upstream text anything that looks like a key or a URL, and every word that
    shares 8 characters with one of the given secrets (an upstream may echo part of our key)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._short: list[str] = []
        self._windows: set[str] = set()
        for secret in secrets:
            if len(secret) < _WINDOW:
                if len(secret) >= 4:
                    self._short.append(secret)
                continue
            self._windows.update(secret[i : i + _WINDOW] for i in range(len(secret) - _WINDOW + 1))

    def _word(self, match: re.Match[str]) -> str:
        word = match.group(0)
        if any(s in word for s in self._short):
            return "[redacted]"
        if any(word[i : i + _WINDOW] in self._windows for i in range(len(word) - _WINDOW + 1)):
            return "[redacted]"
        return word

    def __call__(self, text: object, limit: int = 300) -> str:
        clean = _KEY_LIKE.sub("[redacted]", _URL.sub("[url]", str(text)))
        clean = _WORD.sub(self._word, clean)
        clean = " ".join(clean.split())
        return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _retry_after(headers: Any) -> float | None:
    """Seconds the upstream asked us to wait: ``retry-after-ms``, then ``retry-after`` as
    seconds or as an HTTP date."""
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(float(millis) / 1000, 0.0)
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _error_body(exc: openai.APIError) -> dict[str, Any]:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    return body if isinstance(body, dict) else {}


class _Normalizer:
    """Turns SDK chunks into ``ChatDelta``s. Holds back ``finish_reason`` and ``usage`` for one
    last delta, gives each tool call its ``id``/``name`` once, and rejects shapes that are not
    Chat Completions chunks."""

    def __init__(self) -> None:
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self._call_ids: dict[int, str] = {}
        self._named: set[int] = set()
        self._by_id: dict[str, int] = {}
        self._last_index = -1

    def feed(self, chunk: Any) -> list[ChatDelta]:
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = _usage(usage) or self.usage
        choices = getattr(chunk, "choices", None)
        if choices is None and usage is not None:
            return []
        if not isinstance(choices, list):
            raise _Malformed("sent a chunk without a choices list")
        deltas = []
        for choice in choices:
            if getattr(choice, "index", 0) not in (0, None):
                continue  # only the first choice is ours
            delta = getattr(choice, "delta", None)
            text = getattr(delta, "content", None) if delta is not None else None
            if text is not None and not isinstance(text, str):
                raise _Malformed("sent a non-text content fragment")
            raw_calls = getattr(delta, "tool_calls", None) if delta is not None else None
            calls = self._tool_calls(raw_calls) if raw_calls else ()
            finish = getattr(choice, "finish_reason", None)
            if finish is not None:
                if not isinstance(finish, str):
                    raise _Malformed("sent a non-text finish_reason")
                self.finish_reason = self.finish_reason or finish
            if text or calls:
                deltas.append(ChatDelta(text=text or "", tool_calls=calls))
        return deltas

    def _tool_calls(self, raw: Any) -> tuple[ToolCallDelta, ...]:
        if not isinstance(raw, list):
            raise _Malformed("sent tool_calls that are not a list")
        out = []
        for call in raw:
            index, call_id = getattr(call, "index", None), getattr(call, "id", None)
            function = getattr(call, "function", None)
            name = getattr(function, "name", None) if function is not None else None
            arguments = getattr(function, "arguments", None) if function is not None else None
            if not all(isinstance(v, str | None) for v in (call_id, name, arguments)):
                raise _Malformed("sent a tool call fragment with non-text fields")
            if index is None:  # some servers send whole calls without an index
                known = self._by_id.get(call_id) if call_id else self._last_index
                index = known if known is not None else self._last_index + 1
                index = max(index, 0)
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 1024:
                raise _Malformed("sent a tool call fragment with a bad index")
            self._last_index = max(self._last_index, index)
            first = index not in self._call_ids
            if first:
                self._call_ids[index] = call_id or tool_call_id()
                self._by_id[self._call_ids[index]] = index
            # The name goes out once, on the first fragment that has one (normally the first).
            if name and index not in self._named:
                self._named.add(index)
            else:
                name = None
            call_id = self._call_ids[index] if first else None
            out.append(ToolCallDelta(index, call_id, name, arguments or ""))
        return tuple(out)

    def last(self) -> ChatDelta | None:
        if self.finish_reason is None:
            return None
        finish = self.finish_reason
        if finish == "function_call" or (finish == "stop" and self._call_ids):
            finish = "tool_calls"
        return ChatDelta(finish_reason=finish, usage=self.usage)


def _usage(raw: Any) -> Usage | None:
    prompt = getattr(raw, "prompt_tokens", None)
    completion = getattr(raw, "completion_tokens", None)
    if isinstance(prompt, int) and isinstance(completion, int) and min(prompt, completion) >= 0:
        return Usage(prompt_tokens=prompt, completion_tokens=completion)
    return None


class OpenAICompatibleProvider:
    """One OpenAI-compatible upstream (one connection pool). ``stream`` sends ``request.model``
    as the upstream model id; the registry binds configured names to their upstream ids."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        name: str = "default",
        options: UpstreamOptions | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.name = name
        self.options = options or UpstreamOptions()
        self._sleep = sleep
        timeout = httpx.Timeout(self.options.read_timeout, connect=self.options.connect_timeout)
        self._owns_http = http_client is None
        # Redirects are not followed: they would carry our Authorization header elsewhere.
        self._http = http_client or httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=40),
        )
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "",
            max_retries=0,
            timeout=timeout,
            http_client=self._http,  # type: ignore[arg-type]  # the SDK accepts httpx clients
            _enforce_credentials=False,
        )
        # The SDK would fill these from OPENAI_* variables; they are not ours to forward, and
        # with no key configured no Authorization header is sent at all.
        self._headers: dict[str, Any] = {"OpenAI-Organization": openai.omit}
        self._headers["OpenAI-Project"] = openai.omit
        if not api_key:
            self._headers["Authorization"] = openai.omit
        host = httpx.URL(base_url).host
        self._redact = Redactor([s for s in (api_key, base_url, host) if s])

    def __repr__(self) -> str:
        return f"OpenAICompatibleProvider(name={self.name!r})"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        kwargs = self._arguments(request)
        attempt = 0
        while True:
            try:
                # aclosing: if our consumer stops, the attempt (and its response) closes now.
                async with aclosing(self._attempt(request.model, kwargs)) as deltas:
                    async for delta in deltas:
                        yield delta
                return
            except _Retryable as retry:
                failure = retry.failure
                if attempt >= self.options.max_retries:
                    raise failure from None
                wait = retry.retry_after
                if wait is None:
                    wait = min(self.options.backoff_base * 2**attempt, self.options.backoff_cap)
                elif wait > self.options.max_retry_wait:
                    log.warning(
                        "upstream %s asked to retry after %.0f s, more than %.0f s: giving up",
                        self.name,
                        wait,
                        self.options.max_retry_wait,
                    )
                    raise failure from None
                attempt += 1
                log.warning(
                    "upstream %s: %s; retry %d/%d in %.2f s",
                    self.name,
                    failure.message,
                    attempt,
                    self.options.max_retries,
                    wait,
                )
                await self._sleep(wait)

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "messages": request.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        optional: dict[str, Any] = {
            "temperature": request.temperature,
            "top_p": request.top_p,
            "max_tokens": request.max_tokens,
            "response_format": request.response_format,
            "reasoning_effort": request.reasoning_effort,
        }
        if request.tools:  # tool_choice and parallel_tool_calls are errors without tools
            optional["tools"] = request.tools
            optional["tool_choice"] = request.tool_choice
            optional["parallel_tool_calls"] = request.parallel_tool_calls
        kwargs.update({key: value for key, value in optional.items() if value is not None})
        kwargs["extra_headers"] = self._headers
        return kwargs

    async def _attempt(self, model: str, kwargs: dict[str, Any]) -> AsyncIterator[ChatDelta]:
        try:
            # The SDK's low-level post: the request is already plain JSON, and the resource
            # method's per-message type transform cost more CPU than the rest of a run.
            body = {key: value for key, value in kwargs.items() if key != "extra_headers"}
            response = await self._client.post(
                "/chat/completions",
                body={"model": model, **body},
                cast_to=ChatCompletion,
                options={"headers": kwargs["extra_headers"]},
                stream=True,
                stream_cls=openai.AsyncStream[ChatCompletionChunk],
            )
        except openai.APIStatusError as exc:
            raise self._status_failure(exc, model) from None
        except openai.APITimeoutError:
            raise _Retryable(self._failure("server_error", "timed out")) from None
        except openai.APIConnectionError:
            raise _Retryable(self._failure("server_error", "could not be reached")) from None
        normalizer = _Normalizer()
        emitted = False
        async with response:  # closes the HTTP response however this generator ends
            try:
                async for chunk in response:
                    for delta in normalizer.feed(chunk):
                        emitted = True
                        yield delta
                last = normalizer.last()
                if last is None:
                    raise _Malformed("ended the stream without a finish_reason (truncated)")
            except (openai.APIError, ValueError, _Malformed) as exc:
                failure = self._stream_failure(exc, emitted)
                if emitted or failure.code == "invalid_prompt":
                    raise failure from None
                raise _Retryable(failure) from None
        yield last

    def _failure(self, code: FailureCode, what: str) -> UpstreamFailure:
        return UpstreamFailure(code, f"The upstream model server ({self.name}) {what}.")

    def _status_failure(self, exc: openai.APIStatusError, model: str) -> Exception:
        status = exc.status_code
        body = _error_body(exc)
        detail = self._redact(body.get("message", "")) if body.get("message") else ""
        if status == 429:
            quota = "insufficient_quota" in (body.get("code"), body.get("type"))
            failure = self._failure(
                "rate_limit_exceeded",
                "reported that its quota is exhausted"
                if quota
                else "is rate limiting Threadline (HTTP 429)",
            )
            if quota or exc.response.headers.get("x-should-retry") == "false":
                return failure
            return _Retryable(failure, _retry_after(exc.response.headers))
        if status in (408, 409) or status >= 500:
            failure = self._failure("server_error", f"returned HTTP {status}")
            return _Retryable(failure, _retry_after(exc.response.headers))
        if status in (400, 413, 422):
            message = "The upstream model server rejected the request"
            return UpstreamFailure("invalid_prompt", f"{message}: {detail}" if detail else message)
        if status in (401, 403):
            return self._failure(
                "server_error",
                f"rejected Threadline's API key (HTTP {status}); check the key configured for "
                f"provider '{self.name}' (THREADLINE_UPSTREAM_API_KEY or its api_key_env)",
            )
        if status == 404:
            return self._failure(
                "server_error",
                f"answered 404: model '{self._redact(model, 100)}' not found upstream; check the "
                "model's upstream_model in THREADLINE_CONFIG and that the base URL ends in /v1",
            )
        if 300 <= status < 400:
            return self._failure(
                "server_error",
                f"answered with a redirect (HTTP {status}), which Threadline does not follow; "
                "configure the final URL as base_url",
            )
        return self._failure("server_error", f"returned HTTP {status}")

    def _stream_failure(self, exc: Exception, emitted: bool) -> UpstreamFailure:
        when = "after output had started" if emitted else "before any output"
        if isinstance(exc, openai.APITimeoutError):
            what = "timed out"
        elif isinstance(exc, openai.APIConnectionError):
            what = "dropped the connection"
        elif isinstance(exc, openai.APIError):  # an in-band {"error": …} event
            body = _error_body(exc)
            detail = self._redact(body.get("message") or exc.message)
            if not emitted and (
                body.get("type") == "invalid_request_error"
                or body.get("code") in (400, "400", "context_length_exceeded")
            ):
                return UpstreamFailure(
                    "invalid_prompt", f"The upstream model server rejected the request: {detail}"
                )
            what = f"sent an error ({detail})"
        elif isinstance(exc, _Malformed):
            what = str(exc)
        else:  # JSON or UTF-8 decoding
            what = "sent a malformed chunk"
        return self._failure("server_error", f"{what} {when}")
