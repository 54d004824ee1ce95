"""The console by keyboard alone, and axe-core's automated checks on every page.

Keyboard: Tab reaches the sign-in form's field and button, Enter signs in; then Tab goes through
the skip link and every navigation link, each with a visible focus outline, and the skip link
moves the focus to the page.

axe-core (tests/node's devDependency, installed by ``make install``) is evaluated in each page
through the DevTools protocol, which the console's strict CSP does not apply to, and fails the
test on any violation of impact "serious" or "critical" (colour contrast included), on the
sign-in page and on every page of the navigation, in light and in dark mode."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.console.conftest import MASTER_KEY, Watched
from tests.console.navigation import KEY_KINDS, expect_on, nav_links, sign_in_as
from tests.upstream import ScriptedUpstream

AXE = Path(__file__).resolve().parents[1] / "node" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")

# What has the keyboard focus: its role, name and how its focus is drawn.
FOCUSED = """() => {
  const element = document.activeElement;
  const style = getComputedStyle(element);
  const label = element.labels?.[0]?.textContent || element.getAttribute("aria-label");
  return {
    tag: element.tagName.toLowerCase(),
    id: element.id,
    name: (label || element.textContent || "").trim(),
    outlineStyle: style.outlineStyle,
    outlineWidth: parseFloat(style.outlineWidth),
    top: element.getBoundingClientRect().top,
  };
}"""


def tab(console: Watched, backwards: bool = False) -> dict[str, Any]:
    console.page.keyboard.press("Shift+Tab" if backwards else "Tab")
    return dict(console.page.evaluate(FOCUSED))


def assert_focus_visible(focused: dict[str, Any]) -> None:
    assert focused["outlineStyle"] != "none" and focused["outlineWidth"] > 0, (
        f"no visible focus outline on {focused['tag']} {focused['name']!r}: "
        f"{focused['outlineStyle']} {focused['outlineWidth']}px"
    )


def focus_top(console: Watched) -> None:
    """Moves the focus to the top of the document, so that the next Tab goes to its first
    focusable element (a blur() alone would leave Tab's starting point where the focus was)."""
    console.page.evaluate(
        """() => {
          document.body.tabIndex = -1;
          document.body.focus();
          document.body.removeAttribute("tabindex");
        }"""
    )


def test_sign_in_by_keyboard(console: Watched, project_key: str) -> None:
    console.goto("/console/")
    expect(console.page.get_by_label("API key")).to_be_visible()
    focus_top(console)
    reached = [tab(console) for _ in range(2)]
    assert [focused["name"] for focused in reached] == ["API key", "Sign in"], reached
    for focused in reached:
        assert_focus_visible(focused)
    assert tab(console, backwards=True)["name"] == "API key"
    console.page.keyboard.type(project_key)
    console.page.keyboard.press("Enter")
    expect(console.page.get_by_role("navigation", name="Console")).to_be_visible()


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_the_shell_by_keyboard(console: Watched, console_admin: httpx.Client, kind: str) -> None:
    sign_in_as(console, kind, console_admin)
    links = [link.name for link in nav_links(console)]
    focus_top(console)
    skip = tab(console)
    assert skip["name"] == "Skip to content", skip
    assert skip["top"] >= 0, "the skip link stays off screen when focused"
    assert_focus_visible(skip)
    # Then the top bar's controls, then every navigation link in order, each drawn focused.
    reached: list[str] = []
    for _ in range(len(links) + 8):
        focused = tab(console)
        assert_focus_visible(focused)
        reached.append(focused["name"])
        if focused["name"] == links[-1]:
            break
    assert [name for name in reached if name in links] == links, reached
    # The skip link takes the focus past the navigation, to the page.
    focus_top(console)
    tab(console)
    console.page.keyboard.press("Enter")
    assert console.page.evaluate(FOCUSED)["id"] == "main"


# --- axe-core -------------------------------------------------------------------------------


# A skip mark rather than a skip in the fixture, so that pytest's summary says it once.
needs_axe = (
    pytest.mark.skip(reason="axe-core not installed in tests/node: run make install (needs npm)")
    if not AXE.exists()
    else pytest.mark.usefixtures("axe_source")
)


@pytest.fixture(scope="session")
def axe_source() -> str:
    return AXE.read_text()


AXE_RUN = """async () => {
  const results = await axe.run(document, { resultTypes: ["violations"] });
  return results.violations.map((violation) => ({
    id: violation.id,
    impact: violation.impact,
    help: violation.help,
    nodes: violation.nodes.slice(0, 5).map((node) => ({
      target: node.target.join(" "),
      summary: node.failureSummary,
    })),
  }));
}"""


def axe_violations(console: Watched, source: str, where: str) -> list[str]:
    """The serious and critical violations axe finds on the page as it is, one line each."""
    if not console.page.evaluate("() => typeof axe !== 'undefined'"):
        console.page.evaluate(source)
    found = []
    for violation in console.page.evaluate(AXE_RUN):
        if violation["impact"] in BLOCKING:
            for node in violation["nodes"]:
                found.append(
                    f"{where}: {violation['id']} ({violation['impact']}, {violation['help']}) "
                    f"at {node['target']}: {node['summary']}"
                )
    return found


@pytest.fixture(params=["light", "dark"])
def scheme_page(request: pytest.FixtureRequest) -> Iterator[Watched]:
    """The 1280x800 page in light mode, then in dark mode."""
    yield request.getfixturevalue("console" if request.param == "light" else "dark")


@needs_axe
def test_the_sign_in_page_passes_axe(scheme_page: Watched, axe_source: str) -> None:
    console = scheme_page
    console.goto("/console/")
    expect(console.page.get_by_label("API key")).to_be_visible()
    found = axe_violations(console, axe_source, "sign-in")
    # With its error shown too.
    console.page.get_by_label("API key").fill("sk-not-a-key")
    console.page.get_by_role("button", name="Sign in").click()
    expect(console.page.get_by_role("alert")).to_be_visible()
    found += axe_violations(console, axe_source, "sign-in, error shown")
    assert not found, "\n".join(found)
    # The refused request is expected; nothing else may have gone wrong.
    console.problems[:] = [problem for problem in console.problems if "401" not in problem]


@needs_axe
def test_the_master_key_before_picking_a_project_passes_axe(
    scheme_page: Watched, axe_source: str
) -> None:
    console = scheme_page
    console.sign_in(MASTER_KEY)
    found = []
    for link in nav_links(console):
        console.open(link.name)
        expect_on(console, link)
        found += axe_violations(console, axe_source, f"{link.name} (no project)")
    assert not found, "\n".join(found)


@needs_axe
@pytest.mark.parametrize("kind", KEY_KINDS)
def test_every_page_passes_axe(
    scheme_page: Watched,
    console_admin: httpx.Client,
    upstream: ScriptedUpstream,
    axe_source: str,
    kind: str,
) -> None:
    console = scheme_page
    sign_in_as(console, kind, console_admin, upstream)
    found = []
    for link in nav_links(console):
        console.open(link.name)
        expect_on(console, link)
        found += axe_violations(console, axe_source, link.name)
    assert not found, "\n".join(found)
