"""Cursor pagination (``limit``, ``order``, ``after``, ``before``) over messages in a thread and
assistants in a project, as the SDK's auto-pagination and an app paging by hand rely on it: every
object exactly once, in order, with exact ``first_id``/``last_id``/``has_more`` on every page.

One project with N messages and N assistants is built per module (and backend) and only read;
tests that delete objects build their own."""

import math
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai import OpenAI

N = 45


@dataclass(frozen=True)
class Listing:
    """One paginated collection: its ids in creation order and how to list it."""

    ids: list[str]
    path: str
    raw: httpx.Client
    sdk_list: Callable[..., Any]

    def ordered(self, order: str) -> list[str]:
        return self.ids if order == "asc" else self.ids[::-1]

    def page(self, **params: Any) -> dict[str, Any]:
        response = self.raw.get(self.path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


def project_key(admin: httpx.Client) -> str:
    response = admin.post("/admin/keys", json={"project": f"pages-{secrets.token_hex(6)}"})
    response.raise_for_status()
    return str(response.json()["key"])


@pytest.fixture(scope="module")
def collections(server_url: str, admin: httpx.Client) -> Iterator[dict[str, Listing]]:
    key = project_key(admin)
    headers = {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}
    with (
        OpenAI(base_url=f"{server_url}/v1", api_key=key, max_retries=0) as client,
        httpx.Client(base_url=f"{server_url}/v1", headers=headers, timeout=30) as raw,
    ):
        thread_id = client.beta.threads.create().id
        message_ids = [
            client.beta.threads.messages.create(thread_id, role="user", content=f"m{i}").id
            for i in range(N)
        ]
        assistant_ids = [
            client.beta.assistants.create(model="gpt-4o", name=f"a{i}").id for i in range(N)
        ]
        yield {
            "messages": Listing(
                message_ids,
                f"/threads/{thread_id}/messages",
                raw,
                lambda **params: client.beta.threads.messages.list(thread_id, **params),
            ),
            "assistants": Listing(
                assistant_ids,
                "/assistants",
                raw,
                lambda **params: client.beta.assistants.list(**params),
            ),
        }


@pytest.fixture(params=["messages", "assistants"])
def listing(request: pytest.FixtureRequest, collections: dict[str, Listing]) -> Listing:
    return collections[request.param]


def ids_of(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["data"]]


def assert_envelope(page: dict[str, Any], expected_ids: list[str], has_more: bool) -> None:
    assert ids_of(page) == expected_ids
    assert page["first_id"] == (expected_ids[0] if expected_ids else None)
    assert page["last_id"] == (expected_ids[-1] if expected_ids else None)
    assert page["has_more"] is has_more


def expected_page(
    ordered: list[str], limit: int, cursor: int | None, direction: str
) -> tuple[list[str], bool]:
    """The page OpenAI returns, from the full list in the requested order: ``after`` the cursor
    walks forward, ``before`` it walks back; ``has_more`` says whether the walk can go on."""
    if cursor is None:
        return ordered[:limit], len(ordered) > limit
    if direction == "after":
        start = cursor + 1
        return ordered[start : start + limit], start + limit < len(ordered)
    start = max(0, cursor - limit)
    return ordered[start:cursor], start > 0


# --- SDK auto-pagination ------------------------------------------------------------------------


def test_sdk_auto_pagination_yields_each_object_once_newest_first(listing):
    assert [item.id for item in listing.sdk_list(limit=7)] == listing.ordered("desc")


def test_sdk_auto_pagination_in_ascending_order(listing):
    assert [item.id for item in listing.sdk_list(limit=7, order="asc")] == listing.ordered("asc")


def test_sdk_before_returns_the_preceding_page_in_requested_order(listing):
    ordered = listing.ordered("asc")

    page = listing.sdk_list(before=ordered[20], limit=5, order="asc")

    assert [item.id for item in page.data] == ordered[15:20]
    assert page.has_more is True


# --- walking by hand ----------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["desc", "asc"])
@pytest.mark.parametrize("limit", [1, 7, 9, 15, 44, 45, 100])
def test_walk_forward_with_after(listing, order, limit):
    ordered = listing.ordered(order)
    pages = math.ceil(N / limit)
    cursor: dict[str, Any] = {}

    for number in range(pages):
        page = listing.page(limit=limit, order=order, **cursor)
        is_last = number == pages - 1
        assert_envelope(page, ordered[number * limit : (number + 1) * limit], not is_last)
        cursor = {"after": page["last_id"]}

    assert_envelope(listing.page(limit=limit, order=order, **cursor), [], False)


@pytest.mark.parametrize("order", ["desc", "asc"])
@pytest.mark.parametrize("limit", [1, 9, 10])
def test_walk_backward_with_before(listing, order, limit):
    """From the end of the list back to its start: each page is the ``limit`` objects just
    before the cursor, still in the requested order; has_more is false once the start is reached."""
    ordered = listing.ordered(order)
    position = N - 1
    page = listing.page(limit=limit, order=order, after=ordered[position - 1])
    assert_envelope(page, [ordered[position]], False)
    collected = ids_of(page)

    while True:
        page = listing.page(limit=limit, order=order, before=page["first_id"])
        start = max(0, position - limit)
        assert_envelope(page, ordered[start:position], start > 0)
        collected = ids_of(page) + collected
        position = start
        if not page["has_more"]:
            break

    assert collected == ordered


def test_list_envelope_has_object_list(listing):
    page = listing.page(limit=2)

    assert set(page) == {"object", "data", "first_id", "last_id", "has_more"}
    assert page["object"] == "list"


def test_limit_boundaries(listing):
    newest = listing.ordered("desc")

    assert_envelope(listing.page(limit=1), newest[:1], True)
    assert_envelope(listing.page(limit=100), newest, False)
    assert_envelope(listing.page(), newest[:20], True)


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"limit": -1}, {"limit": "x"}])
def test_limit_out_of_range_is_rejected(listing, params):
    response = listing.raw.get(listing.path, params=params)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "limit"


def test_unknown_order_is_rejected(listing):
    response = listing.raw.get(listing.path, params={"order": "sideways"})

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "order"


def test_sdk_rejects_limit_out_of_range(listing):
    with pytest.raises(openai.BadRequestError):
        listing.sdk_list(limit=101)


# --- cursors of deleted objects -----------------------------------------------------------------


def test_deleted_message_still_works_as_a_cursor(client):
    thread_id = client.beta.threads.create().id
    ids = [
        client.beta.threads.messages.create(thread_id, role="user", content=str(i)).id
        for i in range(6)
    ]
    client.beta.threads.messages.delete(ids[2], thread_id=thread_id)

    def listed(**params: Any) -> list[str]:
        return [m.id for m in client.beta.threads.messages.list(thread_id, **params).data]

    assert listed(after=ids[2], order="asc") == ids[3:]
    assert listed(after=ids[2]) == [ids[1], ids[0]]
    assert listed(before=ids[2], order="asc") == ids[:2]
    assert listed(before=ids[2]) == ids[:2:-1]


def test_deleted_assistant_still_works_as_a_cursor(client):
    ids = [client.beta.assistants.create(model="gpt-4o").id for _ in range(5)]
    client.beta.assistants.delete(ids[1])

    page = client.beta.assistants.list(after=ids[1], order="asc")
    assert [a.id for a in page.data] == ids[2:]
    assert page.has_more is False
    assert [a.id for a in client.beta.assistants.list(after=ids[1]).data] == [ids[0]]


# --- property: any page is the matching slice of the full list ----------------------------------


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    limit=st.integers(min_value=1, max_value=N + 5),
    order=st.sampled_from(["asc", "desc"]),
    cursor=st.none() | st.integers(min_value=0, max_value=N - 1),
    direction=st.sampled_from(["after", "before"]),
)
def test_any_page_is_the_matching_slice(listing, limit, order, cursor, direction):
    ordered = listing.ordered(order)
    params: dict[str, Any] = {"limit": limit, "order": order}
    if cursor is not None:
        params[direction] = ordered[cursor]

    expected_ids, has_more = expected_page(ordered, limit, cursor, direction)

    assert_envelope(listing.page(**params), expected_ids, has_more)
