"""Ids carry OpenAI's prefixes, never repeat, and sort by creation (pagination relies on it)."""

import os

from threadline import ids


def test_ids_have_openai_prefixes() -> None:
    made = {
        "asst_": ids.assistant_id(),
        "thread_": ids.thread_id(),
        "msg_": ids.message_id(),
        "run_": ids.run_id(),
        "step_": ids.step_id(),
        "call_": ids.tool_call_id(),
        "vs_": ids.vector_store_id(),
        "vsfb_": ids.file_batch_id(),
        "file-": ids.file_id(),
    }
    for prefix, value in made.items():
        assert value.startswith(prefix)
        assert len(value) == len(prefix) + 24


def test_ids_are_unique_and_sort_by_creation() -> None:
    made = [ids.message_id() for _ in range(20_000)]
    assert len(set(made)) == len(made)
    assert made == sorted(made)


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    ids.message_id()  # fills the random pool in the parent
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, ids.message_id()[-14:].encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child_random = os.read(read, 64).decode()
    assert ids.message_id()[-14:] != child_random


def test_creation_key_orders_ids_of_different_kinds_by_time() -> None:
    made = [ids.step_id(), ids.message_id(), ids.file_id(), ids.run_id()]
    assert sorted(made, key=ids.creation_key) == made
