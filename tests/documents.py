"""Real documents for tests and the retrieval benchmark, written with the libraries that read them
(python-docx, python-pptx) or, for PDF, by a minimal writer: pypdf reads PDFs but does not lay out
text, and a text PDF is a few objects: pages whose content streams draw lines in Helvetica."""

from pathlib import Path

import docx
import pptx

_LINES_PER_PAGE = 60
_CHARS_PER_LINE = 95
_ASCII = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2014": "-"})


def write_pdf(path: Path, text: str) -> None:
    """A PDF whose pages show ``text`` (Latin-1; other characters become '?')."""
    lines: list[str] = []
    for paragraph in text.translate(_ASCII).splitlines():
        while len(paragraph) > _CHARS_PER_LINE:
            cut = paragraph.rfind(" ", 0, _CHARS_PER_LINE)
            cut = cut if cut > 0 else _CHARS_PER_LINE
            lines.append(paragraph[:cut])
            paragraph = paragraph[cut:].lstrip()
        lines.append(paragraph)
    pages = [lines[i : i + _LINES_PER_PAGE] for i in range(0, len(lines), _LINES_PER_PAGE)] or [[]]
    objects: list[bytes] = [b"", b""]  # 1: catalog, 2: page tree (filled in below)
    font = len(objects) + 1
    objects.append(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    kids: list[int] = []
    for page_lines in pages:
        drawn = ["BT /F1 9 Tf 11 TL 40 800 Td"]
        for line in page_lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            drawn.append(f"({escaped}) '")
        drawn.append("ET")
        stream = "\n".join(drawn).encode("latin-1", errors="replace")
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        content = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (content, font)
        )
        kids.append(len(objects))
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    refs = " ".join(f"{k} 0 R" for k in kids).encode()
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (refs, len(kids))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(bytes(out))


def write_docx(path: Path, text: str, title: str | None = None) -> None:
    document = docx.Document()
    if title:
        document.add_heading(title, level=1)
    for paragraph in text.split("\n\n"):
        if paragraph.strip():
            document.add_paragraph(paragraph.strip())
    document.save(str(path))


def write_pptx(path: Path, slides: list[tuple[str, str]]) -> None:
    presentation = pptx.Presentation()
    layout = presentation.slide_layouts[1]  # title and content
    for title, body in slides:
        slide = presentation.slides.add_slide(layout)
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    presentation.save(str(path))
