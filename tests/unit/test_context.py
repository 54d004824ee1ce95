"""Building the prompt: the conversation in order, tool calls with their outputs, truncation
that drops whole turns from the oldest end."""

from typing import Any

from threadline.engine.chat_turns import FinishedTurns, Turn, conversation
from threadline.engine.context import build_prompt
from threadline.engine.tokens import count_prompt


def _message(id_: str, role: str, text: str) -> dict[str, Any]:
    content = [{"type": "text", "text": {"value": text, "annotations": []}}]
    return {"id": id_, "role": role, "status": "completed", "content": content}


def _tool_step(id_: str, call_id: str, output: str | None = "42") -> dict[str, Any]:
    call = {
        "id": call_id,
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"q": 1}', "output": output},
    }
    status = "completed" if output is not None else "in_progress"
    return {
        "id": id_,
        "status": status,
        "step_details": {"type": "tool_calls", "tool_calls": [call]},
    }


def test_messages_and_tool_calls_interleave_by_creation_order() -> None:
    turns = conversation(
        [_message("msg_1", "user", "question"), _message("msg_3", "assistant", "answer")],
        [_tool_step("step_2", "call_a")],
    )
    prompt = build_prompt("Be brief.", turns, budget=10_000)
    roles = [m["role"] for m in prompt.messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant"]
    assert prompt.messages[2]["tool_calls"][0]["id"] == "call_a"
    assert prompt.messages[3] == {"role": "tool", "tool_call_id": "call_a", "content": "42"}


def test_unanswered_tool_calls_are_left_out() -> None:
    turns = conversation([_message("msg_1", "user", "q")], [_tool_step("step_2", "c", None)])
    assert [m["role"] for m in build_prompt(None, turns, budget=10_000).messages] == ["user"]


def test_truncation_drops_oldest_turns_and_keeps_tool_results_with_their_call() -> None:
    messages = [_message(f"msg_{i}", "user", "word " * 50) for i in range(1, 6)]
    turns = conversation(messages, [_tool_step("step_45", "call_x")])
    full = build_prompt("sys", turns, budget=100_000)
    cut = build_prompt("sys", turns, budget=full.tokens - 60)
    assert cut.messages[0]["role"] == "system"
    assert len(cut.messages) < len(full.messages)
    assert cut.tokens <= full.tokens - 60
    tool_positions = [i for i, m in enumerate(cut.messages) if m["role"] == "tool"]
    for position in tool_positions:
        assert cut.messages[position - 1]["tool_calls"]


def test_last_messages_keeps_that_many_thread_messages() -> None:
    messages = [_message(f"msg_{i}", "user", f"m{i}") for i in range(1, 6)]
    prompt = build_prompt(None, conversation(messages, []), budget=10_000, last_messages=2)
    assert [m["content"] for m in prompt.messages] == ["m4", "m5"]


def test_prompt_count_grows_with_content_and_tools() -> None:
    small = count_prompt([{"role": "user", "content": "hi"}])
    large = count_prompt([{"role": "user", "content": "hi " * 100}])
    with_tools = count_prompt(
        [{"role": "user", "content": "hi"}], [{"type": "function", "function": {"name": "f"}}]
    )
    assert small < large
    assert small < with_tools


def test_finished_turns_are_reused_and_bounded() -> None:
    cache = FinishedTurns(max_bytes=1000)
    first = Turn([{"role": "user", "content": "a"}], 100, True)
    cache.put("msg_1", first)
    cache.put("msg_1", Turn([], 1, True))  # a finished turn never changes: the first one stays
    assert cache.get("msg_1") is first
    cache.put("msg_2", Turn([{"role": "user", "content": "b"}], 100, True))
    assert "msg_1" not in cache  # over the bound: the oldest went
    assert cache.get("msg_2") is not None


def test_a_message_loaded_as_its_known_turn_is_used_as_is() -> None:
    known = conversation([_message("msg_1", "user", "cached words")], [])[0]
    record = {"id": "msg_1", "status": "completed", "turn": known}
    turns = conversation([record, _message("msg_2", "user", "new")], [])
    assert turns[0] is known
    assert [m["content"] for m in build_prompt(None, turns, budget=10_000).messages] == [
        "cached words",
        "new",
    ]
