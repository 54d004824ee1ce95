"""Reasoning from upstream chunks to the next prompt: the normalizer reads it, and a stored
reasoning item goes back with the assistant message after it, to its own model only."""

from threadline.engine.chat_turns import conversation
from threadline.engine.item_turns import item_turns
from threadline.providers.llm.chunks import ChunkNormalizer
from threadline.records.items import ContextItemRow
from threadline.records.threads import PromptMessageRecord


def _chunk(delta: dict[str, object]) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


def test_both_field_names_are_read_and_non_text_ignored() -> None:
    normalizer = ChunkNormalizer()
    assert [d.reasoning for d in normalizer.feed(_chunk({"reasoning_content": "a"}))] == ["a"]
    assert [d.reasoning for d in normalizer.feed(_chunk({"reasoning": "b"}))] == ["b"]
    assert normalizer.feed(_chunk({"reasoning_content": 3})) == []
    assert normalizer.feed(_chunk({"reasoning_content": None, "content": ""})) == []


def _reasoning_row(item_id: str, text: str, model: str | None) -> ContextItemRow:
    return {
        "id": item_id,
        "project_id": "p",
        "thread_id": "thread_1",
        "position": item_id[3:],
        "response_id": None,
        "run_id": None,
        "step_id": None,
        "type": "reasoning",
        "call_id": None,
        "status": "completed",
        "body": {
            "id": item_id,
            "type": "reasoning",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": text}],
            "encrypted_content": None,
        },
        "created_at": 0,
        "model": model,
    }


def _message(message_id: str, role: str, text: str) -> PromptMessageRecord:
    return {  # type: ignore[typeddict-item]  # the fields a prompt reads
        "id": message_id,
        "role": role,
        "status": "completed",
        "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
    }


def test_reasoning_goes_with_the_next_assistant_message_of_its_model() -> None:
    rows = [
        _reasoning_row("rs_0002", "mine", "m1"),
        _reasoning_row("rs_0005", "theirs", "m2"),
        _reasoning_row("rs_0007", "a client's", None),
    ]
    messages = [
        _message("msg_0001", "user", "q1"),
        _message("msg_0003", "assistant", "a1"),
        _message("msg_0004", "user", "q2"),
        _message("msg_0006", "assistant", "a2"),
        _message("msg_0008", "assistant", "a3"),
    ]
    given = [*messages, *({"id": k, "status": "completed", "turn": t} for k, t in item_turns(rows))]
    turns = conversation(given, [], remember=False, reasoning_of="m1")  # type: ignore[arg-type]
    sent = [m for turn in turns for m in turn.messages]
    assert [m.get("reasoning_content") for m in sent] == [None, "mine", None, None, None]
    assert turns[1].tokens > turns[3].tokens  # the reasoning is counted
    plain = conversation(given, [], remember=False)  # type: ignore[arg-type]
    assert all("reasoning_content" not in m for turn in plain for m in turn.messages)
