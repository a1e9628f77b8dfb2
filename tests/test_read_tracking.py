"""Read tracking: receipts for every view and download, who has read what, and the readiness matrix."""

import csv
import io
from collections.abc import Callable
from datetime import timedelta

import pytest
from conftest import Person
from factories import make_portfolio, seat
from flask import Flask
from flask.testing import FlaskClient
from helpers_documents import PDF, only_document, replace, upload
from helpers_queries import counting_statements

from portal import clock
from portal.documents import services
from portal.extensions import db
from portal.models import Document, DocumentVersion, ReadReceipt, Role, User


def _receipts(app: Flask) -> list[ReadReceipt]:
    with app.app_context():
        rows = list(db.session.scalars(db.select(ReadReceipt).order_by(ReadReceipt.id)))
        db.session.expunge_all()
        return rows


@pytest.fixture
def stored(app: Flask, admin_client: tuple[FlaskClient, Person]) -> tuple[FlaskClient, int, int, int]:
    """The admin's client and a portfolio holding one PDF: (client, portfolio, document, version)."""
    admin, _ = admin_client
    pid = make_portfolio(app)
    upload(admin, pid, [("r.pdf", PDF, "final_report")])
    doc, version = only_document(app)
    return admin, pid, doc, version


def test_views_and_downloads_create_then_update_one_receipt(
        app: Flask, stored: tuple[FlaskClient, int, int, int],
        signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    _, pid, doc, version = stored
    member, person = signed_in(Role.MEMBER)
    seat(app, person.id, [pid])
    base = f"/portfolios/{pid}/documents/{doc}/versions/{version}"
    start = clock.now()
    member.get(f"{base}/view")
    clock.advance(timedelta(minutes=20))  # within the idle timeout
    member.get(f"{base}/download")
    member.get(f"{base}/view")
    (receipt,) = _receipts(app)
    assert (receipt.user_id, receipt.document_id, receipt.version_id) == (person.id, doc, version)
    assert (receipt.views, receipt.downloads) == (2, 1)
    assert receipt.first_at - start < timedelta(minutes=1)
    assert receipt.last_at - receipt.first_at >= timedelta(minutes=20)


def test_portfolio_page_shows_who_has_read_each_document(
        app: Flask, stored: tuple[FlaskClient, int, int, int],
        signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    admin, pid, doc, version = stored
    early, early_person = signed_in(Role.MEMBER, name="Early Reader")
    late, late_person = signed_in(Role.MEMBER, name="Late Reader")
    seat(app, early_person.id, [pid])
    seat(app, late_person.id, [pid])
    early.get(f"/portfolios/{pid}/documents/{doc}/versions/{version}/download")
    page = admin.get(f"/portfolios/{pid}/documents").get_data(as_text=True)
    assert "<li>Early Reader</li>" in page and "Late Reader" not in page
    replace(admin, pid, doc, "r.pdf", PDF + b"%v2\n")
    with app.app_context():
        new_version = db.session.get(Document, doc).current_version_id
    late.get(f"/portfolios/{pid}/documents/{doc}/versions/{new_version}/view")
    page = late.get(f"/portfolios/{pid}/documents").get_data(as_text=True)
    assert "<li>Early Reader (an older version)</li>" in page and "<li>Late Reader</li>" in page


def test_readiness_matrix_states_page_and_csv(app: Flask, admin_client: tuple[FlaskClient, Person],
                                              signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    admin, _ = admin_client
    pid = make_portfolio(app)
    upload(admin, pid, [("a.pdf", PDF, "agreement"), ("b.pdf", PDF, "pdp")])
    reader, reader_person = signed_in(Role.MEMBER, name="Ann Reader")
    _, idle_person = signed_in(Role.MEMBER, name="=Bob Idle")
    seat(app, reader_person.id, [pid])
    seat(app, idle_person.id, [pid])
    with app.app_context():
        documents = list(db.session.scalars(db.select(Document).order_by(Document.id)))
        first, second = [(d.id, d.current_version_id) for d in documents]
    reader.get(f"/portfolios/{pid}/documents/{first[0]}/versions/{first[1]}/download")
    reader.get(f"/portfolios/{pid}/documents/{second[0]}/versions/{second[1]}/download")
    with app.app_context():  # a newer version of the second document arrives after she read it
        document = db.session.get(Document, second[0])
        old = db.session.get(DocumentVersion, second[1])
        newer = DocumentVersion(document=document, number=2, blob_id="f" * 32, filename="b.pdf",
                                content_type=old.content_type, size=1, digest="0" * 64, kek_id=old.kek_id,
                                wrapped_key=old.wrapped_key, uploaded_by_id=old.uploaded_by_id,
                                uploaded_at=clock.now())
        db.session.add(newer)
        db.session.flush()
        document.current_version_id = newer.id
        db.session.commit()
        people = [db.session.get(User, reader_person.id), db.session.get(User, idle_person.id)]
        matrix = services.readiness_matrix(people, services.documents_of([pid]))
        assert [matrix.state(p, d) for p in people for d in matrix.documents] == ["read", "older", "unread",
                                                                                   "unread"]
    page = admin.get(f"/portfolios/{pid}/documents/readiness").get_data(as_text=True)
    assert "Ann Reader" in page and "Read an older version" in page and "Not read" in page
    assert "(1 of 2 read)" in page and "govuk-tag--yellow" in page
    other = make_portfolio(app, "Other Person")
    choose = admin.get("/documents/readiness").get_data(as_text=True)
    assert f'name="portfolio" type="checkbox" value="{other}"' in choose and "Other Person" in choose
    both = admin.get(f"/documents/readiness?portfolio={pid}&portfolio={other}").get_data(as_text=True)
    assert "For 2 portfolios" in both and "Ann Reader" in both
    assert admin.get(f"/documents/readiness?portfolio={other + 100}").status_code == 404
    exported = admin.get(f"/portfolios/{pid}/documents/readiness?format=csv")
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[0] == ["Portfolio", "Evidence type", "Document", "'=Bob Idle", "Ann Reader"]  # formulas defused
    assert rows[1][1:] == ["Support and assessment agreement", "Support and assessment agreement", "Not read",
                           "Read"]  # an untitled document is named by its kind of evidence, not its file
    assert rows[2][3:] == ["Not read", "Read an older version"]
    assert reader.get(f"/portfolios/{pid}/documents/readiness").status_code == 404


def _populate(app: Flask, admin_id: int, people: int, documents: int) -> int:
    """A sampled portfolio with this many panel members and documents, half of them read; returns its id."""
    pid = make_portfolio(app, f"Portfolio {people}x{documents}")
    with app.app_context():
        now = clock.now()
        users = [User(email=f"p{people}-{n}@example.org", name=f"Person {n}", role=Role.MEMBER.value,
                      created_at=now) for n in range(people)]
        db.session.add_all(users)
        docs = [Document(portfolio_id=pid, evidence_type="other", title=f"Document {n}", created_by_id=admin_id,
                         created_at=now) for n in range(documents)]
        db.session.add_all(docs)
        db.session.flush()
        versions = [DocumentVersion(document_id=d.id, number=1, blob_id=f"{people:04x}{n:028x}", filename="x.pdf",
                                    content_type="application/pdf", size=1, digest="0", kek_id="k1",
                                    wrapped_key=b"0" * 40, uploaded_by_id=admin_id, uploaded_at=now)
                    for n, d in enumerate(docs)]
        db.session.add_all(versions)
        db.session.flush()
        for d, v in zip(docs, versions, strict=True):
            d.current_version_id = v.id
        db.session.add_all(ReadReceipt(user_id=u.id, document_id=v.document_id, version_id=v.id, first_at=now,
                                       last_at=now, views=1, downloads=0)
                           for u in users for v in versions[::2])
        db.session.commit()
        user_ids = [u.id for u in users]
    for user_id in user_ids:
        seat(app, user_id, [pid])
    return pid


def test_matrix_page_query_count_does_not_grow(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    admin, admin_person = admin_client
    small = _populate(app, admin_person.id, 5, 20)
    large = _populate(app, admin_person.id, 50, 500)
    admin.get(f"/portfolios/{small}/documents/readiness")  # warm up anything cached once per process
    counts = []
    for pid, cells in ((small, 5 * 20), (large, 50 * 500)):
        with counting_statements(app) as statements:
            response = admin.get(f"/portfolios/{pid}/documents/readiness")
        assert response.status_code == 200
        assert response.get_data(as_text=True).count("govuk-tag--green") == cells // 2
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
    assert counts[0] < 15


def test_comparing_too_many_portfolios_is_refused_with_the_reason_never_cut(
        app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    from portal.documents.views import MATRIX_MAX

    admin, _ = admin_client
    with app.app_context():
        first = make_portfolio(app, "Compared Person")
    ids = [first] + [make_portfolio(app, f"Compared Person {n}") for n in range(MATRIX_MAX)]
    query = "&".join(f"portfolio={pid}" for pid in ids)
    refused = admin.get(f"/documents/readiness?{query}")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "There is a problem" in page
    assert f"Choose at most {MATRIX_MAX} portfolios to compare at once: {MATRIX_MAX + 1} were asked for" in page
    assert admin.get(f"/documents/readiness?{query}&format=csv").status_code == 400  # the CSV is not cut either
    most = "&".join(f"portfolio={pid}" for pid in ids[:MATRIX_MAX])
    assert f"For {MATRIX_MAX} portfolios" in admin.get(f"/documents/readiness?{most}").get_data(as_text=True)
    # Repeats count once; one portfolio the person may not see makes the whole page a 404, as for one alone.
    assert admin.get(f"/documents/readiness?{most}&portfolio={first}").status_code == 200
    assert admin.get(f"/documents/readiness?portfolio={first}&portfolio={ids[-1] + 100}").status_code == 404
    # The portfolios are loaded in one statement, however many are compared.
    with counting_statements(app) as two:
        assert admin.get(f"/documents/readiness?portfolio={ids[0]}&portfolio={ids[1]}").status_code == 200
    with counting_statements(app) as fifty:
        assert admin.get(f"/documents/readiness?{most}").status_code == 200
    assert len(fifty) == len(two)
