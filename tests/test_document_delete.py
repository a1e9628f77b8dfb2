"""Deleting a document from its page: confirmation with a reason, crypto-shredding, tombstone, audit, access."""

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import PG_URL, Person, csrf_from
from factories import blob_path, make_portfolio, seat
from flask import Flask
from flask.testing import FlaskClient
from helpers_documents import PDF, only_document, replace, upload
from helpers_keys import cli_runner

from portal.extensions import db
from portal.models import AuditEvent, Document, DocumentVersion, Role

REASON = "Uploaded to the wrong portfolio by mistake"


def _base(pid: int, doc: int) -> str:
    return f"/portfolios/{pid}/documents/{doc}"


def _deletions(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        events = list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "document.deleted")))
        db.session.expunge_all()
        return events


def _state(app: Flask, doc: int) -> tuple[bool, list[bool], str]:
    """(deleted?, has a wrapped key for each version, title) of a document."""
    with app.app_context():
        document = db.session.get(Document, doc)
        return (document.deleted_at is not None, [v.wrapped_key is not None for v in document.versions],
                document.title)


def _delete(client: FlaskClient, pid: int, doc: int, reason: str):
    path = f"{_base(pid, doc)}/delete"
    token = csrf_from(client.get(path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, "reason": reason})


def _assert_untouched(app: Flask, doc: int, blobs: list[Path]) -> None:
    deleted, keys, title = _state(app, doc)
    assert not deleted and all(keys) and title == "Final report"
    assert all(blob.exists() for blob in blobs)
    assert _deletions(app) == []


@pytest.fixture
def stored(app: Flask, admin_client: tuple[FlaskClient, Person]) -> dict:
    """A portfolio holding one PDF with two versions, and the blobs of both."""
    client, lead = admin_client
    pid = make_portfolio(app, "Alex Example")
    assert upload(client, pid, [("Final report.pdf", PDF, "final_report")], title="Final report").status_code == 302
    doc, first = only_document(app)
    assert replace(client, pid, doc, "Final v2.pdf", PDF + b"%v2\n").status_code == 302
    _, second = only_document(app)
    return {"client": client, "lead": lead, "pid": pid, "doc": doc, "versions": [first, second],
            "blobs": [blob_path(app, first), blob_path(app, second)]}


def test_the_document_page_offers_deletion_to_the_lead_only(app: Flask, stored: dict,
                                                            signed_in: Callable[..., tuple[FlaskClient, Person]]
                                                            ) -> None:
    pid, doc = stored["pid"], stored["doc"]
    page = stored["client"].get(_base(pid, doc)).get_data(as_text=True)
    assert f'href="{_base(pid, doc)}/delete"' in page and "Delete document" in page
    member, person = signed_in(Role.MEMBER)
    seat(app, person.id, [pid])
    page = member.get(_base(pid, doc))
    assert page.status_code == 200 and "/delete" not in page.get_data(as_text=True)


def test_confirmation_names_the_document_and_portfolio_and_explains(app: Flask, stored: dict) -> None:
    response = stored["client"].get(f"{_base(stored['pid'], stored['doc'])}/delete")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Final report" in page and "Alex Example" in page and "2 versions" in page
    assert "cannot be undone" in page and "tombstone" in page and "audit trail" in page
    assert 'name="reason"' in page
    _assert_untouched(app, stored["doc"], stored["blobs"])  # showing the page deletes nothing


def test_the_lead_deletes_with_a_reason(app: Flask, stored: dict,
                                        signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    client, pid, doc, versions = stored["client"], stored["pid"], stored["doc"], stored["versions"]
    member, person = signed_in(Role.MEMBER)
    seat(app, person.id, [pid])
    assert member.get(f"{_base(pid, doc)}/versions/{versions[1]}/download").status_code == 200

    response = _delete(client, pid, doc, f"  {REASON}  ")

    assert response.status_code == 302 and response.headers["Location"] == f"/portfolios/{pid}/documents"
    listing = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "\u201cFinal report\u201d has been deleted." in listing
    assert f"/documents/{doc}" not in listing and "This portfolio has no documents yet." in listing
    assert not any(blob.exists() for blob in stored["blobs"])
    deleted, keys, title = _state(app, doc)
    assert deleted and keys == [False, False] and title == "Deleted document"
    with app.app_context():
        assert all(v.shredded_at is not None and v.filename == "" for v in db.session.get(Document, doc).versions)
    (event,) = _deletions(app)
    assert event.actor_id == stored["lead"].id and event.target == f"document:{doc}"
    assert f'"reason":"{REASON}"' in event.details and '"versions":2' in event.details
    assert f'"portfolio":{pid}' in event.details
    for who in (client, member):
        for version in versions:
            for action in ("view", "download"):
                assert who.get(f"{_base(pid, doc)}/versions/{version}/{action}").status_code == 404
        for path in (_base(pid, doc), f"{_base(pid, doc)}/replace"):
            assert who.get(path).status_code == 404, path
    assert client.get(f"{_base(pid, doc)}/delete").status_code == 404
    token = csrf_from(client.get(f"/portfolios/{pid}/documents/upload").get_data(as_text=True))
    again = client.post(f"{_base(pid, doc)}/delete", data={"csrf_token": token, "reason": "again"})
    assert again.status_code == 404 and len(_deletions(app)) == 1


def test_deleted_documents_download_is_a_404(app: Flask, stored: dict) -> None:
    client, pid, doc, versions = stored["client"], stored["pid"], stored["doc"], stored["versions"]
    download = f"{_base(pid, doc)}/versions/{versions[1]}/download"
    assert client.get(download).status_code == 200
    assert _delete(client, pid, doc, REASON).status_code == 302
    assert client.get(download).status_code == 404


@pytest.mark.parametrize(("reason", "message"), [
    ("", "Enter why you are deleting this document"),
    ("   \n ", "Enter why you are deleting this document"),
    ("x" * 501, "The reason must be 500 characters or fewer"),
])
def test_a_missing_or_overlong_reason_is_an_error_and_deletes_nothing(app: Flask, stored: dict, reason: str,
                                                                       message: str) -> None:
    response = _delete(stored["client"], stored["pid"], stored["doc"], reason)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "There is a problem" in page and page.count(message) == 2  # the summary and the field
    assert 'href="#reason"' in page and 'id="reason-error"' in page
    assert "<title>Error: " in page
    _assert_untouched(app, stored["doc"], stored["blobs"])


def test_500_characters_is_enough(app: Flask, stored: dict) -> None:
    assert _delete(stored["client"], stored["pid"], stored["doc"], "x" * 500).status_code == 302
    assert _state(app, stored["doc"])[0]


def test_a_panel_member_granted_the_portfolio_gets_404_and_deletes_nothing(
        app: Flask, stored: dict, signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    pid, doc = stored["pid"], stored["doc"]
    for role in (Role.MEMBER, Role.OBSERVER, Role.ASSESSOR):
        other, person = signed_in(role)
        seat(app, person.id, [pid])
        if role == Role.MEMBER:
            assert other.get(_base(pid, doc)).status_code == 200  # granted: they may read it, not delete it
        assert other.get(f"{_base(pid, doc)}/delete").status_code == 404
        token = csrf_from(other.get("/account/password").get_data(as_text=True))  # a valid token of their own
        response = other.post(f"{_base(pid, doc)}/delete", data={"csrf_token": token, "reason": REASON})
        assert response.status_code == 404, role
    _assert_untouched(app, doc, stored["blobs"])


def test_csrf_is_enforced(app: Flask, stored: dict,
                          signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    client, path = stored["client"], f"{_base(stored['pid'], stored['doc'])}/delete"
    assert client.post(path, data={"reason": REASON}).status_code == 400
    assert client.post(path, data={"reason": REASON, "csrf_token": "forged"}).status_code == 400
    other_admin, _ = signed_in(Role.ADMIN)
    foreign = csrf_from(other_admin.get(path).get_data(as_text=True))
    assert client.post(path, data={"reason": REASON, "csrf_token": foreign}).status_code == 400
    _assert_untouched(app, stored["doc"], stored["blobs"])


def test_a_get_never_deletes(app: Flask, stored: dict) -> None:
    client, path = stored["client"], f"{_base(stored['pid'], stored['doc'])}/delete"
    token = csrf_from(client.get(path).get_data(as_text=True))
    assert client.get(f"{path}?reason=gone&csrf_token={token}").status_code == 200
    _assert_untouched(app, stored["doc"], stored["blobs"])


def test_the_document_through_another_portfolio_is_a_404(app: Flask, stored: dict) -> None:
    client, other = stored["client"], make_portfolio(app, "Sam Other")
    path = f"{_base(other, stored['doc'])}/delete"
    assert client.get(path).status_code == 404
    token = csrf_from(client.get(f"/portfolios/{other}/documents/upload").get_data(as_text=True))
    assert client.post(path, data={"csrf_token": token, "reason": REASON}).status_code == 404
    _assert_untouched(app, stored["doc"], stored["blobs"])


def _database_bytes(app: Flask) -> bytes:
    """Every byte of the SQLite database's files (the database, its write-ahead log and shared memory)."""
    path = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_destroyed_keys_and_names_do_not_linger_in_the_database(app: Flask, stored: dict) -> None:
    with app.app_context():
        versions = db.session.get(Document, stored["doc"]).versions
        secrets = [v.wrapped_key for v in versions]
        secrets += [db.session.execute(db.text("SELECT filename FROM document_versions WHERE id = :id"),
                                       {"id": v.id}).scalar_one().encode() for v in versions]
    assert all(len(secret) >= 32 for secret in secrets)
    if not PG_URL:
        before = _database_bytes(app)
        assert all(secret in before for secret in secrets)  # the search can find them while they exist

    assert _delete(stored["client"], stored["pid"], stored["doc"], REASON).status_code == 302

    with app.app_context():
        keys = db.session.scalars(db.select(DocumentVersion.wrapped_key))
        names = db.session.execute(db.text("SELECT filename FROM document_versions")).scalars()
        assert not set(secrets) & (set(keys) | {name.encode() for name in names})
    if not PG_URL:
        after = _database_bytes(app)
        assert not [secret for secret in secrets if secret in after]


if not PG_URL:  # SQLite's own files; PostgreSQL has no checkpoint step (docs/operations.md)

    def test_a_busy_database_is_scrubbed_by_the_next_storage_gc(app: Flask, stored: dict) -> None:
        with app.app_context():
            secrets = [v.wrapped_key for v in db.session.get(Document, stored["doc"]).versions]
        reader = sqlite3.connect(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM users").fetchone()  # an open read keeps the old pages in use

        assert _delete(stored["client"], stored["pid"], stored["doc"], REASON).status_code == 302

        assert [secret for secret in secrets if secret in _database_bytes(app)]  # not yet scrubbed
        reader.rollback()
        reader.close()
        assert cli_runner(app)("storage", "gc").exit_code == 0
        assert not [secret for secret in secrets if secret in _database_bytes(app)]
