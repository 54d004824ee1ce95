"""Documented limits, at the boundary and one past it.

The boundary value is accepted (200) and echoed; one past it is a 400 ``invalid_request_error``
whose ``param`` names the field. Bodies are raw JSON so the SDK's typing doesn't get in the way.
"""

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import new_project_key

REQUEST_ID = "x-threadline-request-id"


def invalid(response: httpx.Response, param: str) -> dict[str, Any]:
    """A 400 ``invalid_request_error`` in OpenAI's shape whose ``param`` names ``param`` (dotted
    or bracketed indices; a dotted path below it also names it)."""
    assert response.status_code == 400, response.text[:500]
    assert response.headers.get(REQUEST_ID)
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["type"] == "invalid_request_error"
    got = re.sub(r"\[(\d+)\]", r".\1", error["param"] or "")
    assert got == param or got.startswith(param + "."), error
    return error  # type: ignore[no-any-return]


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text[:500]
    return response.json()  # type: ignore[no-any-return]


# --- targets: every body that carries the field under test ------------------------------------

BASES: dict[str, tuple[str, dict[str, Any]]] = {
    "assistant.create": ("/assistants", {"model": "gpt-4o"}),
    "assistant.modify": ("/assistants/{assistant}", {}),
    "thread.create": ("/threads", {}),
    "thread.modify": ("/threads/{thread}", {}),
    "message.create": ("/threads/{thread}/messages", {"role": "user", "content": "hi"}),
    "message.modify": ("/threads/{thread}/messages/{message}", {}),
}
ASSISTANT = ["assistant.create", "assistant.modify"]
THREAD = ["thread.create", "thread.modify"]
MESSAGE = ["message.create"]


@pytest.fixture(scope="module")
def http(server_url: str, admin: httpx.Client) -> Iterator[httpx.Client]:
    """One project for the whole module: these tests only look at their own responses."""
    with httpx.Client(
        base_url=f"{server_url}/v1",
        headers={"Authorization": f"Bearer {new_project_key(admin)}"},
        timeout=60,
    ) as raw:
        yield raw


@pytest.fixture(scope="module")
def objects(http: httpx.Client) -> dict[str, str]:
    assistant = ok(http.post("/assistants", json={"model": "gpt-4o"}))["id"]
    thread = ok(http.post("/threads", json={}))["id"]
    message = ok(http.post(f"/threads/{thread}/messages", json={"role": "user", "content": "x"}))
    return {"assistant": assistant, "thread": thread, "message": message["id"]}


@pytest.fixture(scope="module")
def references(http: httpx.Client) -> dict[str, str]:
    """Files and a vector store of the module's project, for fields that must reference real
    ones: ``"{file:3}"`` and ``"{vector_store}"`` in a body stand for them."""
    found = {
        f"{{file:{i}}}": ok(
            http.post("/files", files={"file": (f"f{i}.txt", b"x")}, data={"purpose": "assistants"})
        )["id"]
        for i in range(20)
    }
    found["{vector_store}"] = ok(http.post("/vector_stores", json={}))["id"]
    return found


def fill(value: Any, references: dict[str, str]) -> Any:
    """``value`` with its reference placeholders replaced by real ids."""
    if isinstance(value, dict):
        return {key: fill(item, references) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, references) for item in value]
    return references.get(value, value) if isinstance(value, str) else value


@pytest.fixture
def post(request: pytest.FixtureRequest, http: httpx.Client):
    """``post(target, fields)``: the target's minimal body plus ``fields`` (placeholders for
    references filled in)."""

    def _post(target: str, fields: dict[str, Any]) -> httpx.Response:
        path, base = BASES[target]
        if "{" in path:
            path = path.format(**request.getfixturevalue("objects"))
        if "{" in str(fields):
            fields = fill(fields, request.getfixturevalue("references"))
        return http.post(path, json={**base, **fields})

    return _post


# --- metadata: every object that has it -------------------------------------------------------

METADATA_OK = {
    "16-pairs": {f"k{i}": "v" for i in range(16)},
    "key-64": {"k" * 64: "v"},
    "value-512": {"k": "v" * 512},
    "value-512-non-ascii": {"k": "é" * 512},
    "empty": {},
}
METADATA_BAD = {
    "17-pairs": {f"k{i}": "v" for i in range(17)},
    "key-65": {"k" * 65: "v"},
    "value-513": {"k": "v" * 513},
    "value-int": {"k": 1},
    "value-float": {"k": 1.5},
    "value-bool": {"k": True},
    "value-object": {"k": {"a": "b"}},
    "value-array": {"k": ["x"]},
}
METADATA_TARGETS = [*BASES, "thread.create.messages"]


def metadata_body(target: str, metadata: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    if target == "thread.create.messages":
        message = {"role": "user", "content": "hi", "metadata": metadata}
        return "thread.create", {"messages": [message]}, "messages.0.metadata"
    return target, {"metadata": metadata}, "metadata"


@pytest.mark.parametrize("target", METADATA_TARGETS)
@pytest.mark.parametrize("metadata", METADATA_OK.values(), ids=METADATA_OK.keys())
def test_metadata_at_the_limit_is_accepted(post, target: str, metadata: dict[str, Any]):
    target, body, _ = metadata_body(target, metadata)
    created = ok(post(target, body))
    if "metadata" in body:
        assert created["metadata"] == metadata


@pytest.mark.parametrize("target", METADATA_TARGETS)
@pytest.mark.parametrize("metadata", METADATA_BAD.values(), ids=METADATA_BAD.keys())
def test_metadata_past_the_limit_is_400(post, target: str, metadata: dict[str, Any]):
    target, body, param = metadata_body(target, metadata)
    invalid(post(target, body), param)


# --- assistant fields, on create and on modify ------------------------------------------------


def function(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}


def file_search(**settings: Any) -> dict[str, Any]:
    return {"type": "file_search", "file_search": settings}


ECHOED = ("name", "description", "instructions", "temperature", "top_p")

ASSISTANT_OK = {
    "name-256": {"name": "n" * 256},
    "name-256-non-ascii": {"name": "é" * 256},
    "description-512": {"description": "d" * 512},
    "instructions-256000": {"instructions": "i" * 256_000},
    "instructions-256000-non-ascii": {"instructions": "é" * 256_000},
    "tools-128": {"tools": [function(f"f{i}") for i in range(128)]},
    "function-name-64": {"tools": [function("a" * 64)]},
    "function-name-charset": {"tools": [function("Az09_-")]},
    "code-interpreter-file-ids-20": {
        "tools": [{"type": "code_interpreter"}],
        "tool_resources": {"code_interpreter": {"file_ids": [f"{{file:{i}}}" for i in range(20)]}},
    },
    "vector-store-ids-1": {
        "tool_resources": {"file_search": {"vector_store_ids": ["{vector_store}"]}}
    },
    "max-num-results-1": {"tools": [file_search(max_num_results=1)]},
    "max-num-results-50": {"tools": [file_search(max_num_results=50)]},
    "score-threshold-0": {"tools": [file_search(ranking_options={"score_threshold": 0})]},
    "score-threshold-1": {"tools": [file_search(ranking_options={"score_threshold": 1})]},
    "temperature-0": {"temperature": 0},
    "temperature-2": {"temperature": 2},
    "temperature-2.0": {"temperature": 2.0},
    "top-p-0": {"top_p": 0},
    "top-p-1": {"top_p": 1},
}

ASSISTANT_BAD = {
    "name-257": ({"name": "n" * 257}, "name"),
    "description-513": ({"description": "d" * 513}, "description"),
    "instructions-256001": ({"instructions": "i" * 256_001}, "instructions"),
    "tools-129": ({"tools": [function(f"f{i}") for i in range(129)]}, "tools"),
    "function-name-65": ({"tools": [function("a" * 65)]}, "tools.0.function.name"),
    "function-name-space": ({"tools": [function("bad name")]}, "tools.0.function.name"),
    "function-name-empty": ({"tools": [function("")]}, "tools.0.function.name"),
    "function-name-dot": ({"tools": [function("a.b")]}, "tools.0.function.name"),
    "function-name-non-ascii": ({"tools": [function("é")]}, "tools.0.function.name"),
    "function-name-second-tool": (
        {"tools": [function("fine"), function("not fine")]},
        "tools.1.function.name",
    ),
    "code-interpreter-file-ids-21": (
        {"tool_resources": {"code_interpreter": {"file_ids": [f"file-{i}" for i in range(21)]}}},
        "tool_resources.code_interpreter.file_ids",
    ),
    "vector-store-ids-2": (
        {"tool_resources": {"file_search": {"vector_store_ids": ["vs_1", "vs_2"]}}},
        "tool_resources.file_search.vector_store_ids",
    ),
    "max-num-results-0": (
        {"tools": [file_search(max_num_results=0)]},
        "tools.0.file_search.max_num_results",
    ),
    "max-num-results-51": (
        {"tools": [file_search(max_num_results=51)]},
        "tools.0.file_search.max_num_results",
    ),
    "score-threshold-negative": (
        {"tools": [file_search(ranking_options={"score_threshold": -0.1})]},
        "tools.0.file_search.ranking_options.score_threshold",
    ),
    "score-threshold-1.1": (
        {"tools": [file_search(ranking_options={"score_threshold": 1.1})]},
        "tools.0.file_search.ranking_options.score_threshold",
    ),
    "temperature-2.01": ({"temperature": 2.01}, "temperature"),
    "temperature-negative": ({"temperature": -0.1}, "temperature"),
    "top-p-1.01": ({"top_p": 1.01}, "top_p"),
    "top-p-negative": ({"top_p": -0.1}, "top_p"),
    "tool-type-unknown": ({"tools": [{"type": "browser"}]}, "tools.0"),
}


@pytest.mark.parametrize("target", ASSISTANT)
@pytest.mark.parametrize("fields", ASSISTANT_OK.values(), ids=ASSISTANT_OK.keys())
def test_assistant_field_at_the_limit_is_accepted(
    request, post, target: str, fields: dict[str, Any]
):
    assistant = ok(post(target, fields))
    for name in ECHOED:
        if name in fields:
            assert assistant[name] == fields[name]
    if "tools" in fields:
        assert len(assistant["tools"]) == len(fields["tools"])
    if "tool_resources" in fields:
        expected = fill(fields["tool_resources"], request.getfixturevalue("references"))
        assert assistant["tool_resources"] == expected


@pytest.mark.parametrize("target", ASSISTANT)
@pytest.mark.parametrize(("fields", "param"), ASSISTANT_BAD.values(), ids=ASSISTANT_BAD.keys())
def test_assistant_field_past_the_limit_is_400(post, target: str, fields: dict[str, Any], param):
    invalid(post(target, fields), param)


def test_param_uses_openai_index_notation(http: httpx.Client):
    """OpenAI names a list element ``tools[0].function.name``, as it does in
    ``messages[9].tool_calls[0].function.name``."""
    response = http.post("/assistants", json={"model": "gpt-4o", "tools": [function("a b")]})
    assert invalid(response, "tools.0.function.name")["param"] == "tools[0].function.name"


# --- thread tool_resources --------------------------------------------------------------------


@pytest.mark.parametrize("target", THREAD)
@pytest.mark.parametrize(
    ("resources", "accepted", "param"),
    [
        ({"code_interpreter": {"file_ids": [f"{{file:{i}}}" for i in range(20)]}}, True, None),
        (
            {"code_interpreter": {"file_ids": [f"file-{i}" for i in range(21)]}},
            False,
            "tool_resources.code_interpreter.file_ids",
        ),
        ({"file_search": {"vector_store_ids": ["{vector_store}"]}}, True, None),
        (
            {"file_search": {"vector_store_ids": ["vs_1", "vs_2"]}},
            False,
            "tool_resources.file_search.vector_store_ids",
        ),
    ],
    ids=["file-ids-20", "file-ids-21", "vector-store-ids-1", "vector-store-ids-2"],
)
def test_thread_tool_resources_limits(request, post, target, resources, accepted: bool, param):
    response = post(target, {"tool_resources": resources})
    if accepted:
        expected = fill(resources, request.getfixturevalue("references"))
        assert ok(response)["tool_resources"] == expected
    else:
        invalid(response, param)


# --- messages ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["user", "assistant"])
def test_message_roles_user_and_assistant_are_accepted(post, role: str):
    assert ok(post("message.create", {"role": role}))["role"] == role


@pytest.mark.parametrize("role", ["system", "tool", "developer", "function", "USER", ""])
def test_other_message_roles_are_400(post, role: str):
    invalid(post("message.create", {"role": role}), "role")


@pytest.mark.parametrize(
    ("content", "param"),
    [
        ([], "content"),
        ([{"type": "text"}], "content.0"),
        ([{"type": "video", "video": {}}], "content.0"),
        (
            [{"type": "image_file", "image_file": {"file_id": "file-1", "detail": "max"}}],
            "content.0",
        ),
        ([{"type": "image_url", "image_url": {"url": ""}}], "content.0"),
    ],
    ids=["empty-array", "text-without-text", "unknown-part", "bad-detail", "empty-url"],
)
def test_bad_message_content_is_400(post, content: Any, param: str):
    invalid(post("message.create", {"content": content}), param)


def test_message_content_with_one_part_is_accepted(post):
    message = ok(post("message.create", {"content": [{"type": "text", "text": "one"}]}))
    assert message["content"][0]["text"]["value"] == "one"


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ({"role": "system", "content": "x"}, "messages.0.role"),
        ({"role": "user", "content": []}, "messages.0.content"),
    ],
    ids=["role-system", "content-empty-array"],
)
def test_thread_create_message_limits(post, message: dict[str, Any], param: str):
    invalid(post("thread.create", {"messages": [message]}), param)


# --- list parameters --------------------------------------------------------------------------

LISTS = ["/assistants", "/threads/{thread}/messages"]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("limit", ["1", "20", "100"])
def test_list_limit_in_range_is_accepted(http, objects, path: str, limit: str):
    page = ok(http.get(path.format(**objects), params={"limit": limit}))
    assert page["object"] == "list"
    assert len(page["data"]) <= int(limit)


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", "1e2"])
def test_list_limit_out_of_range_is_400(http, objects, path: str, limit: str):
    invalid(http.get(path.format(**objects), params={"limit": limit}), "limit")


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_list_order_asc_and_desc_are_accepted(http, objects, path: str, order: str):
    assert ok(http.get(path.format(**objects), params={"order": order}))["object"] == "list"


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("order", ["sideways", "ascending", "1"])
def test_list_order_other_values_are_400(http, objects, path: str, order: str):
    invalid(http.get(path.format(**objects), params={"order": order}), "order")
