"""The console in a real browser: Debian's Chromium driven by Playwright (never Playwright's own
browser download, which cannot work offline).

One server (SQLite, a master key, the session's scripted upstream) and one browser for the
whole module set; each test gets a fresh browser context (its own ``sessionStorage``) whose page
fails the test on any JavaScript error, console error, or request that leaves the server.
Screenshots go to ``test-artifacts/console/`` (``snap``)."""

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import httpx
import pytest
from playwright.sync_api import expect

from tests.console.chromium import CHROMIUM_ARGS, MISSING, chromium_path
from tests.databases import database
from tests.servers import threaded_server
from threadline.settings import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.upstream import ScriptedUpstream

MASTER_KEY = "sk-master-console-" + secrets.token_hex(12)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Without Chromium, every browser test is marked skipped up front, so that pytest's summary
    (``-rs``) folds them into one line per file instead of one per test."""
    if chromium_path() is not None:
        return
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.skip(reason=MISSING))


# Package scope: Playwright's sync API keeps an event loop running in this thread while it is
# open, and the suites collected after this one call asyncio.run().
@pytest.fixture(scope="package")
def browser() -> Iterator["Browser"]:
    executable = chromium_path()
    if executable is None:
        pytest.skip(MISSING)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def console_url(
    tmp_path_factory: pytest.TempPathFactory, upstream_server: "ScriptedUpstream"
) -> Iterator[str]:
    with database("sqlite") as url:
        settings = Settings(
            data_dir=tmp_path_factory.mktemp("console-data"),
            database_url=url,
            master_key=MASTER_KEY,
            upstream_base_url=upstream_server.base_url,
            upstream_api_key=upstream_server.api_key,
            upstream_max_retries=1,
            upstream_max_retry_wait=2.0,
        )
        with threaded_server(settings) as base_url:
            yield base_url


@pytest.fixture(scope="session")
def console_admin(console_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=console_url, headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=30
    ) as client:
        yield client


@pytest.fixture
def project_key(console_admin: httpx.Client) -> str:
    """A key of a new project, so each test starts with an empty project."""
    response = console_admin.post("/admin/keys", json={"project": f"p-{secrets.token_hex(5)}"})
    response.raise_for_status()
    return str(response.json()["key"])


@dataclass
class Watched:
    """A page with what went wrong on it: JavaScript errors, console errors, foreign requests."""

    page: "Page"
    base_url: str
    problems: list[str] = field(default_factory=list)

    def goto(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def sign_in(self, key: str, path: str = "/console/") -> None:
        """Signs in at ``path`` and waits until the page it lands on is the current one (from
        ``/console/`` the shell first redirects to a page: clicking before that races it)."""
        self.goto(path)
        self.page.get_by_label("API key").fill(key)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.locator('nav[aria-label="Console"] a[aria-current="page"]').wait_for()

    def open(self, link: str) -> None:
        """Follows the navigation link named ``link`` and waits for its page's heading. The link
        is marked current in the same render that replaces the page before, so a heading seen
        after that is the new page's."""
        anchor = self.page.get_by_role("navigation", name="Console").get_by_role(
            "link", name=link, exact=True
        )
        anchor.click()
        expect(anchor).to_have_attribute("aria-current", "page")
        self.page.locator("#main").get_by_role("heading", level=1).first.wait_for()

    def pick_project(self, project: str) -> None:
        """As the master key: picks ``project`` in the "Project" select and waits until the
        console opened its key of that project."""
        select = self.page.get_by_role("banner").get_by_label("Project")
        select.select_option(project)
        expect(select).to_have_accessible_description(re.compile("console key of this project"))

    def snap(self, name: str) -> Path:
        """A full-page screenshot in test-artifacts/console/ (look at them)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def _watch(page: "Page", base_url: str) -> Watched:
    watched = Watched(page, base_url)
    page.on("pageerror", lambda error: watched.problems.append(f"JavaScript error: {error}"))
    page.on(
        "console",
        lambda message: (
            message.type == "error" and watched.problems.append(f"console error: {message.text}")
        ),
    )

    def check_request(request) -> None:  # type: ignore[no-untyped-def]
        url = request.url
        if not (url.startswith(base_url) or url.startswith(("data:", "blob:"))):
            watched.problems.append(f"request left the server: {url}")

    page.on("request", check_request)
    return watched


def _console_page(
    browser: "Browser",
    base_url: str,
    viewport: dict[str, int],
    color_scheme: Literal["light", "dark"] = "light",
) -> Iterator[Watched]:
    context = browser.new_context(viewport=viewport, color_scheme=color_scheme)
    context.set_default_timeout(10_000)
    page = context.new_page()
    watched = _watch(page, base_url)
    try:
        yield watched
    finally:
        context.close()
    assert not watched.problems, "\n".join(watched.problems)


@pytest.fixture
def console(browser: "Browser", console_url: str) -> Iterator[Watched]:
    """A 1280x800 page; the test fails if anything went wrong on it."""
    yield from _console_page(browser, console_url, DESKTOP)


@pytest.fixture
def phone(browser: "Browser", console_url: str) -> Iterator[Watched]:
    """A 390-pixel-wide page, as on a phone."""
    yield from _console_page(browser, console_url, PHONE)


@pytest.fixture
def dark(browser: "Browser", console_url: str) -> Iterator[Watched]:
    """A 1280x800 page in dark mode (``prefers-color-scheme: dark``)."""
    yield from _console_page(browser, console_url, DESKTOP, color_scheme="dark")
