"""Signing in to the console with each kind of key, and what each kind may see."""

import httpx
from playwright.sync_api import expect

from tests.console.conftest import MASTER_KEY, Watched

PROJECT_PAGES = ("Assistants", "Threads", "Playground", "Vector stores", "Usage", "Logs")


def test_root_redirects_to_the_console(console_url: str) -> None:
    response = httpx.get(f"{console_url}/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/console/"


def test_pages_send_a_strict_content_security_policy(console_url: str) -> None:
    for path in ("/console/", "/console/threads/thread_x", "/console/assets/app.js"):
        response = httpx.get(console_url + path)
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    page = httpx.get(f"{console_url}/console/").text
    assert "<script>" not in page and '<script type="module" src=' in page


def test_a_bad_key_is_refused(console: Watched) -> None:
    console.goto("/console/")
    console.page.get_by_label("API key").fill("sk-not-a-key")
    console.page.get_by_role("button", name="Sign in").click()
    expect(console.page.get_by_role("alert")).to_have_text("Invalid API key")
    console.snap("sign-in-invalid-key")
    # The refused request is expected; nothing else may have gone wrong.
    console.problems[:] = [p for p in console.problems if "401" not in p]


def test_a_project_key_sees_its_project_pages_but_not_keys(
    console: Watched, project_key: str
) -> None:
    console.sign_in(project_key)
    nav = console.page.get_by_role("navigation", name="Console")
    for name in PROJECT_PAGES:
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Keys", exact=True)).to_have_count(0)
    console.goto("/console/keys")
    expect(console.page.get_by_role("alert")).to_contain_text("Only the master key")


def test_the_master_key_sees_the_admin_pages(console: Watched) -> None:
    console.sign_in(MASTER_KEY)
    nav = console.page.get_by_role("navigation", name="Console")
    for name in (*PROJECT_PAGES, "Keys"):
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()


def test_the_key_lives_in_session_storage_only(console: Watched, project_key: str) -> None:
    console.sign_in(project_key)
    context = console.page.context
    assert context.cookies() == []
    stored = console.page.evaluate("() => JSON.stringify(sessionStorage)")
    assert project_key in stored
    assert console.page.evaluate("() => JSON.stringify(localStorage)") == "{}"
    assert project_key not in console.page.url


def test_loading_the_console_is_not_api_traffic(
    console_url: str, console_admin: httpx.Client
) -> None:
    """Pages and assets stay out of the request log (the console's API calls are logged)."""
    for path in ("/", "/console/", "/console/assets/app.js"):
        httpx.get(console_url + path)
    for path in ("/", "/console/", "/console/assets/app.js"):
        logged = console_admin.get("/admin/logs", params={"path": path}).json()["data"]
        assert logged == [], path


def test_assets_are_compressed_for_browsers_that_accept_it(console_url: str) -> None:
    plain = httpx.get(f"{console_url}/console/assets/app.js", headers={"Accept-Encoding": ""})
    packed = httpx.get(f"{console_url}/console/assets/app.js")
    assert packed.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert packed.text == plain.text
    assert int(packed.headers["content-length"]) < len(plain.content) / 2
