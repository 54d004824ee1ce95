"""One function per format: a file in, its plain text out (``DocumentRejected`` if unreadable).

These run inside the sandboxed child process (``isolation.py``), which bounds their memory and
time; they still refuse the obvious bombs early (a zip that would inflate to far more than any
real document, an absurd page count) so a hostile file fails fast with a clear message."""

import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from threadline.providers.documents.errors import DocumentRejected
from threadline.providers.documents.formats import Kind, detect_kind

# Office documents are zips of XML: this bounds what their parts may inflate to.
MAX_UNZIPPED_BYTES = 256 * 1024 * 1024
MAX_PDF_PAGES = 10_000
_BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*(?:\n[ \t\r\f\v]*)+")


def parse_document(path: Path, filename: str) -> str:
    """The text of the file, as the chunker will see it."""
    kind = detect_kind(path, filename)
    text = _PARSERS[kind](path)
    if kind in ("pdf", "docx", "pptx") and not text.strip():
        raise DocumentRejected(
            "invalid_file", f"No text could be extracted from this {kind.upper()} file."
        )
    return text


def decode_text(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data:
        raise DocumentRejected("invalid_file", "The file is binary, not text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Not UTF-8: most such text files are Windows-1252; every byte decodes in Latin-1.
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            return data.decode("latin-1")


def _text(path: Path) -> str:
    return decode_text(path.read_bytes())


def _html(path: Path) -> str:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(_text(path))
    # Not the document's text: code, styling, and the page's navigation furniture (menus, sidebars,
    # footers), which repeats on every page of a site and would match every query a little.
    code_and_style = "script, style, noscript, template, svg, head"
    for node in tree.css(f"{code_and_style}, nav, aside, footer, [role=navigation]"):
        node.decompose()
    # Block elements become line breaks, so "<h1>Title</h1><p>Text" reads "Title\nText".
    blocks = "p, div, h1, h2, h3, h4, h5, h6, li, tr, br, pre, section, article, table, dt, dd"
    for node in tree.css(blocks + ", blockquote, header, footer, ul, ol, dl, hr, td, th"):
        node.insert_before("\n")
        node.insert_after("\n")
    root = tree.body or tree.root
    text = root.text(separator="") if root is not None else ""
    return _BLANK_LINES.sub("\n\n", text).strip()


def _pdf(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentRejected("invalid_file", "The PDF is encrypted with a password.")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise DocumentRejected("invalid_file", f"The PDF has more than {MAX_PDF_PAGES} pages.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except DocumentRejected:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
        raise DocumentRejected("invalid_file", "The PDF could not be read.") from error
    return "\n\n".join(page.strip() for page in pages if page.strip())


def _check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        message = "The document is not a valid zip package."
        raise DocumentRejected("invalid_file", message) from error
    if inflated > MAX_UNZIPPED_BYTES:
        raise DocumentRejected(
            "invalid_file", "The document would decompress to more than 256 MB; refusing it."
        )


def _docx(path: Path) -> str:
    import docx
    from docx.table import Table

    _check_zip(path)
    document = _open_office(docx.Document, path)
    lines: list[str] = []
    # Paragraphs and tables in reading order (python-docx >= 1.0).
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            lines.extend(_table_rows(block))
        elif block.text.strip():
            lines.append(block.text)
    return "\n".join(lines)


def _pptx(path: Path) -> str:
    import pptx

    _check_zip(path)
    presentation = _open_office(pptx.Presentation, path)
    parts: list[str] = []
    for number, slide in enumerate(presentation.slides, start=1):
        lines = [f"Slide {number}"]
        for shape in slide.shapes:
            if getattr(shape, "has_text_frame", False) and shape.text_frame.text.strip():
                lines.append(shape.text_frame.text)
            if getattr(shape, "has_table", False):
                lines.extend(_table_rows(shape.table))
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                lines.append(f"Notes: {notes}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _table_rows(table: object) -> Iterator[str]:
    for row in table.rows:  # type: ignore[attr-defined]
        cells = [cell.text.strip() for cell in row.cells]
        if any(cells):
            yield " | ".join(cells)


def _open_office(opener: Callable[[str], Any], path: Path) -> Any:
    try:
        return opener(str(path))
    except DocumentRejected:
        raise
    except Exception as error:  # python-docx/pptx raise many kinds on a malformed package
        raise DocumentRejected("invalid_file", "The document could not be read.") from error


_PARSERS: dict[Kind, Callable[[Path], str]] = {
    "text": _text,
    "html": _html,
    "pdf": _pdf,
    "docx": _docx,
    "pptx": _pptx,
}
