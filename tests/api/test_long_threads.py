"""A run's cost does not grow with its thread: on a thread of thousands of messages (written
straight into the database, the older ones without a stored token count, as rows from before
the count existed), a run, a response on a conversation and a response continuing a chain read a
bounded number of rows (counted at the engine's seam to storage) and send the model exactly the
newest messages that fit, as reading the whole thread did. The model is the shared server's
default (a 128,000-token window)."""

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest
from openai import OpenAI
from sqlalchemy import select

from tests.runs_helpers import wait_for_run
from tests.upstream import ScriptedUpstream, Text, ToolCalls
from threadline import ids
from threadline.engine import history
from threadline.engine.chat_turns import message_tokens
from threadline.engine.context import REPLY_RESERVE
from threadline.providers.llm.config import DEFAULT_CONTEXT_WINDOW
from threadline.records.threads import MessageRecord
from threadline.storage.database import Connection, Database
from threadline.storage.repositories import MessageRepository
from threadline.storage.tables import MessageRow, ResponseRow, ThreadRow

MODEL = "gpt-test"
SEEDED = 3_000
UNCOUNTED = 1_000  # the newest ones have no stored count: a run counts (and stores) them
FILLER = " ".join(["lorem"] * 380)
_messages = MessageRepository()


def _text(index: int) -> str:
    return f"m{index:05d} {FILLER}"


def _insert(connection: Connection, thread_id: str, texts: list[str]) -> list[MessageRecord]:
    threads = ThreadRow.__table__
    project = connection.execute(
        select(threads.c.project_id).where(threads.c.id == thread_id)
    ).scalar_one()
    records: list[MessageRecord] = []
    for index, text in enumerate(texts):
        record: MessageRecord = {
            "id": ids.message_id(),
            "project_id": project,
            "thread_id": thread_id,
            "created_at": 0,
            "status": "completed",
            "incomplete_details": None,
            "completed_at": 0,
            "incomplete_at": None,
            "role": "user" if index % 2 == 0 else "assistant",
            "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
            "assistant_id": None,
            "run_id": None,
            "attachments": [],
            "metadata": {},
            "tokens": None,
        }
        record["tokens"] = message_tokens(record)
        records.append(record)
    stored = [
        {**r, "tokens": None} if i >= len(records) - UNCOUNTED else r for i, r in enumerate(records)
    ]
    _messages.insert_many(connection, stored)  # type: ignore[arg-type]
    return records


def _in_database(database_url: str, work: Callable[..., Any], *args: Any) -> Any:
    async def run() -> Any:
        db = Database(database_url)
        try:
            return await db.write(work, *args)
        finally:
            await db.dispose()

    return asyncio.run(run())


def _seed(database_url: str, thread_id: str) -> list[MessageRecord]:
    """``SEEDED`` messages on the thread, oldest first, as they count in a prompt."""
    return _in_database(database_url, _insert, thread_id, [_text(i) for i in range(SEEDED)])


def _newest_that_fit(seeded: list[MessageRecord], room: int) -> list[str]:
    """The texts of the newest seeded messages that fit ``room`` tokens, oldest first."""
    kept: list[str] = []
    for record in reversed(seeded):
        tokens = record["tokens"]
        assert tokens is not None
        if tokens > room:
            break
        room -= tokens
        kept.append(record["content"][0]["text"]["value"])  # type: ignore[typeddict-item]
    return kept[::-1]


@dataclass
class RowsRead:
    """Rows the engine's history read: message pages, and messages read in full."""

    pages: list[int] = field(default_factory=list)
    contents: list[int] = field(default_factory=list)

    def reset(self) -> None:
        self.pages.clear()
        self.contents.clear()


@pytest.fixture
def rows_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[RowsRead]:
    """The in-process server's reads of thread history, counted (the seam: the storage
    functions ``engine.history`` calls)."""
    read = RowsRead()
    page, by_id = history.message_page, history.conversation_messages_by_id

    def counted_page(*args: Any) -> Any:
        rows = page(*args)
        read.pages.append(len(rows))
        return rows

    def counted_contents(*args: Any) -> Any:
        rows = by_id(*args)
        read.contents.append(len(rows))
        return rows

    monkeypatch.setattr(history, "message_page", counted_page)
    monkeypatch.setattr(history, "conversation_messages_by_id", counted_contents)
    yield read


def _sent_texts(upstream: ScriptedUpstream) -> list[str]:
    return [m["content"] for m in upstream.requests[-1]["messages"] if m["role"] != "system"]


def _uncounted(connection: Connection, thread_id: str) -> int:
    table = MessageRow.__table__
    query = select(table.c.id).where(table.c.thread_id == thread_id, table.c.tokens.is_(None))
    return len(connection.execute(query).all())


# The prompt's room for messages: the window less the reply's, less the reply priming (3).
WINDOW_ROOM = DEFAULT_CONTEXT_WINDOW - REPLY_RESERVE - 3


def test_a_run_on_a_long_thread_reads_only_the_newest_messages_that_fit(
    client: OpenAI, upstream: ScriptedUpstream, database_url: str, rows_read: RowsRead
) -> None:
    upstream.default(Text(["ok"]))
    assistant = client.beta.assistants.create(model=MODEL)
    thread = client.beta.threads.create()
    seeded = _seed(database_url, thread.id)
    rows_read.reset()
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert run.status == "completed", run.last_error
    expected = _newest_that_fit(seeded, WINDOW_ROOM)
    assert 100 < len(expected) < 1_000  # the window holds a few hundred of them
    assert _sent_texts(upstream) == expected
    # Pages of 64, 128, 256, 512 until the window is held (and the message before it).
    assert sum(rows_read.pages) <= 1_024 < SEEDED
    assert sum(rows_read.contents) <= 1_024
    # The counts the run made of uncounted messages it read are stored.
    assert _in_database(database_url, _uncounted, thread.id) <= UNCOUNTED - len(expected)


def test_last_messages_reads_one_page(
    client: OpenAI, upstream: ScriptedUpstream, database_url: str, rows_read: RowsRead
) -> None:
    upstream.default(Text(["ok"]))
    assistant = client.beta.assistants.create(model=MODEL)
    thread = client.beta.threads.create()
    seeded = _seed(database_url, thread.id)
    rows_read.reset()
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        truncation_strategy={"type": "last_messages", "last_messages": 3},
        poll_interval_ms=50,
    )
    assert run.status == "completed", run.last_error
    assert _sent_texts(upstream) == [_text(i) for i in range(SEEDED - 3, SEEDED)]
    assert seeded[-1]["content"][0]["text"]["value"] == _text(SEEDED - 1)  # type: ignore[typeddict-item]
    assert sum(rows_read.pages) <= 64
    assert sum(rows_read.contents) <= 64


def test_a_response_on_a_long_conversation_reads_a_bounded_part_of_it(
    client: OpenAI, upstream: ScriptedUpstream, database_url: str, rows_read: RowsRead
) -> None:
    upstream.default(Text(["ok"]))
    conversation = client.conversations.create()
    seeded = _seed(database_url, conversation.id)
    # Without truncation the conversation is over the window: refused, reading a part of it.
    rows_read.reset()
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=MODEL, conversation=conversation.id, input="Next?")
    assert refused.value.code == "context_length_exceeded"
    assert sum(rows_read.pages) <= 1_024
    rows_read.reset()
    client.responses.create(
        model=MODEL, conversation=conversation.id, input="Next?", truncation="auto"
    )
    sent = _sent_texts(upstream)
    assert sent[-1] == "Next?"
    question = message_tokens(
        {"id": "msg_x", "role": "user", "status": "completed", "content": _content("Next?")}
    )
    assert sent[:-1] == _newest_that_fit(seeded, WINDOW_ROOM - question)
    assert sum(rows_read.pages) <= 1_024
    assert sum(rows_read.contents) <= 1_024


def test_a_response_continuing_a_long_chain_reads_a_bounded_part_of_it(
    client: OpenAI, upstream: ScriptedUpstream, database_url: str, rows_read: RowsRead
) -> None:
    upstream.default(Text(["ok"]))
    first = client.responses.create(model=MODEL, input="Hello")
    chain = _in_database(database_url, _thread_of, first.id)
    seeded = _seed(database_url, chain)
    rows_read.reset()
    client.responses.create(
        model=MODEL, previous_response_id=first.id, input="Next?", truncation="auto"
    )
    sent = _sent_texts(upstream)
    assert sent[-1] == "Next?" and sent[-2] == seeded[-1]["content"][0]["text"]["value"]  # type: ignore[typeddict-item]
    assert "Hello" not in sent  # the chain's start is past the window
    assert sum(rows_read.pages) <= 1_024
    assert sum(rows_read.contents) <= 1_024


def _content(text: str) -> Any:
    return [{"type": "text", "text": {"value": text, "annotations": []}}]


def _thread_of(connection: Connection, response_id: str) -> str:
    table = ResponseRow.__table__
    query = select(table.c.thread_id).where(table.c.id == response_id)
    return str(connection.execute(query).scalar_one())


def test_a_short_thread_is_sent_as_it_always_was(
    client: OpenAI, upstream: ScriptedUpstream
) -> None:
    """Images, image files and a function call with its output, in order (the same literal
    as before runs read newest first)."""
    upstream.default(Text(["ok"]))
    image = client.files.create(file=("a.png", _PNG), purpose="vision")
    assistant = client.beta.assistants.create(
        model=MODEL, instructions="Be brief.", tools=[_WEATHER]
    )
    thread = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "Hi."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look:"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    {"type": "image_file", "image_file": {"file_id": image.id}},
                ],
            },
            {"role": "assistant", "content": "Nice picture."},
        ]
    )
    upstream.script(ToolCalls([("get_weather", '{"city": "Paris"}')]), Text(["Sunny."]))
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    run = wait_for_run(client, thread.id, run.id, {"requires_action"})
    call = run.required_action.submit_tool_outputs.tool_calls[0]  # type: ignore[union-attr]
    client.beta.threads.runs.submit_tool_outputs(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "22C"}],
    )
    wait_for_run(client, thread.id, run.id)
    assert upstream.requests[-1]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                {"type": "text", "text": f"[image file {image.id}]"},
            ],
        },
        {"role": "assistant", "content": "Nice picture."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "22C"},
    ]


_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)
_WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
