"""Helpers for the documents tests: uploads through the real forms, multipart bodies, small valid files, and
real documents to read (a PDF with a page without text, a Word document)."""

import io
import zipfile
from collections.abc import Iterator

from conftest import csrf_from
from flask import Flask
from flask.testing import FlaskClient
from fpdf import FPDF

from portal.extensions import db
from portal.models import (
    Document,
    DocumentVersion,
)

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
DOC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


def office_zip(kind: str) -> bytes:
    """A minimal DOCX, XLSX or ODT: a zip with the entries that identify it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if kind == "odt":
            archive.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
            archive.writestr("content.xml", "<office:document-content/>")
        else:
            archive.writestr("[Content_Types].xml", "<Types/>")
            archive.writestr("word/document.xml" if kind == "docx" else "xl/workbook.xml", "<x/>")
    return buffer.getvalue()


def upload_path(portfolio_id: int) -> str:
    """The upload page of a portfolio."""
    return f"/portfolios/{portfolio_id}/documents/upload"


def upload(client: FlaskClient, portfolio_id: int, files: list[tuple[str, bytes, str]], title: str = ""):
    """Upload (filename, content, evidence type) triples through the real form with its CSRF token."""
    token = csrf_from(client.get(upload_path(portfolio_id)).get_data(as_text=True))
    data: dict[str, object] = {"csrf_token": token}
    for row, (filename, content, evidence) in enumerate(files):
        data[f"evidence_type-{row}"] = evidence
        data[f"title-{row}"] = title
        data[f"file-{row}"] = (io.BytesIO(content), filename)
    return client.post(upload_path(portfolio_id), data=data, content_type="multipart/form-data")


def replace(client: FlaskClient, portfolio_id: int, document_id: int, filename: str, content: bytes):
    """Upload a new version of a document through the real form with its CSRF token."""
    path = f"/portfolios/{portfolio_id}/documents/{document_id}/replace"
    token = csrf_from(client.get(path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, "file": (io.BytesIO(content), filename)},
                       content_type="multipart/form-data")


def only_document(app: Flask) -> tuple[int, int]:
    """(document id, current version id) of the single document stored."""
    with app.app_context():
        document = db.session.scalars(db.select(Document)).one()
        return document.id, document.current_version_id


def version(app: Flask, version_id: int) -> DocumentVersion:
    """A version row, detached for reading its columns."""
    with app.app_context():
        row = db.session.get(DocumentVersion, version_id)
        db.session.expunge(row)
        return row


def pdf_around(size: int) -> tuple[bytes, bytes]:
    """The head and tail of a valid one-page PDF of `size` bytes whose page content fills the middle."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 300] /Contents 4 0 R >>"]
    head, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(head))
        head += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    offsets.append(len(head))
    closing = b"\nendstream\nendobj\n"
    tail_length = len(closing) + len(b"xref\n0 5\n") + 5 * 20 + len(b"trailer\n<< /Size 5 /Root 1 0 R >>\n"
                                                                   b"startxref\n0000000000\n%%EOF\n")
    header_without_length = len(head) + len(b"4 0 obj\n<< /Length 0000000000 >>\nstream\n")
    content = size - header_without_length - tail_length
    head += b"4 0 obj\n<< /Length %010d >>\nstream\n" % content
    xref_at = len(head) + content + len(closing)
    table = b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    tail = (closing + b"xref\n0 5\n0000000000 65535 f \n" + table + b"trailer\n<< /Size 5 /Root 1 0 R >>\n"
            b"startxref\n%010d\n%%%%EOF\n" % xref_at)
    assert len(head) + content + len(tail) == size
    return bytes(head), tail


class StreamedBody(io.RawIOBase):
    """A multipart body generated as it is read, so the test itself never writes the file anywhere."""

    BOUNDARY = "portal-test-boundary-7d1c"

    def __init__(self, fields: list[tuple[str, str]], filename: str, head: bytes, size: int, filler: bytes,
                 marker: bytes, field: str = "file-0", complete: bool = True, tail: bytes = b"") -> None:
        super().__init__()
        before = "".join(f"--{self.BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                         for name, value in fields)
        before += (f"--{self.BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; "
                   f"filename=\"{filename}\"\r\nContent-Type: application/pdf\r\n\r\n")
        after = f"\r\n--{self.BOUNDARY}--\r\n".encode() if complete else b""  # not complete: the client vanished
        self._pieces = self._generate(before.encode(), head, size - len(tail), filler, marker, tail + after)
        self.length = len(before.encode()) + size + len(after)
        self._buffer = b""
        self._position = 0

    @staticmethod
    def _generate(before: bytes, head: bytes, size: int, filler: bytes, marker: bytes,
                  after: bytes) -> Iterator[bytes]:
        yield before + head
        sent = len(head)
        block = (filler * (1 + 65536 // len(filler)))[:65536]
        while sent < size:
            piece = (marker + block)[: size - sent]
            yield piece
            sent += len(piece)
        yield after

    def readable(self) -> bool:
        """It is."""
        return True

    def seekable(self) -> bool:
        """Only so the test client can measure it before reading (seek to the end and back)."""
        return True

    def tell(self) -> int:
        """The position: 0 until reading starts, or the end while being measured."""
        return self._position

    def seek(self, offset: int, whence: int = 0) -> int:
        """Pretend to move to the end or back to the start; reading always continues from where it was."""
        self._position = self.length if whence == 2 else offset
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        """Fill the buffer from the generated body."""
        while not self._buffer:
            self._buffer = next(self._pieces, b"")
            if not self._buffer:
                return 0
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    @property
    def content_type(self) -> str:
        """The request's Content-Type."""
        return f"multipart/form-data; boundary={self.BOUNDARY}"


def three_page_pdf() -> bytes:
    """A PDF whose second page has no text (as a scanned image has none)."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, "Reflection on practice.\n\nThe first visit to the family went well.")
    pdf.add_page()
    pdf.line(10, 10, 100, 100)
    pdf.add_page()
    pdf.multi_cell(0, 8, "Final words <script>alert(1)</script>")
    return bytes(pdf.output())


def word_document() -> bytes:
    """A Word document with a heading, a list, a table and a link."""
    import docx

    document = docx.Document()
    document.add_heading("Critical reflection", level=1)
    document.add_paragraph("What I learned in my first year.")
    document.add_paragraph("Supervision every month", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Month", "Caseload"
    table.cell(1, 0).text, table.cell(1, 1).text = "March", "12"
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
