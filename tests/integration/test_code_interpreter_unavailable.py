"""Fail closed: a server whose sandbox cannot work refuses code_interpreter with a clear 400
naming the cause, says so once in its log, and serves everything else as usual. User code is
never run."""

from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from tests.servers import ServeProcess

MASTER = "sk-master-sandbox-0123456789abcdef"
CODE = [{"type": "code_interpreter"}]


def _start(tmp_path: Path, **env: str) -> tuple[ServeProcess, OpenAI]:
    server = ServeProcess(
        {
            "THREADLINE_DATA_DIR": str(tmp_path),
            "THREADLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gate.db'}",
            "THREADLINE_MASTER_KEY": MASTER,
            "THREADLINE_UPSTREAM_BASE_URL": "http://127.0.0.1:9/v1",
            **env,
        },
        tmp_path / "serve.log",
    ).start()
    created = httpx.post(
        f"{server.base_url}/admin/keys",
        json={"project": "gate"},
        headers={"Authorization": f"Bearer {MASTER}"},
        timeout=30,
    )
    created.raise_for_status()
    client = OpenAI(
        base_url=f"{server.base_url}/v1", api_key=created.json()["key"], max_retries=0, timeout=30
    )
    return server, client


def _refused(call: object, *args: object, **kwargs: object) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["code"] == "code_interpreter_unavailable"
    assert "code_interpreter tool is not available" in body["message"]
    return caught.value


def test_a_missing_sandbox_binary_refuses_code_interpreter(tmp_path: Path) -> None:
    server, client = _start(
        tmp_path,
        THREADLINE_SANDBOX="nsjail",
        THREADLINE_SANDBOX_NSJAIL_PATH=str(tmp_path / "no-such-nsjail"),
    )
    try:
        error = _refused(client.beta.assistants.create, model="gpt-4o", tools=CODE)
        assert "nsjail" in str(error.body["message"])  # type: ignore[index]
        assert error.body["param"] == "tools"  # type: ignore[index]

        plain = client.beta.assistants.create(model="gpt-4o", tools=[{"type": "file_search"}])
        _refused(client.beta.assistants.update, plain.id, tools=CODE)
        thread = client.beta.threads.create()
        _refused(client.beta.threads.runs.create, thread.id, assistant_id=plain.id, tools=CODE)
        _refused(client.beta.threads.create_and_run, assistant_id=plain.id, tools=CODE)
        assert client.beta.threads.runs.list(thread.id).data == []  # nothing was stored
        assert client.beta.assistants.retrieve(plain.id).tools[0].type == "file_search"
    finally:
        server.stop()
    log = (tmp_path / "serve.log").read_text()
    assert log.count("code_interpreter is unavailable") == 1, log


def test_a_disabled_sandbox_refuses_code_interpreter(tmp_path: Path) -> None:
    server, client = _start(tmp_path, THREADLINE_SANDBOX="none")
    try:
        error = _refused(client.beta.assistants.create, model="gpt-4o", tools=CODE)
        assert "disabled" in str(error.body["message"])  # type: ignore[index]
    finally:
        server.stop()
