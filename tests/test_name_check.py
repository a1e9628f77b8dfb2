"""The names check (portal/documents/name_check.py): names of the NQSW, the Assessor and the rest of the registry
found in a document's text at upload and again once it is sampled, shown to the Lead page by page and counted
on the meeting's readiness; through the real app over HTTP, and the pure finder on its own."""

import io
import json
from datetime import timedelta

import pytest
from factories import make_employer, make_portfolio, seat
from flask import Flask
from fpdf import FPDF
from helpers_documents import replace, upload
from sqlalchemy import select

from portal import clock
from portal.documents import names
from portal.documents.names import Finder, Name
from portal.extensions import db
from portal.models import Assessor, AuditEvent, Document, DocumentVersion, Nqsw, Portfolio, Role
from portal.ops import jobs

NQSW_NAME = "Jane Smith"  # the portfolio's NQSW (make_portfolio's name)
ASSESSOR_NAME = "Priya Okafor"


def pdf(*pages: str) -> bytes:
    """A PDF with one page of text per argument ("" for a page with no text)."""
    document = FPDF()
    document.set_font("helvetica", size=12)
    for text in pages:
        document.add_page()
        if text:
            document.multi_cell(0, 8, text)
    return bytes(document.output())


def word(text: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# The finder on its own -----------------------------------------------------------------------------------


def test_names_are_found_as_whole_words_whatever_the_case_line_breaks_or_order() -> None:
    finder = Finder([Name("Jane Smith", "the NQSW"), Name("Sean O'Neil", "the Assessor")])
    found = finder.find(["Met JANE\nsmith today.", "Smith, Jane and Sean O\u2019Neil", "Jane Smithson; Janet Smith"],
                        paged=True)
    assert [(f.name, f.who, f.pages) for f in found] == [("Jane Smith", "the NQSW", [1, 2]),
                                                          ("Sean O'Neil", "the Assessor", [2])]
    assert finder.find(["Jane Smithson"], paged=False) == []


def test_the_portfolios_own_people_are_named_as_such_even_when_the_registry_repeats_them() -> None:
    finder = Finder([Name("Jane Smith", "the NQSW"), Name("jane  smith", "another NQSW in the registry")])
    assert [f.who for f in finder.find(["Jane Smith"], paged=False)] == ["the NQSW"]


@pytest.mark.parametrize(("pages", "said"), [([3], "page 3"), ([1, 4], "pages 1 and 4"),
                                             ([1, 2, 7], "pages 1, 2 and 7"), ([2, 3, 4, 5, 9], "pages 2 to 5 and 9")])
def test_pages_are_described_in_plain_words(pages: list[int], said: str) -> None:
    assert names.describe_pages(pages) == said


# Through the portal --------------------------------------------------------------------------------------


@pytest.fixture
def setting(app: Flask, signed_in) -> dict:
    lead_client, _ = signed_in(Role.ADMIN)
    member_client, member = signed_in(Role.MEMBER, name="Member Reader")
    portfolio_id = make_portfolio(app, NQSW_NAME)
    with app.app_context():
        portfolio = db.session.get(Portfolio, portfolio_id)
        portfolio.pseudonym = "C1"  # the panel sees "Portfolio C1", never the NQSW's name
        portfolio.assessor = Assessor(name=ASSESSOR_NAME, email="priya.okafor@example.org")
        db.session.add(Nqsw(name="Tom Registry", email="tom.registry@example.org"))
        db.session.commit()
    return {"lead": lead_client, "member": member_client, "member_id": member.id, "portfolio": portfolio_id}


def _documents(app: Flask, portfolio_id: int) -> dict[str, tuple[int, int]]:
    with app.app_context():
        return {d.evidence_type: (d.id, d.current_version_id)
                for d in db.session.scalars(select(Document).where(Document.portfolio_id == portfolio_id))}


def _version(app: Flask, version_id: int) -> tuple[str | None, list]:
    with app.app_context():
        version = db.session.get(DocumentVersion, version_id)
        return version.names_check, json.loads(version.names_found or "[]")


def test_names_in_the_text_are_found_at_upload_and_shown_to_the_lead_page_by_page(app: Flask, setting: dict) -> None:
    files = [("reflection.pdf", pdf("About my year.", f"Supervision with {ASSESSOR_NAME}.", "",
                                    f"Signed: {NQSW_NAME}. Also Tom Registry."), "critical_reflection"),
             ("plan.docx", word(f"Development plan for {NQSW_NAME}"), "pdp"),
             ("clean.txt", b"Nothing identifying here.", "other"),
             ("photo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "supervision")]
    assert upload(setting["lead"], setting["portfolio"], files).status_code == 302
    documents = _documents(app, setting["portfolio"])
    check, found = _version(app, documents["critical_reflection"][1])
    assert check == "named" and found == [
        {"name": ASSESSOR_NAME, "who": "the Assessor", "pages": [2]},
        {"name": NQSW_NAME, "who": "the NQSW", "pages": [4]},
        {"name": "Tom Registry", "who": "another NQSW in the registry", "pages": [4]}]
    assert _version(app, documents["pdp"][1]) == ("named", [{"name": NQSW_NAME, "who": "the NQSW", "pages": []}])
    assert _version(app, documents["other"][1]) == ("clear", [])
    assert _version(app, documents["supervision"][1])[0] == "no_text"
    # The Lead's list says which documents name whom; each document's page says where.
    listing = setting["lead"].get(f"/portfolios/{setting['portfolio']}/documents").get_data(as_text=True)
    assert "2 documents name someone in their text" in listing
    assert f"{ASSESSOR_NAME} (the Assessor) on page 2" in listing
    assert f"{NQSW_NAME} (the NQSW) in the document" in listing
    doc_id = documents["critical_reflection"][0]
    page = setting["lead"].get(f"/portfolios/{setting['portfolio']}/documents/{doc_id}").get_data(as_text=True)
    assert "The current version names someone in its text" in page
    assert f"{NQSW_NAME} (the NQSW) on page 4" in page and "Tom Registry (another NQSW in the registry)" in page
    assert "upload the redacted file as a new version" in page
    # The encrypted findings hold names: nothing of them in the clear in the database.
    with app.app_context():
        stored = db.session.execute(db.text("SELECT names_found FROM document_versions WHERE id = :id"),
                                    {"id": documents["critical_reflection"][1]}).scalar_one()
    assert NQSW_NAME not in stored and ASSESSOR_NAME not in stored


def test_the_panel_never_sees_the_names_found(app: Flask, setting: dict) -> None:
    upload(setting["lead"], setting["portfolio"], [("r.pdf", pdf(f"By {NQSW_NAME}"), "critical_reflection")])
    seat(app, setting["member_id"], [setting["portfolio"]])
    doc_id, _ = _documents(app, setting["portfolio"])["critical_reflection"]
    for path in (f"/portfolios/{setting['portfolio']}/documents",
                 f"/portfolios/{setting['portfolio']}/documents/{doc_id}"):
        response = setting["member"].get(path)
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        assert "Names in the text" not in text and "(the NQSW)" not in text and NQSW_NAME not in text


def test_a_redacted_version_clears_the_warning(app: Flask, setting: dict) -> None:
    upload(setting["lead"], setting["portfolio"], [("r.pdf", pdf(f"By {NQSW_NAME}"), "critical_reflection")])
    doc_id, first = _documents(app, setting["portfolio"])["critical_reflection"]
    assert replace(setting["lead"], setting["portfolio"], doc_id, "r.pdf", pdf("By [redacted]")).status_code == 302
    _, second = _documents(app, setting["portfolio"])["critical_reflection"]
    assert second != first and _version(app, second) == ("clear", [])
    page = setting["lead"].get(f"/portfolios/{setting['portfolio']}/documents/{doc_id}").get_data(as_text=True)
    assert "The current version names someone" not in page
    assert "No names found" in page and "Names found" in page  # the versions table: the new one and the old one


def test_the_meeting_readiness_counts_sampled_documents_that_still_name_someone(app: Flask, setting: dict) -> None:
    files = [("a.pdf", pdf(f"By {NQSW_NAME}"), "critical_reflection"), ("b.pdf", pdf("Nobody"), "pdp"),
             ("c.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "supervision")]
    upload(setting["lead"], setting["portfolio"], files)
    meeting_id = seat(app, setting["member_id"], [setting["portfolio"]])
    record = setting["lead"].get(f"/reviews/meetings/{meeting_id}/record").get_data(as_text=True)
    assert "1 of the 3 sampled documents still names someone in its text" in record
    assert "1 sampled document could not be checked for names" in record
    assert "(the NQSW)" not in record  # a count there, not the names


def test_sampled_documents_are_checked_again_for_names_added_to_the_registry_since(app: Flask,
                                                                                     setting: dict) -> None:
    upload(setting["lead"], setting["portfolio"], [("a.pdf", pdf("Visited with Amir Newcomer."), "pdp")])
    _, version_id = _documents(app, setting["portfolio"])["pdp"]
    assert _version(app, version_id) == ("clear", [])
    with app.app_context():
        db.session.add(Nqsw(name="Amir Newcomer", email="amir@example.org"))
        db.session.commit()
        job = jobs.find("name-check")
        assert job is not None
        assert jobs.run(job, "worker-one", force=True).summary == "no sampled document is due a names check"
    clock.advance(timedelta(minutes=1))
    seat(app, setting["member_id"], [setting["portfolio"]])  # the sample is drawn after the upload's check
    with app.app_context():
        result = jobs.run(job, "worker-one", force=True)
        assert result.outcome == "succeeded", result
        assert result.summary == "checked 1 sampled documents for names: 1 name someone"
        assert jobs.run(job, "worker-one", force=True).summary == "no sampled document is due a names check"
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "documents.names_checked")).one()
        assert json.loads(event.details) == {"named": 1}
    assert _version(app, version_id) == ("named", [{"name": "Amir Newcomer", "who": "another NQSW in the registry",
                                                    "pages": [1]}])


def test_in_a_partnership_the_employers_names_are_looked_for_too(app: Flask, setting: dict) -> None:
    make_employer(app, "Riverside Care")
    upload(setting["lead"], setting["portfolio"], [("a.pdf", pdf("Working at Riverside Care."), "pdp")])
    _, alone = _documents(app, setting["portfolio"])["pdp"]
    assert _version(app, alone) == ("clear", [])  # a partnership of one: its name identifies no one
    make_employer(app, "Oakwood Family Trust")
    upload(setting["lead"], setting["portfolio"], [("b.pdf", pdf("Working at Riverside Care."), "supervision")])
    _, shared = _documents(app, setting["portfolio"])["supervision"]
    assert _version(app, shared) == ("named", [{"name": "Riverside Care", "who": "an employer in the partnership",
                                                "pages": [1]}])
