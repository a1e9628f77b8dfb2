"""Pseudonyms hold inside the files: everyone but the Lead receives a copy without identifying metadata."""

import io
import zipfile
from collections.abc import Callable

import pytest
from conftest import Person
from factories import make_portfolio, seat
from flask import Flask
from flask.testing import FlaskClient
from helpers_documents import DOC, upload
from helpers_keys import cli_runner
from helpers_metadata import NAME, docx, entries, identifying, jpeg, odt, pdf, png, xlsx

from portal.documents.storage import app_store
from portal.extensions import db
from portal.models import AuditEvent, DocumentVersion, PanelCopy, Portfolio, Role

BUILDERS = {"pdf": pdf, "docx": docx, "xlsx": xlsx, "odt": odt, "jpeg": jpeg, "png": png}
EXTENSIONS = {"pdf": "pdf", "docx": "docx", "xlsx": "xlsx", "odt": "odt", "jpeg": "jpg", "png": "png"}


def _paths(pid: int, doc: int, version: int) -> dict[str, str]:
    base = f"/portfolios/{pid}/documents/{doc}"
    return {"document": base, "view": f"{base}/versions/{version}/view",
            "download": f"{base}/versions/{version}/download"}


def _newest(app: Flask) -> tuple[int, int]:
    with app.app_context():
        return db.session.execute(db.select(DocumentVersion.document_id, DocumentVersion.id)
                                  .order_by(DocumentVersion.id.desc()).limit(1)).one()


@pytest.fixture
def panel(app: Flask, admin_client: tuple[FlaskClient, Person],
          signed_in: Callable[..., tuple[FlaskClient, Person]]) -> tuple[FlaskClient, FlaskClient, int]:
    """(the Lead's client, a panel member's client, Jane Smith's portfolio pseudonymised B1 and sampled)."""
    lead, _ = admin_client
    pid = make_portfolio(app, "Jane Smith")
    with app.app_context():
        db.session.get(Portfolio, pid).pseudonym = "B1"
        db.session.commit()
    member, person = signed_in(Role.MEMBER)
    seat(app, person.id, [pid])
    return lead, member, pid


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_the_panel_gets_none_of_the_names_hidden_in_the_file_and_the_lead_gets_the_original(
        app: Flask, panel: tuple[FlaskClient, FlaskClient, int], kind: str) -> None:
    lead, member, pid = panel
    original = BUILDERS[kind]()
    assert identifying(original), "the test file must carry the name for this test to mean anything"
    assert upload(lead, pid, [(f"Jane Smith review.{EXTENSIONS[kind]}", original, "review_6_month")]
                  ).status_code == 302
    doc, version = _newest(app)
    paths = _paths(pid, doc, version)

    received = member.get(paths["download"])
    assert received.status_code == 200
    assert identifying(received.data) == [], kind
    assert received.headers["Content-Length"] == str(len(received.data))
    assert lead.get(paths["download"]).data == original  # the stored original stays for the Lead
    if kind == "pdf":
        viewed = member.get(paths["view"])
        assert viewed.status_code == 200 and viewed.data == received.data
        assert "inline" in viewed.headers["Content-Disposition"]
    _still_usable(kind, original, received.data)
    with app.app_context():
        row = db.session.get(DocumentVersion, version)
        assert row.cleaning == "cleaned" and row.panel_copy is not None and row.panel_copy.size == len(received.data)
        details = [e.details for e in db.session.scalars(db.select(AuditEvent).where(
            AuditEvent.action == "document.downloaded").order_by(AuditEvent.id))]
    assert '"copy":"panel"' in details[0] and "copy" not in details[1]  # the member's, then the Lead's


def _still_usable(kind: str, original: bytes, copy: bytes) -> None:
    """The copy is still the same document: the same pages, parts, text or pixels."""
    if kind == "pdf":
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(copy))
        assert len(reader.pages) == 1 and reader.metadata is None and reader.xmp_metadata is None
        comment = reader.pages[0]["/Annots"][0].get_object()
        assert comment["/T"] == "Author" and comment["/Contents"] == "Checked against the KSS."
    elif kind in ("docx", "xlsx", "odt"):
        before, after = entries(original), entries(copy)
        assert list(after) == list(before)  # every part kept, in order (ODT's mimetype first)
        body = {"docx": "word/document.xml", "xlsx": "xl/worksheets/sheet1.xml", "odt": "content.xml"}[kind]
        for text in (b"Reflection", b"Protected time 10%") if kind != "docx" else (b"Reflection on practice.",
                                                                                    b"Added by a reviewer."):
            if text in before[body]:
                assert text in after[body]
        if kind == "docx":
            import docx as python_docx

            assert "Reflection on practice." in python_docx.Document(io.BytesIO(copy)).paragraphs[0].text
        if kind == "odt":
            import zipfile

            with zipfile.ZipFile(io.BytesIO(copy)) as archive:
                assert archive.infolist()[0].compress_type == zipfile.ZIP_STORED
    else:
        from PIL import Image

        old, new = Image.open(io.BytesIO(original)), Image.open(io.BytesIO(copy))
        assert new.size == old.size and new.tobytes() == old.tobytes()  # decoded alike: not re-encoded
        if kind == "jpeg":
            assert new.getexif().get(0x0112) == 6  # still shown the right way up


def test_a_word_97_file_reaches_the_panel_as_uploaded_and_the_lead_is_told(
        app: Flask, panel: tuple[FlaskClient, FlaskClient, int]) -> None:
    lead, member, pid = panel
    response = upload(lead, pid, [("Old review.doc", DOC, "review_3_month"), ("Reflection.pdf", pdf(), "pdp")])
    assert response.status_code == 302
    listing = lead.get(f"/portfolios/{pid}/documents").get_data(as_text=True)
    assert "The panel will see this file as uploaded" in listing
    assert "3-month review: The file as uploaded, with any names hidden in it: Word 97-2003 (.doc)" in listing
    assert "Professional development plans:" not in listing  # the PDF was cleaned
    doc, version = _newest(app)
    with app.app_context():
        old = db.session.scalars(db.select(DocumentVersion).where(DocumentVersion.id != version)).one()
        assert old.cleaning == "not_possible" and old.panel_copy is None
    page = lead.get(_paths(pid, old.document_id, old.id)["document"]).get_data(as_text=True)
    assert "What the panel gets" in page and "Word 97-2003 (.doc) files cannot be cleaned" in page
    assert member.get(_paths(pid, old.document_id, old.id)["download"]).data == DOC
    member_listing = member.get(f"/portfolios/{pid}/documents").get_data(as_text=True)
    assert "The panel will see" not in member_listing
    assert "What the panel gets" not in member.get(_paths(pid, doc, version)["document"]).get_data(as_text=True)


def test_a_comment_among_the_properties_goes_with_them(app: Flask,
                                                      panel: tuple[FlaskClient, FlaskClient, int]) -> None:
    """An XML comment beside the document properties has no element name: it is dropped like them."""
    lead, member, pid = panel
    parts = entries(docx())
    parts["docProps/core.xml"] = parts["docProps/core.xml"].replace(
        b"<dc:title>", f"<!-- written by {NAME} --><dc:title>".encode(), 1)
    original = _zipped(parts)
    assert upload(lead, pid, [("review.docx", original, "review_6_month")]).status_code == 302
    doc, version = _newest(app)
    received = member.get(_paths(pid, doc, version)["download"])
    assert received.status_code == 200 and identifying(received.data) == []
    assert b"<!--" not in entries(received.data)["docProps/core.xml"]
    with app.app_context():
        assert db.session.get(DocumentVersion, version).cleaning == "cleaned"


def _zipped(parts: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in parts.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def test_text_files_have_nothing_hidden_and_a_damaged_pdf_is_flagged(
        app: Flask, panel: tuple[FlaskClient, FlaskClient, int]) -> None:
    lead, _, pid = panel
    upload(lead, pid, [("notes.txt", b"Supervision notes\n", "supervision"),
                       ("broken.pdf", b"%PDF-1.4\nnot really a pdf", "pdp")])
    with app.app_context():
        states = {v.filename: v.cleaning for v in db.session.scalars(db.select(DocumentVersion))}
    assert states == {"notes.txt": "nothing_hidden", "broken.pdf": "unreadable"}
    listing = lead.get(f"/portfolios/{pid}/documents").get_data(as_text=True)
    assert "it could not be read to be cleaned" in listing and "Supervision records:" not in listing


@pytest.fixture
def small_panel_copies(app_config: dict) -> None:
    """Panel copies only of files up to 1 KB."""
    app_config["PANEL_COPY_MAX_BYTES"] = 1024


def test_a_file_over_the_panel_copy_limit_is_flagged_to_the_lead(
        small_panel_copies: None, app: Flask, panel: tuple[FlaskClient, FlaskClient, int]) -> None:
    lead, member, pid = panel
    big = pdf()
    assert len(big) > 1024
    upload(lead, pid, [("big.pdf", big, "pdp")])
    doc, version = _newest(app)
    with app.app_context():
        assert db.session.get(DocumentVersion, version).cleaning == "too_large"
    assert "it is too large to clean" in lead.get(f"/portfolios/{pid}/documents").get_data(as_text=True)
    assert member.get(_paths(pid, doc, version)["download"]).data == big


def test_a_lost_panel_copy_is_never_replaced_by_the_original(
        app: Flask, panel: tuple[FlaskClient, FlaskClient, int]) -> None:
    lead, member, pid = panel
    upload(lead, pid, [("review.pdf", pdf(), "pdp")])
    doc, version = _newest(app)
    with app.app_context():
        copy = db.session.scalars(db.select(PanelCopy)).one()
        original = db.session.get(DocumentVersion, version)
        store = app_store(app)
        store.path(copy.blob_id).write_bytes(store.path(original.blob_id).read_bytes())  # the original in its place
    response = member.get(_paths(pid, doc, version)["download"])
    assert response.status_code == 500 and b"This document cannot be opened" in response.data
    assert NAME.encode() not in response.data
    with app.app_context():
        db.session.delete(db.session.scalars(db.select(PanelCopy)).one())
        db.session.commit()
    missing = member.get(_paths(pid, doc, version)["download"])
    assert missing.status_code == 500 and NAME.encode() not in missing.data
    assert lead.get(_paths(pid, doc, version)["download"]).status_code == 200


@pytest.fixture
def pdf_stamp(app_config: dict) -> None:
    """Stamp every opened PDF."""
    app_config["PDF_STAMP"] = True


def test_a_stamped_pdf_is_stamped_from_the_panel_copy(pdf_stamp: None, app: Flask,
                                                      panel: tuple[FlaskClient, FlaskClient, int]) -> None:
    from pypdf import PdfReader

    lead, member, pid = panel
    upload(lead, pid, [("review.pdf", pdf(), "pdp")])
    doc, version = _newest(app)
    viewed = member.get(_paths(pid, doc, version)["view"])
    assert viewed.status_code == 200 and identifying(viewed.data) == []
    assert "Confidential - viewed by" in PdfReader(io.BytesIO(viewed.data)).pages[0].extract_text()


def test_versions_stored_before_panel_copies_get_them_from_the_command(
        app: Flask, panel: tuple[FlaskClient, FlaskClient, int]) -> None:
    lead, member, pid = panel
    upload(lead, pid, [("review.docx", docx(), "pdp"), ("old.doc", DOC, "pdp")])
    with app.app_context():  # as if stored before this version of the portal
        for copy in db.session.scalars(db.select(PanelCopy)):
            app_store(app).delete(copy.blob_id)
            db.session.delete(copy)
        for row in db.session.scalars(db.select(DocumentVersion)):
            row.cleaning = None
        db.session.commit()
    with app.app_context():
        docx_doc, docx_version = next((v.document_id, v.id) for v in db.session.scalars(db.select(DocumentVersion))
                                      if v.filename == "review.docx")
    assert identifying(member.get(_paths(pid, docx_doc, docx_version)["download"]).data)  # the legacy state
    assert "stored before the portal made cleaned copies" in lead.get(
        f"/portfolios/{pid}/documents").get_data(as_text=True)

    result = cli_runner(app)("documents", "clean")

    assert result.exit_code == 0
    assert "1 version: cleaned" in result.output and "1 version: not possible" in result.output
    assert identifying(member.get(_paths(pid, docx_doc, docx_version)["download"]).data) == []
    assert "every version already has" in cli_runner(app)("documents", "clean").output


def test_a_pdf_saved_incrementally_loses_its_earlier_revisions_too(
        app: Flask, panel: tuple[FlaskClient, FlaskClient, int]) -> None:
    from pypdf import PdfReader, PdfWriter

    lead, member, pid = panel
    revised = PdfWriter(io.BytesIO(pdf()), incremental=True)  # a later save appends; the first one stays in the file
    revised.metadata = {"/Author": "Reviewer", "/Title": "Review"}
    out = io.BytesIO()
    revised.write(out)
    original = out.getvalue()
    assert NAME.encode() in original and PdfReader(io.BytesIO(original)).metadata["/Author"] == "Reviewer"
    upload(lead, pid, [("review.pdf", original, "pdp")])
    doc, version = _newest(app)
    received = member.get(_paths(pid, doc, version)["download"]).data
    assert identifying(received) == [] and b"Reviewer" not in received
    assert len(PdfReader(io.BytesIO(received)).pages) == 1
