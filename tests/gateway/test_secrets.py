"""Secret canaries: a provider key, the master key and a client
key go through chat, streams, runs, upstream errors that echo keys, request bodies that carry
keys, the admin API and metrics, with request bodies logged and every logger at DEBUG. No 8
characters of any of them may show up in a response, a stream, a log line, the request-log
table or the database files."""

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.gateway.conftest import PRICED, admin_client, gateway_server, make_key, raw, sdk
from tests.upstream import Fail, Text, scripted_upstream

PROVIDER_CANARY = "sk-canaryPROVIDER-" + secrets.token_hex(12)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured_logs() -> Iterator[_Collect]:
    handler = _Collect()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(exc_text)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def leaks(text: str, secret: str) -> list[str]:
    return sorted({secret[i : i + 8] for i in range(len(secret) - 7) if secret[i : i + 8] in text})


def test_no_secret_reaches_a_response_a_log_or_the_database(tmp_path: Path, captured_logs):
    seen: list[str] = []
    with scripted_upstream(api_key=PROVIDER_CANARY) as upstream:
        with gateway_server(tmp_path, upstream, request_log_bodies=True) as url:
            from tests.gateway.conftest import MASTER_KEY

            with admin_client(url) as admin:
                created = make_key(admin)
                client_key = created["key"]
                seen.append(admin.get("/admin/keys").text)
                with raw(url, client_key) as http:
                    chat = {"model": PRICED, "messages": [{"role": "user", "content": "hi"}]}
                    seen.append(http.post("/chat/completions", json=chat).text)
                    seen.append(http.post("/chat/completions", json={**chat, "stream": True}).text)
                    # A client that puts keys in its body: logged with them taken out.
                    body = {**chat, "api_key": client_key, "note": f"key {client_key}"}
                    seen.append(http.post("/chat/completions", json=body).text)
                    # Upstream errors that echo our key.
                    echo = f"Incorrect API key provided: {PROVIDER_CANARY}"
                    upstream.script(Fail(401), Fail(400, {"error": {"message": echo}}))
                    seen.append(http.post("/chat/completions", json=chat).text)
                    seen.append(http.post("/chat/completions", json=chat).text)
                    upstream.script(Fail(401))
                    seen.append(http.post("/embeddings", json={"model": PRICED, "input": "x"}).text)
                with sdk(url, client_key) as client:
                    assistant = client.beta.assistants.create(model=PRICED)
                    upstream.script(Fail(401, {"error": {"message": echo}}), Text(["ok"]))
                    run = client.beta.threads.create_and_run_poll(
                        assistant_id=assistant.id, poll_interval_ms=50
                    )
                    seen.append(run.model_dump_json())
                    with client.beta.threads.runs.stream(
                        thread_id=run.thread_id, assistant_id=assistant.id
                    ) as stream:
                        seen.extend(event.model_dump_json() for event in stream)
                seen.append(admin.get("/admin/logs", params={"limit": 1000}).text)
                seen.append(admin.get("/admin/usage").text)
                seen.append(httpx.get(f"{url}/metrics").text)
                logged = admin.get("/admin/logs", params={"limit": 1000}).json()["data"]
                assert any(line["request_body"] for line in logged)  # bodies were logged
        database = b"".join(p.read_bytes() for p in tmp_path.glob("threadline.db*"))
    everything = "\n".join(seen) + "\n".join(captured_logs.lines) + database.decode("latin-1")
    assert failed_run_was_recorded(seen)
    for name, secret in (
        ("provider key", PROVIDER_CANARY),
        ("master key", MASTER_KEY),
        ("client key", client_key),
    ):
        assert leaks(everything, secret) == [], name


def failed_run_was_recorded(seen: list[str]) -> bool:
    return any('"status":"failed"' in text or '"status":"completed"' in text for text in seen)


def test_another_keys_bare_secret_is_redacted_from_logged_bodies(tmp_path: Path, upstream_server):
    """Another key's secret is known here only by its hash: the log finds it by its shape (32
    letters and digits after ``sk-tl-``), with or without the prefix, alone or inside a string,
    and leaves object ids, digests and prose alone."""
    with (
        gateway_server(tmp_path, upstream_server, request_log_bodies=True) as url,
        admin_client(url) as admin,
    ):
        caller = make_key(admin)["key"]
        other = make_key(admin)["key"]
        bare = other.removeprefix("sk-tl-")
        ordinary = [
            "asst_hou8c45vi29xxl7w8ruvc6qc",
            "thread_hou8c45wh8de163xcdf5jixl",
            "file-hou8c4ouitcrp0i48asnpgap",
            "chatcmpl-Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY",  # a 32-character tail of an id
            "d41d8cd98f00b204e9800998ecf8427e",  # an MD5 digest: 32 characters, one case
            "123e4567e89b12d3a456426614174000",
            "The pump is rated for 250 psi at 20 degrees Celsius.",
        ]
        content = "\n".join(
            [
                *ordinary,
                f"the other project's key is {bare}, use it",
                f"key={bare}&x=1",
                # JSON inside a string (tool arguments): its escapes are boundaries too.
                orjson.dumps({"api": {"k": f"line\n{bare}"}}).decode(),
            ]
        )
        body = {
            "model": PRICED,
            "messages": [{"role": "user", "content": content}],
            "user": bare,
            "metadata": {"with_prefix": other, "alone": bare},
        }
        with raw(url, caller) as http:
            assert http.post("/chat/completions", json=body).status_code == 200
        logged = admin.get("/admin/logs", params={"path": "/v1/chat/completions"}).json()
    [row] = [r for r in logged["data"] if r["request_body"]]
    stored = row["request_body"]
    assert leaks(stored, bare) == []
    for text in ordinary:
        assert text in stored
    assert stored.count("[redacted]") == 6
