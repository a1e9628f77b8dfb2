"""The minutes and the summary report as a simple block structure, written out as PDF or DOCX.

Accessibility of the downloads (documented in docs/reports.md):
- PDF (fpdf2, pure Python, no system libraries): a tagged PDF (tagging: reports/pdf_tags.py). The structure
  tree has /Document at its root; headings are H1-H3 in order, paragraphs P, lists L/LI with Lbl and LBody,
  tables Table with a Caption, THead/TBody, TR, TH (scope Column) and TD. All text is marked content of its
  element, in reading order, including text that runs on to the next page; page numbers, table rules and the
  header row repeated on later pages are artifacts. The catalog has /MarkInfo Marked, /Lang en-GB and
  DisplayDocTitle (the title bar shows the document title); every heading is also a bookmark.
- DOCX (python-docx): true Heading 1-3 styles, real tables with a repeated header row, core properties
  title and language en-GB.
The PDF embeds DejaVu Sans (portal/reports/pdf_fonts.py), so names outside Latin-1 are drawn and extracted exactly, and
declares PDF/UA-1 in its XMP metadata (with dc:title): it is tagged, has its language and DisplayDocTitle, embeds
every font and draws nothing outside marked content or artifacts. Without the font files it falls back to the
built-in Helvetica (not embedded, Latin-1 only) and then makes no PDF/UA claim.
"""

import contextlib
import io
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, ClassVar
from xml.sax.saxutils import escape

from docx import Document as DocxDocument
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.table import _Row
from fpdf import ViewerPreferences
from fpdf.enums import Align

from portal.reports import pdf_fonts
from portal.reports.pdf_tags import Element, TaggedPdf

LANGUAGE = "en-GB"


@dataclass
class Heading:
    """A heading; level 1 is the document's title."""

    kind: ClassVar[str] = "heading"
    level: int
    text: str


@dataclass
class Paragraph:
    """A paragraph of plain text (line breaks kept)."""

    kind: ClassVar[str] = "paragraph"
    text: str


@dataclass
class Bullets:
    """A bulleted list."""

    kind: ClassVar[str] = "bullets"
    items: list[str]


@dataclass
class Table:
    """A table with a caption and a header row."""

    kind: ClassVar[str] = "table"
    caption: str
    head: list[str]
    rows: list[list[str]]


Block = Heading | Paragraph | Bullets | Table


@dataclass
class Report:
    """A document: its title and its blocks in reading order."""

    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> "Report":
        """Append blocks; returns self so building reads top to bottom."""
        self.blocks.extend(blocks)
        return self


# Every line is set flush left, ragged right: fpdf2's multi_cell justifies by default, and the uneven word gaps
# of justified text are hard to read for many people with dyslexia (the British Dyslexia Association's style
# guide asks for left-aligned text). Alignment changes only where words are drawn, never the tagging.
TEXT_ALIGN = Align.L


class _Pdf(TaggedPdf):
    def __init__(self) -> None:
        super().__init__(format="A4")
        self.typeface = pdf_fonts.register(self, styles="B")

    def multi_cell(self, *args: Any, **kwargs: Any) -> Any:
        """fpdf2's multi_cell, set flush left (TEXT_ALIGN) unless an alignment is given: its own default justifies."""
        kwargs.setdefault("align", TEXT_ALIGN)
        return super().multi_cell(*args, **kwargs)

    def use_font(self, size: float, style: str = "") -> None:
        """Select the document's font (DejaVu Sans, or the Helvetica fallback)."""
        self.set_font(self.typeface.family, style=style, size=size)

    def running_footer(self) -> None:
        self.set_y(-15)
        self.use_font(9)
        self.cell(0, 10, f"Page {self.page_no()} of {{nb}}", align="C")


def _pdfua_metadata(title: str) -> str:
    """XMP declaring PDF/UA-1, with the dc:title PDF/UA requires (fpdf2 wraps it in the xpacket)."""
    title = escape(re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", title))  # characters XML 1.0 does not allow
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:pdfuaid="http://www.aiim.org/pdfua/ns/id/">'
            f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>'
            f'<dc:language><rdf:Bag><rdf:li>{LANGUAGE}</rdf:li></rdf:Bag></dc:language>'
            '<pdfuaid:part>1</pdfuaid:part>'
            '</rdf:Description></rdf:RDF></x:xmpmeta>')


# Heading level -> (font size, space above, space below), in points and millimetres.
_HEADING_STYLES = {1: (20, 2, 4), 2: (15, 6, 2), 3: (12, 4, 2)}
_LINE = 6  # line height of paragraphs and lists (mm)
_CELL_LINE, _CELL_PAD = 5, 1  # line height and top/bottom padding of table cells (mm)


def to_pdf(report: Report) -> bytes:
    """Write the report as a tagged PDF: title, language, bookmarks, structure tree and real text."""
    pdf = _Pdf()
    title = unicodedata.normalize("NFC", report.title)  # metadata is not drawn with the font: keep it exact
    pdf.set_title(title)
    pdf.set_lang(LANGUAGE)
    pdf.viewer_preferences = ViewerPreferences(display_doc_title=True)
    pdf.set_creator("Moderation portal")
    pdf.set_subject(title)
    if pdf.typeface.embedded:  # the Helvetica fallback is not embedded, which PDF/UA forbids
        pdf.set_xmp_metadata(_pdfua_metadata(title))
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    for block in report.blocks:
        pdf.use_font(11)
        if isinstance(block, Heading):
            _pdf_heading(pdf, block)
        elif isinstance(block, Paragraph):
            with pdf.tagged("P"):
                pdf.multi_cell(0, _LINE, pdf.typeface.text(block.text), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        elif isinstance(block, Bullets):
            _pdf_bullets(pdf, block)
        else:
            _pdf_table(pdf, block)
    return bytes(pdf.output())


def _pdf_heading(pdf: _Pdf, heading: Heading) -> None:
    level = min(heading.level, 3)
    size, above, below = _HEADING_STYLES[level]
    text = pdf.typeface.text(heading.text)
    pdf.ln(above)
    pdf.use_font(size, "B")
    height = pdf.multi_cell(0, pdf.font_size, text, dry_run=True, output="HEIGHT")
    if pdf.will_page_break(height + below + 2 * _LINE):  # keep a heading with the start of its section
        pdf.add_page()
    pdf.start_section(text, level=level - 1, strict=False)  # the bookmark; no section styles, so no output
    with pdf.tagged(f"H{level}"):
        pdf.multi_cell(0, pdf.font_size, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(below)


def _pdf_bullets(pdf: _Pdf, block: Bullets) -> None:
    with pdf.group("L", "<</O /List /ListNumbering /None>>"):
        for item in block.items:
            with pdf.group("LI"):
                if pdf.will_page_break(_LINE):
                    pdf.add_page()
                with pdf.tagged("Lbl"):
                    pdf.cell(5, _LINE, "-")
                with pdf.tagged("LBody"):
                    pdf.multi_cell(pdf.epw - 5, _LINE, pdf.typeface.text(item), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


def _pdf_table(pdf: _Pdf, block: Table) -> None:
    """A table with a bold header row repeated (as an artifact) on each page it runs on to.

    Drawn by hand rather than with FPDF.table() so that every cell is a TH/TD and the rules are artifacts;
    a row taller than the space left continues on the next page instead of failing.
    """
    width = pdf.epw / len(block.head)
    head = [pdf.typeface.text(text) for text in block.head]
    rows = [[pdf.typeface.text(text) for text in row] for row in block.rows]
    caption = pdf.typeface.text(block.caption)
    pdf.use_font(11, "B")
    caption_height = pdf.multi_cell(0, _LINE, caption, dry_run=True, output="HEIGHT")
    if pdf.will_page_break(caption_height + 3 * (_CELL_LINE + 2 * _CELL_PAD)):  # caption, header, a row
        pdf.add_page()
    with pdf.group("Table"):
        with pdf.tagged("Caption"):
            pdf.multi_cell(0, _LINE, caption, new_x="LMARGIN", new_y="NEXT")
        with pdf.group("THead"):
            _pdf_row(pdf, head, width, header=None)
        if rows:
            with pdf.group("TBody"):
                for row in rows:
                    _pdf_row(pdf, row, width, header=head)
    pdf.ln(3)


def _pdf_row(pdf: _Pdf, texts: list[str], width: float, header: list[str] | None) -> None:
    """One table row (the header row when header is None), split over pages if it does not fit."""
    style = "B" if header is None else ""
    pdf.use_font(10, style)
    left = [pdf.multi_cell(width, _CELL_LINE, text, dry_run=True, output="LINES") for text in texts]
    page_room = pdf.page_break_trigger - pdf.t_margin - 2 * (_CELL_LINE + 2 * _CELL_PAD)
    with pdf.group("TR"):
        cells = [pdf.element("TH", "<</O /Table /Scope /Column>>") if header is None else pdf.element("TD")
                 for _ in texts]
        moved = False
        while True:
            lines = max(len(cell) for cell in left)
            fit = int((pdf.page_break_trigger - pdf.y - 2 * _CELL_PAD) // _CELL_LINE)
            # A row that fits on a page starts on the next one rather than being split; a longer one is split.
            if fit < 1 or (fit < lines and not moved and lines * _CELL_LINE <= page_room):
                _pdf_table_page_break(pdf, header, width)
                pdf.use_font(10, style)
                moved = True
                continue
            _pdf_cells(pdf, [cell[:fit] for cell in left], width, cells=cells)
            left = [cell[fit:] for cell in left]
            if not any(left):
                return
            moved = True  # this band filled the page, so the next pass finds no room and breaks the page


def _pdf_table_page_break(pdf: _Pdf, header: list[str] | None, width: float) -> None:
    pdf.add_page()
    if header is not None:
        with pdf.artifact("Pagination"):
            pdf.use_font(10, "B")
            _pdf_cells(pdf, [pdf.multi_cell(width, _CELL_LINE, text, dry_run=True, output="LINES")
                             for text in header], width, cells=None)


def _pdf_cells(pdf: _Pdf, parts: list[list[str]], width: float, cells: list[Element] | None) -> None:
    """Draw one band of a row: the rules as an artifact, then each cell's lines as its TH/TD content."""
    top = pdf.y
    height = max(len(part) for part in parts) * _CELL_LINE + 2 * _CELL_PAD
    rules = pdf.artifact("Layout") if cells is not None else contextlib.nullcontext()
    with rules:
        for column in range(len(parts)):
            pdf.rect(pdf.l_margin + column * width, top, width, height)
    for column, part in enumerate(parts):
        text = "\n".join(part)
        if not text.strip():
            continue  # an empty cell is an element without content
        pdf.set_xy(pdf.l_margin + column * width, top + _CELL_PAD)
        content = pdf.marked(cells[column]) if cells is not None else contextlib.nullcontext()
        with content:
            pdf.multi_cell(width, _CELL_LINE, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_xy(pdf.l_margin, top + height)


def _repeat_header(row: _Row) -> None:
    """Mark a table row as the header row Word repeats on each page (and announces as headers)."""
    properties = row._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    # types-lxml types append() as taking an element of the parent's own class; python-docx's CT_ classes nest.
    properties.append(header)  # type: ignore[arg-type]


def to_docx(report: Report) -> bytes:
    """Write the report as a DOCX with heading styles, real tables and its title and language set."""
    document = DocxDocument()
    document.core_properties.title = report.title
    document.core_properties.language = LANGUAGE
    for block in report.blocks:
        if isinstance(block, Heading):
            document.add_heading(block.text, level=min(block.level, 3))
        elif isinstance(block, Paragraph):
            document.add_paragraph(block.text)
        elif isinstance(block, Bullets):
            for item in block.items:
                document.add_paragraph(item, style="List Bullet")
        else:
            document.add_paragraph(block.caption, style="Caption")
            table = document.add_table(rows=1, cols=len(block.head))
            table.style = "Table Grid"
            for cell, text in zip(table.rows[0].cells, block.head, strict=True):
                cell.text = text
                for run in cell.paragraphs[0].runs:
                    run.bold = True
            _repeat_header(table.rows[0])
            for values in block.rows:
                for cell, text in zip(table.add_row().cells, values, strict=True):
                    cell.text = text
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
