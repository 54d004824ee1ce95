"""Raw pass-through to OpenAI-compatible upstreams: a request's bytes out, the response's bytes
back, with the same retry and fallback rules as the run engine's provider.

The gateway forwards ``/v1/chat/completions`` and ``/v1/embeddings`` (and, in Assistants
pass-through mode, whole Assistants APIs) without turning them into objects, so this uses
aiohttp directly: httpx alone would take most of the gateway's CPU budget per request
(docs/benchmarks.md#gateway). Each configured model is tried in its fallback order; each
upstream is retried as ``retry_policy`` decides (connection errors, timeouts,
408/429/502/503/504, ``x-should-retry``, ``retry-after`` up to ``max_retry_wait``) — all before
any byte reached the client. A stream counts as started only once its first chunk arrived, so an
upstream that fails before it is retried too. Redirects are never followed (they would carry our
key elsewhere); the upstream gets the provider's key, never the client's."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import aiohttp
import orjson

from threadline.errors import ErrorDetail
from threadline.providers.llm.openai_compatible import UpstreamOptions
from threadline.providers.llm.redaction import Redactor
from threadline.providers.llm.retry_policy import (
    falls_back,
    next_wait,
    quota_exhausted,
    should_retry,
)
from threadline.providers.llm.status import error_body, retry_after
from threadline.records.anthropic import ANTHROPIC_VERSION

log = logging.getLogger("threadline.providers.llm")

Sleep = Callable[[float], Awaitable[None]]
_JSON = {"Content-Type": "application/json"}


_VERSION = "anthropic-version"


@dataclass(frozen=True, slots=True)
class RawUpstream:
    """One configured upstream, as the pass-through reaches it."""

    name: str
    base_url: str  # e.g. http://host:port/v1 — request paths are appended
    api_key: str | None = field(repr=False)
    options: UpstreamOptions
    redact: Redactor = field(repr=False)
    # "anthropic": Anthropic's Messages API (its own headers; chat completions are translated).
    kind: Literal["openai", "anthropic"] = "openai"
    anthropic_version: str = ANTHROPIC_VERSION
    _auth: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        auth: dict[str, str] = {}
        if self.kind == "anthropic":
            auth["anthropic-version"] = self.anthropic_version
            if self.api_key:
                auth["x-api-key"] = self.api_key
        elif self.api_key:
            auth["Authorization"] = f"Bearer {self.api_key}"
        object.__setattr__(self, "_auth", auth)

    def url(self, path: str) -> str:
        return self.base_url + path

    def auth_headers(self) -> Mapping[str, str]:
        return self._auth


@dataclass(frozen=True, slots=True)
class Target:
    upstream: RawUpstream
    model: str  # the upstream's model id


class StreamBroken(Exception):
    """The upstream's body broke off after it had started."""


class UpstreamUnreachable(Exception):
    """No attempt got an answer (connection errors, timeouts). ``message`` names no secret."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.message = message
        self.timed_out = timed_out


@dataclass(slots=True)
class Opened:
    """An upstream's answer. On success the body is still to be read (``first`` is the first
    chunk of a stream, already read); on a final error it is ``body``."""

    response: aiohttp.ClientResponse
    target: Target
    first: bytes = b""
    body: bytes | None = None
    waited: float = 0.0  # seconds until the answer (headers, and first chunk of a stream)

    @property
    def status(self) -> int:
        return self.response.status

    async def chunks(self) -> AsyncIterator[bytes]:
        if self.first:
            yield self.first
        try:
            async for chunk in self.response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, TimeoutError, OSError):
            raise StreamBroken() from None

    async def chunks_or_silence(self, seconds: float) -> AsyncIterator[bytes | None]:
        """``chunks``, with a None after each ``seconds`` without any (for keep-alives)."""
        if self.first:
            yield self.first
        content = self.response.content
        while True:
            silence = asyncio.timeout(seconds)
            try:
                async with silence:
                    chunk = await content.readany()  # cancelled by the timeout: nothing is lost
            except TimeoutError:
                if not silence.expired():  # the upstream's own read timeout
                    raise StreamBroken() from None
                yield None
                continue
            except (aiohttp.ClientError, OSError):
                raise StreamBroken() from None
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        self.response.close()


class PassthroughClient:
    """One connection pool for every pass-through upstream (made in the running loop)."""

    def __init__(self, sleep: Sleep = asyncio.sleep) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._sleep = sleep
        self._timeouts: dict[UpstreamOptions, aiohttp.ClientTimeout] = {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1000, limit_per_host=0, keepalive_timeout=60),
                # The bodies are forwarded as they come; usage is read from plain text.
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
                cookie_jar=aiohttp.DummyCookieJar(),  # an upstream's cookies are not ours
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(
        self,
        method: str,
        upstream: RawUpstream,
        path: str,
        *,
        body: bytes | AsyncIterator[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        """One request, no retry (Assistants pass-through: requests are not all replayable)."""
        options = upstream.options
        timeout = self._timeouts.get(options)
        if timeout is None:
            timeout = self._timeouts[options] = aiohttp.ClientTimeout(
                total=None, sock_connect=options.connect_timeout, sock_read=options.read_timeout
            )
        sent = {**(headers or {}), **upstream.auth_headers(), "Accept-Encoding": "identity"}
        if headers and _VERSION in headers:
            # The key is always the provider's; the API version a client asked for wins.
            sent[_VERSION] = headers[_VERSION]
        return await self._client().request(
            method,
            upstream.url(path),
            data=body,
            headers=sent,
            allow_redirects=False,
            timeout=timeout,
        )

    async def open(
        self,
        chain: list[Target],
        path: str,
        body_for: Callable[[str], bytes],
        *,
        stream: bool,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Opened:
        """POST ``body_for(upstream model)`` to each target in turn until one answers (see the
        module's rules). Returns the success, or the last final answer (a 4xx, or the last
        retryable failure when every attempt failed); raises ``UpstreamUnreachable`` when none
        answered at all. ``extra_headers`` go with every attempt, besides the JSON content
        type and the key (a trace's ``traceparent``, Anthropic's version and betas)."""
        sent = {**_JSON, **extra_headers} if extra_headers else _JSON
        last: Opened | None = None
        unreachable: UpstreamUnreachable | None = None
        started = time.perf_counter()
        for position, target in enumerate(chain):
            if position:
                log.warning(
                    "pass-through: %s failed; falling back to %s",
                    chain[position - 1].upstream.name,
                    target.upstream.name,
                )
            options = target.upstream.options
            payload = body_for(target.model)
            for attempt in range(options.max_retries + 1):
                asked: float | None = None
                try:
                    opened = await self._attempt(target, path, payload, stream, sent)
                except UpstreamUnreachable as failure:
                    unreachable = failure
                else:
                    opened.waited = time.perf_counter() - started
                    status, headers = opened.status, opened.response.headers
                    if status < 300:
                        return opened
                    retry = should_retry(status, headers, quota_exhausted=_quota_exhausted(opened))
                    if not retry and not falls_back(status):
                        return opened  # a client error: the same at every upstream
                    if last is not None:
                        last.close()
                    last = opened
                    if not retry:
                        break  # retrying cannot help; a fallback may
                    asked = retry_after(headers)
                wait = next_wait(attempt, asked, options)
                if wait is None:
                    break
                await self._sleep(wait)
        if last is not None:
            return last
        assert unreachable is not None
        raise unreachable

    async def _attempt(
        self, target: Target, path: str, payload: bytes, stream: bool, headers: Mapping[str, str]
    ) -> Opened:
        upstream = target.upstream
        try:
            response = await self.send("POST", upstream, path, body=payload, headers=headers)
        except TimeoutError:
            raise UpstreamUnreachable(f"{upstream.name} timed out", timed_out=True) from None
        except (aiohttp.ClientError, OSError):
            raise UpstreamUnreachable(
                f"{upstream.name} could not be reached", timed_out=False
            ) from None
        opened = Opened(response, target)
        try:
            if response.status >= 300 or not stream:
                opened.body = await response.read()
            else:
                opened.first = await response.content.readany()
                if not opened.first:
                    raise aiohttp.ClientPayloadError("empty stream")
        except TimeoutError:
            response.close()
            raise UpstreamUnreachable(f"{upstream.name} timed out", timed_out=True) from None
        except (aiohttp.ClientError, OSError):
            response.close()
            what = "dropped the connection"
            raise UpstreamUnreachable(f"{upstream.name} {what}", timed_out=False) from None
        return opened


def _quota_exhausted(opened: Opened) -> bool:
    if opened.status != 429:
        return False
    try:
        body = orjson.loads(opened.body or b"")
    except orjson.JSONDecodeError:
        return False
    return quota_exhausted(opened.status, error_body(body))


def error_detail(body: bytes | None, redact: Callable[..., str]) -> ErrorDetail | None:
    """An upstream's OpenAI-shaped error, with anything secret-looking taken out; None if the
    body is not one."""
    try:
        data = orjson.loads(body or b"")
    except orjson.JSONDecodeError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None

    def cleaned(name: str) -> str | None:
        value = error.get(name)
        return redact(value, 1000) if isinstance(value, str) else None

    return {
        "message": cleaned("message") or "The upstream returned an error.",
        "type": cleaned("type"),
        "param": cleaned("param"),
        "code": cleaned("code"),
    }
