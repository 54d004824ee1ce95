"""Debian's Chromium for Playwright: where it is and the flags it runs with. Shared by the
console's browser tests (``conftest.py``) and ``bench/console_bench.py``, so it imports nothing
but the standard library."""

import os
import shutil

# The flags Debian's Chromium needs here (root, no GPU, no display) and nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--metrics-recording-only",
]
MISSING = (
    "Chromium not found: the console's browser tests need Debian's Chromium "
    "(apt-get install -y chromium, as .ci/run does) or THREADLINE_CHROMIUM"
)


def chromium_path() -> str | None:
    """``THREADLINE_CHROMIUM``, else ``chromium`` or ``chromium-browser`` on the PATH."""
    configured = os.environ.get("THREADLINE_CHROMIUM")
    if configured:
        return configured
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None
