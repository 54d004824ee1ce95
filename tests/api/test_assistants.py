"""Assistants through the official SDK, as an app written against OpenAI's hosted API uses them:
create with every field, list, retrieve, modify (partial updates), delete, the limits of spec §8,
and the raw wire shape (explicit nulls, integer timestamps, the request-id header)."""

import json
from typing import Any

import openai
import pytest
from openai import OpenAI

FUNCTION_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
FILE_SEARCH_TOOL = {
    "type": "file_search",
    "file_search": {
        "max_num_results": 7,
        "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.25},
    },
}
CODE_TOOL = {"type": "code_interpreter"}

JSON_SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "weather_report",
        "schema": {
            "type": "object",
            "properties": {"summary": {"type": "string"}},
            "required": ["summary"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


def wire(value: Any) -> Any:
    """An SDK object as the JSON it was parsed from (API names, explicit nulls kept)."""
    return value.to_dict() if isinstance(value, openai.BaseModel) else value


def file_id_for(client: OpenAI) -> str:
    """A file to reference: a real upload when the server has /v1/files, else a placeholder id."""
    try:
        return client.files.create(file=("notes.txt", b"hello"), purpose="assistants").id
    except openai.NotFoundError:
        return "file-placeholder000000000001"


def vector_store_id_for(client: OpenAI) -> str:
    """A vector store to reference: a real one when the server has /v1/vector_stores."""
    try:
        return client.vector_stores.create(name="docs").id
    except openai.NotFoundError:
        return "vs_placeholder000000000001"


def full_assistant(client: OpenAI, **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "model": "gpt-4o",
        "name": "Weather bot",
        "description": "Answers questions about the weather.",
        "instructions": "You are a terse meteorologist.",
        "tools": [FUNCTION_TOOL, FILE_SEARCH_TOOL, CODE_TOOL],
        "tool_resources": {
            "code_interpreter": {"file_ids": [file_id_for(client)]},
            "file_search": {"vector_store_ids": [vector_store_id_for(client)]},
        },
        "metadata": {"team": "forecast", "tier": "gold"},
        "temperature": 0.25,
        "top_p": 0.5,
        "response_format": JSON_SCHEMA_FORMAT,
    }
    fields.update(overrides)
    return client.beta.assistants.create(**fields)


# --- create -------------------------------------------------------------------------------------


def test_create_with_every_field_echoes_them(client):
    created = full_assistant(client)
    body = wire(created)

    assert created.id.startswith("asst_")
    assert body["object"] == "assistant"
    assert type(body["created_at"]) is int
    assert body["model"] == "gpt-4o"
    assert body["name"] == "Weather bot"
    assert body["description"] == "Answers questions about the weather."
    assert body["instructions"] == "You are a terse meteorologist."
    assert body["tools"] == [FUNCTION_TOOL, FILE_SEARCH_TOOL, CODE_TOOL]
    resources = body["tool_resources"]
    assert len(resources["code_interpreter"]["file_ids"]) == 1
    assert len(resources["file_search"]["vector_store_ids"]) == 1
    assert body["metadata"] == {"team": "forecast", "tier": "gold"}
    assert body["temperature"] == 0.25
    assert body["top_p"] == 0.5
    assert body["response_format"] == JSON_SCHEMA_FORMAT

    assert wire(client.beta.assistants.retrieve(created.id)) == body


def test_create_with_only_model_fills_openai_defaults(client, http):
    created = client.beta.assistants.create(model="gpt-4o-mini")
    body = http.get(f"/assistants/{created.id}").json()

    assert body["model"] == "gpt-4o-mini"
    assert body["name"] is None
    assert body["description"] is None
    assert body["instructions"] is None
    assert body["tools"] == []
    assert body["tool_resources"] == {}
    assert body["metadata"] == {}
    assert body["temperature"] == 1.0
    assert body["top_p"] == 1.0
    assert body["response_format"] == "auto"


@pytest.mark.parametrize(
    "response_format",
    ["auto", {"type": "text"}, {"type": "json_object"}, JSON_SCHEMA_FORMAT],
    ids=["auto", "text", "json_object", "json_schema"],
)
def test_response_format_round_trips(client, response_format):
    created = client.beta.assistants.create(model="gpt-4o", response_format=response_format)

    assert wire(created.response_format) == response_format
    assert wire(client.beta.assistants.retrieve(created.id).response_format) == response_format


def test_file_search_tool_without_settings_gets_default_ranking(client):
    created = client.beta.assistants.create(model="gpt-4o", tools=[{"type": "file_search"}])

    (tool,) = wire(created)["tools"]
    assert tool["type"] == "file_search"
    assert tool["file_search"]["ranking_options"]["score_threshold"] == 0.0


def test_function_tool_strict_defaults_to_false(client):
    tool = {"type": "function", "function": {"name": "ping"}}
    created = client.beta.assistants.create(model="gpt-4o", tools=[tool])

    assert wire(created)["tools"][0]["function"]["name"] == "ping"
    assert created.tools[0].function.strict is False


def test_reasoning_effort_round_trips(client, http):
    # Not in the spec's AssistantObject, but accepted on create/modify: an app expects it back.
    created = client.beta.assistants.create(model="o3-mini", reasoning_effort="high")
    assert http.get(f"/assistants/{created.id}").json()["reasoning_effort"] == "high"

    client.beta.assistants.update(created.id, reasoning_effort="low")
    assert http.get(f"/assistants/{created.id}").json()["reasoning_effort"] == "low"


# --- list / retrieve ----------------------------------------------------------------------------


def test_list_defaults_to_newest_first(client):
    ids = [client.beta.assistants.create(model="gpt-4o", name=f"a{i}").id for i in range(3)]

    page = client.beta.assistants.list()
    assert [a.id for a in page.data] == ids[::-1]
    assert page.has_more is False


def test_list_limit_and_order(client):
    ids = [client.beta.assistants.create(model="gpt-4o").id for _ in range(3)]

    newest_two = client.beta.assistants.list(limit=2)
    assert [a.id for a in newest_two.data] == ids[:0:-1]
    assert newest_two.has_more is True

    oldest_first = client.beta.assistants.list(order="asc")
    assert [a.id for a in oldest_first.data] == ids


def test_list_items_are_full_assistants(client):
    created = full_assistant(client)

    (listed,) = client.beta.assistants.list().data
    assert wire(listed) == wire(created)


def test_retrieve_unknown_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.assistants.retrieve("asst_doesnotexist")
    assert caught.value.status_code == 404
    assert caught.value.body["type"] == "invalid_request_error"


def test_assistants_are_isolated_between_projects(client, other_client):
    created = client.beta.assistants.create(model="gpt-4o")

    assert other_client.beta.assistants.list().data == []
    with pytest.raises(openai.NotFoundError):
        other_client.beta.assistants.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        other_client.beta.assistants.update(created.id, name="stolen")
    with pytest.raises(openai.NotFoundError):
        other_client.beta.assistants.delete(created.id)
    assert client.beta.assistants.retrieve(created.id).name is None


# --- modify -------------------------------------------------------------------------------------


def test_modify_changes_only_the_fields_sent(client):
    before = wire(full_assistant(client))

    after = wire(client.beta.assistants.update(before["id"], name="Renamed"))

    assert after == {**before, "name": "Renamed"}
    assert wire(client.beta.assistants.retrieve(before["id"])) == after


def test_modify_every_field(client):
    created = full_assistant(client)

    updated = client.beta.assistants.update(
        created.id,
        model="gpt-4o-mini",
        name="New name",
        description="New description",
        instructions="New instructions",
        tools=[CODE_TOOL],
        tool_resources={"code_interpreter": {"file_ids": []}},
        metadata={"v": "2"},
        temperature=1.5,
        top_p=0.1,
        response_format={"type": "json_object"},
    )
    body = wire(updated)

    assert body["model"] == "gpt-4o-mini"
    assert body["name"] == "New name"
    assert body["description"] == "New description"
    assert body["instructions"] == "New instructions"
    assert body["tools"] == [CODE_TOOL]
    assert body["tool_resources"]["code_interpreter"] == {"file_ids": []}
    assert body["metadata"] == {"v": "2"}
    assert body["temperature"] == 1.5
    assert body["top_p"] == 0.1
    assert body["response_format"] == {"type": "json_object"}
    assert body["id"] == created.id
    assert body["created_at"] == created.created_at


def test_modify_explicit_null_keeps_the_value(client, http):
    created = full_assistant(client)
    before = http.get(f"/assistants/{created.id}").json()

    client.beta.assistants.update(
        created.id, name=None, description=None, instructions=None, temperature=None, top_p=None
    )

    # As OpenAI: null is "not given" (clients that send every field send null for the rest).
    assert http.get(f"/assistants/{created.id}").json() == before


def test_modify_with_empty_values_clears(client, http):
    created = full_assistant(client)

    client.beta.assistants.update(
        created.id, description="", instructions="", tools=[], metadata={}
    )
    body = http.get(f"/assistants/{created.id}").json()

    assert body["description"] == ""
    assert body["instructions"] == ""
    assert body["tools"] == []
    assert body["metadata"] == {}
    assert body["model"] == "gpt-4o"


def test_modify_replaces_metadata_and_tools(client):
    created = full_assistant(client)

    updated = client.beta.assistants.update(
        created.id, metadata={"only": "this"}, tools=[FUNCTION_TOOL]
    )

    assert updated.metadata == {"only": "this"}
    assert wire(updated)["tools"] == [FUNCTION_TOOL]


def test_modify_with_empty_body_changes_nothing(client):
    created = wire(full_assistant(client))

    assert wire(client.beta.assistants.update(created["id"])) == created


def test_modify_unknown_is_not_found(client):
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.update("asst_doesnotexist", name="x")


# --- delete -------------------------------------------------------------------------------------


def test_delete_then_retrieve_and_delete_again_are_not_found(client):
    created = client.beta.assistants.create(model="gpt-4o")

    deleted = client.beta.assistants.delete(created.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (
        created.id,
        "assistant.deleted",
        True,
    )

    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.retrieve(created.id)
    with pytest.raises(openai.NotFoundError) as again:
        client.beta.assistants.delete(created.id)
    assert again.value.status_code == 404
    assert client.beta.assistants.list().data == []


# --- limits (spec §8): accepted at the limit, rejected one past it -------------------------------


def file_search_tool(**settings: Any) -> dict[str, Any]:
    return {"type": "file_search", "file_search": settings}


LIMIT_CASES = {
    "name": ({"name": "n" * 256}, {"name": "n" * 257}),
    "description": ({"description": "d" * 512}, {"description": "d" * 513}),
    "instructions": ({"instructions": "i" * 256_000}, {"instructions": "i" * 256_001}),
    "metadata pairs": (
        {"metadata": {f"k{i}": "v" for i in range(16)}},
        {"metadata": {f"k{i}": "v" for i in range(17)}},
    ),
    "metadata key": ({"metadata": {"k" * 64: "v"}}, {"metadata": {"k" * 65: "v"}}),
    "metadata value": ({"metadata": {"k": "v" * 512}}, {"metadata": {"k": "v" * 513}}),
    "temperature": ({"temperature": 2}, {"temperature": 2.01}),
    "top_p": ({"top_p": 1}, {"top_p": 1.01}),
    "tools": ({"tools": [CODE_TOOL] * 128}, {"tools": [CODE_TOOL] * 129}),
    "max_num_results": (
        {"tools": [file_search_tool(max_num_results=50)]},
        {"tools": [file_search_tool(max_num_results=51)]},
    ),
    "score_threshold": (
        {"tools": [file_search_tool(ranking_options={"score_threshold": 1})]},
        {"tools": [file_search_tool(ranking_options={"score_threshold": 1.5})]},
    ),
    "function name": (
        {"tools": [{"type": "function", "function": {"name": "f" * 64}}]},
        {"tools": [{"type": "function", "function": {"name": "bad name!"}}]},
    ),
    "code_interpreter file_ids": (
        {"tool_resources": {"code_interpreter": {"file_ids": ["{file}"] * 20}}},
        {"tool_resources": {"code_interpreter": {"file_ids": [f"file-{i}" for i in range(21)]}}},
    ),
    "vector_store_ids": (
        {"tool_resources": {"file_search": {"vector_store_ids": ["{vector_store}"]}}},
        {"tool_resources": {"file_search": {"vector_store_ids": ["vs_a", "vs_b"]}}},
    ),
}


def with_references(client: OpenAI, fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with ``"{file}"`` / ``"{vector_store}"`` replaced by real ids (references
    must name the project's own files and stores)."""
    text = json.dumps(fields)
    if "{file}" in text:
        text = text.replace("{file}", file_id_for(client))
    if "{vector_store}" in text:
        text = text.replace("{vector_store}", vector_store_id_for(client))
    return json.loads(text)  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", LIMIT_CASES.values(), ids=LIMIT_CASES.keys())
def test_limits_on_create(client, case):
    at_limit, over_limit = case
    client.beta.assistants.create(model="gpt-4o", **with_references(client, at_limit))

    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.assistants.create(model="gpt-4o", **over_limit)
    assert caught.value.body["type"] == "invalid_request_error"


def test_limits_apply_to_modify(client):
    created = client.beta.assistants.create(model="gpt-4o", name="kept")

    with pytest.raises(openai.BadRequestError):
        client.beta.assistants.update(created.id, name="n" * 257)
    assert client.beta.assistants.retrieve(created.id).name == "kept"


def test_create_without_model_is_rejected(http):
    response = http.post("/assistants", json={"name": "no model"})

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "model"


INVALID_FIELDS = {
    "unknown tool type": {"tools": [{"type": "web_browser"}]},
    "function without name": {"tools": [{"type": "function", "function": {}}]},
    "unknown ranker": {"tools": [file_search_tool(ranking_options={"ranker": "best"})]},
    "response_format type": {"response_format": {"type": "yaml"}},
    "json_schema without name": {"response_format": {"type": "json_schema", "json_schema": {}}},
    "reasoning_effort": {"reasoning_effort": "extreme"},
    "metadata value type": {"metadata": {"count": 3}},
    "temperature type": {"temperature": "hot"},
}


@pytest.mark.parametrize("fields", INVALID_FIELDS.values(), ids=INVALID_FIELDS.keys())
def test_invalid_fields_are_rejected(http, fields):
    response = http.post("/assistants", json={"model": "gpt-4o", **fields})

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert http.get("/assistants").json()["data"] == []


def test_unrecognized_argument_is_rejected(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.assistants.create(model="gpt-4o", extra_body={"colour": "blue"})
    assert caught.value.body["param"] == "colour"


# --- wire shape ---------------------------------------------------------------------------------


def test_wire_shape_has_explicit_nulls_and_int_timestamps(http):
    response = http.post("/assistants", json={"model": "gpt-4o"})
    assert response.status_code == 200
    assert response.headers["x-threadline-request-id"]
    body = response.json()

    for key in ("name", "description", "instructions"):
        assert key in body
        assert body[key] is None
    assert type(body["created_at"]) is int

    listed = http.get("/assistants").json()
    assert listed["object"] == "list"
    assert listed["first_id"] == listed["last_id"] == body["id"]
    assert listed["has_more"] is False
    assert listed["data"] == [body]


def test_wire_delete_shape(http):
    created = http.post("/assistants", json={"model": "gpt-4o"}).json()

    response = http.delete(f"/assistants/{created['id']}")

    assert response.json() == {"id": created["id"], "object": "assistant.deleted", "deleted": True}
    missing = http.get(f"/assistants/{created['id']}")
    assert missing.status_code == 404
    assert missing.headers["x-threadline-request-id"]
    assert set(missing.json()["error"]) == {"message", "type", "param", "code"}
