"""The Playground page: real, streamed runs of an assistant and streamed responses, function
calls answered by hand, and files attached to a message. ``Gated`` replies hold the scripted
model part-way, so a test sees the first tokens on the page before the answer is complete."""

import json
import re
from pathlib import Path

import httpx
from openai import OpenAI
from playwright.sync_api import Page, expect

from tests.console.conftest import Watched
from tests.upstream import DEFAULT_MODEL, Fail, Gated, ScriptedUpstream, Text, ToolCalls

LOOKUP = {
    "name": "lookup",
    "parameters": {"type": "object", "properties": {"word": {"type": "string"}}},
}


def create_assistant(console_url: str, key: str, **fields: object) -> str:
    client = OpenAI(base_url=f"{console_url}/v1", api_key=key)
    return client.beta.assistants.create(model=DEFAULT_MODEL, **fields).id


def open_playground(watched: Watched, key: str) -> Page:
    watched.sign_in(key)
    watched.open("Playground")
    return watched.page


def thread_of(page: Page) -> str:
    """The id of the thread the page links to."""
    link = page.get_by_role("link", name=re.compile(r"^Open thread thread_"))
    return str(link.get_attribute("href")).rsplit("/", 1)[1]


def send(page: Page, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()


def test_an_assistant_answer_streams_token_by_token_on_one_thread(
    console: Watched, console_url: str, project_key: str, upstream: ScriptedUpstream
) -> None:
    gated = Gated(Text(["Once ", "upon ", "a time."]), after=2)
    upstream.script(gated, Text(["The ", "end."]))
    assistant_id = create_assistant(console_url, project_key, name="Storyteller")
    page = open_playground(console, project_key)
    page.get_by_label("Assistant", exact=True).select_option(assistant_id)
    send(page, "Tell me a story")

    answers = page.get_by_role("article", name="Storyteller")
    expect(answers.first).to_contain_text("Once upon")  # the gate is still closed
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    expect(page.get_by_role("button", name="Stop")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("answering")
    console.snap("playground-assistant-streaming")
    gated.gate.set()
    expect(answers.first).to_have_text(re.compile(r"Once upon a time\.$"))
    expect(page.get_by_role("status")).to_contain_text("completed")
    expect(page.get_by_text("15 tokens (10 in, 5 out)")).to_be_visible()
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)

    thread_id = thread_of(page)
    thread_link = page.get_by_role("link", name=f"Open thread {thread_id}")
    expect(thread_link).to_have_attribute("href", f"/console/threads/{thread_id}")

    # Enter sends the next message, on the same thread.
    page.get_by_label("Message", exact=True).fill("And then?")
    page.get_by_label("Message", exact=True).press("Enter")
    expect(answers.nth(1)).to_have_text(re.compile(r"The end\.$"))
    history = [message["content"] for message in upstream.requests[1]["messages"]]
    assert "Tell me a story" in str(history) and "Once upon a time." in str(history)
    console.snap("playground-assistant-thread")

    page.get_by_role("button", name="New thread").click()
    expect(answers).to_have_count(0)
    expect(page.get_by_text("Your first message starts a new thread.")).to_be_visible()


def test_a_function_call_is_answered_by_hand(
    console: Watched, console_url: str, project_key: str, upstream: ScriptedUpstream
) -> None:
    upstream.script(ToolCalls([("lookup", '{"word":"x"}')]), Text(["The word ", "x is a letter."]))
    create_assistant(
        console_url,
        project_key,
        name="Dictionary",
        tools=[{"type": "function", "function": LOOKUP}],
    )
    page = open_playground(console, project_key)
    expect(page.get_by_text("Messages and the assistant's answers appear here")).to_be_visible()
    console.snap("playground-empty")
    send(page, "What is x?")

    form = page.get_by_role("form", name="A function call needs its output")
    expect(form).to_contain_text('"word": "x"')
    expect(page.get_by_role("region", name="Function lookup")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("waits for your function outputs")
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    form.get_by_label("Output of lookup").fill("a letter of the alphabet")
    console.snap("playground-function-call")
    form.get_by_role("button", name="Submit outputs").click()

    expect(page.get_by_role("article", name="Dictionary")).to_have_text(
        re.compile(r"The word x is a letter\.$")
    )
    expect(form).to_have_count(0)
    expect(page.get_by_role("region", name="Function lookup")).to_contain_text(
        "a letter of the alphabet"
    )
    expect(page.get_by_role("status")).to_contain_text("completed")
    tool_message = upstream.requests[1]["messages"][-1]
    assert tool_message["role"] == "tool"
    assert tool_message["content"] == "a letter of the alphabet"
    page.emulate_media(color_scheme="dark")
    console.snap("playground-function-call-dark")


def test_stop_cancels_the_streaming_run(
    console: Watched, console_url: str, project_key: str, upstream: ScriptedUpstream
) -> None:
    gated = Gated(Text(["Never ", "ending ", "story."]), after=1)
    upstream.script(gated)
    create_assistant(console_url, project_key, name="Rambler")
    page = open_playground(console, project_key)
    send(page, "Go on")
    expect(page.get_by_role("article", name="Rambler")).to_contain_text("Never")
    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_role("status")).to_contain_text("cancelled")
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    gated.gate.set()
    expect(page.get_by_role("article", name="Rambler")).not_to_contain_text("story.")


def test_an_attached_file_goes_with_the_message(
    phone: Watched, console_url: str, project_key: str, upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    upstream.script(Text(["I see ", "your notes."]))
    create_assistant(console_url, project_key, name="Reader", tools=[{"type": "code_interpreter"}])
    notes = tmp_path / "notes.csv"
    notes.write_text("word,meaning\nx,a letter\n")
    page = open_playground(phone, project_key)
    page.get_by_label("Attach files").set_input_files(notes)
    expect(page.get_by_role("list", name="Files to send")).to_contain_text("notes.csv")
    send(page, "Read my notes")

    expect(page.get_by_role("article", name="Reader")).to_have_text(
        re.compile(r"I see your notes\.$")
    )
    mine = page.get_by_role("article", name="You")
    expect(mine.get_by_role("list", name="Attachments")).to_contain_text("notes.csv")
    expect(page.get_by_role("list", name="Files to send")).to_have_count(0)
    phone.snap("playground-attachment-phone")

    thread_id = thread_of(page)
    headers = {"Authorization": f"Bearer {project_key}", "OpenAI-Beta": "assistants=v2"}
    messages = httpx.get(f"{console_url}/v1/threads/{thread_id}/messages", headers=headers)
    (user,) = [message for message in messages.json()["data"] if message["role"] == "user"]
    assert user["attachments"][0]["tools"] == [{"type": "code_interpreter"}]
    file_id = user["attachments"][0]["file_id"]
    uploaded = httpx.get(f"{console_url}/v1/files/{file_id}", headers=headers).json()
    assert uploaded["filename"] == "notes.csv" and uploaded["purpose"] == "assistants"


def test_responses_mode_streams_and_chains_the_conversation(
    phone: Watched, project_key: str, upstream: ScriptedUpstream
) -> None:
    gated = Gated(Text(["Bon", "jour", " !"]), after=1)
    upstream.script(gated, Text(["Encore ", "bonjour."]))
    page = open_playground(phone, project_key)
    page.get_by_role("radio", name="Responses").check()
    expect(page.get_by_label("Model")).to_have_value(DEFAULT_MODEL)
    page.get_by_label("Instructions").fill("Answer in French.")
    page.get_by_label("Message", exact=True).fill("Hello")
    page.get_by_label("Message", exact=True).press("Enter")

    answers = page.get_by_role("article", name=DEFAULT_MODEL)
    expect(answers.first).to_contain_text("Bon")  # the gate is still closed
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    phone.snap("playground-responses-streaming-phone")
    gated.gate.set()
    expect(answers.first).to_have_text(re.compile(r"Bonjour !$"))
    expect(page.get_by_role("status")).to_contain_text("completed")
    assert upstream.requests[0]["messages"][0] == {"role": "system", "content": "Answer in French."}

    send(page, "Again")
    expect(answers.nth(1)).to_have_text(re.compile(r"Encore bonjour\.$"))
    history = str(upstream.requests[1]["messages"])
    assert "Hello" in history and "Bonjour !" in history  # chained by previous_response_id
    phone.snap("playground-responses-phone")


def test_a_responses_function_call_is_answered_by_hand(
    console: Watched, project_key: str, upstream: ScriptedUpstream
) -> None:
    upstream.script(ToolCalls([("lookup", '{"word":"x"}')]), Text(["x is ", "a letter."]))
    page = open_playground(console, project_key)
    page.get_by_role("radio", name="Responses").check()
    functions = [{"type": "function", **LOOKUP}]
    page.get_by_label("Functions").fill(json.dumps(functions))
    send(page, "What is x?")

    form = page.get_by_role("form", name="A function call needs its output")
    expect(form).to_contain_text('"word": "x"')
    form.get_by_label("Output of lookup").fill("a letter")
    form.get_by_role("button", name="Submit outputs").click()
    expect(page.get_by_role("article", name=DEFAULT_MODEL)).to_have_text(
        re.compile(r"x is a letter\.$")
    )
    expect(page.get_by_text("15 tokens (10 in, 5 out)")).to_be_visible()
    console.snap("playground-responses-function-call")
    assert upstream.requests[0]["tools"][0]["function"]["name"] == "lookup"
    tool_message = upstream.requests[1]["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["content"] == "a letter"


def test_a_failed_run_shows_its_error(
    console: Watched, console_url: str, project_key: str, upstream: ScriptedUpstream
) -> None:
    upstream.script(Fail(400, {"error": {"message": "The prompt was refused (scripted)."}}))
    create_assistant(console_url, project_key, name="Fragile")
    page = open_playground(console, project_key)
    send(page, "Hello?")
    expect(page.get_by_role("status")).to_contain_text("failed")
    expect(page.get_by_role("alert")).to_contain_text("refused (scripted)")
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    console.snap("playground-failed-run")
