"""The Playground shows a code_interpreter call as it happens: its code, its logs and the image it
made (fetched with the key), then the answer. The tool runs over a stand-in runner on a server
of this module's own (the sandbox has suites of its own)."""

import json
import struct
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.console.conftest import DESKTOP, Watched, _console_page
from tests.tool_servers import project_key, server_with_tools
from tests.upstream import DEFAULT_MODEL, ScriptedUpstream, Text, ToolCalls
from threadline.engine.tools.code_interpreter import CodeInterpreterTool, CodeResult, InputFile


def tiny_png() -> bytes:
    """A real 120x60 PNG (one colour), so the browser decodes what the page shows."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    width, height = 120, 60
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress((b"\x00" + b"\x4f\x46\xe5" * width) * height)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


class StandInRunner:
    async def run(self, session_key: str, code: str, files: Sequence[InputFile]) -> CodeResult:
        return CodeResult(logs="42\n", images=[tiny_png()], files=[], reset=False)


class SavedImages:
    """Hands out the id of a picture the test uploaded (the page fetches its bytes)."""

    file_id = ""

    async def output(self, project_id: str, name: str, path: Path) -> str:
        return self.file_id

    async def image(self, project_id: str, png: bytes) -> str:
        return self.file_id


SAVED = SavedImages()


async def no_files(run: dict[str, object]) -> list[InputFile]:
    return []


@pytest.fixture(scope="module")
def code_console_url(
    upstream_server: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    tool = CodeInterpreterTool(StandInRunner(), no_files, SAVED.output, SAVED.image)
    with server_with_tools(upstream_server, tmp_path_factory.mktemp("pg-code"), [tool]) as url:
        yield url


@pytest.fixture
def code_console(browser: Browser, code_console_url: str) -> Iterator[Watched]:
    yield from _console_page(browser, code_console_url, DESKTOP)


def test_code_interpreter_code_logs_and_image_appear(
    code_console: Watched, code_console_url: str, upstream: ScriptedUpstream
) -> None:
    key = project_key(code_console_url)
    headers = {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}
    with httpx.Client(base_url=f"{code_console_url}/v1", headers=headers) as client:
        picture = client.post(
            "/files",
            files={"file": ("plot.png", tiny_png(), "image/png")},
            data={"purpose": "assistants"},
        )
        SAVED.file_id = picture.json()["id"]
        tools = [{"type": "code_interpreter"}]
        assistant = {"model": DEFAULT_MODEL, "name": "Analyst", "tools": tools}
        client.post("/assistants", json=assistant).raise_for_status()
    code = "print(6 * 7)"
    upstream.script(
        ToolCalls([("code_interpreter", json.dumps({"code": code}))]), Text(["It is ", "42."])
    )
    code_console.sign_in(key)
    code_console.open("Playground")
    page = code_console.page
    page.get_by_label("Message", exact=True).fill("What is six times seven?")
    page.get_by_role("button", name="Send").click()

    call = page.get_by_role("region", name="Code interpreter")
    expect(call).to_contain_text(code)
    expect(call).to_contain_text("42")
    image = call.get_by_role("img", name="An image the code made")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.naturalWidth") == 120
    answer = page.get_by_role("article", name="Analyst")
    expect(answer).to_contain_text("It is 42.")
    expect(answer.get_by_role("img", name="An image from the assistant")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("completed")
    code_console.snap("playground-code-interpreter")
