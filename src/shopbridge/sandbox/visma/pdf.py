"""A small, valid PDF (1.4, Helvetica, A4) of a sales document, for the `/print` and `/pdf` endpoints.

Text is WinAnsi (cp1252) so Swedish letters print; long documents continue on further pages.
"""

from __future__ import annotations

from collections.abc import Iterable

LINE_HEIGHT = 14
TOP, BOTTOM, LEFT = 800, 50, 50
LINES_PER_PAGE = (TOP - BOTTOM) // LINE_HEIGHT


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def render(title: str, lines: Iterable[str]) -> bytes:
    """A PDF whose first line is `title` (bold, larger), then one text line per item of `lines`."""
    body = list(lines)
    pages = [body[i : i + LINES_PER_PAGE - 2] for i in range(0, max(len(body), 1), LINES_PER_PAGE - 2)]
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, filled in below
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
    ]
    kids = []
    for number, page_lines in enumerate(pages, start=1):
        stream = b"BT /F2 16 Tf %d %d Td (" % (LEFT, TOP) + _escape(title) + b") Tj ET\n"
        stream += b"BT /F1 10 Tf %d %d Td %d TL\n" % (LEFT, TOP - 2 * LINE_HEIGHT, LINE_HEIGHT)
        for line in page_lines:
            stream += b"(" + _escape(line) + b") Tj T*\n"
        stream += b"ET\nBT /F1 8 Tf %d %d Td (" % (LEFT, BOTTOM - 20) + _escape(f"Sida {number}/{len(pages)}")
        stream += b") Tj ET\n"
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream")
        content = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents %d 0 R >>" % content
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for index, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % index + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
