"""The Vector stores page: creating a store, uploading a file into it, watching it ingest live,
searching it, and removing and deleting."""

import re

import openai
from playwright.sync_api import expect

from tests.console.conftest import Watched

HANDBOOK = b"""# Travel handbook

Employees booking a flight must choose the economy fare unless the trip lasts longer than
eight hours. Hotel rooms are reimbursed up to the city's nightly ceiling.

The quokka mascot of the travel team greets every new hire.
"""
INGESTED = 60_000  # ms: the embedded embedding model may be loading on a first file

# Signed in on the page itself: a click on the navigation right after signing in could race
# the shell's redirect from /console/ to the first page.
PAGE = "/console/vector-stores"


def _client(console_url: str, project_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{console_url}/v1", api_key=project_key, max_retries=0)


def _upload_handbook(watched: Watched) -> None:
    watched.page.get_by_label("Upload files").set_input_files(
        files=[{"name": "handbook.md", "mimeType": "text/markdown", "buffer": HANDBOOK}]
    )


def test_create_upload_search_and_delete_a_store(
    console: Watched, project_key: str, console_url: str
) -> None:
    client = _client(console_url, project_key)
    console.sign_in(project_key, PAGE)
    page = console.page
    expect(page.get_by_text("No vector stores yet")).to_be_visible()

    page.get_by_role("button", name="New vector store").click()
    form = page.get_by_role("dialog", name="New vector store")
    form.get_by_label("Name", exact=True).fill("Policies")
    form.get_by_role("button", name="Add pair").click()
    form.get_by_label("Key 1").fill("owner")
    form.get_by_label("Value 1").fill("hr")
    form.get_by_label("Expire when unused").check()
    form.get_by_label("Days after its last use").fill("30")
    form.get_by_role("button", name="Create vector store").click()

    # The new store opens at once, named in the address.
    expect(page.get_by_role("heading", level=1, name="Policies")).to_be_visible()
    expect(page).to_have_url(re.compile(r"\?store=vs_"))
    (store,) = client.vector_stores.list().data
    assert store.metadata == {"owner": "hr"}
    assert store.expires_after is not None and store.expires_after.days == 30

    _upload_handbook(console)
    files = page.get_by_role("region", name="Files in this store")
    row = files.get_by_role("row").filter(has_text="handbook.md")
    expect(row.get_by_text("completed", exact=True)).to_be_visible(timeout=INGESTED)
    expect(page.locator(".store-stats")).to_contain_text("1Completed")
    assert client.vector_stores.retrieve(store.id).file_counts.completed == 1

    page.get_by_label("Search", exact=True).fill("quokka mascot")
    page.get_by_role("button", name="Search", exact=True).click()
    hits = page.get_by_role("list", name="Chunks matching quokka mascot")
    first = hits.get_by_role("listitem").first
    expect(first).to_contain_text("handbook.md")
    expect(first).to_contain_text(re.compile(r"score \d\.\d{3}"))
    expect(first.locator("mark").first).to_have_text(re.compile("quokka", re.IGNORECASE))
    console.snap("vector-store-detail-desktop")

    row.get_by_role("button", name="Remove handbook.md").click()
    page.get_by_role("dialog", name="Remove file from store?").get_by_role(
        "button", name="Remove file"
    ).click()
    expect(files).to_have_count(0)
    expect(page.get_by_text("No files in this store yet")).to_be_visible()

    page.get_by_role("link", name="All vector stores").click()
    listed = page.get_by_role("row").filter(has_text="Policies")
    expect(listed).to_contain_text(store.id)
    listed.get_by_role("button", name="Delete Policies").click()
    page.get_by_role("dialog", name="Delete vector store?").get_by_role(
        "button", name="Delete vector store"
    ).click()
    expect(listed).to_have_count(0)
    assert client.vector_stores.list().data == []


def _seed(client: openai.OpenAI) -> str:
    client.vector_stores.create(name="Empty drafts", metadata={"stage": "draft"})
    store = client.vector_stores.create(name="Travel policies")
    uploaded = client.files.create(file=("handbook.md", HANDBOOK), purpose="assistants")
    client.vector_stores.files.create_and_poll(
        vector_store_id=store.id, file_id=uploaded.id, poll_interval_ms=200
    )
    return store.id


def test_screenshots_desktop_and_phone(
    console: Watched, phone: Watched, project_key: str, console_url: str
) -> None:
    store_id = _seed(_client(console_url, project_key))
    for watched, size in ((console, "desktop"), (phone, "phone")):
        watched.sign_in(project_key, PAGE)
        page = watched.page
        expect(page.get_by_role("row").filter(has_text=store_id)).to_contain_text("1 completed")
        watched.snap(f"vector-stores-list-{size}")
        page.get_by_role("link", name="Travel policies").click()
        expect(page.get_by_role("row").filter(has_text="handbook.md")).to_contain_text("completed")
        page.get_by_label("Search", exact=True).fill("economy fare")
        page.get_by_role("button", name="Search", exact=True).click()
        expect(page.get_by_role("list", name="Chunks matching economy fare")).to_be_visible()
        watched.snap(f"vector-store-detail-{size}")
        # Back returns to the list (the store was in the address).
        page.go_back()
        expect(page.get_by_role("heading", level=1, name="Vector stores")).to_be_visible()
