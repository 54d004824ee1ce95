"""Going through the console the way its tests do: signing in with either kind of key, the
links of the "Console" navigation (whatever pages it has), and waiting until a page is shown."""

import re
import secrets
from dataclasses import dataclass

import httpx
from openai import OpenAI
from playwright.sync_api import expect

from tests.console.conftest import MASTER_KEY, Watched
from tests.upstream import DEFAULT_MODEL, ScriptedUpstream, Text

KEY_KINDS = ("project", "master")


@dataclass(frozen=True)
class NavLink:
    name: str
    href: str


def seed_project(base_url: str, key: str, upstream: ScriptedUpstream) -> None:
    """Something on every page: an assistant, a vector store, and a thread whose run completed
    (a transcript, usage and log lines)."""
    client = OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0)
    assistant = client.beta.assistants.create(
        model=DEFAULT_MODEL, name="Support", instructions="Answer briefly."
    )
    client.vector_stores.create(name="Manuals")
    upstream.script(Text(["Hel", "lo"]))
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "Hello?"}]},
        poll_interval_ms=50,
    )
    assert run.status == "completed", run.last_error


def sign_in_as(
    console: Watched,
    kind: str,
    console_admin: httpx.Client,
    upstream: ScriptedUpstream | None = None,
) -> str:
    """Signs in with a key of a new project, or with the master key that then picks that project
    (the console opens a 12-hour key of it); with ``upstream``, the project is seeded first
    (``seed_project``). Returns the project's name."""
    project = f"console-{secrets.token_hex(4)}"
    created = console_admin.post("/admin/keys", json={"project": project})
    created.raise_for_status()
    key = created.json()["key"]
    if upstream is not None:
        seed_project(console.base_url, key, upstream)
    if kind == "project":
        console.sign_in(key)
    else:
        console.sign_in(MASTER_KEY)
        console.pick_project(project)
    return project


def nav_links(console: Watched) -> list[NavLink]:
    nav = console.page.get_by_role("navigation", name="Console")
    links = [
        NavLink(link.inner_text().strip(), link.get_attribute("href") or "")
        for link in nav.get_by_role("link").all()
    ]
    assert links, "the Console navigation has no links"
    return links


def expect_on(console: Watched, link: NavLink) -> None:
    """The page of ``link`` is shown: its URL, its link marked current, its heading, and its data
    (no "Loading…" left)."""
    page = console.page
    expect(page).to_have_url(console.base_url + link.href)
    nav = page.get_by_role("navigation", name="Console")
    expect(nav.get_by_role("link", name=link.name, exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    expect(page).to_have_title(re.compile(re.escape(link.name)))
    expect(page.locator("#main").get_by_role("heading", level=1).first).to_be_visible()
    expect(page.locator("#main .loading")).to_have_count(0)
