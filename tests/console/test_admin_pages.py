"""The Usage, Logs and Keys pages: keys made in the browser work with the OpenAI SDK, rotate and
revoke take effect, a project key sees its own project only, and the reports draw."""

import re
import secrets
from datetime import date, timedelta

import httpx
from openai import OpenAI
from playwright.sync_api import expect

from tests.console.conftest import MASTER_KEY, Watched
from tests.upstream import DEFAULT_MODEL, ScriptedUpstream, Text


def _sdk(console_url: str, key: str) -> OpenAI:
    return OpenAI(base_url=f"{console_url}/v1", api_key=key, max_retries=0, timeout=30)


def _chat(console_url: str, key: str, text: str = "hi") -> str:
    with _sdk(console_url, key) as client:
        completion = client.chat.completions.create(
            model=DEFAULT_MODEL, messages=[{"role": "user", "content": text}]
        )
    return completion.choices[0].message.content or ""


def _status_of(console_url: str, key: str) -> int:
    response = httpx.get(f"{console_url}/v1/models", headers={"Authorization": f"Bearer {key}"})
    return response.status_code


def _new_key(console_admin: httpx.Client, **options: object) -> dict:
    options.setdefault("project", f"p-{secrets.token_hex(5)}")
    response = console_admin.post("/admin/keys", json=options)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def _contains(text: str) -> re.Pattern[str]:
    return re.compile(re.escape(text))


def _secret_shown(console: Watched) -> str:
    """The secret of the "shown once" dialog, checked for its warning and copy button."""
    dialog = console.page.get_by_role("dialog")
    expect(dialog).to_contain_text("you won't see it again")
    expect(dialog.get_by_role("button", name="Copy key")).to_be_visible()
    secret = dialog.get_by_label("Secret key").input_value()
    assert secret.startswith("sk-")
    return secret


def test_a_key_created_in_the_console_works_with_the_sdk(
    console: Watched, console_url: str, console_admin: httpx.Client, upstream: ScriptedUpstream
) -> None:
    project = f"web-{secrets.token_hex(4)}"
    console.sign_in(MASTER_KEY)
    console.open("Keys")
    page = console.page
    page.get_by_role("button", name="Create key").click()
    form = page.get_by_role("dialog", name="Create an API key")
    form.get_by_label("Project").fill(project)
    form.get_by_label("Name").fill("search-bot")
    form.get_by_label("Requests per minute").fill("120")
    form.get_by_label("Cache answers (seconds)").fill("300")
    form.get_by_label("Max parallel requests").fill("4")
    form.get_by_label("Budget (USD)").fill("12.5")
    form.get_by_label("Budget period").select_option("day")
    form.get_by_label("Models").fill(f"{DEFAULT_MODEL}, other-model")
    form.get_by_label("Expires").fill((date.today() + timedelta(days=30)).isoformat())
    form.get_by_label("Metadata").fill("team=search\nowner=ana")
    console.snap("keys-create-form")
    form.get_by_role("button", name="Create key").click()
    secret = _secret_shown(console)
    console.snap("keys-secret-shown-once")

    upstream.script(Text(["hi"]))
    assert _chat(console_url, secret) == "hi"
    [key] = console_admin.get("/admin/keys", params={"project": project}).json()["data"]
    assert (key["name"], key["rpm"], key["max_parallel"]) == ("search-bot", 120, 4)
    assert key["cache_ttl"] == 300
    assert (key["budget_usd"], key["budget_period"]) == ("12.5", "day")
    assert key["models"] == [DEFAULT_MODEL, "other-model"]
    assert key["metadata"] == {"team": "search", "owner": "ana"}
    assert key["expires_at"] is not None

    page.get_by_role("dialog").get_by_role("button", name="Done").click()
    row = page.get_by_role("row").filter(has_text="search-bot")
    expect(row).to_contain_text("120 rpm · 4 parallel · $12.5/day")
    expect(row).to_contain_text("active")
    console.snap("keys-desktop")


def test_rotate_and_revoke_take_effect_at_once(
    console: Watched, console_url: str, console_admin: httpx.Client
) -> None:
    created = _new_key(console_admin, name="rotate-me")
    old = created["key"]
    console.sign_in(MASTER_KEY)
    console.open("Keys")
    page = console.page
    page.get_by_label("Keys of project").select_option(created["project"])
    page.get_by_role("button", name="Rotate rotate-me").click()
    page.get_by_role("dialog", name="Rotate key").get_by_role("button", name="Rotate key").click()
    new = _secret_shown(console)
    assert new != old
    assert _status_of(console_url, old) == 401
    assert _status_of(console_url, new) == 200
    page.get_by_role("dialog").get_by_role("button", name="Done").click()

    page.get_by_role("button", name="Revoke rotate-me").click()
    page.get_by_role("dialog", name="Revoke key").get_by_role("button", name="Revoke key").click()
    expect(page.get_by_role("row").filter(has_text="rotate-me")).to_have_count(0)
    assert _status_of(console_url, new) == 401
    page.get_by_label("Show revoked and expired keys").check()
    expect(page.get_by_role("row").filter(has_text="rotate-me")).to_contain_text("revoked")


def test_projects_limits_are_editable(console: Watched, console_admin: httpx.Client) -> None:
    created = _new_key(console_admin)
    console.sign_in(MASTER_KEY)
    console.open("Keys")
    page = console.page
    page.get_by_role("button", name=f"Edit {created['project']}").click()
    form = page.get_by_role("dialog")
    form.get_by_label("Tokens per minute").fill("50000")
    form.get_by_label("Budget (USD)").fill("30")
    form.get_by_label("Models").fill(DEFAULT_MODEL)
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_role("row").filter(has_text=created["project"]).last).to_contain_text(
        "50,000 tpm · $30/month"
    )
    project = console_admin.get(f"/admin/projects/{created['project']}").json()
    assert (project["tpm"], project["budget_usd"], project["models"]) == (
        50000,
        "30",
        [DEFAULT_MODEL],
    )


def test_a_project_key_sees_only_its_project(
    console: Watched, console_url: str, console_admin: httpx.Client, project_key: str
) -> None:
    other = _new_key(console_admin)["key"]
    assert _status_of(console_url, project_key) == 200  # GET /v1/models, its project
    httpx.get(f"{console_url}/v1/files", headers={"Authorization": f"Bearer {other}"})
    headers = {"Authorization": f"Bearer {project_key}"}
    assert httpx.get(f"{console_url}/admin/keys", headers=headers).status_code == 401
    logs = httpx.get(f"{console_url}/console/api/logs", headers=headers).json()["data"]
    assert [line["path"] for line in logs] == ["/v1/models"]

    console.sign_in(project_key)
    nav = console.page.get_by_role("navigation", name="Console")
    expect(nav.get_by_role("link", name="Keys", exact=True)).to_have_count(0)
    console.open("Logs")
    log = console.page.get_by_role("region", name="Request log")
    expect(log).to_contain_text("/v1/models")
    expect(log).not_to_contain_text("/v1/files")
    expect(console.page.get_by_label("Project", exact=True)).to_have_count(0)


def test_usage_draws_the_chart_and_its_table(
    console: Watched,
    phone: Watched,
    console_url: str,
    project_key: str,
    upstream: ScriptedUpstream,
) -> None:
    upstream.script(Text(["one"], usage=(120, 30)), Text(["two"], usage=(80, 20)))
    _chat(console_url, project_key)
    _chat(console_url, project_key)
    console.sign_in(project_key)
    console.open("Usage")
    page = console.page
    chart = page.locator("svg[role=img]")
    expect(chart).to_have_attribute("aria-label", _contains("Tokens per day"))
    expect(chart).to_have_attribute("aria-label", _contains("250 tokens in total"))
    expect(chart.locator("title").filter(has_text="250 tokens")).to_have_count(1)
    expect(page.get_by_role("button", name="30 days")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".stat").filter(has_text="Requests")).to_contain_text("2")
    expect(page.get_by_role("region", name="Usage by day and model")).to_contain_text(DEFAULT_MODEL)
    console.snap("usage-desktop")
    page.get_by_role("button", name="Cost").click()
    expect(chart).to_have_attribute("aria-label", _contains("Cost per day"))
    page.get_by_role("button", name="7 days").click()
    expect(page.get_by_role("button", name="7 days")).to_have_attribute("aria-pressed", "true")
    page.get_by_label("Split by").select_option("meter")
    expect(page.get_by_role("region", name="Usage by day and meter")).to_contain_text(
        "chat.completions"
    )

    phone.sign_in(project_key)
    phone.open("Usage")
    expect(phone.page.locator("svg[role=img]")).to_be_visible()
    phone.snap("usage-phone")


def _usage_report(days: list[str], models: list[str]) -> dict:
    """A usage report by day and model: model i used on every (i + 1)-th day."""
    rows = [
        {
            "day": day,
            "model": model,
            "requests": 1 + index,
            "input_tokens": 1000 * (index + 1),
            "output_tokens": 250 * (number % 4),
            "quantity": 0.0,
            "cost_usd": f"{0.004 * (index + 1):.3f}",
        }
        for number, day in enumerate(days)
        for index, model in enumerate(models)
        if number % (index + 1) == 0
    ]
    totals = {
        name: sum(int(row[name]) for row in rows)
        for name in ("requests", "input_tokens", "output_tokens")
    }
    cost = sum(float(row["cost_usd"]) for row in rows)
    return {
        "object": "usage",
        "project": None,
        **totals,
        "total_tokens": totals["input_tokens"] + totals["output_tokens"],
        "cost_usd": f"{cost:.3f}",
        "group_by": ["day", "model"],
        "data": rows,
    }


def test_usage_chart_stacks_many_series_in_light_and_dark(console: Watched) -> None:
    today = date.today()
    # Every other day of the last 30 (the days between are empty: zeros on the chart).
    days = [(today - timedelta(days=n)).isoformat() for n in range(0, 30, 2)]
    models = [f"model-{letter}" for letter in "abcdefghij"]
    report = _usage_report(days, models)
    console.page.route("**/console/api/usage?*", lambda route: route.fulfill(json=report))
    console.sign_in(MASTER_KEY)
    console.open("Usage")
    page = console.page
    chart = page.locator("svg[role=img]")
    expect(chart.locator("g.bar")).to_have_count(30)  # every day, the empty ones too
    legend = page.locator(".legend li")
    expect(legend).to_have_count(8)  # seven models, then the other three together
    expect(legend.last).to_have_text("3 others")
    expect(chart).to_have_attribute("aria-label", _contains("highest"))
    console.snap("usage-many-series-light")
    page.get_by_role("button", name="Cost").click()
    expect(chart).to_have_attribute("aria-label", _contains("Cost per day"))
    page.emulate_media(color_scheme="dark")
    console.snap("usage-many-series-dark")


def test_master_usage_splits_by_project(console: Watched, console_url: str, upstream) -> None:
    console.sign_in(MASTER_KEY)
    console.open("Usage")
    console.page.get_by_label("Split by").select_option("project")
    expect(console.page.get_by_role("region", name="Usage by day and project")).to_be_visible()
    expect(console.page.locator("svg[role=img]")).to_be_visible()
    console.snap("usage-master-by-project")


def test_logs_list_requests_and_open_their_detail(
    console: Watched, phone: Watched, console_url: str, project_key: str, upstream
) -> None:
    upstream.script(Text(["logged"], usage=(9, 3)))
    _chat(console_url, project_key)
    with httpx.Client(headers={"Authorization": f"Bearer {project_key}"}) as http:
        for _ in range(50):  # a page is 50 lines: these fill one
            http.get(f"{console_url}/v1/models").raise_for_status()
    httpx.get(
        f"{console_url}/v1/assistants/asst_missing",
        headers={"Authorization": f"Bearer {project_key}", "OpenAI-Beta": "assistants=v2"},
    )
    # Straight to Logs: another page first would add its own API requests to the log.
    console.sign_in(project_key, "/console/logs")
    page = console.page
    log = page.get_by_role("region", name="Request log")
    expect(log.get_by_role("row")).to_have_count(51)  # the header and the newest 50 requests
    expect(log).not_to_contain_text("/v1/chat/completions")
    page.get_by_role("button", name="Load older").click()
    expect(log.get_by_role("row")).to_have_count(53)
    expect(page.get_by_role("button", name="Load older")).to_have_count(0)

    page.get_by_role("button", name="Details of POST /v1/chat/completions", exact=False).click()
    detail = page.get_by_role("dialog", name="POST /v1/chat/completions")
    expect(detail).to_contain_text("Request ID")
    expect(detail).to_contain_text(DEFAULT_MODEL)
    expect(detail).to_contain_text("200")
    console.snap("logs-detail")
    page.keyboard.press("Escape")
    expect(detail).to_be_hidden()

    page.get_by_label("Status").select_option("4xx")
    page.get_by_role("button", name="Apply filters").click()
    expect(log.get_by_role("row")).to_have_count(2)
    expect(log).to_contain_text("/v1/assistants/asst_missing")
    log.get_by_role("row").nth(1).click()  # a click on the row opens it too
    expect(page.get_by_role("dialog")).to_contain_text("404")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Reset").click()
    expect(log.get_by_role("row")).to_have_count(51)
    console.snap("logs-desktop")

    phone.sign_in(project_key)
    phone.open("Logs")
    expect(phone.page.get_by_role("region", name="Request log")).to_contain_text("/v1/models")
    phone.snap("logs-phone")


LOGGED = {
    "object": "request_log",
    "id": "req_logged",
    "created_at": 1_767_225_600_000,
    "method": "POST",
    "path": "/v1/chat/completions",
    "status": 200,
    "project_id": "proj_x",
    "model": DEFAULT_MODEL,
    "input_tokens": 12,
    "output_tokens": 4,
    "latency_ms": 812.5,
    "error_code": None,
    "request_body": '{"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}',
    "response_body": "data: not JSON",
    "project": "logged-project",
    "key_id": "key_logged",
    "cost_usd": "0.000028",
}


def test_master_logs_show_projects_and_logged_bodies(console: Watched, project_key: str) -> None:
    console.sign_in(MASTER_KEY)
    console.open("Logs")
    page = console.page
    log = page.get_by_role("region", name="Request log")
    expect(log.get_by_role("columnheader", name="Project")).to_be_visible()
    expect(log).to_contain_text("/console/api/session")  # every request, admin ones too
    console.snap("logs-master-desktop")
    # This server does not log bodies: a logged line is served in place of the real ones.
    page.route(
        "**/console/api/logs?*",
        lambda route: route.fulfill(
            json={"object": "list", "data": [LOGGED], "has_more": False, "last_id": "req_logged"}
        ),
    )
    page.get_by_role("button", name="Refresh").click()
    expect(log).to_contain_text("logged-project")
    log.get_by_role("button", name=re.compile("^Details")).click()
    detail = page.get_by_role("dialog")
    expect(detail.get_by_role("heading", name="Request body")).to_be_visible()
    expect(detail.get_by_label("Request body")).to_contain_text('"content": "hi"')
    expect(detail.get_by_label("Response body")).to_have_text("data: not JSON")
    expect(detail).to_contain_text("$0.000028")
    console.snap("logs-detail-bodies")


def test_keys_page_on_a_phone(phone: Watched, console_admin: httpx.Client) -> None:
    _new_key(console_admin, name="phone-key", rpm=60, models=[DEFAULT_MODEL])
    phone.sign_in(MASTER_KEY)
    phone.open("Keys")
    expect(phone.page.get_by_role("region", name="API keys")).to_contain_text("phone-key")
    phone.snap("keys-phone")
