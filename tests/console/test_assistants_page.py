"""The Assistants page: the list, and creating, editing and deleting through its form."""

import re

import openai
from playwright.sync_api import expect

from tests.console.conftest import Watched
from tests.upstream import DEFAULT_MODEL

# Signed in on the page itself: a click on the navigation right after signing in could race
# the shell's redirect from /console/ to the first page.
PAGE = "/console/assistants"


def _client(console_url: str, project_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{console_url}/v1", api_key=project_key, max_retries=0)


def test_create_edit_and_delete_an_assistant(
    console: Watched, project_key: str, console_url: str
) -> None:
    client = _client(console_url, project_key)
    console.sign_in(project_key, PAGE)
    page = console.page
    expect(page.get_by_text("No assistants yet")).to_be_visible()

    page.get_by_role("button", name="New assistant").click()
    form = page.get_by_role("dialog", name="New assistant")
    form.get_by_label("Name", exact=True).fill("Support bot")
    form.get_by_label("Model", exact=True).select_option(DEFAULT_MODEL)
    form.get_by_label("Instructions").fill("Answer briefly.")
    form.get_by_label("Code interpreter", exact=True).check()
    form.get_by_label("File search", exact=True).check()
    form.get_by_label("File search max results").fill("5")
    form.get_by_role("button", name="Add function").click()
    form.get_by_label("Function name").fill("get_weather")
    form.get_by_label("Parameters (JSON)").fill('{"type": "object", "properties": {}}')
    form.get_by_label("Temperature").fill("0.5")
    form.get_by_role("button", name="Create assistant").click()
    expect(form).to_be_hidden()

    row = page.get_by_role("row").filter(has_text="Support bot")
    expect(row).to_contain_text(DEFAULT_MODEL)
    expect(row).to_contain_text("code interpreter")
    expect(row).to_contain_text("get_weather()")
    (created,) = client.beta.assistants.list().data
    assert created.instructions == "Answer briefly."
    assert created.temperature == 0.5
    assert [tool.type for tool in created.tools] == ["code_interpreter", "file_search", "function"]
    assert created.tools[1].file_search.max_num_results == 5

    row.get_by_role("button", name="Edit Support bot").click()
    form = page.get_by_role("dialog", name="Edit Support bot")
    expect(form.get_by_label("Model", exact=True)).to_have_value(DEFAULT_MODEL)
    form.get_by_label("Instructions").fill("Answer in French.")
    form.get_by_role("button", name="Add pair").click()
    form.get_by_label("Key 1").fill("team")
    form.get_by_label("Value 1").fill("support")
    with page.expect_request(lambda request: request.method == "POST") as sent:
        form.get_by_role("button", name="Save changes").click()
    expect(form).to_be_hidden()
    assert sent.value.url.endswith(f"/v1/assistants/{created.id}")
    assert sent.value.post_data_json == {  # only what changed
        "instructions": "Answer in French.",
        "metadata": {"team": "support"},
    }

    edited = client.beta.assistants.retrieve(created.id)
    assert edited.instructions == "Answer in French."
    assert edited.metadata == {"team": "support"}
    assert edited.temperature == 0.5 and edited.tools == created.tools  # untouched fields kept

    row.get_by_role("button", name="Delete Support bot").click()
    confirm = page.get_by_role("dialog", name="Delete assistant?")
    confirm.get_by_role("button", name="Delete assistant").click()
    expect(row).to_have_count(0)
    assert client.beta.assistants.list().data == []


def test_bad_json_and_api_errors_are_shown_at_the_form(console: Watched, project_key: str) -> None:
    console.sign_in(project_key, PAGE)
    page = console.page
    page.get_by_role("button", name="New assistant").click()
    form = page.get_by_role("dialog", name="New assistant")
    form.get_by_label("Model", exact=True).select_option(DEFAULT_MODEL)
    form.get_by_role("button", name="Add function").click()
    form.get_by_label("Function name").fill("lookup")
    parameters = form.get_by_label("Parameters (JSON)")
    parameters.fill('{"type": "object",')
    parameters.blur()
    expect(parameters).to_have_attribute("aria-invalid", "true")
    expect(parameters).to_have_accessible_description(re.compile("^Not valid JSON"))
    form.get_by_role("button", name="Create assistant").click()
    expect(form.get_by_role("alert")).to_contain_text("Some fields need fixing")
    expect(parameters).to_be_focused()

    parameters.fill('{"type": "object"}')
    expect(parameters).not_to_have_attribute("aria-invalid", "true")
    form.get_by_label("Code interpreter file IDs").fill("file-missing")
    form.get_by_role("button", name="Create assistant").click()
    expect(form.get_by_role("alert")).to_contain_text("file-missing")
    console.snap("assistants-form-error")
    # The refused request is what this test is about.
    console.problems[:] = [p for p in console.problems if "status of 4" not in p]


def _seed(client: openai.OpenAI) -> str:
    store = client.vector_stores.create(name="Handbook")
    client.beta.assistants.create(model=DEFAULT_MODEL, name="Plain helper")
    rich = client.beta.assistants.create(
        model=DEFAULT_MODEL,
        name="Research assistant",
        description="Reads the handbook and runs numbers.",
        instructions="Cite the handbook. Use Python for arithmetic.",
        tools=[
            {"type": "code_interpreter"},
            {"type": "file_search"},
            {
                "type": "function",
                "function": {
                    "name": "open_ticket",
                    "description": "Opens a support ticket.",
                    "parameters": {"type": "object", "properties": {"title": {"type": "string"}}},
                },
            },
        ],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object"}},
        },
        metadata={"team": "research", "tier": "gold"},
        temperature=0.3,
    )
    return rich.name or ""


def test_screenshots_desktop_and_phone(
    console: Watched, phone: Watched, project_key: str, console_url: str
) -> None:
    name = _seed(_client(console_url, project_key))
    for watched, size in ((console, "desktop"), (phone, "phone")):
        watched.sign_in(project_key, PAGE)
        page = watched.page
        expect(page.get_by_role("row").filter(has_text=name)).to_be_visible()
        watched.snap(f"assistants-list-{size}")
        page.get_by_role("button", name=f"Edit {name}").click()
        form = page.get_by_role("dialog", name=f"Edit {name}")
        expect(form.get_by_label("File search vector store")).to_have_value(re.compile("^vs_"))
        expect(form.get_by_label("Response format", exact=True)).to_have_value("json_schema")
        expect(form.get_by_label("Value 2")).to_have_value("gold")
        watched.snap(f"assistants-form-{size}")
