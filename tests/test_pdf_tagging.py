"""The minutes and summary report PDFs are tagged: structure tree, marked content, artifacts, catalog entries.

Every check reads the downloaded file back with pypdf: the structure tree from the catalog, and the content
streams operator by operator, so text outside marked content or a structure element pointing at the wrong
marked content shows up as a failure.
"""

import io
import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import pypdf
import pytest
from conftest import submit
from helpers_reports import build_meeting
from pypdf.generic import ContentStream, DictionaryObject, IndirectObject, TextStringObject

from portal.models import Role
from portal.reports import pdf_fonts
from portal.reports.pdf_tags import TaggedPdf, UnsupportedTagging
from portal.reports.render import Bullets, Heading, Paragraph, Report, Table, to_pdf

FOOTER = re.compile(r"Page \d+ of \d+")


@dataclass
class Node:
    """A structure element read back: its role, attributes, own text and children."""

    role: str
    attributes: dict
    text: str
    kids: list["Node"] = field(default_factory=list)
    pages: set[int] = field(default_factory=set)

    def find(self, role: str) -> list["Node"]:
        """Every element of this role below (and including) this one, in document order."""
        found = [self] if self.role == role else []
        return found + [node for kid in self.kids for node in kid.find(role)]

    def all_text(self) -> str:
        """The text of this element and its descendants in structure order."""
        return " ".join(part for part in [self.text, *(kid.all_text() for kid in self.kids)] if part)


@dataclass
class Content:
    """What the content streams say: text per (page, MCID), the text pieces of each artifact, anything untagged."""

    marked: dict[tuple[int, int], str]
    artifacts: list[list[str]]
    untagged: list[str]
    tagged: list[str]  # text in marked content, in the order it is drawn
    owners: dict[tuple[int, int], int]  # (page, MCID) -> object number of its element, from the ParentTree


def _font_decoder(font: DictionaryObject) -> Callable[[bytes], str]:
    """How a font's character codes read as text: the ToUnicode CMap of an embedded Type0 font (two-byte codes,
    Identity-H), Latin-1 for the built-in Helvetica of the fallback."""
    if "/ToUnicode" not in font:
        return lambda raw: raw.decode("latin-1")
    cmap = font["/ToUnicode"].get_object().get_data().decode("latin-1")
    table: dict[int, str] = {}
    for block in re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.S):
        for code, text in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            table[int(code, 16)] = bytes.fromhex(text).decode("utf-16-be")
    for block in re.findall(r"beginbfrange(.*?)endbfrange", cmap, re.S):
        for first, last, start in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            for offset in range(int(last, 16) - int(first, 16) + 1):
                table[int(first, 16) + offset] = chr(int(start, 16) + offset)
    return lambda raw: "".join(table[int.from_bytes(raw[i:i + 2], "big")] for i in range(0, len(raw), 2))


def _decode(operands: list, operator: bytes, decode: Callable[[bytes], str]) -> str:
    value = operands[-1]
    parts = [part for part in value if isinstance(part, (str, bytes))] if operator == b"TJ" else [value]
    # pypdf may have read a string as text already; the font's codes are its original bytes
    return "".join(decode(part.original_bytes if isinstance(part, TextStringObject) else bytes(part))
                   for part in parts)


def _content(reader: pypdf.PdfReader) -> Content:
    marked: dict[tuple[int, int], str] = {}
    artifacts: list[list[str]] = []
    untagged: list[str] = []
    tagged: list[str] = []
    owners: dict[tuple[int, int], int] = {}
    parent_tree = reader.trailer["/Root"]["/StructTreeRoot"]["/ParentTree"]["/Nums"]
    by_key = {parent_tree[i]: parent_tree[i + 1] for i in range(0, len(parent_tree), 2)}
    for page in reader.pages:
        number = page.indirect_reference.idnum
        for mcid, owner in enumerate(by_key.get(page.get("/StructParents"), [])):
            owners[number, mcid] = owner.idnum
        stack: list[tuple[str, int | None]] = []
        fonts = {name: _font_decoder(font.get_object()) for name, font in page["/Resources"]["/Font"].items()}
        decode = None  # set by Tf: text shown before a font is chosen fails the test
        for operands, operator in ContentStream(page.get_contents(), reader).operations:
            if operator == b"BDC":
                tag, properties = operands
                if tag == "/Artifact" and all(tag != "/Artifact" for tag, _ in stack):
                    artifacts.append([])
                stack.append((str(tag), properties.get("/MCID")))
            elif operator == b"BMC":
                stack.append((str(operands[0]), None))
            elif operator == b"EMC":
                stack.pop()
            elif operator == b"Tf":
                decode = fonts[operands[0]]
            elif operator in (b"Tj", b"TJ", b"'", b'"'):
                assert decode is not None, "text shown before any font was selected"
                text = _decode(operands, operator, decode)
                if any(tag == "/Artifact" for tag, _ in stack):
                    artifacts[-1].append(text)
                elif stack and stack[-1][1] is not None:
                    key = (number, stack[-1][1])
                    marked[key] = f"{marked.get(key, '')} {text}".strip()
                    tagged.append(text)
                else:
                    untagged.append(text)
            elif operator in (b"S", b"s", b"f", b"F", b"B", b"b") and not stack:
                untagged.append(f"path painted with {operator.decode()}")
        assert not stack, "unbalanced marked content"
    return Content(marked, artifacts, untagged, tagged, owners)


def _tree(reader: pypdf.PdfReader, content: Content) -> Node:
    """The structure tree under /StructTreeRoot, checking each MCID is owned by the element that claims it."""

    def read(reference: IndirectObject) -> Node:
        element = reference.get_object()
        kids = element.get("/K", [])
        kids = kids if isinstance(kids, list) else [kids]
        page = element.raw_get("/Pg").idnum if "/Pg" in element else None
        node = Node(str(element["/S"]), dict(element.get("/A", {})), "")
        texts = []
        for kid in kids:
            if isinstance(kid, IndirectObject):
                node.kids.append(read(kid))
                continue
            if isinstance(kid, DictionaryObject):  # an MCR: marked content on another page
                key = (kid.raw_get("/Pg").idnum, int(kid["/MCID"]))
            else:
                key = (page, int(kid))
            assert content.owners[key] == reference.idnum, f"ParentTree disagrees for {node.role} {key}"
            node.pages.add(key[0])
            texts.append(content.marked.get(key, ""))
        node.text = " ".join(text for text in texts if text)
        return node

    root = reader.trailer["/Root"]["/StructTreeRoot"]
    kids = root["/K"] if isinstance(root["/K"], list) else [root["/K"]]
    assert len(kids) == 1
    return read(kids[0])


def _read(data: bytes) -> tuple[pypdf.PdfReader, Content, Node]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    content = _content(reader)
    return reader, content, _tree(reader, content)


def _words(text: str) -> list[str]:
    return text.split()


def _without_repeated_headers(words: list[str], content: Content) -> list[str]:
    """The page's words less the header rows a table repeats on its following pages (artifacts, not in the tree)."""
    for pieces in content.artifacts:
        header = _words(" ".join(pieces))
        if not header or FOOTER.fullmatch("".join(pieces)):
            continue
        # The first occurrence is the tagged header row; a repetition is a later one.
        at = [i for i in range(len(words)) if words[i:i + len(header)] == header][-1]
        words = words[:at] + words[at + len(header):]
    return words


def _assert_everything_tagged(reader: pypdf.PdfReader, content: Content, document: Node) -> None:
    """No text or rule outside marked content; structure order reads like the page; page numbers are artifacts."""
    assert content.untagged == []
    assert [text for text in map("".join, content.artifacts) if FOOTER.fullmatch(text)] == [
        f"Page {n} of {len(reader.pages)}" for n in range(1, len(reader.pages) + 1)]
    assert set(content.marked) <= set(content.owners)
    assert _words(document.all_text()) == _words(" ".join(content.tagged))


def _chair_meeting(app, signed_in, **kwargs):
    chair, person = signed_in(Role.MEMBER, name="Chair Fictional")
    return chair, build_meeting(app, person.id, **kwargs)


def _fill(chair, meeting_id: int, note: str = "Not always recorded") -> None:
    page = f"/meetings/{meeting_id}/minutes"
    submit(chair, f"{page}/notes", {"notes": "Reflective writing was strong throughout."}, page=f"{page}/edit")
    submit(chair, f"{page}/themes", {"name": "Protected time", "note": note}, page=f"{page}/edit")
    submit(chair, f"{page}/actions", {"description": "Add protected-time log to templates", "owner": "ASYE Lead",
                                      "due_on": ["30", "4", "2027"]}, page=f"{page}/edit")
    submit(chair, f"{page}/key-messages", {"text": "Record protected time every week"}, page=f"{page}/edit")


def test_minutes_pdf_download_is_tagged(app, signed_in):
    chair, built = _chair_meeting(app, signed_in, title="Autumn panel", held_on=date(2026, 10, 14))
    _fill(chair, built.meeting_id)
    response = chair.get(f"/meetings/{built.meeting_id}/minutes.pdf")
    assert response.status_code == 200
    reader, content, document = _read(response.get_data())

    catalog = reader.trailer["/Root"]
    assert catalog["/MarkInfo"]["/Marked"].value is True
    assert catalog["/Lang"] == "en-GB"
    assert catalog["/ViewerPreferences"]["/DisplayDocTitle"].value is True
    assert reader.metadata.title == "Minutes: Autumn panel, 14 October 2026"
    # With every font embedded (tests/test_pdf_fonts.py) the file declares PDF/UA-1, with the dc:title it requires.
    metadata = ET.fromstring(catalog["/Metadata"].get_object().get_data())
    assert metadata.findtext(".//{http://www.aiim.org/pdfua/ns/id/}part") == "1"
    assert reader.xmp_metadata.dc_title == {"x-default": "Minutes: Autumn panel, 14 October 2026"}

    assert document.role == "/Document"
    headings = [(node.role, node.text) for node in document.kids if node.role in ("/H1", "/H2", "/H3")]
    assert headings[:4] == [("/H1", "Minutes: Autumn panel, 14 October 2026"),
                            ("/H2", "Attendance and apologies"), ("/H2", "Portfolios moderated"),
                            ("/H3", headings[3][1])]
    assert [text for _, text in headings[-4:]] == ["Discussion and decisions", "Themes for the programme",
                                                   "Actions for the Steering Group",
                                                   "Key messages for all NQSWs and Assessors"]
    levels = [int(role[2]) for role, _ in headings]
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels))  # no level skipped
    outline = [item.title for item in _flatten(reader.outline)]
    assert outline == [text for _, text in headings]  # one bookmark per tagged heading

    paragraphs = [node.text for node in document.find("/P")]
    assert "Reflective writing was strong throughout." in paragraphs

    tables = {table.find("/Caption")[0].text: table for table in document.find("/Table")}
    attendance = tables["Panel members at the meeting"]
    header_cells = attendance.find("/THead")[0].find("/TH")
    assert [cell.text for cell in header_cells] == ["Name", "Organisation", "Role", "Attendance"]
    assert all(cell.attributes == {"/O": "/Table", "/Scope": "/Column"} for cell in header_cells)
    rows = [[cell.text for cell in row.find("/TD")] for row in attendance.find("/TBody")[0].find("/TR")]
    assert rows[0][0] == "Chair Fictional" and rows[0][2] == "Chair"
    assert [[cell.text for cell in row.find("/TD")] for row in tables["Themes raised"].find("/TR")[1:]] == [
        ["Protected time", "The whole partnership", "Not always recorded"]]

    [items] = document.find("/L")
    assert [(item.find("/Lbl")[0].text, item.find("/LBody")[0].text) for item in items.kids] == [
        ("-", "Record protected time every week")]
    _assert_everything_tagged(reader, content, document)
    page_text = FOOTER.sub(" ", " ".join(page.extract_text() for page in reader.pages))
    # The tree reads as a text extractor reads the page (the minutes run over pages, so a table's header row may
    # be repeated on the next page as an artifact).
    assert _words(document.all_text()) == _without_repeated_headers(_words(page_text), content)


def _flatten(items: list) -> list:
    return [leaf for item in items for leaf in (_flatten(item) if isinstance(item, list) else [item])]


def test_summary_report_pdf_download_is_tagged(app, signed_in):
    chair, built = _chair_meeting(app, signed_in, title="Autumn panel", held_on=date(2026, 10, 14))
    _fill(chair, built.meeting_id)
    page = f"/meetings/{built.meeting_id}/minutes"
    submit(chair, f"{page}/approve", {}, page=page)
    submit(chair, f"{page}/publish", {}, page=page)
    observer, _ = signed_in(Role.OBSERVER)
    response = observer.get(f"/meetings/{built.meeting_id}/report.pdf")
    assert response.status_code == 200
    reader, content, document = _read(response.get_data())
    assert document.kids[0].role == "/H1"
    assert document.kids[0].text == "Partnership summary report: Autumn panel, 14 October 2026"
    tables = {table.find("/Caption")[0].text: table for table in document.find("/Table")}
    numbers = tables["Portfolios moderated and confirmed"]
    assert [cell.text for cell in numbers.find("/TH")] == ["Measure", "Number"]
    assert ["Portfolios moderated", "2"] in [[c.text for c in row.find("/TD")] for row in numbers.find("/TR")]
    exemplars = document.find("/L")[0]
    assert [item.find("/LBody")[0].text.endswith(": Critical reflection 2") for item in exemplars.kids] == [True]
    _assert_everything_tagged(reader, content, document)


def test_long_text_runs_on_to_the_next_page_inside_its_element(app, signed_in):
    chair, built = _chair_meeting(app, signed_in)
    note = " ".join(f"observation{n}" for n in range(1200))  # far taller than a page, inside a table cell
    _fill(chair, built.meeting_id, note=note)
    response = chair.get(f"/meetings/{built.meeting_id}/minutes.pdf")
    assert response.status_code == 200
    reader, content, document = _read(response.get_data())
    tables = {table.find("/Caption")[0].text: table for table in document.find("/Table")}
    [theme_row] = tables["Themes raised"].find("/TBody")[0].find("/TR")
    name, owner, cell = theme_row.find("/TD")
    assert (name.text, owner.text) == ("Protected time", "The whole partnership")
    assert cell.text == note  # every word, in order, from marked content on several pages
    assert len(cell.pages) >= 3
    # the header row is repeated on the following pages, but only as an artifact
    assert [pieces for pieces in content.artifacts if "What the panel said" in pieces] == [
        ["Theme", "For", "What the panel said"]] * (len(cell.pages) - 1)
    assert len(tables["Themes raised"].find("/TH")) == 3
    _assert_everything_tagged(reader, content, document)


def test_a_paragraph_and_a_list_item_split_by_a_page_break_stay_one_element():
    long = " ".join(f"word{n}" for n in range(1200))
    report = Report("Long").add(Heading(1, "Long"), Paragraph(long), Heading(2, "List"),
                                Bullets(["first", long]), Heading(3, "Table"),
                                Table("Numbers", ["Measure", "Number"], [[f"row {n}", str(n)] for n in range(80)]))
    reader, content, document = _read(to_pdf(report))
    [paragraph] = document.find("/P")
    assert paragraph.text == long and len(paragraph.pages) >= 2
    assert [body.text for body in document.find("/LBody")] == ["first", long]
    assert [node.role for node in document.kids] == ["/H1", "/P", "/H2", "/L", "/H3", "/Table"]
    table = document.find("/Table")[0]
    assert [kid.role for kid in table.kids] == ["/Caption", "/THead", "/TBody"]
    assert len(table.find("/TR")) == 81 and len({page for td in table.find("/TD") for page in td.pages}) >= 2
    _assert_everything_tagged(reader, content, document)


def test_the_helvetica_fallback_is_tagged_the_same_way(monkeypatch, tmp_path):
    monkeypatch.setattr(pdf_fonts, "FONT_FOLDER", tmp_path)  # no font files: Helvetica, Latin-1
    report = Report("Fallback").add(Heading(1, "Fallback"), Paragraph("Zoë and Łukasz"), Bullets(["one"]),
                                    Table("Numbers", ["Measure", "Number"], [["rows", "1"]]))
    reader, content, document = _read(to_pdf(report))
    assert [node.text for node in document.find("/P")] == ["Zoë and ?ukasz"]
    assert [node.role for node in document.kids] == ["/H1", "/P", "/L", "/Table"]
    _assert_everything_tagged(reader, content, document)


def test_fpdf2s_own_tagging_is_refused_rather_than_breaking_the_tree():
    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (2, 2)).save(png, "PNG")
    pdf = TaggedPdf()
    pdf.add_page()
    with pytest.raises(UnsupportedTagging, match="draw images, links and section titles inside tagged"):
        pdf.image(png, x=10, y=10, w=5, alt_text="A square")


def _justified_lines(reader: pypdf.PdfReader) -> list[str]:
    """Every text operation that stretches the gaps between words: a TJ array with spacing between its strings
    (fpdf2's justification with an embedded font) or a non-zero word spacing, Tw (with the built-in Helvetica)."""
    found = []
    for number, page in enumerate(reader.pages, start=1):
        for operands, operator in ContentStream(page.get_contents(), reader).operations:
            if operator == b"TJ" and any(not isinstance(part, (str, bytes)) for part in operands[0]):
                found.append(f"page {number}: TJ {operands[0]!r}"[:120])
            if operator == b"Tw" and float(operands[0]) != 0:
                found.append(f"page {number}: {float(operands[0])} Tw")
    return found


LONG_SENTENCES = " ".join(["The Assessor's report tied each judgement to the Knowledge and Skills Statement, and "
                           "the supervision records showed regular reflective discussion."] * 8)


@pytest.mark.parametrize("fallback", [False, True], ids=["DejaVu Sans", "Helvetica fallback"])
def test_text_is_set_left_aligned_never_justified_and_stays_tagged(monkeypatch, tmp_path, fallback):
    """Dyslexia style guides ask for left-aligned text: no stretched word gaps in paragraphs, lists, headings,
    captions or table cells, whichever font the PDF is set in."""
    if fallback:
        monkeypatch.setattr(pdf_fonts, "FONT_FOLDER", tmp_path)
    report = Report("Left aligned").add(
        Heading(1, "Left aligned " + LONG_SENTENCES[:150]), Paragraph(LONG_SENTENCES),
        Bullets([LONG_SENTENCES]), Table(LONG_SENTENCES[:200], ["Theme", "What the panel said"],
                                         [["Supervision", LONG_SENTENCES]]))
    reader, content, document = _read(to_pdf(report))
    assert _justified_lines(reader) == []
    assert len([line for line in content.tagged if line]) > 20  # many lines were drawn, each in marked content
    assert [node.role for node in document.kids] == ["/H1", "/P", "/L", "/Table"]
    assert _words(document.find("/P")[0].text) == _words(LONG_SENTENCES)
    _assert_everything_tagged(reader, content, document)


def test_the_minutes_and_report_downloads_are_left_aligned(app, signed_in):
    chair, built = _chair_meeting(app, signed_in)
    _fill(chair, built.meeting_id, note=LONG_SENTENCES)
    page = f"/meetings/{built.meeting_id}/minutes"
    submit(chair, f"{page}/notes", {"notes": LONG_SENTENCES}, page=f"{page}/edit")
    for path in (f"/meetings/{built.meeting_id}/minutes.pdf", f"/meetings/{built.meeting_id}/report.pdf"):
        response = chair.get(path)
        assert response.status_code == 200
        reader, content, document = _read(response.get_data())
        assert _justified_lines(reader) == [], path
        assert LONG_SENTENCES.split()[5] in " ".join(content.tagged)
        _assert_everything_tagged(reader, content, document)
