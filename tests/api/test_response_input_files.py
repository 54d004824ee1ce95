"""``input_file`` parts of a response's input through the official SDK: the model is sent the
file's text (a file of the project, or one sent inline); a URL is refused (the server fetches
nothing), another project's file is not found."""

import base64
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from tests.documents import write_pdf
from tests.upstream import Text


def _user_text(upstream) -> str:
    content = upstream.requests[-1]["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content)


def _ask(client: OpenAI, file_part: dict[str, str]) -> openai.types.responses.Response:
    return client.responses.create(
        model="gpt-test",
        input=[
            {
                "role": "user",
                "content": [{"type": "input_text", "text": "Summarise."}, file_part],
            }
        ],
    )


def test_a_text_file_of_the_project_is_read(client: OpenAI, upstream) -> None:
    upstream.script(Text(["Done."]))
    file_id = client.files.create(
        file=("notes.txt", b"The launch code is 0451."), purpose="user_data"
    ).id
    response = _ask(client, {"type": "input_file", "file_id": file_id})
    assert response.status == "completed"
    sent = _user_text(upstream)
    assert sent.startswith("Summarise.")
    assert "The launch code is 0451." in sent and "notes.txt" in sent
    # The stored part is shown as it was given: the text read for the model stays private.
    raw = client.responses.input_items.with_raw_response.list(response.id)
    shown = raw.http_response.json()["data"][0]["content"][1]
    assert shown["type"] == "input_file" and shown["file_id"] == file_id
    assert "_text" not in shown


def test_a_pdf_file_and_inline_file_data_are_read(client: OpenAI, upstream, tmp_path: Path) -> None:
    upstream.script(Text(["One."]), Text(["Two."]))
    pdf = tmp_path / "report.pdf"
    write_pdf(pdf, "Quarterly revenue rose by eleven percent.")
    with pdf.open("rb") as handle:
        file_id = client.files.create(file=("report.pdf", handle), purpose="user_data").id
    _ask(client, {"type": "input_file", "file_id": file_id})
    assert "Quarterly revenue rose by eleven percent." in _user_text(upstream)

    data = base64.b64encode(pdf.read_bytes()).decode()
    _ask(
        client,
        {
            "type": "input_file",
            "filename": "inline.pdf",
            "file_data": f"data:application/pdf;base64,{data}",
        },
    )
    assert "Quarterly revenue rose by eleven percent." in _user_text(upstream)


def test_a_file_url_is_refused(client: OpenAI, upstream) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        _ask(client, {"type": "input_file", "file_url": "https://example.com/a.pdf"})
    error = raised.value.body
    assert isinstance(error, dict)
    assert "fetches nothing from the internet" in error["message"]
    assert upstream.requests == []


def test_another_projects_file_is_not_found(client: OpenAI, other_client: OpenAI, upstream) -> None:
    theirs = other_client.files.create(file=("secret.txt", b"theirs"), purpose="user_data").id
    with pytest.raises(openai.NotFoundError) as raised:
        _ask(client, {"type": "input_file", "file_id": theirs})
    assert theirs in str(raised.value)
    assert upstream.requests == []
