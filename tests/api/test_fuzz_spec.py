"""Property-based fuzzing against OpenAI's official OpenAPI spec.

schemathesis generates requests (valid and invalid) for every implemented operation of
``openai-openapi.yaml`` and sends them to a real server, on SQLite and on PostgreSQL. Every
response must:

- never be a 5xx, and always be ``application/json``;
- if 2xx, match the operation's response schema in the spec;
- otherwise be 400/401/404/405/413 with exactly OpenAI's error envelope
  ``{"error": {"message", "type", "param", "code"}}``.

``status_code_conformance`` is not run: the spec declares only ``200`` (and ``429``).

Most cases have their path ids replaced by objects created for that very example, so generated
bodies and queries reach the handlers; the rest keep schemathesis' random ids (a clean 404).
Generation is derandomized, so a failure reproduces on every run and in CI.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode, Response
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.upstream import DEFAULT_MODEL

# The operations Threadline implements today, as regexes over the spec's paths (without ``/v1``).
# Widen these as runs land.
INCLUDED_PATHS = r"^/(assistants|threads|files|vector_stores|responses|conversations)(/|$|\?)"
# Runs; Responses' compaction (not served); the spec's ``?beta=true`` copies of the Responses
# operations (the same routes again).
EXCLUDED_PATHS = r"^/threads/(runs|\{thread_id\}/runs)(/|$)|^/responses/compact|\?beta=true$"

SPEC_PATH = Path(
    os.environ.get(
        "THREADLINE_OPENAI_SPEC",
        Path(__file__).resolve().parents[3] / "shared" / "openai-openapi.yaml",
    )
)
MAX_EXAMPLES = 25
ALLOWED_ERROR_STATUSES = frozenset({400, 401, 404, 405, 413})
ERROR_KEYS = frozenset({"message", "type", "param", "code"})
BETA_HEADER = {"OpenAI-Beta": "assistants=v2"}
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    # One shrunk failure per operation keeps the report readable; the loop covers the rest.
    report_multiple_bugs=False,
    phases=[Phase.generate, Phase.shrink],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
SCHEMATHESIS_CONFIG = {
    "generation": {
        # The key is fixed per test; fuzzing ``Authorization`` would only ever reach the 401 path.
        "with-security-parameters": False,
        # NUL in a string is one fixed 400 (test_errors.py covers it); allowing it here spends a
        # large share of the budget on that one branch instead of on the handlers.
        "allow-x00": False,
    }
}


# The Responses and Conversations APIs' cursor lists (named unlike the Assistants API's).
ITEM_LISTS = frozenset({"ConversationItemList", "ResponseItemList"})


def patch_spec_quirks(raw: dict[str, Any]) -> dict[str, Any]:
    """Corrects the spec where it contradicts what OpenAI itself sends.

    The cursor-list envelopes declare ``first_id``/``last_id`` as required strings, but an empty
    page has no first or last object, so OpenAI (and Threadline) send ``null`` there. A file may
    be uploaded with ``purpose: "evals"`` (``CreateFileRequest``), which the file object's
    ``purpose`` enum leaves out. The item unions (``ConversationItem``, ``ItemResource``)
    declare a ``type`` discriminator without a mapping, so its values are read as schema names
    (``Message``) and ``"type": "message"`` matches none: the ``oneOf`` alone decides. A
    response's ``user`` is ``null`` when none was given, as OpenAI sends it. Only what a
    response is checked against is touched (``user`` may also be generated as ``null`` in a
    request now, which a server must answer without a 5xx anyway)."""
    schemas = raw["components"]["schemas"]
    for name, schema in schemas.items():
        if (name.startswith("List") and name.endswith("Response")) or name in ITEM_LISTS:
            for key in ("first_id", "last_id"):
                if key in schema.get("properties", {}):
                    schema["properties"][key] = {"type": ["string", "null"]}
    schemas["OpenAIFile"]["properties"]["purpose"]["enum"].append("evals")
    for name in ("ConversationItem", "ItemResource"):
        schemas[name].pop("discriminator", None)
    user = schemas["ModelResponseProperties"]["properties"]["user"]
    user["type"] = ["string", "null"]
    return raw


@cache
def fuzzed_schema() -> schemathesis.BaseSchema:
    """The spec, filtered to the implemented operations; parsed once per session (~1.5 s)."""
    with SPEC_PATH.open(encoding="utf-8") as file:
        raw = yaml.load(file, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    config = schemathesis.Config.from_dict(SCHEMATHESIS_CONFIG)
    schema = schemathesis.openapi.from_dict(patch_spec_quirks(raw), config=config)
    return schema.include(path_regex=INCLUDED_PATHS).exclude(path_regex=EXCLUDED_PATHS)


def fuzzed_operations() -> list[APIOperation]:
    return [result.ok() for result in fuzzed_schema().get_all_operations()]


# Seeds use many optional fields, so 2xx responses exercise more of the response schemas.
SEED_ASSISTANT: dict[str, Any] = {
    "model": DEFAULT_MODEL,
    "name": "seed",
    "instructions": "Be brief.",
    "tools": [
        {"type": "code_interpreter"},
        {"type": "file_search"},
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Look a word up.",
                "parameters": {"type": "object", "properties": {"word": {"type": "string"}}},
            },
        },
    ],
    "metadata": {"seed": "1"},
    "temperature": 0.5,
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": False},
    },
}
SEED_THREAD: dict[str, Any] = {"metadata": {"seed": "1"}}
SEED_MESSAGE: dict[str, Any] = {"role": "user", "content": "seed", "metadata": {"seed": "1"}}
SEED_RESPONSE: dict[str, Any] = {
    "model": DEFAULT_MODEL,
    "input": "seed",
    "instructions": "Be brief.",
    "metadata": {"seed": "1"},
}
SEED_CONVERSATION: dict[str, Any] = {
    "metadata": {"seed": "1"},
    "items": [{"type": "message", "role": "user", "content": "seed"}],
}
SEED_FILE = ("seed.md", b"# Seed\nA short document about seeds and how they sprout.")
# Raw bytes, not JSON: its 2xx responses are checked for status and type only.
DOWNLOAD = "GET /files/{file_id}/content"
# With ``stream: true`` its 2xx answer is an event stream, not the JSON the spec describes.
CREATE_RESPONSE = "POST /responses"


@dataclass
class Seeder:
    """Creates, for one example, the objects its path ids point at."""

    api: httpx.Client

    def create(self, path: str, body: dict[str, Any]) -> str:
        response = self.api.post(path, json=body)
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def upload(self) -> str:
        response = self.api.post(
            "/files", files={"file": SEED_FILE}, data={"purpose": "assistants"}
        )
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def path_parameters(self, names: set[str]) -> dict[str, str]:
        ids: dict[str, str] = {}
        if "file_id" in names:
            ids["file_id"] = self.upload()
        if "vector_store_id" in names:
            # With the file in it (and in a batch), so its files, batches and search return
            # objects to validate.
            ids["vector_store_id"] = self.create(
                "/vector_stores", {"name": "seed", "metadata": {"seed": "1"}}
            )
            file_id = ids.get("file_id") or self.upload()
            batch = self.create(
                f"/vector_stores/{ids['vector_store_id']}/file_batches",
                {"file_ids": [file_id], "attributes": {"seed": 1}},
            )
            if "batch_id" in names:
                ids["batch_id"] = batch
        if "assistant_id" in names:
            ids["assistant_id"] = self.create("/assistants", SEED_ASSISTANT)
        if "response_id" in names:
            ids["response_id"] = self.create("/responses", SEED_RESPONSE)
        if "conversation_id" in names:
            ids["conversation_id"] = self.create("/conversations", SEED_CONVERSATION)
            if "item_id" in names:
                items = self.api.get(f"/conversations/{ids['conversation_id']}/items")
                ids["item_id"] = str(items.json()["data"][0]["id"])
        if "thread_id" in names:
            # Always with a message, so that listing messages returns objects to validate.
            ids["thread_id"] = self.create("/threads", SEED_THREAD)
            message_id = self.create(f"/threads/{ids['thread_id']}/messages", SEED_MESSAGE)
            if "message_id" in names:
                ids["message_id"] = message_id
        return ids


def error_shape_problem(response: Response) -> str | None:
    """Why a non-2xx response is not an allowed status with OpenAI's error envelope, if it isn't."""
    if response.status_code not in ALLOWED_ERROR_STATUSES:
        return f"status {response.status_code} is not one of {sorted(ALLOWED_ERROR_STATUSES)}"
    try:
        body = response.json()
    except ValueError:
        return "the body is not JSON"
    if not isinstance(body, dict) or set(body) != {"error"}:
        return "the body is not {'error': {...}}"
    error = body["error"]
    if not isinstance(error, dict) or set(error) != ERROR_KEYS:
        return f"the error object's keys are not {sorted(ERROR_KEYS)}"
    if not (isinstance(error["message"], str) and error["message"]):
        return "error.message is not a non-empty string"
    if not (isinstance(error["type"], str) and error["type"]):
        return "error.type is not a non-empty string"
    if not all(error[key] is None or isinstance(error[key], str) for key in ("param", "code")):
        return "error.param / error.code are neither null nor strings"
    return None


def describe(response: Response) -> str:
    request = response.request
    body = (
        request.body.decode(errors="replace") if isinstance(request.body, bytes) else request.body
    )
    return (
        f"{request.method} {request.url}\n  body: {body}\n"
        f"  -> {response.status_code} {response.text_lossy[:1000]}"
    )


def check_response(case: Case, response: Response) -> None:
    assert response.status_code < 500, f"server error\n{describe(response)}"
    content_type = ",".join(response.headers.get("content-type", []))
    if case.operation.label == DOWNLOAD and response.status_code == 200:
        assert content_type, f"no content type\n{describe(response)}"
        return
    if case.operation.label == CREATE_RESPONSE and content_type.startswith("text/event-stream"):
        assert response.status_code == 200, describe(response)
        return
    assert content_type.startswith("application/json"), (
        f"content type {content_type!r}\n{describe(response)}"
    )
    if 200 <= response.status_code < 300:
        try:
            case.validate_response(response, checks=[response_schema_conformance])
        except BaseExceptionGroup as group:
            # schemathesis' FailureGroup is not an Exception; its message holds the whole report.
            raise AssertionError(group.message) from None
    else:
        problem = error_shape_problem(response)
        assert problem is None, f"{problem}\n{describe(response)}"


@dataclass
class Target:
    base_url: str
    headers: dict[str, str]
    session: requests.Session
    seeder: Seeder


def fuzz_operation(operation: APIOperation, target: Target) -> None:
    names = {parameter.name for parameter in operation.path_parameters}
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE, headers=target.headers),
        operation.as_strategy(GenerationMode.NEGATIVE, headers=target.headers),
    )
    # About three cases in four get real ids; shrinking heads for a real id (n = 0).
    real_ids = st.integers(min_value=0, max_value=3).map(lambda n: n < 3)

    @FUZZ_SETTINGS
    @given(case=cases, use_real_ids=real_ids)
    def run(case: Case, use_real_ids: bool) -> None:
        if names and use_real_ids:
            case.path_parameters = {**case.path_parameters, **target.seeder.path_parameters(names)}
        response = case.call(
            base_url=target.base_url, session=target.session, headers=target.headers
        )
        check_response(case, response)

    run()


@pytest.fixture
def target(server_url: str, api_key: str) -> Iterator[Target]:
    if not SPEC_PATH.exists():
        pytest.skip(f"OpenAI spec not found at {SPEC_PATH} (set THREADLINE_OPENAI_SPEC)")
    headers = {"Authorization": f"Bearer {api_key}", **BETA_HEADER}
    base_url = f"{server_url}/v1"
    with (
        requests.Session() as session,
        httpx.Client(base_url=base_url, headers=headers, timeout=30) as api,
    ):
        seeder = Seeder(api)
        seeder.create("/assistants", SEED_ASSISTANT)  # so that listing assistants returns one
        yield Target(base_url, headers, session, seeder)


def test_spec_filter_selects_the_implemented_operations() -> None:
    """Guards the filter regexes: update this set whenever they are widened."""
    if not SPEC_PATH.exists():
        pytest.skip(f"OpenAI spec not found at {SPEC_PATH} (set THREADLINE_OPENAI_SPEC)")
    assert {operation.label for operation in fuzzed_operations()} == {
        "GET /assistants",
        "POST /assistants",
        "GET /assistants/{assistant_id}",
        "POST /assistants/{assistant_id}",
        "DELETE /assistants/{assistant_id}",
        "POST /threads",
        "GET /threads/{thread_id}",
        "POST /threads/{thread_id}",
        "DELETE /threads/{thread_id}",
        "GET /threads/{thread_id}/messages",
        "POST /threads/{thread_id}/messages",
        "GET /threads/{thread_id}/messages/{message_id}",
        "POST /threads/{thread_id}/messages/{message_id}",
        "DELETE /threads/{thread_id}/messages/{message_id}",
        "GET /files",
        "POST /files",
        "GET /files/{file_id}",
        "DELETE /files/{file_id}",
        "GET /files/{file_id}/content",
        "GET /vector_stores",
        "POST /vector_stores",
        "GET /vector_stores/{vector_store_id}",
        "POST /vector_stores/{vector_store_id}",
        "DELETE /vector_stores/{vector_store_id}",
        "POST /vector_stores/{vector_store_id}/search",
        "GET /vector_stores/{vector_store_id}/files",
        "POST /vector_stores/{vector_store_id}/files",
        "GET /vector_stores/{vector_store_id}/files/{file_id}",
        "POST /vector_stores/{vector_store_id}/files/{file_id}",
        "DELETE /vector_stores/{vector_store_id}/files/{file_id}",
        "GET /vector_stores/{vector_store_id}/files/{file_id}/content",
        "POST /vector_stores/{vector_store_id}/file_batches",
        "GET /vector_stores/{vector_store_id}/file_batches/{batch_id}",
        "POST /vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel",
        "GET /vector_stores/{vector_store_id}/file_batches/{batch_id}/files",
        "POST /responses",
        "POST /responses/input_tokens",
        "GET /responses/{response_id}",
        "DELETE /responses/{response_id}",
        "POST /responses/{response_id}/cancel",
        "GET /responses/{response_id}/input_items",
        "POST /conversations",
        "GET /conversations/{conversation_id}",
        "POST /conversations/{conversation_id}",
        "DELETE /conversations/{conversation_id}",
        "POST /conversations/{conversation_id}/items",
        "GET /conversations/{conversation_id}/items",
        "GET /conversations/{conversation_id}/items/{item_id}",
        "DELETE /conversations/{conversation_id}/items/{item_id}",
    }


def test_fuzz_against_openai_spec(target: Target) -> None:
    """Every operation is fuzzed even when an earlier one fails; the report lists them all."""
    failures: list[str] = []
    for operation in fuzzed_operations():
        try:
            fuzz_operation(operation, target)
        except Exception as error:
            failures.append(f"== {operation.label}\n{error}")
    assert not failures, "\n\n".join(failures)
