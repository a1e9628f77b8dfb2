"""The reading view (portal/reading/): documents as text page by page, progress, preferences and private notes,
through the real app over HTTP, attacked as every other role."""

import json
import re

import pytest
from conftest import csrf_from, submit
from factories import make_portfolio, seat
from flask import Flask
from helpers_documents import only_document, three_page_pdf, upload, word_document
from sqlalchemy import select, text

from portal.documents import shredding
from portal.extensions import db
from portal.models import AuditEvent, Document, PageRead, Portfolio, ReadingNote, Role, User
from portal.ops import retention

SECRET_NOTE = "Page two contradicts the final report about supervision"


@pytest.fixture
def setting(app: Flask, signed_in) -> dict:
    """A Lead who uploaded a 3-page PDF, a Word document and a text file to a portfolio sampled for one member."""
    lead_client, lead = signed_in(Role.ADMIN)
    member_client, member = signed_in(Role.MEMBER, name="Member Reader")
    other_client, other = signed_in(Role.MEMBER, name="Other Member")
    portfolio_id = make_portfolio(app)
    meeting_id = seat(app, member.id, [portfolio_id])
    seat(app, other.id, [portfolio_id])
    files = [("reflection.pdf", three_page_pdf(), "critical_reflection"),
             ("learning.docx", word_document(), "pdp"),
             ("notes.txt", b"Line one\nstill line one\n\nA <b>second</b> paragraph", "other")]
    assert upload(lead_client, portfolio_id, files).status_code == 302
    with app.app_context():
        documents = {d.evidence_type: (d.id, d.current_version_id)
                     for d in db.session.scalars(select(Document).where(Document.portfolio_id == portfolio_id))}
    return {"lead": (lead_client, lead), "member": (member_client, member), "other": (other_client, other),
            "portfolio": portfolio_id, "meeting": meeting_id, "pdf": documents["critical_reflection"],
            "docx": documents["pdp"], "txt": documents["other"]}


def read_path(setting: dict, kind: str, page: int | None = None) -> str:
    document_id, version_id = setting[kind]
    suffix = f"?page={page}" if page else ""
    return f"/portfolios/{setting['portfolio']}/documents/{document_id}/versions/{version_id}/read{suffix}"


def notes_path(setting: dict, kind: str = "pdf") -> str:
    return f"/portfolios/{setting['portfolio']}/documents/{setting[kind][0]}/notes"


def test_a_pdf_is_read_page_by_page_with_the_scanned_page_said_plainly(app, setting):
    client, member = setting["member"]
    first = client.get(read_path(setting, "pdf"))
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "no-store"
    assert first.headers["Content-Type"] == "text/html; charset=utf-8"
    html = first.get_data(as_text=True)
    assert "Page 1 of 3" in html and "The first visit to the family went well." in html
    assert 'rel="next"' in html and 'rel="prev"' not in html
    second = client.get(read_path(setting, "pdf", 2)).get_data(as_text=True)
    assert "Page 2 of 3" in second and "it may be a scanned image. Open the original to see this page." in second
    third = client.get(read_path(setting, "pdf", 3)).get_data(as_text=True)
    assert "Final words &lt;script&gt;alert(1)&lt;/script&gt;" in third and "<script>alert" not in third
    assert 'rel="next"' not in third
    assert "Page 3 of 3" in client.get(read_path(setting, "pdf", 40)).get_data(as_text=True)  # past the end
    with app.app_context():
        pages = sorted(db.session.scalars(select(PageRead.page).where(PageRead.user_id == member.id)))
        assert pages == [1, 2, 3]
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "document.read",
                                                             AuditEvent.actor_id == member.id)).all()
        details = [json.loads(e.details) for e in events]
        assert [d["page"] for d in details] == [1, 2, 3, 3]
        assert all(d["copy"] == "panel" for d in details)  # the panel's copy, as when opening the file


def test_the_chair_and_lead_see_how_many_pages_each_member_read(app, setting):
    client, _member = setting["member"]
    for page in (1, 2):
        assert client.get(read_path(setting, "pdf", page)).status_code == 200
    lead_client, _lead = setting["lead"]
    readiness = lead_client.get(f"/portfolios/{setting['portfolio']}/documents/readiness").get_data(as_text=True)
    assert "read 2 of 3 pages" in readiness
    csv = lead_client.get(f"/portfolios/{setting['portfolio']}/documents/readiness?format=csv").get_data(as_text=True)
    row = next(line for line in csv.splitlines() if "reflection" in line.lower() or "Critical" in line)
    assert "Read (read 2 of 3 pages)" in row
    assert row.count("Not read") == 1  # the other member opened nothing


def test_word_and_text_files_keep_their_structure_without_anything_active(app, setting):
    client, _member = setting["member"]
    word = client.get(read_path(setting, "docx")).get_data(as_text=True)
    assert re.search(r"<h2>\s*Critical reflection\s*</h2>", word)  # a level below the page's own heading
    assert "<li>Supervision every month</li>" in word
    assert "<td>March</td>" in word or "<td><p>March</p></td>" in word
    assert "Page 1 of" not in word
    plain = client.get(read_path(setting, "txt")).get_data(as_text=True)
    assert "<p>Line one still line one</p>" in plain
    assert "A &lt;b&gt;second&lt;/b&gt; paragraph" in plain


def test_only_those_who_may_open_the_file_may_read_it(app, setting, signed_in):
    outsider, _ = signed_in(Role.MEMBER, name="Not On This Panel")
    nqsw, _ = signed_in(Role.NQSW)
    assessor, _ = signed_in(Role.ASSESSOR)
    for client in (outsider, nqsw, assessor):
        for kind in ("pdf", "docx", "txt"):
            assert client.get(read_path(setting, kind)).status_code in (403, 404)
    lead_client, _ = setting["lead"]
    assert lead_client.get(read_path(setting, "pdf")).status_code == 200
    # A version id of another document, with this document's address, is not found.
    path = read_path(setting, "pdf").replace(f"/versions/{setting['pdf'][1]}/", f"/versions/{setting['docx'][1]}/")
    assert setting["member"][0].get(path).status_code == 404


def test_a_damaged_file_says_so_plainly(app, signed_in):
    lead_client, _ = signed_in(Role.ADMIN)
    portfolio_id = make_portfolio(app)
    broken = b"%PDF-1.4\n" + b"\x00garbage" * 20 + b"\n%%EOF\n"
    upload(lead_client, portfolio_id, [("broken.pdf", broken, "other")])
    document_id, version_id = only_document(app)
    response = lead_client.get(f"/portfolios/{portfolio_id}/documents/{document_id}/versions/{version_id}/read")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "cannot be shown as text" in html and "Download the original" in html


def test_reading_preferences_are_remembered_and_checked(app, setting):
    client, _member = setting["member"]
    page = read_path(setting, "pdf")
    response = submit(client, "/reading/preferences", {"text_size": "largest", "line_spacing": "wide",
                                                       "background": "cream", "next": page},
                      page=f"/reading/preferences?next={page}")
    assert response.status_code == 302 and response.headers["Location"] == page
    html = client.get(page).get_data(as_text=True)
    assert "portal-reading--size-largest portal-reading--spacing-wide portal-reading--background-cream" in html
    refused = submit(client, "/reading/preferences", {"text_size": "enormous", "line_spacing": "wide",
                                                      "background": "cream"})
    assert refused.status_code == 400 and "Not a valid choice" in refused.get_data(as_text=True)
    assert "portal-reading--size-largest" in client.get(page).get_data(as_text=True)  # unchanged
    away = submit(client, "/reading/preferences", {"text_size": "large", "line_spacing": "standard",
                                                   "background": "white", "next": "//evil.example/steal"})
    assert away.status_code == 302 and away.headers["Location"] == "/dashboard"
    other_client, _ = setting["other"]
    assert "portal-reading--size-standard" in other_client.get(page).get_data(as_text=True)  # per person


def _add_note(client, setting: dict, body: str, page: int | None = 2):
    data = {"body": body, "page": str(page) if page else "", "version": str(setting["pdf"][1])}
    return submit(client, notes_path(setting), data, page=read_path(setting, "pdf", page or 1))


def test_a_private_note_is_seen_by_its_author_only(app, setting):
    client, _member = setting["member"]
    response = _add_note(client, setting, SECRET_NOTE)
    assert response.status_code == 302 and response.headers["Location"].endswith("page=2#notes")
    assert SECRET_NOTE in client.get(read_path(setting, "pdf", 2)).get_data(as_text=True)
    assert SECRET_NOTE in client.get(notes_path(setting)).get_data(as_text=True)
    task_list = client.get(f"/reviews/meetings/{setting['meeting']}/portfolios/{setting['portfolio']}")
    assert task_list.status_code == 200 and SECRET_NOTE in task_list.get_data(as_text=True)
    with app.app_context():
        note = db.session.scalars(select(ReadingNote)).one()
        raw = db.session.execute(text("SELECT body FROM reading_notes")).scalar_one()
        assert SECRET_NOTE not in raw and "supervision" not in raw  # encrypted like every free text
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "reading.note_added")).one()
        assert SECRET_NOTE not in event.details
    edit = f"{notes_path(setting)}/{note.id}/edit"
    delete = f"{notes_path(setting)}/{note.id}/delete"
    lead_client, _ = setting["lead"]
    other_client, _ = setting["other"]
    for intruder in (lead_client, other_client):
        assert SECRET_NOTE not in intruder.get(read_path(setting, "pdf", 2)).get_data(as_text=True)
        assert SECRET_NOTE not in intruder.get(notes_path(setting)).get_data(as_text=True)
        assert intruder.get(edit).status_code == 404
        assert intruder.get(delete).status_code == 404
        token = csrf_from(intruder.get(notes_path(setting)).get_data(as_text=True))
        assert intruder.post(edit, data={"csrf_token": token, "body": "overwritten"}).status_code == 404
        assert intruder.post(delete, data={"csrf_token": token}).status_code == 404
    assert SECRET_NOTE in client.get(notes_path(setting)).get_data(as_text=True)  # still there, unchanged


def test_notes_are_changed_and_deleted_by_their_author(app, setting):
    client, _member = setting["member"]
    _add_note(client, setting, "First thought", page=None)
    with app.app_context():
        note_id = db.session.scalars(select(ReadingNote.id)).one()
    edit = f"{notes_path(setting)}/{note_id}/edit"
    assert submit(client, edit, {"body": "Second thought"}).status_code == 302
    page = client.get(notes_path(setting)).get_data(as_text=True)
    assert "Second thought" in page and "First thought" not in page
    assert submit(client, f"{notes_path(setting)}/{note_id}/delete", {}).status_code == 302
    assert "You have no notes on this document yet." in client.get(notes_path(setting)).get_data(as_text=True)


def test_an_empty_or_overlong_note_is_refused_and_nothing_is_kept(app, setting):
    client, _member = setting["member"]
    empty = _add_note(client, setting, "   ")
    assert empty.status_code == 400 and "Enter your note" in empty.get_data(as_text=True)
    long = _add_note(client, setting, "x" * 5001)
    assert long.status_code == 400 and "5,000 characters or fewer" in long.get_data(as_text=True)
    bad_page = _add_note(client, setting, "fine", page=None)
    assert bad_page.status_code == 302
    refused = submit(client, notes_path(setting), {"body": "odd", "page": "-3"})
    assert refused.status_code == 400
    with app.app_context():
        assert [n.body for n in db.session.scalars(select(ReadingNote))] == ["fine"]


def test_notes_and_page_records_go_with_the_document_and_the_portfolio(app, setting):
    client, _member = setting["member"]
    _add_note(client, setting, SECRET_NOTE)
    client.get(read_path(setting, "pdf"))
    client.get(read_path(setting, "txt"))
    _add_note_txt = submit(client, notes_path(setting, "txt"), {"body": "On the text file", "page": ""})
    assert _add_note_txt.status_code == 302
    with app.app_context():
        lead = db.session.get(User, setting["lead"][1].id)
        shredding.delete_document(lead, db.session.get(Document, setting["pdf"][0]), "wrong portfolio")
        assert [n.body for n in db.session.scalars(select(ReadingNote))] == ["On the text file"]
        assert not db.session.scalars(select(PageRead).where(PageRead.document_id == setting["pdf"][0])).all()
        retention.purge_portfolio(None, db.session.get(Portfolio, setting["portfolio"]))
        assert db.session.scalars(select(ReadingNote)).all() == []
        assert db.session.scalars(select(PageRead)).all() == []
