"""How a provider talks HTTP to its upstream: one streamed POST at a time.

By default over ``aiohttp`` (its C parser and connection pool cost far less CPU per streamed
request than ``httpx``'s pure-Python stack: docs/benchmarks.md#gateway);
over an ``httpx.AsyncClient`` when one is handed in (tests script upstreams with
``httpx.MockTransport``). Either way, failures come out as two exceptions: ``TransportTimeout``
(no byte within the read timeout, or no connection within the connect timeout) and
``TransportError`` (could not connect, or the connection broke)."""

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import Protocol

import aiohttp
import httpx
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL


class TransportTimeout(Exception):
    pass


class TransportError(Exception):
    pass


@contextmanager
def _mapped(
    timeouts: type[Exception] | tuple[type[Exception], ...],
    errors: type[Exception] | tuple[type[Exception], ...],
) -> Iterator[None]:
    """The client library's timeouts as ``TransportTimeout``, its other failures as
    ``TransportError``."""
    try:
        yield
    except timeouts as error:
        raise TransportTimeout() from error
    except errors as error:
        raise TransportError() from error


class UpstreamResponse(Protocol):
    status: int
    headers: Mapping[str, str]

    def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body as it arrives (decompressed if the upstream compressed it)."""
        ...

    async def read(self) -> bytes: ...

    async def close(self) -> None:
        """Release the connection: back to the pool if the body was read to its end."""
        ...


class Transport(Protocol):
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> UpstreamResponse: ...

    async def aclose(self) -> None: ...


# --- aiohttp ---------------------------------------------------------------------------------


class AiohttpTransport:
    """Redirects are not followed: they would carry our Authorization header elsewhere. Proxy
    variables (``HTTPS_PROXY``, ``NO_PROXY``…) are honoured, as ``httpx`` honours them: read
    once per upstream, not by aiohttp's ``trust_env``, which looks them and ``~/.netrc`` up on
    a thread for every request (two thread round trips before each model call)."""

    def __init__(self, connect_timeout: float, read_timeout: float, max_connections: int) -> None:
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[URL, tuple[URL | None, aiohttp.BasicAuth | None]] = {}

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use: a session belongs to the running event loop.
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    def _proxy(self, url: URL) -> tuple[URL | None, aiohttp.BasicAuth | None]:
        origin = url.origin()
        found = self._proxies.get(origin)
        if found is None:
            try:
                found = get_env_proxy_for_url(url)
            except LookupError:  # none named, or NO_PROXY names the host
                found = (None, None)
            self._proxies[origin] = found
        return found

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> UpstreamResponse:
        target = URL(url)
        proxy, proxy_auth = self._proxy(target)
        with _mapped(TimeoutError, aiohttp.ClientError):
            response = await self._client().post(
                target,
                data=body,
                headers=headers,
                allow_redirects=False,
                proxy=proxy,
                proxy_auth=proxy_auth,
            )
        return _AiohttpResponse(response)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _AiohttpResponse:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        with _mapped(TimeoutError, aiohttp.ClientError):
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def read(self) -> bytes:
        with _mapped(TimeoutError, aiohttp.ClientError):
            return await self._response.read()

    async def close(self) -> None:
        self._response.release()


# --- httpx -----------------------------------------------------------------------------------


class HttpxTransport:
    """Over a caller's ``httpx.AsyncClient`` (not closed here: it is the caller's)."""

    def __init__(self, client: httpx.AsyncClient, timeout: httpx.Timeout) -> None:
        self._client = client
        self._timeout = timeout

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> UpstreamResponse:
        request = self._client.build_request(
            "POST", url, content=body, headers=dict(headers), timeout=self._timeout
        )
        with _mapped(httpx.TimeoutException, httpx.HTTPError):
            response = await self._client.send(request, stream=True, follow_redirects=False)
        return _HttpxResponse(response)

    async def aclose(self) -> None:
        pass


class _HttpxResponse:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers: Mapping[str, str] = response.headers

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        with _mapped(httpx.TimeoutException, httpx.HTTPError):
            async for chunk in self._response.aiter_bytes():
                yield chunk

    async def read(self) -> bytes:
        with _mapped(httpx.TimeoutException, httpx.HTTPError):
            return await self._response.aread()

    async def close(self) -> None:
        await self._response.aclose()


async def drain(chunks: AsyncIterator[bytes], seconds: float) -> None:
    """Read the rest of a body we are done with (normally just its end) from its ``chunks()``,
    for ``seconds`` at most: read to its end, the connection goes back to the pool instead of
    being closed."""
    try:
        async with asyncio.timeout(seconds):
            async for _ in chunks:
                pass
    except (TimeoutError, TransportTimeout, TransportError):
        pass  # the answer is complete: a slow or broken tail only costs the connection
