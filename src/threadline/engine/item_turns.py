"""A conversation's context items as chat turns: system and developer messages, the function
calls a client sent with their outputs, and reasoning (``storage.items.context_items_page``)."""

from collections.abc import Sequence
from typing import cast

from threadline.engine.chat_turns import Reasoning, Turn
from threadline.engine.tokens import Message, count_message
from threadline.records.items import ContextItemRow, ItemRow
from threadline.records.jsonvalue import JsonObject


def item_turns(rows: Sequence[ItemRow]) -> list[tuple[str, Turn]]:
    """A thread's ``items`` rows that are context (system and developer messages, function
    calls a client sent with their outputs, reasoning), oldest first, as turns keyed by the id
    they sort by. Calls in a row and the outputs after them are one turn: the model is sent one
    assistant message with the calls, then an answer per call, which are never parted."""
    turns: list[tuple[str, Turn]] = []
    calls: list[Message] = []
    for row in rows:
        body = cast(JsonObject, row["body"])
        if row["type"] == "reasoning":
            model = cast(ContextItemRow, row).get("model")  # a client's item has none
            parts = cast(list[JsonObject], body.get("content") or [])
            text = "".join(str(part.get("text") or "") for part in parts)
            if model and text:
                turns.append((row["id"], Turn([], 0, False, Reasoning(text, model))))
            continue
        if row["type"] == "message":
            parts = cast(list[JsonObject], body.get("content") or [])
            text = "".join(str(part.get("text") or "") for part in parts)
            system: Message = {"role": "system", "content": text}
            turns.append((row["id"], Turn([system], count_message(system), True)))
            calls = []
            continue
        if row["type"] == "function_call":
            if not calls or calls[-1]["role"] == "tool":
                calls = [{"role": "assistant", "content": None, "tool_calls": []}]
                turns.append((row["id"], Turn(calls, 0, False)))
            calls[0].setdefault("tool_calls", []).append(
                {
                    "id": str(body["call_id"]),
                    "type": "function",
                    "function": {"name": str(body["name"]), "arguments": str(body["arguments"])},
                }
            )
        elif calls:  # an output, after its call
            output = body.get("output")
            if isinstance(output, list):  # input_text parts
                output = "".join(str(cast(JsonObject, part).get("text") or "") for part in output)
            calls.append(
                {"role": "tool", "tool_call_id": str(body["call_id"]), "content": str(output)}
            )
    return [
        (
            key,
            Turn(
                turn.messages,
                sum(map(count_message, turn.messages)),
                turn.is_thread_message,
                turn.reasoning,
            ),
        )
        for key, turn in turns
    ]
