"""A client that hangs up before its request body is complete: one quiet log line, counted as
nginx's 499 (client closed request) in /metrics and the request log, never as a 500."""

import secrets

import httpx
import pytest

from tests.conftest import new_project_key
from tests.raw_http import (
    MULTIPART_BOUNDARY,
    MULTIPART_START,
    cut_short_requests,
    errors_logged,
    requests_by_status,
    send_and_hang_up,
    server_log,
    wait_for,
)

# Valid beginnings, so that what the server sees is a body cut short, not a malformed one.
_JSON_START = b'{"messages": [{"role": "user", "con'
_JSON = "application/json"
_CASES = {
    "chat-completions": ("/v1/chat/completions", _JSON, _JSON_START, ""),
    "threads": ("/v1/threads", _JSON, _JSON_START, ""),
    # The body is read by the idempotency middleware, before any route.
    "idempotent-threads": ("/v1/threads", _JSON, _JSON_START, "Idempotency-Key: cut-short\r\n"),
    "file-upload": (
        "/v1/files",
        f"multipart/form-data; boundary={MULTIPART_BOUNDARY}",
        MULTIPART_START,
        "",
    ),
}


@pytest.mark.parametrize("case", list(_CASES))
def test_a_body_cut_short_is_a_quiet_499(
    server_url: str, admin: httpx.Client, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    path, content_type, body_start, extra_headers = _CASES[case]
    project = f"hangup-{secrets.token_hex(4)}"
    key = new_project_key(admin, project)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {key}\r\n"
        f"OpenAI-Beta: assistants=v2\r\nContent-Type: {content_type}\r\n{extra_headers}"
    ).encode()
    before = requests_by_status(server_url)
    with server_log(caplog) as log:
        for request in cut_short_requests(head, body_start):
            send_and_hang_up(server_url, request)
        wait_for(
            lambda: requests_by_status(server_url).get(499, 0) >= before.get(499, 0) + 2,
            "two requests counted as 499",
        )
        after = requests_by_status(server_url)
        assert after.get(499, 0) == before.get(499, 0) + 2
        assert after.get(500, 0) == before.get(500, 0)
        assert after.get(400, 0) == before.get(400, 0)  # nor taken for a malformed body

        def logged() -> list[dict[str, object]]:
            answer = admin.get("/admin/logs", params={"project": project, "method": "POST"})
            return list(answer.json()["data"])

        wait_for(lambda: len(logged()) == 2, "the request-log rows")
        assert {(row["path"], row["status"]) for row in logged()} == {(path, 499)}

        assert errors_logged(log) == []
        hangups = [r.getMessage() for r in log.records if "client closed the conn" in r.msg]
        assert len(hangups) == 2 and all(path in message for message in hangups), hangups
