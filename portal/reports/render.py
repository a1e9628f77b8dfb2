"""The minutes and the summary report as a simple block structure, written out as PDF or DOCX.

Accessibility of the downloads (documented in the README):
- PDF (fpdf2, pure Python, no system libraries): real text in reading order (no images of text), document
  title shown in the viewer's title bar, language en-GB, an outline (bookmarks) entry for every heading,
  tables drawn with a bold header row repeated on each page. fpdf2 does not write a full tagged structure
  (PDF/UA), so screen-reader users are offered the DOCX as the fully structured alternative.
- DOCX (python-docx): true Heading 1-3 styles, real tables with a repeated header row, core properties
  title and language en-GB.
The PDF uses the standard Helvetica font, which covers Latin-1 only; other characters are replaced by close
equivalents (curly quotes become straight ones) or "?".
"""

import io
import unicodedata
from dataclasses import dataclass, field
from typing import ClassVar

from docx import Document as DocxDocument
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.table import _Row
from fpdf import FPDF, TextStyle
from fpdf.enums import TableCellFillMode

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


_REPLACEMENTS = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                               "\u2014": "-", "\u2026": "...", "\u00a0": " ", "\u2022": "-"})


def _latin1(text: str) -> str:
    text = unicodedata.normalize("NFC", text.translate(_REPLACEMENTS))
    return text.encode("latin-1", "replace").decode("latin-1")


class _Pdf(FPDF):
    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("helvetica", size=9)
        self.cell(0, 10, f"Page {self.page_no()} of {{nb}}", align="C")


def to_pdf(report: Report) -> bytes:
    """Write the report as a PDF with title, language, bookmarks and real text."""
    pdf = _Pdf(format="A4")
    pdf.set_title(_latin1(report.title))
    pdf.set_lang(LANGUAGE)
    pdf.set_creator("Moderation portal")
    pdf.set_subject(_latin1(report.title))
    pdf.set_section_title_styles(
        TextStyle(font_family="helvetica", font_style="B", font_size_pt=20, t_margin=2, b_margin=4),
        TextStyle(font_family="helvetica", font_style="B", font_size_pt=15, t_margin=6, b_margin=2),
        TextStyle(font_family="helvetica", font_style="B", font_size_pt=12, t_margin=4, b_margin=2),
    )
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    for block in report.blocks:
        _pdf_block(pdf, block)
    return bytes(pdf.output())


def _pdf_block(pdf: FPDF, block: Block) -> None:
    pdf.set_font("helvetica", size=11)
    if isinstance(block, Heading):
        pdf.start_section(_latin1(block.text), level=min(block.level - 1, 2), strict=False)
    elif isinstance(block, Paragraph):
        pdf.multi_cell(0, 6, _latin1(block.text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    elif isinstance(block, Bullets):
        for item in block.items:
            pdf.multi_cell(0, 6, _latin1(f"- {item}"), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    else:
        pdf.set_font("helvetica", style="B", size=11)
        pdf.multi_cell(0, 6, _latin1(block.caption), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=10)
        with pdf.table(first_row_as_headings=True, repeat_headings=1, line_height=5,
                       cell_fill_mode=TableCellFillMode.NONE) as table:
            for row in [block.head, *block.rows]:
                cells = table.row()
                for value in row:
                    cells.cell(_latin1(value))
        pdf.ln(3)


def _repeat_header(row: _Row) -> None:
    """Mark a table row as the header row Word repeats on each page (and announces as headers)."""
    properties = row._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    properties.append(header)


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
