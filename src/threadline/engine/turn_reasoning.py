"""A response's reasoning in one model turn: the upstream's ``reasoning_content`` fragments,
told as they arrive and stored as a ``reasoning`` item of the response's conversation when the
turn's answer (text or calls) starts, or when the turn ends.

Only a response's run records it (Assistants has no reasoning object; its runs ignore the
fragments). The events are the run bus's own (``REASONING_DELTA``/``REASONING_DONE``): no
Assistants stream carries them, and the response translator turns them into
``response.reasoning_text.*`` (engine.response_stream_reasoning). The item's id is minted at the
first fragment, so it sorts before the answer it led to: a later turn sends it back with that
answer (engine.context)."""

from collections.abc import Callable

from threadline import clock, ids
from threadline.engine.response_stream_reasoning import REASONING_DELTA, REASONING_DONE
from threadline.records.items import ItemRow
from threadline.records.responses import ReasoningItem
from threadline.records.runs import RunRecord
from threadline.schemas.run_objects import StreamEvent
from threadline.storage.database import Database
from threadline.storage.items import ItemRepository

_items = ItemRepository()


class TurnReasoning:
    def __init__(
        self,
        db: Database,
        run: RunRecord,
        response_id: str,
        publish: Callable[[StreamEvent], None],
    ) -> None:
        self._db = db
        self._run = run
        self._response_id = response_id
        self._publish = publish
        self._id: str | None = None
        self._text: list[str] = []
        self._closed = False

    def feed(self, fragment: str) -> None:
        if self._closed:
            return  # reasoning after the answer started: the answer is what the client reads
        if self._id is None:
            self._id = ids.new_id("rs_")
        self._text.append(fragment)
        self._publish(StreamEvent.of(REASONING_DELTA, {"id": self._id, "delta": fragment}))

    async def close(self) -> None:
        """Store the item (if the turn reasoned) and tell that it is done."""
        if self._closed:
            return
        self._closed = True
        if self._id is None:
            return
        text = "".join(self._text)
        item: ReasoningItem = {
            "id": self._id,
            "type": "reasoning",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": text}],
            "encrypted_content": None,
            "status": "completed",
        }
        row: ItemRow = {
            "id": self._id,
            "project_id": self._run["project_id"],
            "thread_id": self._run["thread_id"],
            "position": ids.creation_key(self._id),
            "response_id": self._response_id,
            "run_id": self._run["id"],
            "step_id": None,
            "type": "reasoning",
            "call_id": None,
            "status": "completed",
            "body": item,
            "created_at": clock.now(),
        }
        await self._db.write(_items.insert, row)
        self._publish(StreamEvent.of(REASONING_DONE, {"id": self._id, "text": text}))
