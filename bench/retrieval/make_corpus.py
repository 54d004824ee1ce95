"""Builds bench/retrieval/corpus/ from the Python 3.11 library documentation (PSF licence).

Source: Debian's ``python3-doc`` package (``/usr/share/doc/python3.11/html``). Pages are kept in
mixed formats so that ingestion is exercised: raw HTML pages as they ship, and the main text of
others as Markdown, plain text, PDF and DOCX. Run once; the output is committed.

    apt-get install python3-doc && .venv/bin/python bench/retrieval/make_corpus.py
"""

import re
import sys
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.documents import write_docx, write_pdf

SOURCE = Path("/usr/share/doc/python3.11/html/library")
CORPUS = Path(__file__).resolve().parent / "corpus"
FORMATS = {
    "html": "json csv asyncio-task pathlib subprocess venv zipfile dataclasses contextlib random",
    "md": "functools hashlib enum statistics shutil tempfile",
    "txt": "heapq bisect textwrap uuid gzip queue copy sched",
    "pdf": "secrets timeit base64",
    "docx": "graphlib",
}
_BLANK = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")


def main_text(html: str, markdown: bool) -> str:
    tree = LexborHTMLParser(html)
    body = tree.css_first("div.body") or tree.body
    for node in body.css("a.headerlink, script, style"):
        node.decompose()
    for level in range(1, 5):
        for node in body.css(f"h{level}"):
            node.insert_before("\n\n" + ("#" * level + " " if markdown else ""))
            node.insert_after("\n\n")
    for node in body.css("pre"):
        node.insert_before("\n```\n" if markdown else "\n")
        node.insert_after("\n```\n" if markdown else "\n")
    for node in body.css("li"):
        node.insert_before("\n- " if markdown else "\n")
    for node in body.css("p, dt, dd, tr, div.admonition, blockquote"):
        node.insert_before("\n\n")
        node.insert_after("\n")
    return _BLANK.sub("\n\n", body.text(separator="")).strip() + "\n"


def build() -> None:
    CORPUS.mkdir(exist_ok=True)
    for kind, names in FORMATS.items():
        for name in names.split():
            html = (SOURCE / f"{name}.html").read_text(encoding="utf-8")
            target = CORPUS / f"{name}.{kind}"
            if kind == "html":
                target.write_text(html, encoding="utf-8")
            elif kind in ("md", "txt"):
                target.write_text(main_text(html, kind == "md"), encoding="utf-8")
            elif kind == "pdf":
                write_pdf(target, main_text(html, False))
            else:
                write_docx(target, main_text(html, False))
            print(f"{target.name}: {target.stat().st_size:,} bytes")


if __name__ == "__main__":
    build()
