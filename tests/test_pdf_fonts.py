"""Names outside Latin-1 in the minutes, the summary report and the PDF stamp: embedded DejaVu Sans, exact text.

Everything is downloaded through the real endpoints and read back with pypdf. Without the font files (assets not
built) the PDFs still come out, in Helvetica with "?" for what Latin-1 lacks, after one logged warning.
"""

import io
import logging
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pypdf
import pytest
from conftest import submit
from factories import make_portfolio
from fpdf import FPDF
from helpers_documents import only_document, upload
from helpers_reports import build_meeting

from portal.models import Role
from portal.reports import pdf_fonts
from portal.reports.render import Heading, Paragraph, Report, Table, to_pdf

CHAIR, MEMBER, OWNER, NAMED = "Łukasz Wójcik", "Siân Llŷr", "Ştefan Ţurcanu", "Иван Петров"
TITLE = "Zoë Dvořák's panel"
PDFUA = "{http://www.aiim.org/pdfua/ns/id/}part"


@pytest.fixture
def pdf_stamp(app_config: dict) -> None:
    """Turn PDF_STAMP on for this test."""
    app_config["PDF_STAMP"] = True


def _meeting(app, signed_in):
    """A published meeting whose minutes and report name people in Polish, Welsh, Czech, Romanian and Russian."""
    chair, chair_person = signed_in(Role.MEMBER, name=CHAIR)
    _, member = signed_in(Role.MEMBER, name=MEMBER)
    built = build_meeting(app, chair_person.id, member_ids=(member.id,), title=TITLE, held_on=date(2026, 10, 14))
    page = f"/meetings/{built.meeting_id}/minutes"
    submit(chair, f"{page}/notes", {"notes": f"{NAMED} and Σοφία Παπαδοπούλου presented the cohort."},
           page=f"{page}/edit")
    submit(chair, f"{page}/themes", {"name": "Supervision", "note": f"Raised by {NAMED}"}, page=f"{page}/edit")
    submit(chair, f"{page}/actions", {"description": f"Call {OWNER}", "owner": MEMBER, "due_on": ["30", "4", "2027"]},
           page=f"{page}/edit")
    submit(chair, f"{page}/key-messages", {"text": "Thanks to Zoë Dvořák"}, page=f"{page}/edit")
    submit(chair, f"{page}/approve", {}, page=page)
    submit(chair, f"{page}/publish", {}, page=page)
    observer, _ = signed_in(Role.OBSERVER)
    return chair, observer, built.meeting_id


def _one_page_pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.text(x=20, y=20, text="Final report")
    return bytes(pdf.output())


def _text(reader: pypdf.PdfReader) -> str:
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def _fonts(reader: pypdf.PdfReader) -> dict[str, str | None]:
    """Every font used on any page: its base name -> the key of its embedded font program (None if not embedded).

    A Type0 font without a ToUnicode map (which text extraction and PDF/UA rely on) counts as not embedded."""
    fonts = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            type0 = font["/Subtype"] == "/Type0"
            described = font["/DescendantFonts"][0].get_object() if type0 else font
            descriptor = described["/FontDescriptor"].get_object() if "/FontDescriptor" in described else {}
            files = [key for key in ("/FontFile", "/FontFile2", "/FontFile3") if key in descriptor]
            fonts[str(font["/BaseFont"])] = files[0] if files and (not type0 or "/ToUnicode" in font) else None
    return fonts


def _pdfua_part(reader: pypdf.PdfReader) -> str | None:
    catalog = reader.trailer["/Root"]
    if "/Metadata" not in catalog:
        return None
    part = ET.fromstring(catalog["/Metadata"].get_object().get_data()).find(f".//{PDFUA}")
    return None if part is None else part.text


def test_minutes_and_report_show_every_name_exactly_in_embedded_fonts(app, signed_in):
    chair, observer, meeting_id = _meeting(app, signed_in)
    for client, path, title in ((chair, "minutes.pdf", f"Minutes: {TITLE}, 14 October 2026"),
                                (observer, "report.pdf", f"Partnership summary report: {TITLE}, 14 October 2026")):
        response = client.get(f"/meetings/{meeting_id}/{path}")
        assert response.status_code == 200, path
        reader = pypdf.PdfReader(io.BytesIO(response.get_data()))
        text = _text(reader)
        for expected in (title, CHAIR, MEMBER, f"Call {OWNER}", f"Raised by {NAMED}", "Thanks to Zoë Dvořák"):
            assert expected in text, (path, expected)
        if path == "minutes.pdf":
            assert f"{NAMED} and Σοφία Παπαδοπούλου presented the cohort." in text
        assert reader.metadata.title == title
        fonts = _fonts(reader)
        assert set(fonts.values()) == {"/FontFile2"}, fonts  # every font embedded, as a TrueType subset
        assert {name.split("+")[1] for name in fonts} == {"DejaVuSansBook", "DejaVuSansBold"}
        # Tagged, /Lang, DisplayDocTitle, no untagged content (tests/test_pdf_tagging.py) and embedded fonts: PDF/UA-1
        assert _pdfua_part(reader) == "1"


def test_without_the_font_files_pdfs_fall_back_to_helvetica_after_one_warning(
        pdf_stamp, app, signed_in, monkeypatch, tmp_path: Path, caplog):
    monkeypatch.setattr(pdf_fonts, "FONT_FOLDER", tmp_path)  # an empty folder: the assets were not built
    chair, observer, meeting_id = _meeting(app, signed_in)
    caplog.set_level(logging.WARNING, logger="portal.reports.pdf_fonts")
    minutes = chair.get(f"/meetings/{meeting_id}/minutes.pdf")
    report = observer.get(f"/meetings/{meeting_id}/report.pdf")
    assert minutes.status_code == report.status_code == 200
    for response in (minutes, report):
        reader = pypdf.PdfReader(io.BytesIO(response.get_data()))
        text = _text(reader)
        # Latin-1 letters survive (ó, â, ë, á); the others become "?"
        assert "?ukasz Wójcik" in text and "Siân Ll?r" in text and "Call ?tefan ?urcanu" in text
        assert "Raised by ???? ??????" in text and "Thanks to Zoë Dvo?ák" in text
        assert reader.metadata.title == f"{'Minutes' if response is minutes else 'Partnership summary report'}: " \
                                        f"{TITLE}, 14 October 2026"  # the metadata is not drawn, so it stays exact
        fonts = _fonts(reader)
        assert fonts == {"/Helvetica": None, "/Helvetica-Bold": None}
        assert _pdfua_part(reader) is None  # no PDF/UA claim without embedded fonts

    client, _ = signed_in(Role.ADMIN, name=CHAIR)
    pid = make_portfolio(app)
    assert upload(client, pid, [("final.pdf", _one_page_pdf(), "pdp")]).status_code == 302
    doc, version = only_document(app)
    stamped = client.get(f"/portfolios/{pid}/documents/{doc}/versions/{version}/view")
    assert stamped.status_code == 200
    assert "Confidential - viewed by ?ukasz Wójcik on " in _text(pypdf.PdfReader(io.BytesIO(stamped.data)))

    warnings = [record for record in caplog.records if record.name == "portal.reports.pdf_fonts"]
    assert len(warnings) == 1  # one warning, not one per PDF
    assert warnings[0].levelno == logging.WARNING
    assert "DejaVuSans.ttf" in warnings[0].getMessage() and "make setup" in warnings[0].getMessage()


def test_characters_without_a_glyph_are_never_drawn_as_missing_glyphs(caplog):
    caplog.set_level(logging.WARNING)
    report = Report("Glyphs").add(Heading(1, "Glyphs"), Paragraph("Tab\there, 中文 name, Zoe\u0308 decomposed"),
                                  Table("Names", ["Name", "Note"], [["Đorđe Šimić", "\u4e2d"]]))
    reader = pypdf.PdfReader(io.BytesIO(to_pdf(report)))
    text = _text(reader)
    # NFC joins e + combining diaeresis; no glyph for Chinese: "?"; a tab is a space
    assert "Tab here, ?? name, Zoë decomposed" in text and "Đorđe Šimić ?" in text
    assert not [record for record in caplog.records if "missing" in record.getMessage()]  # fpdf2 found every glyph
    assert _pdfua_part(reader) == "1"
