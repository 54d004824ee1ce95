"""How fast the web console loads and navigates, and how much it ships.

A real ``threadline serve`` (SQLite, a master key, no upstream: no page needs a model to load)
with a small seeded project, and Debian's Chromium driven by Playwright (the flags of the
console's browser tests), all on loopback. For the sign-in page and every page of the "Console"
navigation (read from the page, signed in with the master key working in the seeded project):

  cold load   a new browser context (empty cache) opens the page's URL directly: first paint and
              first contentful paint (``performance.getEntriesByType("paint")``),
              DOMContentLoaded, h1 (the first frame with the page's <h1>), ready (see below), and
              the bytes transferred;
  navigation  a click on the page's link in the navigation, from the page before it: h1 and ready,
              from the click; the first visit (which fetches the page's module) is shown apart.

"ready" is this benchmark's time-to-interactive: the page's <h1> is shown, none of its fetch()
requests is in flight, no "Loading…" indicator is shown, and for 50 ms nothing in the document
changed and no long task ran; ready is the start of those 50 ms (``console_probe.js``).
Figures are medians of N runs (``--runs``, default 10).

Sizes: every file under ``src/threadline/console/static``, raw and gzip'd (level 6), and what a
cold load of the sign-in page transfers (the server does not compress them).

Run:  make bench-console
      .venv/bin/python bench/console_bench.py [--runs 10] [--seed 25]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from playwright.sync_api import expect, sync_playwright

from server_under_test import REPO, running_server, wait_healthy

sys.path.insert(0, str(REPO))  # for the browser tests' Chromium flags
from tests.console.chromium import CHROMIUM_ARGS, MISSING, chromium_path

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

STATIC = REPO / "src" / "threadline" / "console" / "static"
PROBE = (Path(__file__).resolve().parent / "console_probe.js").read_text()
VIEWPORT = {"width": 1280, "height": 800}
READY_TIMEOUT_MS = 15_000
SIGN_IN = "Sign-in"


@dataclass
class PageFigures:
    """One page's measurements, in ms (bytes for ``transferred``), one entry per run."""

    name: str
    path: str
    cold: dict[str, list[float]] = field(default_factory=dict)
    transferred: int = 0
    nav: dict[str, list[float]] = field(default_factory=dict)
    first_visit: dict[str, float] = field(default_factory=dict)

    def add(self, figures: dict[str, list[float]], measured: dict[str, float | None]) -> None:
        for name, value in measured.items():
            if value is not None:
                figures.setdefault(name, []).append(value)


# --- the server and its data ----------------------------------------------------------------


@contextmanager
def console_server(directory: Path, master_key: str) -> Iterator[str]:
    for name in (
        "THREADLINE_UPSTREAM_BASE_URL",
        "THREADLINE_UPSTREAM_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "THREADLINE_CONFIG",
    ):
        os.environ.pop(name, None)
    with running_server(directory, master_key, None) as server:
        try:
            asyncio.run(wait_healthy(server))
            yield f"http://127.0.0.1:{server.port}"
        except Exception:
            print(f"server log (last lines):\n{server.log_tail()}", file=sys.stderr)
            raise


def seed(base_url: str, master_key: str, count: int) -> str:
    """A project "bench" with ``count`` assistants, threads (of 4 messages) and vector stores, so
    that the lists have rows; returns the project's name."""
    project = "bench"
    with httpx.Client(base_url=base_url, timeout=30) as client:
        created = client.post(
            "/admin/keys",
            json={"project": project},
            headers={"Authorization": f"Bearer {master_key}"},
        )
        created.raise_for_status()
        client.headers.update(
            {"Authorization": f"Bearer {created.json()['key']}", "OpenAI-Beta": "assistants=v2"}
        )
        for index in range(count):
            for path, body in (
                (
                    "/v1/assistants",
                    {
                        "model": "gpt-4o-mini",
                        "name": f"Assistant {index}",
                        "instructions": "Answer briefly.",
                    },
                ),
                (
                    "/v1/threads",
                    {
                        "messages": [
                            {"role": "user", "content": f"Question {index}.{turn}"}
                            for turn in range(4)
                        ],
                        "metadata": {"seed": str(index)},
                    },
                ),
                ("/v1/vector_stores", {"name": f"Store {index}"}),
            ):
                client.post(path, json=body).raise_for_status()
    return project


# --- the browser ----------------------------------------------------------------------------


def fresh_page(browser: Browser, storage: list[list[str]] | None) -> Page:
    """A page in a new context (empty cache), with the probe and, if given, the signed-in tab's
    sessionStorage set before the console's scripts run."""
    context = browser.new_context(viewport=VIEWPORT, color_scheme="light")
    context.set_default_timeout(READY_TIMEOUT_MS)
    context.add_init_script(PROBE)
    if storage:
        context.add_init_script(
            f"for (const [k, v] of {json.dumps(storage)}) sessionStorage.setItem(k, v);"
        )
    return context.new_page()


def sign_in(browser: Browser, base_url: str, master_key: str, project: str) -> list[list[str]]:
    """Signs in through the form with the master key and picks ``project``: returns the tab's
    sessionStorage (its keys, as the console stored them)."""
    page = fresh_page(browser, None)
    try:
        page.goto(f"{base_url}/console/")
        page.get_by_label("API key").fill(master_key)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("navigation", name="Console").wait_for()
        select = page.get_by_role("banner").get_by_label("Project")
        select.select_option(project)
        expect(select).to_have_accessible_description(re.compile("console key of this project"))
        return list(page.evaluate("() => Object.entries(sessionStorage)"))
    finally:
        page.context.close()


def nav_links(page: Page) -> list[tuple[str, str]]:
    nav = page.get_by_role("navigation", name="Console")
    nav.wait_for()
    return [
        (link.inner_text().strip(), link.get_attribute("href") or "")
        for link in nav.get_by_role("link").all()
    ]


def wait_ready(page: Page) -> dict[str, Any]:
    page.wait_for_function("() => window.__probe.ready !== null", timeout=READY_TIMEOUT_MS)
    return dict(page.evaluate("() => ({ ...window.__probe })"))


COLD_FIGURES = """() => {
  const paints = performance.getEntriesByType("paint");
  const paint = Object.fromEntries(paints.map((e) => [e.name, e.startTime]));
  const navigation = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource");
  return {
    fp: paint["first-paint"] ?? null,
    fcp: paint["first-contentful-paint"] ?? null,
    dcl: navigation.domContentLoadedEventEnd,
    transferred: navigation.transferSize + resources.reduce((sum, e) => sum + e.transferSize, 0),
    files: [[navigation.name, navigation.transferSize],
            ...resources.map((e) => [e.name, e.transferSize])],
  };
}"""


def cold_load(browser: Browser, url: str, storage: list[list[str]] | None) -> dict[str, Any]:
    page = fresh_page(browser, storage)
    try:
        page.goto(url, wait_until="domcontentloaded")
        probe = wait_ready(page)
        figures = dict(page.evaluate(COLD_FIGURES))
        return {**figures, "h1": probe["h1"], "ready": probe["ready"]}
    finally:
        page.context.close()


def navigate(page: Page, name: str) -> dict[str, float]:
    page.get_by_role("navigation", name="Console").get_by_role(
        "link", name=name, exact=True
    ).click()
    probe = wait_ready(page)
    return {"h1": probe["h1"] - probe["start"], "ready": probe["ready"] - probe["start"]}


def measure(
    browser: Browser, base_url: str, storage: list[list[str]], runs: int, progress: Callable
) -> list[PageFigures]:
    first = fresh_page(browser, storage)
    try:
        first.goto(f"{base_url}/console/")
        links = nav_links(first)
    finally:
        first.context.close()
    pages = [PageFigures(SIGN_IN, "/console/")] + [PageFigures(n, h) for n, h in links]
    cold_load(browser, f"{base_url}/console/", None)  # a warm-up: the browser's first page

    for figures in pages:
        for run in range(runs):
            progress(f"cold load {figures.name} {run + 1}/{runs}")
            session = None if figures.name == SIGN_IN else storage
            result = cold_load(browser, base_url + figures.path, session)
            figures.transferred = int(result["transferred"])
            figures.add(figures.cold, {k: result[k] for k in ("fp", "fcp", "dcl", "h1", "ready")})

    # In-app navigation: round after round through the links, each from the one before it.
    linked = pages[1:]
    page = fresh_page(browser, storage)
    try:
        page.goto(base_url + linked[-1].path)
        wait_ready(page)
        for run in range(runs + 1):
            for figures in linked:
                progress(f"navigation {figures.name} {run + 1}/{runs + 1}")
                result = navigate(page, figures.name)
                if run == 0:
                    figures.first_visit = result
                else:
                    figures.add(figures.nav, dict(result))
    finally:
        page.context.close()
    progress("done")
    return pages


# --- sizes ----------------------------------------------------------------------------------


def static_sizes() -> list[tuple[str, int, int]]:
    """(path under static/, raw bytes, gzip -6 bytes) of every file the console ships."""
    sizes = []
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            sizes.append((str(path.relative_to(STATIC)), len(data), len(gzip.compress(data, 6))))
    return sizes


def served_encoding(base_url: str) -> str:
    response = httpx.get(
        f"{base_url}/console/assets/vendor.js", headers={"Accept-Encoding": "gzip"}
    )
    return response.headers.get("content-encoding", "identity")


# --- the report -----------------------------------------------------------------------------


def median(values: list[float] | None) -> str:
    return f"{statistics.median(values):.0f}" if values else "n/a"


def kib(size: float) -> str:
    return f"{size / 1024:.1f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    line = lambda row: "  ".join(  # noqa: E731
        cell.ljust(width) if i == 0 else cell.rjust(width)
        for i, (cell, width) in enumerate(zip(row, widths, strict=True))
    )
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def report(pages: list[PageFigures], runs: int, sizes: list[tuple[str, int, int]], encoding: str):
    print(f"\nCold load (new context, direct URL), ms from navigation start, median of {runs}:")
    print(
        table(
            ["page", "first paint", "FCP", "DOMContentLoaded", "h1", "ready", "KiB transferred"],
            [
                [
                    p.name,
                    *(median(p.cold.get(k)) for k in ("fp", "fcp", "dcl", "h1", "ready")),
                    kib(p.transferred),
                ]
                for p in pages
            ],
        )
    )
    print(
        f"\nIn-app navigation (click on the page's link), ms from the click, median of {runs}"
        " (first visit: the page's module is fetched then):"
    )
    print(
        table(
            ["page", "h1", "ready", "first visit h1", "first visit ready"],
            [
                [
                    p.name,
                    median(p.nav.get("h1")),
                    median(p.nav.get("ready")),
                    f"{p.first_visit.get('h1', float('nan')):.0f}",
                    f"{p.first_visit.get('ready', float('nan')):.0f}",
                ]
                for p in pages[1:]
            ],
        )
    )
    print(
        "\nready = the page's <h1> shown, no fetch in flight, no Loading… shown, then 50 ms with"
        " no DOM change and no long task (ready is the start of those 50 ms)."
    )
    raw = sum(size for _, size, _ in sizes)
    zipped = sum(size for _, _, size in sizes)
    print(f"\nWhat the console ships (src/threadline/console/static), KiB; served as {encoding}:")
    print(
        table(
            ["file", "raw", "gzip -6"],
            [[name, kib(size), kib(small)] for name, size, small in sizes]
            + [["total", kib(raw), kib(zipped)]],
        )
    )
    print(f"\nA cold load of the sign-in page transfers {kib(pages[0].transferred)} KiB.")


def show_progress(step: str) -> None:
    if sys.stderr.isatty():
        print(f"\r{step:<60}", end="\n" if step == "done" else "", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per figure (median)")
    parser.add_argument("--seed", type=int, default=25, help="assistants, threads, vector stores")
    args = parser.parse_args(argv)
    executable = chromium_path()
    if executable is None:
        print(MISSING.replace("tests need", "benchmark needs"), file=sys.stderr)
        return 2
    master_key = "sk-master-bench-" + secrets.token_hex(16)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="threadline-console-bench-") as directory,
        console_server(Path(directory), master_key) as base_url,
        sync_playwright() as playwright,
    ):
        project = seed(base_url, master_key, args.seed)
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            storage = sign_in(browser, base_url, master_key, project)
            pages = measure(browser, base_url, storage, args.runs, show_progress)
            print(f"Chromium {browser.version}, {os.cpu_count()} CPUs, loopback, 1280x800")
            report(pages, args.runs, static_sizes(), served_encoding(base_url))
        finally:
            browser.close()
    print(f"\n({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
