"""Each parser on a real file of its type, format detection, and the sandboxed parse process."""

import asyncio
import csv
import json
import zipfile
from pathlib import Path

import pytest

from tests.documents import write_docx, write_pdf, write_pptx
from threadline.providers.documents.errors import DocumentRejected
from threadline.providers.documents.isolation import ParseLimits, parse_isolated
from threadline.providers.documents.parsers import parse_document

MARKER = "The quartermaster keeps the lantern oil in the north cellar."


def parse(path: Path, filename: str | None = None) -> str:
    return parse_document(path, filename or path.name)


def rejected(path: Path, filename: str | None = None) -> DocumentRejected:
    with pytest.raises(DocumentRejected) as caught:
        parse(path, filename)
    return caught.value


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.txt", f"Line one.\n{MARKER}\n"),
        ("readme.md", f"# Title\n\nSome *emphasis*.\n\n- {MARKER}\n"),
        ("main.py", f'def f():\n    """{MARKER}"""\n    return 1\n'),
        ("app.ts", f"export const note: string = '{MARKER}';\n"),
        ("style.css", f"/* {MARKER} */\nbody {{ color: red; }}\n"),
        ("paper.tex", f"\\section{{Intro}}\n{MARKER}\n"),
        ("run.sh", f"#!/bin/sh\necho '{MARKER}'\n"),
        ("Main.java", f'class Main {{ String s = "{MARKER}"; }}\n'),
    ],
)
def test_text_and_source_files(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert MARKER in parse(path)


def test_json_and_csv(tmp_path):
    (tmp_path / "data.json").write_text(json.dumps({"note": MARKER, "n": [1, 2]}))
    assert MARKER in parse(tmp_path / "data.json")
    with (tmp_path / "table.csv").open("w", newline="") as file:
        csv.writer(file).writerows([["id", "note"], ["1", MARKER]])
    assert MARKER in parse(tmp_path / "table.csv")


def test_text_encodings(tmp_path):
    (tmp_path / "bom.txt").write_bytes("\ufeffcafé".encode())
    assert parse(tmp_path / "bom.txt") == "café"
    (tmp_path / "latin.txt").write_bytes("café crème".encode("cp1252"))
    assert parse(tmp_path / "latin.txt") == "café crème"
    (tmp_path / "wide.txt").write_bytes("naïve".encode("utf-16"))
    assert parse(tmp_path / "wide.txt") == "naïve"


def test_html_keeps_the_text_and_drops_scripts(tmp_path):
    page = (
        "<html><head><title>T</title><style>p {color: red}</style></head><body>"
        f"<h1>Heading</h1><p>First <b>bold</b> words.</p><script>alert('x')</script>"
        f"<ul><li>{MARKER}</li></ul></body></html>"
    )
    (tmp_path / "page.html").write_text(page)
    text = parse(tmp_path / "page.html")
    assert "Heading\n" in text and "First bold words." in text and MARKER in text
    assert "alert" not in text and "color" not in text


def test_pdf(tmp_path):
    write_pdf(tmp_path / "report.pdf", "Quarterly report\n\n" + "filler line\n" * 150 + MARKER)
    text = parse(tmp_path / "report.pdf")
    assert text.startswith("Quarterly report") and MARKER in text


def test_docx_reads_paragraphs_and_tables(tmp_path):
    import docx

    document = docx.Document()
    document.add_heading("Inventory", level=1)
    document.add_paragraph(MARKER)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "item", "place"
    table.cell(1, 0).text, table.cell(1, 1).text = "oil", "cellar"
    document.save(str(tmp_path / "inventory.docx"))
    text = parse(tmp_path / "inventory.docx")
    assert text.splitlines()[:2] == ["Inventory", MARKER]
    assert "oil | cellar" in text


def test_pptx_reads_slides_and_notes(tmp_path):
    path = tmp_path / "deck.pptx"
    write_pptx(path, [("Plan", "Ship it"), ("Where", MARKER)])
    text = parse(path)
    assert "Slide 1\nPlan\nShip it" in text and MARKER in text


def test_unknown_types_are_unsupported(tmp_path):
    for name in ("archive.xyz", "noextension", "legacy.doc"):
        (tmp_path / name).write_text("hello")
        assert rejected(tmp_path / name).code == "unsupported_file"
    assert "docx" in rejected(tmp_path / "legacy.doc").message


def test_content_is_sniffed_when_the_name_does_not_say(tmp_path):
    write_pdf(tmp_path / "upload", MARKER)
    assert MARKER in parse(tmp_path / "upload")
    write_docx(tmp_path / "upload.bin", MARKER)
    assert MARKER in parse(tmp_path / "upload.bin")


def test_contradicting_content_is_invalid(tmp_path):
    (tmp_path / "fake.pdf").write_text("not a pdf at all")
    assert rejected(tmp_path / "fake.pdf").code == "invalid_file"
    (tmp_path / "fake.docx").write_bytes(b"PK\x03\x04 broken zip")
    assert rejected(tmp_path / "fake.docx").code == "invalid_file"
    write_docx(tmp_path / "real.docx", MARKER)
    assert rejected(tmp_path / "real.docx", "renamed.pptx").code == "invalid_file"
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    assert rejected(tmp_path / "binary.txt").code == "invalid_file"


def test_broken_and_empty_pdfs_are_invalid(tmp_path):
    write_pdf(tmp_path / "good.pdf", MARKER)
    data = (tmp_path / "good.pdf").read_bytes()
    (tmp_path / "cut.pdf").write_bytes(data[: len(data) // 3])
    assert rejected(tmp_path / "cut.pdf").code == "invalid_file"
    write_pdf(tmp_path / "blank.pdf", "")
    assert "No text" in rejected(tmp_path / "blank.pdf").message


def _zip_bomb(path: Path, inflated_mb: int) -> None:
    block = b"<w:p><w:r><w:t>a</w:t></w:r></w:p>" * 30_000  # ~1 MB
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            for _ in range(inflated_mb):
                member.write(block)


def test_a_zip_bomb_is_refused_before_it_inflates(tmp_path, monkeypatch):
    # The real bound is 256 MB; a 20 MB bound keeps the bomb quick to build.
    monkeypatch.setattr("threadline.providers.documents.parsers.MAX_UNZIPPED_BYTES", 20 << 20)
    _zip_bomb(tmp_path / "bomb.docx", inflated_mb=30)
    assert (tmp_path / "bomb.docx").stat().st_size < 300_000
    outcome = rejected(tmp_path / "bomb.docx")
    assert outcome.code == "invalid_file" and "decompress" in outcome.message


def test_the_parse_process_returns_text_and_rejections():
    async def run(tmp: Path) -> None:
        (tmp / "a.md").write_text(MARKER)
        assert await parse_isolated(tmp / "a.md", "a.md", ParseLimits()) == MARKER
        (tmp / "b.xyz").write_text(MARKER)
        with pytest.raises(DocumentRejected) as caught:
            await parse_isolated(tmp / "b.xyz", "b.xyz", ParseLimits())
        assert caught.value.code == "unsupported_file"

    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(run(Path(directory)))


def test_a_parse_over_its_memory_limit_fails_alone(tmp_path):
    # Under the zip-bomb threshold, but the parsed XML tree needs far more than 256 MB.
    _zip_bomb(tmp_path / "heavy.docx", inflated_mb=60)
    limits = ParseLimits(memory_bytes=256 * 1024 * 1024)
    with pytest.raises(DocumentRejected) as caught:
        asyncio.run(parse_isolated(tmp_path / "heavy.docx", "heavy.docx", limits))
    assert caught.value.code == "invalid_file"
    assert "memory" in caught.value.message or "could not" in caught.value.message


def test_a_parse_over_its_time_limit_is_killed(tmp_path):
    write_pdf(tmp_path / "slow.pdf", "page\n" * 20_000)
    limits = ParseLimits(wall_seconds=0.05)
    with pytest.raises(DocumentRejected) as caught:
        asyncio.run(parse_isolated(tmp_path / "slow.pdf", "slow.pdf", limits))
    assert "longer than" in caught.value.message


def test_the_parse_process_does_not_inherit_the_servers_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("THREADLINE_MASTER_KEY", "sk-master-must-not-leak")
    probe = tmp_path / "probe.txt"
    probe.write_text("x")
    import subprocess

    from threadline.providers.documents import isolation

    seen: dict[str, object] = {}
    real_popen = subprocess.Popen

    def spy(command, **kwargs):
        seen.update(kwargs)
        return real_popen(command, **kwargs)

    monkeypatch.setattr(isolation.subprocess, "Popen", spy)
    assert asyncio.run(parse_isolated(probe, "probe.txt", ParseLimits())) == "x"
    assert "THREADLINE_MASTER_KEY" not in seen["env"]
