"""A run reads its thread newest first, only as far as its prompt can reach: the prompt built
from that read is the prompt built from the whole thread, message for message, on threads mixing
messages (counted or not), tool steps, a client's function calls with their outputs, system
messages and reasoning — for budgets and ``last_messages`` small and large, read cold or with the
cache of finished turns warm."""

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.run_harness import sqlite_url
from threadline import ids
from threadline.engine import history
from threadline.engine.chat_turns import FinishedTurns, Turn, conversation, message_tokens
from threadline.engine.context import build_prompt
from threadline.engine.history import Needed, load_conversation
from threadline.engine.item_turns import item_turns
from threadline.storage.database import Connection, Database
from threadline.storage.item_tables import ItemTableRow
from threadline.storage.tables import MessageRow, RunRow, RunStepRow, ThreadRow

PROJECT = "proj_history"
MODEL = "model-a"
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 60)))


def _row(table: Any, **values: object) -> dict[str, object]:
    return {**{column.name: None for column in table.columns}, **values}


class _Thread:
    """Rows of one thread, in creation order, written in one unit."""

    def __init__(self, thread_id: str, run_id: str) -> None:
        self.thread_id, self.run_id = thread_id, run_id
        self.messages: list[dict[str, object]] = []
        self.steps: list[dict[str, object]] = []
        self.items: list[dict[str, object]] = []

    def message(self, role: str, content: list[dict[str, Any]], *, counted: bool) -> None:
        record = _row(
            MessageRow.__table__,
            id=ids.message_id(),
            project_id=PROJECT,
            thread_id=self.thread_id,
            created_at=0,
            status="completed",
            role=role,
            content=content,
            attachments=[],
            metadata={},
        )
        record["tokens"] = message_tokens(record) if counted else None  # type: ignore[arg-type]
        self.messages.append(record)

    def step(self, rng: random.Random) -> None:
        calls = [
            {
                "id": f"call_{ids.new_id('')}",
                "type": "function",
                "function": {"name": "lookup", "arguments": _text(rng), "output": _text(rng)},
            }
            for _ in range(rng.randint(1, 2))
        ]
        self.steps.append(
            _row(
                RunStepRow.__table__,
                id=ids.step_id(),
                project_id=PROJECT,
                run_id=self.run_id,
                thread_id=self.thread_id,
                assistant_id="",
                created_at=0,
                type="tool_calls",
                status="completed",
                step_details={"type": "tool_calls", "tool_calls": calls},
                metadata={},
            )
        )

    def item(self, prefix: str, kind: str, body: dict[str, Any], *, call_id: str | None = None):
        item_id = ids.new_id(prefix)
        self.items.append(
            _row(
                ItemTableRow.__table__,
                id=item_id,
                project_id=PROJECT,
                thread_id=self.thread_id,
                position=ids.creation_key(item_id),
                run_id=self.run_id if kind == "reasoning" else None,
                type=kind,
                call_id=call_id,
                status="completed",
                body={"id": item_id, "type": kind, **body},
                created_at=0,
            )
        )


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": {"value": text, "annotations": []}}


def _build(rng: random.Random, thread: _Thread, size: int) -> None:
    """``size`` rows of every kind, some in runs of one kind (a loop of tool calls, a batch of
    a client's calls): more of a kind than fits a page."""
    open_calls: list[str] = []
    run: tuple[float, int] = (0.0, 0)
    for _ in range(size):
        if run[1] > 0:
            roll, run = run[0], (run[0], run[1] - 1)
        else:
            roll = rng.random()
            if rng.random() < 0.04:
                run = (roll, rng.randint(4, 12))
        if roll < 0.45:
            content = [_text_part(_text(rng))]
            if rng.random() < 0.1:
                content.append({"type": "image_url", "image_url": {"url": "https://x/y.png"}})
            thread.message(rng.choice(["user", "assistant"]), content, counted=rng.random() < 0.7)
        elif roll < 0.55:
            thread.step(rng)
        elif roll < 0.62:
            body = {"role": "system", "content": [{"type": "input_text", "text": _text(rng)}]}
            thread.item("msg_", "message", body)
        elif roll < 0.75:
            call_id = f"call_{ids.new_id('')}"
            body = {"call_id": call_id, "name": "f", "arguments": _text(rng)}
            thread.item("fc_", "function_call", body, call_id=call_id)
            open_calls.append(call_id)
        elif roll < 0.87:
            # An output, most often of an open call (an orphan is left out of the prompt).
            call_id = open_calls.pop(0) if open_calls and rng.random() < 0.9 else "call_orphan"
            body = {"call_id": call_id, "output": _text(rng)}
            thread.item("fco_", "function_call_output", body, call_id=call_id)
        else:
            content = [{"type": "reasoning_text", "text": _text(rng)}]
            thread.item("rs_", "reasoning", {"summary": [], "content": content})


def _store(connection: Connection, thread: _Thread) -> None:
    connection.execute(
        ThreadRow.__table__.insert(),
        _row(
            ThreadRow.__table__,
            id=thread.thread_id,
            project_id=PROJECT,
            created_at=0,
            kind="thread",
        ),
    )
    run = _row(
        RunRow.__table__,
        id=thread.run_id,
        project_id=PROJECT,
        thread_id=thread.thread_id,
        assistant_id="",
        created_at=0,
        status="completed",
        model=MODEL,
        tools=[],
        parallel_tool_calls=True,
        attempt=0,
        kind="run",
    )
    connection.execute(RunRow.__table__.insert(), run)
    for table, rows in (
        (MessageRow.__table__, thread.messages),
        (RunStepRow.__table__, thread.steps),
        (ItemTableRow.__table__, thread.items),
    ):
        if rows:
            connection.execute(table.insert(), rows)


@pytest.fixture(scope="module")
def database() -> Iterator[tuple[Database, list[_Thread]]]:
    """Threads of 0 to 400 rows, each with its own mix."""
    with sqlite_url() as url:
        db = Database(url)
        threads = []
        for seed, size in enumerate([0, 1, 3, 17, 60, 150, 400]):
            rng = random.Random(seed)
            run_id = ids.run_id()  # before its rows: a run's thread predates nothing it reads
            thread = _Thread(ids.thread_id(), run_id)
            _build(rng, thread, size)
            asyncio.run(db.write(_store, thread))
            threads.append(thread)
        yield db, threads
        asyncio.run(db.dispose())


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 2, 4 and 8 rows: every thread here is read in many pages."""
    monkeypatch.setattr(history, "_FIRST_PAGE", 2)
    monkeypatch.setattr(history, "_LARGEST_PAGE", 8)


def _cold(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = FinishedTurns()
    for module in ("threadline.engine.chat_turns", "threadline.engine.history"):
        monkeypatch.setattr(f"{module}.FINISHED", cache)


def _prompt(db: Database, thread: _Thread, needed: Needed | None, budget: int, last: int | None):
    messages, steps = asyncio.run(db.read(load_conversation, thread.thread_id, needed))
    turns = conversation(messages, steps, reasoning_of=MODEL)
    return build_prompt("Be brief.", turns, budget=budget, last_messages=last)


def _reference_turns(thread: _Thread) -> list[Turn]:
    """The whole thread's turns as a run built them before it read newest first: every
    message, every item as turns (in position order), every tool step."""
    messages: list[Any] = [
        {key: m[key] for key in ("id", "role", "status", "content")} for m in thread.messages
    ]
    rows = [{**row, "model": MODEL if row["run_id"] else None} for row in thread.items]
    for key, turn in item_turns(rows):  # type: ignore[arg-type]
        messages.append({"id": key, "status": "completed", "turn": turn})
    return conversation(messages, thread.steps, remember=False, reasoning_of=MODEL)  # type: ignore[arg-type]


def _edges(turns: list[Turn]) -> tuple[list[int], list[int]]:
    """Budgets at (and one token either side of) every place the whole thread's prompt can
    end, and every ``last_messages`` up to its message count: where a read too short shows."""
    budgets, used = {0, 10**9}, build_prompt("Be brief.", [], budget=10**9).tokens
    for turn in reversed(turns):
        used += turn.tokens
        budgets.update((used - 1, used, used + 1))
    count = sum(turn.is_thread_message for turn in turns)
    return sorted(budgets), list(range(1, count + 2))


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_the_newest_turns_read_make_the_prompt_the_whole_thread_makes(
    database: tuple[Database, list[_Thread]], monkeypatch: pytest.MonkeyPatch, warm: bool
) -> None:
    db, threads = database
    for thread in threads:
        reference = _reference_turns(thread)
        budgets, lasts = _edges(reference)
        cases = [(budget, None) for budget in budgets] + [(10**9, last) for last in lasts]
        cases += [(budget, last) for budget, last in zip(budgets, reversed(lasts), strict=False)]
        for budget, last in random.Random(thread.thread_id).sample(cases, min(len(cases), 60)):
            if not warm:
                _cold(monkeypatch)
            read = _prompt(db, thread, Needed(budget, last), budget, last)
            whole = build_prompt("Be brief.", reference, budget=budget, last_messages=last)
            assert read.messages == whole.messages, (thread.thread_id, budget, last)
            assert read.tokens == whole.tokens
        everything = _prompt(db, thread, None, 10**9, None)
        assert everything == build_prompt("Be brief.", reference, budget=10**9)


def test_a_long_thread_is_read_only_as_far_as_the_prompt_reaches(
    database: tuple[Database, list[_Thread]], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, threads = database
    longest = threads[-1]
    read: list[int] = []
    page = history.message_page

    def counted_page(*args: Any) -> Any:
        rows = page(*args)
        read.append(len(rows))
        return rows

    monkeypatch.setattr(history, "message_page", counted_page)
    _prompt(db, longest, Needed(100, None), 100, None)
    assert 0 < sum(read) <= 40  # of 180 or so messages
    read.clear()
    _prompt(db, longest, Needed(10**9, 3), 10**9, 3)
    assert 0 < sum(read) <= 40
    read.clear()
    _prompt(db, longest, None, 10**9, None)  # a page cut short by steps or items is read again
    assert len(longest.messages) <= sum(read) <= 2 * len(longest.messages)


def test_counts_made_of_uncounted_messages_are_stored(
    database: tuple[Database, list[_Thread]], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, threads = database
    thread = threads[-2]
    _cold(monkeypatch)
    asyncio.run(db.write(load_conversation, thread.thread_id, None, store_counts=True))
    stored = asyncio.run(db.read(_tokens_of, thread.thread_id))
    assert all(tokens is not None for tokens in stored.values())
    expected = {m["id"]: message_tokens(m) for m in thread.messages}  # type: ignore[misc]
    assert stored == expected


def _tokens_of(connection: Connection, thread_id: str) -> dict[str, int | None]:
    table = MessageRow.__table__
    query = table.select().where(table.c.thread_id == thread_id)
    return {row.id: row.tokens for row in connection.execute(query)}
