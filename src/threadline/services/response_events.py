"""A response's stream: its run's events, as the worker publishes them, through the
translator (``engine.response_stream``) into ``response.*`` events, token by token. It reads
like a ``Subscription`` (``batches``, ``end``, ``close``), so ``api.sse`` sends it as it sends a
run's stream."""

from collections.abc import AsyncIterator, Awaitable, Callable

from threadline.engine.event_bus import KEEPALIVE, Subscription
from threadline.engine.response_stream import ResponseStreamTranslator
from threadline.schemas.run_objects import StreamEvent


class ResponseEvents:
    def __init__(
        self,
        subscription: Subscription,
        translator: ResponseStreamTranslator,
        on_end: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._subscription = subscription
        self._translator = translator
        self._on_end = on_end

    def opening(self) -> list[StreamEvent]:
        """``response.created`` and ``response.in_progress`` (``queued`` in the background)."""
        return self._translator.start()

    async def batches(
        self, keepalive_seconds: float | None = None
    ) -> AsyncIterator[list[StreamEvent]]:
        translator = self._translator
        try:
            async for batch in self._subscription.batches(keepalive_seconds):
                out: list[StreamEvent] = []
                for event in batch:
                    if event is KEEPALIVE:
                        out.append(event)
                    else:
                        out.extend(translator.feed(event))
                if out:
                    yield out
                if translator.finished:
                    break
        finally:
            self._subscription.close()
            if self._on_end is not None:
                await self._on_end()

    def end(self) -> None:
        self._subscription.end()

    def close(self) -> None:
        self._subscription.close()
