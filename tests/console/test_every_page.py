"""Every page of the console's navigation, signed in with a project key and with the master key
(working in a project it picked), at 1280x800, at 390 px and in dark mode: each page renders its
heading with no JavaScript error, console error or foreign request (the fixtures check), in place
(the document is never reloaded), and the browser's back and forward buttons work. The project
has an assistant, a vector store and a thread with a completed run, so no page is only empty.

The pages are whatever the "Console" navigation links to, so new pages are covered as they come.
Screenshots: test-artifacts/console/every-page-<mode>-<key>-<page>.png."""

import httpx
import pytest

from tests.console.conftest import Watched
from tests.console.navigation import KEY_KINDS, NavLink, expect_on, nav_links, sign_in_as
from tests.upstream import ScriptedUpstream


def mark_document(console: Watched) -> None:
    """A mark on this document's window: a reload would lose it."""
    console.page.evaluate("() => { window.__marker = 1; }")


def assert_same_document(console: Watched) -> None:
    assert console.page.evaluate("() => window.__marker") == 1, "the document was reloaded"


def visit_every_page(console: Watched, mode: str, kind: str) -> list[NavLink]:
    mark_document(console)
    links = nav_links(console)
    for link in links:
        console.open(link.name)
        expect_on(console, link)
        assert_same_document(console)
        # Nothing is wider than the window but what scrolls inside its own box.
        overflow = console.page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0, f"{link.name} is {overflow}px wider than the window"
        console.snap(f"every-page-{mode}-{kind}-{link.name}")
    return links


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_every_page_at_1280(
    console: Watched, console_admin: httpx.Client, upstream: ScriptedUpstream, kind: str
) -> None:
    sign_in_as(console, kind, console_admin, upstream)
    links = visit_every_page(console, "desktop", kind)
    assert len(links) >= 3, "too few pages to go back twice"
    # Back and forward, through the browser's history: the pages change, the document stays.
    *_, before_last, last = links
    console.page.go_back()
    expect_on(console, before_last)
    console.page.go_back()
    expect_on(console, links[-3])
    console.page.go_forward()
    expect_on(console, before_last)
    console.page.go_forward()
    expect_on(console, last)
    assert_same_document(console)


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_every_page_at_390(
    phone: Watched, console_admin: httpx.Client, upstream: ScriptedUpstream, kind: str
) -> None:
    sign_in_as(phone, kind, console_admin, upstream)
    visit_every_page(phone, "phone", kind)


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_every_page_in_dark_mode(
    dark: Watched, console_admin: httpx.Client, upstream: ScriptedUpstream, kind: str
) -> None:
    sign_in_as(dark, kind, console_admin, upstream)
    assert dark.page.evaluate("() => matchMedia('(prefers-color-scheme: dark)').matches")
    visit_every_page(dark, "dark", kind)
