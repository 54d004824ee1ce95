"""A thread's tool steps as conversation items: each call of a ``tool_calls`` step is the
``function_call``, ``file_search_call`` or ``code_interpreter_call`` item its response showed
(the same translator, so the same id and content), sorted by its call's creation key. Derived
when listed rather than stored twice: a step is written in many places of the run engine, and
an Assistants run's steps show the same way."""

from typing import cast

from threadline.engine.response_stream import ResponseStreamTranslator
from threadline.ids import creation_key
from threadline.records.items import ItemRow
from threadline.records.responses import ResponseRecord
from threadline.records.runs import StepRecord
from threadline.services.response_view import step_events
from threadline.storage.items import StepItems


def step_items(container_id: str) -> StepItems:
    """The converter ``storage.items.list_entries`` takes, for a thread whose code_interpreter
    container is ``container_id``."""

    def items_of(step: StepRecord) -> list[ItemRow]:
        # Only the output items are read: the response around them is a blank.
        blank = cast(ResponseRecord, {"output": [], "created_at": step["created_at"]})
        translator = ResponseStreamTranslator(blank, container_id=container_id)
        for name, data in step_events(step):
            translator.feed_data(name, data)
        rows: list[ItemRow] = []
        for item in translator.items:
            call_id = item.get("call_id")
            status = item.get("status")
            rows.append(
                {
                    "id": item["id"],
                    "project_id": step["project_id"],
                    "thread_id": step["thread_id"],
                    "position": creation_key(item["id"]),
                    "response_id": None,
                    "run_id": step["run_id"],
                    "step_id": step["id"],
                    "type": item["type"],
                    "call_id": call_id if isinstance(call_id, str) else None,
                    "status": status if isinstance(status, str) else None,
                    "body": item,
                    "created_at": step["created_at"],
                }
            )
        return rows

    return items_of
