"""A document's text, taken from its plaintext in memory, for the reading view. Imports no Flask and no models.

Kept libraries do the reading: pypdfium2 (PDFium, the PDF engine of Chromium) for each page's text, mammoth for a
Word document's headings, lists and tables as HTML, and nh3 (the ammonia sanitiser) to keep only the plain
structural tags of what mammoth makes. Nothing is written to disk: PDFium reads the bytes it is given in memory.
PDFium is not safe to call from two threads at once, so every call holds one lock.
"""

import io
import re
import threading
from dataclasses import dataclass

import mammoth
import nh3
import pypdfium2

_PDFIUM = threading.Lock()

# What a Word document may keep: structure only (no links, images, styles, classes or ids).
_TAGS = {"h2", "h3", "h4", "h5", "h6", "p", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td",
         "strong", "em", "br", "caption", "sup", "sub"}
_HEADING = re.compile(r"<(/?)h([1-6])>")


class Unreadable(Exception):
    """The file cannot be read as text (damaged, encrypted with a password, or not what its type says)."""


@dataclass(frozen=True)
class Page:
    """One page of a PDF: its number (from 1), how many the document has, and its text ("" for a scanned page)."""

    number: int
    count: int
    text: str

    @property
    def has_text(self) -> bool:
        """False for a page with no text layer, such as a scanned image."""
        return bool(self.text.strip())

    @property
    def paragraphs(self) -> list[str]:
        """The page's text in paragraphs: blank lines separate them; lines within one are joined."""
        return paragraphs(self.text)


def paragraphs(text: str) -> list[str]:
    """Plain text as paragraphs, for showing as HTML (each is escaped by the template)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = re.split(r"\n\s*\n", text)
    return [" ".join(line.strip() for line in block.split("\n") if line.strip()) for block in blocks if block.strip()]


def pdf_page_count(data: bytes) -> int:
    """How many pages a PDF has."""
    with _PDFIUM:
        document = _open_pdf(data)
        try:
            return len(document)
        finally:
            document.close()


def pdf_page(data: bytes, number: int) -> Page:
    """The text of one page of a PDF (number from 1; a number past the end gives the last page)."""
    with _PDFIUM:
        document = _open_pdf(data)
        try:
            count = len(document)
            if count == 0:
                raise Unreadable("the PDF has no pages")
            number = min(max(number, 1), count)
            page = document[number - 1]
            try:
                textpage = page.get_textpage()
                try:
                    text = textpage.get_text_range()
                finally:
                    textpage.close()
            finally:
                page.close()
            return Page(number, count, text)
        finally:
            document.close()


def pdf_texts(data: bytes) -> list[str]:
    """The text of every page of a PDF, in order."""
    with _PDFIUM:
        document = _open_pdf(data)
        try:
            texts = []
            for index in range(len(document)):
                page = document[index]
                textpage = page.get_textpage()
                texts.append(textpage.get_text_range())
                textpage.close()
                page.close()
            return texts
        finally:
            document.close()


def _open_pdf(data: bytes) -> pypdfium2.PdfDocument:
    try:
        return pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        raise Unreadable(f"the PDF cannot be read: {exc}") from exc


def docx_html(data: bytes) -> str:
    """A Word document as sanitised HTML: its headings (one level below the page's own), paragraphs, lists and
    tables, without images, links or styles."""
    try:
        result = mammoth.convert_to_html(io.BytesIO(data))
    except Exception as exc:  # mammoth raises whatever its zip and XML readers raise on a damaged file
        raise Unreadable(f"the Word document cannot be read: {exc}") from exc
    html = _HEADING.sub(lambda m: f"<{m.group(1)}h{min(int(m.group(2)) + 1, 6)}>", result.value)
    return nh3.clean(html, tags=_TAGS, attributes={"th": {"scope", "colspan", "rowspan"},
                                                   "td": {"colspan", "rowspan"}}, url_schemes=set())


def docx_text(data: bytes) -> str:
    """A Word document's plain text."""
    try:
        return str(mammoth.extract_raw_text(io.BytesIO(data)).value)
    except Exception as exc:  # as above
        raise Unreadable(f"the Word document cannot be read: {exc}") from exc


def plain_text(data: bytes) -> str:
    """A text file's text (UTF-8, with any byte that is not replaced by the replacement character)."""
    return data.decode("utf-8-sig", errors="replace")
