"""Which parser reads a file: decided by its extension, checked against its first bytes.

The extensions are those OpenAI's file_search accepted (plus a few close relatives, e.g. .csv,
.yaml, .rs). A file whose content contradicts its extension (a ``.pdf`` that is not a PDF, a
``.docx`` that is not a zip) is invalid; a file with no or an unknown extension is read only when
its content is unmistakably a PDF, Word or PowerPoint document."""

import zipfile
from pathlib import Path
from typing import Literal

from threadline.providers.documents.errors import DocumentRejected

Kind = Literal["text", "html", "pdf", "docx", "pptx"]

_TEXT_EXTENSIONS = frozenset(
    # prose and data
    [
        ".txt",
        ".text",
        ".md",
        ".markdown",
        ".rst",
        ".tex",
        ".json",
        ".jsonl",
        ".csv",
        ".tsv",
        ".xml",
        ".yaml",
        ".yml",
        ".toml",
        ".ini",
        ".log",
        ".c",
        ".h",
        ".cc",
        ".cpp",
        ".cxx",
        ".hpp",
        ".cs",
        ".css",
        ".scss",
        ".go",
        ".java",
        ".kt",
        ".kts",
        ".scala",
        ".js",
        ".mjs",
        ".cjs",
        ".jsx",
        ".ts",
        ".tsx",
        ".php",
        ".py",
        ".pyi",
        ".rb",
        ".rs",
        ".sh",
        ".bash",
        ".zsh",
        ".ps1",
        ".sql",
        ".swift",
        ".m",
        ".r",
        ".lua",
        ".pl",
        ".dart",
        ".vue",
        ".svelte",
    ]
)
_HTML_EXTENSIONS = frozenset((".html", ".htm", ".xhtml"))
_UNSUPPORTED_HINTS = {
    ".doc": "Legacy Word (.doc) files are not supported; save the document as .docx.",
    ".ppt": "Legacy PowerPoint (.ppt) files are not supported; save the deck as .pptx.",
    ".xls": "Spreadsheets are not supported by file_search; export the sheet as .csv.",
    ".xlsx": "Spreadsheets are not supported by file_search; export the sheet as .csv.",
}
_ZIP_KINDS: dict[str, Kind] = {".docx": "docx", ".pptx": "pptx"}
# What a file is read as by its name alone (``threadline ingest`` picks files with these).
SUPPORTED_EXTENSIONS = frozenset((*_TEXT_EXTENSIONS, *_HTML_EXTENSIONS, ".pdf", *_ZIP_KINDS))


def detect_kind(path: Path, filename: str) -> Kind:
    extension = Path(filename).suffix.lower()
    with path.open("rb") as file:
        head = file.read(1024)
    sniffed = _sniff(path, head)
    if extension in _TEXT_EXTENSIONS:
        return "text"
    if extension in _HTML_EXTENSIONS:
        return "html"
    if extension == ".pdf":
        if sniffed != "pdf":
            raise DocumentRejected("invalid_file", "The file is not a valid PDF document.")
        return "pdf"
    if extension in _ZIP_KINDS:
        expected = _ZIP_KINDS[extension]
        if sniffed != expected:
            raise DocumentRejected(
                "invalid_file", f"The file is not a valid {extension[1:].upper()} document."
            )
        return expected
    if sniffed is not None:
        return sniffed
    hint = _UNSUPPORTED_HINTS.get(extension)
    shown = extension or "(no extension)"
    raise DocumentRejected(
        "unsupported_file", hint or f"Files of type {shown} are not supported by file_search."
    )


def _sniff(path: Path, head: bytes) -> Kind | None:
    # "%PDF-" may follow a little junk (some producers prepend bytes); readers allow 1 KiB.
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            return None
        if "word/document.xml" in names:
            return "docx"
        if "ppt/presentation.xml" in names:
            return "pptx"
    return None
