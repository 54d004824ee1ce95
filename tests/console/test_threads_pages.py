"""The Threads pages in a browser: the listing (newest first, search by metadata, more pages) and
a thread (its messages, its runs with their statuses and steps, tool calls with their outputs),
at desktop and phone widths; a missing thread says so."""

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from openai import OpenAI
from playwright.sync_api import expect

from tests.console.conftest import Watched
from tests.upstream import ScriptedUpstream, Text, ToolCalls

MODEL = "gpt-test"
POLL = 20  # ms between the SDK's polls
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def small_png(width: int = 96, height: int = 48) -> bytes:
    """A visible gradient picture (a 1-pixel image shows nothing in a screenshot)."""
    rows = b"".join(
        b"\x00" + bytes(channel for x in range(width) for channel in (x * 2, 90, 200 - y * 3))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def sdk(console_url: str, project_key: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{console_url}/v1", api_key=project_key, max_retries=0) as client:
        yield client


@dataclass
class Story:
    thread_id: str
    text_run_id: str
    tool_run_id: str


def make_story(sdk: OpenAI, upstream: ScriptedUpstream) -> Story:
    """A thread with a picture and an attachment, a plain run, then a run that called a
    function and had its output submitted."""
    assistant = sdk.beta.assistants.create(model=MODEL, name="Helper", tools=[WEATHER])
    picture = sdk.files.create(file=("chart.png", small_png()), purpose="vision")
    notes = sdk.files.create(file=("notes.csv", b"city,temp\nOslo,-3\n"), purpose="assistants")
    thread = sdk.beta.threads.create(
        metadata={"customer": "acme-corp"},
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What does this chart show?"},
                    {"type": "image_file", "image_file": {"file_id": picture.id}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                ],
                "attachments": [{"file_id": notes.id, "tools": [{"type": "code_interpreter"}]}],
                "metadata": {"source": "web"},
            }
        ],
    )
    upstream.script(
        Text(["It shows ", "a gradient."]),
        ToolCalls([("get_weather", '{"city": "Oslo"}')]),
        Text(["It is cold in Oslo."]),
    )
    first = sdk.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=POLL
    )
    assert first.status == "completed", first.to_dict()
    sdk.beta.threads.messages.create(thread.id, role="user", content="Weather in Oslo?")
    second = sdk.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=POLL
    )
    assert second.status == "requires_action", second.to_dict()
    (call,) = second.required_action.submit_tool_outputs.tool_calls
    second = sdk.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=second.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": '{"temp_c": -3}'}],
        poll_interval_ms=POLL,
    )
    assert second.status == "completed", second.to_dict()
    return Story(thread.id, first.id, second.id)


def test_listing_newest_first_search_and_more(console: Watched, sdk: OpenAI) -> None:
    made = [sdk.beta.threads.create().id for _ in range(21)]
    tagged = sdk.beta.threads.create(metadata={"customer": "acme-corp", "tier": "gold"}).id
    console.sign_in(sdk.api_key)
    console.open("Threads")
    page = console.page
    table = page.get_by_role("region", name="Threads, newest first")
    links = table.get_by_role("link")
    expect(links).to_have_count(20)
    expect(links.first).to_have_text(tagged)
    expect(links.nth(1)).to_have_text(made[-1])
    console.snap("threads-desktop")

    page.get_by_role("button", name="Load more").click()
    expect(links).to_have_count(22)
    expect(links.last).to_have_text(made[0])
    expect(page.get_by_role("button", name="Load more")).to_have_count(0)

    page.get_by_label("Search threads").fill("ACME")
    expect(links).to_have_count(1)
    expect(links.first).to_have_text(tagged)
    page.get_by_label("Search threads").fill("no such thing")
    expect(page.get_by_text("No thread matches “no such thing”.")).to_be_visible()


def test_a_thread_shows_messages_runs_and_steps(
    console: Watched, sdk: OpenAI, upstream: ScriptedUpstream
) -> None:
    story = make_story(sdk, upstream)
    console.sign_in(sdk.api_key)
    console.open("Threads")
    page = console.page
    page.get_by_label("Search threads").fill("acme")
    page.get_by_role("link", name=story.thread_id).click()
    expect(page.get_by_role("heading", name="Thread", level=1)).to_be_visible()
    assert page.url.endswith(f"/console/threads/{story.thread_id}")

    messages = page.get_by_role("region", name="Messages")
    expect(messages.get_by_role("article")).to_have_count(4)
    first = messages.get_by_role("article").first
    expect(first).to_contain_text("What does this chart show?")
    expect(first.get_by_role("img", name="Image file")).to_be_visible()
    expect(first.get_by_role("link", name="https://example.com/a.png")).to_be_visible()
    expect(first).to_contain_text("notes.csv")
    expect(first.get_by_role("listitem").filter(has_text="source")).to_have_text("source: web")
    expect(messages.get_by_role("article").nth(1)).to_contain_text("It shows a gradient.")
    expect(messages.get_by_role("article").last).to_contain_text("It is cold in Oslo.")

    runs = page.get_by_role("region", name="Runs")
    cards = runs.get_by_role("article")
    expect(cards).to_have_count(2)
    newest = cards.first
    expect(newest).to_contain_text(story.tool_run_id)
    expect(newest).to_contain_text("completed")
    expect(newest).to_contain_text("Tool calls")
    expect(newest.get_by_label("Arguments")).to_contain_text('"city": "Oslo"')
    expect(newest.get_by_label("Output")).to_contain_text('"temp_c": -3')
    expect(newest.get_by_text("Message creation")).to_be_visible()
    older = cards.nth(1)
    expect(older.get_by_text("Message creation")).to_have_count(0)  # opened on demand
    older.get_by_text("Steps").click()
    expect(older.get_by_text("Message creation")).to_be_visible()
    console.snap("thread-desktop")
    # Two columns on a desktop: the runs sit beside the messages.
    messages_box, runs_box = messages.bounding_box(), runs.bounding_box()
    assert messages_box and runs_box and runs_box["x"] > messages_box["x"] + 200


def test_a_thread_on_a_phone(phone: Watched, sdk: OpenAI, upstream: ScriptedUpstream) -> None:
    story = make_story(sdk, upstream)
    phone.sign_in(sdk.api_key, path=f"/console/threads/{story.thread_id}")
    page = phone.page
    messages = page.get_by_role("region", name="Messages")
    runs = page.get_by_role("region", name="Runs")
    expect(runs.get_by_role("article").first).to_contain_text("completed")
    expect(runs.get_by_label("Output")).to_contain_text("temp_c")
    phone.snap("thread-phone")
    messages_box, runs_box = messages.bounding_box(), runs.bounding_box()
    assert messages_box and runs_box and runs_box["y"] > messages_box["y"]  # stacked
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways: {width}px"

    page.get_by_role("link", name="← All threads").click()
    expect(page.get_by_role("link", name=story.thread_id)).to_be_visible()
    phone.snap("threads-phone")


def test_a_missing_thread_says_so(console: Watched, project_key: str) -> None:
    console.sign_in(project_key, path="/console/threads/thread_nope")
    expect(console.page.get_by_text("No thread thread_nope in this project.")).to_be_visible()
    # The refused lookup is expected; nothing else may have gone wrong.
    console.problems[:] = [p for p in console.problems if "404" not in p]


def test_citations_become_footnotes(console: Watched, project_key: str) -> None:
    """Annotation spans become numbered markers, counted in characters as the server counts
    them (an emoji is one); no run here writes citations, so the function is called directly."""
    value = "Oslo 🥶 is cold【4:0†notes】 and dark【4:1†notes】."

    def cite(text: str) -> dict[str, object]:
        start = value.index(text)
        return {
            "type": "file_citation",
            "text": text,
            "start_index": start,
            "end_index": start + len(text),
            "file_citation": {"file_id": "file-1"},
        }

    console.sign_in(project_key)
    pieces = console.page.evaluate(
        """async ([value, annotations]) => {
            const { annotate } = await import("/console/assets/pages/thread_messages.js");
            const [parts, notes] = annotate(value, annotations);
            return { parts, notes: notes.map((note) => note.text) };
        }""",
        [value, [cite("【4:1†notes】"), cite("【4:0†notes】")]],
    )
    assert pieces == {
        "parts": ["Oslo 🥶 is cold", 1, " and dark", 2, "."],
        "notes": ["【4:0†notes】", "【4:1†notes】"],
    }
