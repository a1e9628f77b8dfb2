"""Documents: the list by evidence type, versions, viewing and downloading, integrity failures, access."""

import io
import json
import logging
import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Person, csrf_from
from factories import blob_path, make_portfolio, seat
from flask import Flask
from flask.testing import FlaskClient
from helpers_blobs import entries
from helpers_documents import PDF, office_zip, only_document, replace, upload
from helpers_queries import count_queries, counting_statements

from portal import clock
from portal.documents.storage import StoreError, app_store
from portal.extensions import db
from portal.models import (
    AuditEvent,
    Document,
    DocumentVersion,
    Meeting,
    PanelRole,
    Portfolio,
    ReadReceipt,
    Role,
)
from portal.security import streams

pytestmark = pytest.mark.both_blob_stores  # every test against the local folder and an S3 bucket

KB = 1024


def _paths(pid: int, doc: int, version: int) -> dict[str, str]:
    base = f"/portfolios/{pid}/documents"
    return {"list": base, "document": f"{base}/{doc}", "view": f"{base}/{doc}/versions/{version}/view",
            "download": f"{base}/{doc}/versions/{version}/download", "upload": f"{base}/upload",
            "replace": f"{base}/{doc}/replace", "readiness": f"{base}/readiness"}


def _actions(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        events = list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == action)))
        db.session.expunge_all()
        return events


@pytest.fixture
def stored(app: Flask, admin_client: tuple[FlaskClient, Person]) -> tuple[FlaskClient, int, int, int]:
    """The admin's client and a portfolio holding one PDF: (client, portfolio, document, version)."""
    client, _ = admin_client
    pid = make_portfolio(app)
    assert upload(client, pid, [("Final report.pdf", PDF, "final_report")], title="Final report").status_code == 302
    doc, version = only_document(app)
    return client, pid, doc, version


def test_list_groups_by_evidence_type_with_typed_sized_links(app: Flask, stored: tuple) -> None:
    client, pid, doc, version = stored
    assert upload(client, pid, [("Observation.docx", office_zip("docx"), "direct_observation")]).status_code == 302
    page = client.get(f"/portfolios/{pid}/documents").get_data(as_text=True)
    assert page.index("Final assessment report") < page.index("Direct observations")
    paths = _paths(pid, doc, version)
    assert f'href="{paths["view"]}"\n   target="_blank" rel="noopener noreferrer">Open Final report (PDF, 77 bytes) ' \
           "in a new tab</a>" in page
    assert f'href="{paths["download"]}"\n   download>Download Final report (PDF, 77 bytes)</a>' in page
    assert "Download Direct observations (Word document, " in page and "Open Direct observations" not in page
    assert "No one yet" in page


def test_pdf_opens_inline_and_others_download_with_rfc6266_names(app: Flask, stored: tuple) -> None:
    client, pid, doc, version = stored
    view = client.get(_paths(pid, doc, version)["view"])
    assert view.status_code == 200 and view.data == PDF
    assert view.headers["Content-Type"] == "application/pdf"
    assert view.headers["Content-Disposition"] == "inline; filename=\"Final report.pdf\"; " \
                                                  "filename*=UTF-8''Final%20report.pdf"
    assert view.headers["Cache-Control"] == "no-store" and view.headers["X-Content-Type-Options"] == "nosniff"
    content = "Réflexion critique\n".encode()
    assert upload(client, pid, [("Réflexion critique; été.txt", content, "critical_reflection")]).status_code == 302
    with app.app_context():
        other = db.session.scalars(db.select(Document).where(Document.id != doc)).one()
        other_id, other_version = other.id, other.current_version_id
    paths = _paths(pid, other_id, other_version)
    assert client.get(paths["view"]).status_code == 404  # only PDFs open in the browser
    download = client.get(paths["download"])
    assert download.data == content and download.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert download.headers["Content-Disposition"] == (
        "attachment; filename=\"R_flexion critique_ _t_.txt\"; "
        "filename*=UTF-8''R%C3%A9flexion%20critique%3B%20%C3%A9t%C3%A9.txt")
    assert download.headers["Cache-Control"] == "no-store"


def test_downloads_stream_in_pieces(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    content = b"%PDF-1.4\n" + bytes(i % 251 for i in range(3 * 1024 * KB))
    assert upload(client, pid, [("big.pdf", content, "other")]).status_code == 302
    doc, version = only_document(app)
    response = client.get(_paths(pid, doc, version)["download"], buffered=False)
    assert response.is_streamed and response.headers["Content-Length"] == str(len(content))
    pieces = list(response.response)
    response.close()
    assert len(pieces) >= 10 and max(len(p) for p in pieces) <= 256 * KB
    assert b"".join(pieces) == content


def test_replacing_keeps_history_and_flags_readers(app: Flask, stored: tuple,
                                                   signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    client, pid, doc, version = stored
    member, person = signed_in(Role.MEMBER)
    seat(app, person.id, [pid])
    assert "Not read yet" in member.get(f"/portfolios/{pid}/documents").get_data(as_text=True)
    member.get(_paths(pid, doc, version)["view"])
    assert "Updated since you last read it" not in member.get(f"/portfolios/{pid}/documents").get_data(as_text=True)
    new_pdf = PDF + b"% second version\n"
    response = replace(client, pid, doc, "Final report v2.pdf", new_pdf)
    assert response.status_code == 302
    with app.app_context():
        document = db.session.get(Document, doc)
        numbers = [v.number for v in document.versions]
        new_version = document.current_version_id
    assert numbers == [1, 2] and new_version != version
    page = member.get(f"/portfolios/{pid}/documents").get_data(as_text=True)
    assert "Updated since you last read it" in page and "Version 2" in page
    history = member.get(f"/portfolios/{pid}/documents/{doc}").get_data(as_text=True)
    assert "Version 2 (current)" in history and "Version 1" in history
    assert "Updated since you last read it" in history
    assert member.get(_paths(pid, doc, version)["download"]).data == PDF  # the old version is still there
    assert member.get(_paths(pid, doc, new_version)["download"]).data == new_pdf
    assert "Updated since you last read it" not in member.get(f"/portfolios/{pid}/documents").get_data(as_text=True)
    assert len(_actions(app, "document.replaced")) == 1


def test_replacement_is_checked_like_an_upload(app: Flask, stored: tuple) -> None:
    client, pid, doc, _ = stored
    response = replace(client, pid, doc, "evil.pdf", b"<html><script>x</script></html>")
    assert response.status_code == 400 and "is not a file the portal accepts" in response.get_data(as_text=True)
    path = f"/portfolios/{pid}/documents/{doc}/replace"
    token = csrf_from(client.get(path).get_data(as_text=True))
    empty = client.post(path, data={"csrf_token": token}, content_type="multipart/form-data")
    assert empty.status_code == 400 and "Select the new version" in empty.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(DocumentVersion)) == 1
    assert len(entries(app)) == 1


# Integrity ---------------------------------------------------------------------------------------


def _assert_refused(app: Flask, client: FlaskClient, path: str, failures: int = 1) -> None:
    response = client.get(path)
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "This document cannot be opened" in page and "failed its integrity check" in page
    assert "Traceback" not in page and "%PDF" not in page
    assert len(_actions(app, "document.integrity_failure")) == failures


# The blob store not answering ------------------------------------------------------------------------------


def _store_stops_answering(app: Flask, version: int) -> list[str]:
    """Make the store fail as an outage does, with the blob still in it: the bucket's endpoint becomes a port
    nothing listens on; the local folder's file cannot be read (a directory in its place: an OSError other than
    a missing file). Return what the reader must never see of the store."""
    if app.config.get("BLOB_STORE") == "s3":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
        secrets = [app.config["S3_ENDPOINT_URL"], closed, app.config["S3_BUCKET"], "EndpointConnectionError"]
        app.config["S3_ENDPOINT_URL"] = closed  # the store is made again for the new setting
        return secrets
    path = blob_path(app, version)
    assert isinstance(path, Path)
    path.unlink()
    path.mkdir()
    return [str(path.parent), "IsADirectoryError"]


def test_a_download_the_store_cannot_serve_is_a_clear_503_logged_and_audited_with_its_reference(
        app: Flask, stored: tuple, caplog: pytest.LogCaptureFixture) -> None:
    client, pid, doc, version = stored
    with app.app_context():
        blob_id = db.session.get(DocumentVersion, version).blob_id
    never_shown = _store_stops_answering(app, version)
    caplog.set_level(logging.ERROR, logger="portal.documents.services")
    response = client.get(_paths(pid, doc, version)["download"])
    page = response.get_data(as_text=True)
    assert response.status_code == 503, page
    assert "The document store is not answering" in page and "Try again in a few minutes" in page
    reference = re.search(r'portal-incident-reference">([A-Z0-9]{4}-[A-Z0-9]{4})<', page)
    assert reference, page
    for secret in [*never_shown, blob_id, "Traceback", "%PDF", "Final report"]:
        assert secret not in page, secret
    assert response.headers["Cache-Control"] == "no-store" and "Content-Disposition" not in response.headers
    # Logged with the store's own words under the reference; audited under it too; no download recorded.
    logged = [r.getMessage() for r in caplog.records if reference.group(1) in r.getMessage()]
    assert len(logged) == 1 and "blob store unavailable" in logged[0] and blob_id in logged[0], caplog.text
    events = _actions(app, "document.store_unavailable")
    assert [(e.target, json.loads(e.details)) for e in events] == [
        (f"document:{doc}", {"version": version, "stage": "before sending", "incident": reference.group(1)})]
    assert _actions(app, "document.downloaded") == [] and _actions(app, "document.integrity_failure") == []
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(ReadReceipt)) == 0
    # Viewing a PDF in the browser is refused the same way.
    assert client.get(_paths(pid, doc, version)["view"]).status_code == 503


def _flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def test_flipped_byte_is_refused_logged_and_audited(app: Flask, stored: tuple,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    client, pid, doc, version = stored
    _flip(blob_path(app, version), streams.HEADER_BYTES + 5)
    _assert_refused(app, client, _paths(pid, doc, version)["view"])
    _assert_refused(app, client, _paths(pid, doc, version)["download"], failures=2)
    assert "integrity failure: document" in caplog.text
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(ReadReceipt)) == 0


def test_truncated_blob_is_refused(app: Flask, stored: tuple) -> None:
    client, pid, doc, version = stored
    path = blob_path(app, version)
    path.write_bytes(path.read_bytes()[:-1])
    _assert_refused(app, client, _paths(pid, doc, version)["download"])


def test_missing_blob_is_refused(app: Flask, stored: tuple) -> None:
    client, pid, doc, version = stored
    blob_path(app, version).unlink()
    _assert_refused(app, client, _paths(pid, doc, version)["download"])


def test_blob_swapped_between_documents_is_refused(app: Flask, stored: tuple) -> None:
    client, pid, doc, version = stored
    assert upload(client, pid, [("other.pdf", PDF, "pdp")]).status_code == 302
    with app.app_context():
        other = db.session.scalars(db.select(Document).where(Document.id != doc)).one()
        other_id, other_version = other.id, other.current_version_id
    first, second = blob_path(app, version), blob_path(app, other_version)
    first_bytes = first.read_bytes()
    first.write_bytes(second.read_bytes())
    second.write_bytes(first_bytes)
    _assert_refused(app, client, _paths(pid, doc, version)["download"])
    _assert_refused(app, client, _paths(pid, other_id, other_version)["download"], failures=2)


def test_blob_swapped_between_versions_is_refused(app: Flask, stored: tuple) -> None:
    client, pid, doc, version = stored
    assert replace(client, pid, doc, "v2.pdf", PDF).status_code == 302
    with app.app_context():
        new_version = db.session.get(Document, doc).current_version_id
    blob_path(app, new_version).write_bytes(blob_path(app, version).read_bytes())
    _assert_refused(app, client, _paths(pid, doc, new_version)["download"])
    assert client.get(_paths(pid, doc, version)["download"]).data == PDF


def test_reordered_chunks_are_refused(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    assert upload(client, pid, [("three.pdf", b"%PDF-" + b"a" * 40_000, "pdp")]).status_code == 302
    doc, version = only_document(app)
    path, step = blob_path(app, version), streams.CHUNK_BYTES + streams.TAG_BYTES
    data, head = path.read_bytes(), streams.HEADER_BYTES
    path.write_bytes(data[:head] + data[head + step:head + 2 * step] + data[head:head + step] + data[head + 2 * step:])
    _assert_refused(app, client, _paths(pid, doc, version)["download"])


def test_changed_size_is_refused(app: Flask, stored: tuple) -> None:
    client, pid, doc, version = stored
    with app.app_context():
        db.session.get(DocumentVersion, version).size += 1
        db.session.commit()
    _assert_refused(app, client, _paths(pid, doc, version)["download"])


def _tampered_near_the_end(app: Flask, client: FlaskClient, size: int) -> tuple[str, bytes]:
    """Upload a PDF of `size` bytes ending in a recognisable tail, flip a byte in its last chunk; (path, content)."""
    pid = make_portfolio(app)
    tail = b"TAIL-SECRET-" * 2000
    content = b"%PDF-1.4\n" + b"c" * (size - 9 - len(tail)) + tail
    assert upload(client, pid, [("long.pdf", content, "pdp")]).status_code == 302
    with app.app_context():
        doc, version = db.session.execute(db.select(DocumentVersion.document_id, DocumentVersion.id)
                                          .order_by(DocumentVersion.id.desc()).limit(1)).one()
    _flip(blob_path(app, version), -40)
    return _paths(pid, doc, version)["download"], content


@pytest.mark.parametrize("size", [3 * 1024 * KB, 64 * 1024 * KB])
def test_a_tampered_file_up_to_the_limit_gives_the_error_page_and_nothing_of_it(
        app: Flask, admin_client: tuple[FlaskClient, Person], size: int) -> None:
    # The case (a byte flipped near the end of a 3 MB blob used to give HTTP 200 and 2.8 MB), and a file
    # exactly at the default limit of 64 MB: authenticated whole before the first byte is sent.
    client, _ = admin_client
    assert app.config["VERIFY_WHOLE_MAX_BYTES"] == 64 * 1024 * KB
    path, content = _tampered_near_the_end(app, client, size)
    response = client.get(path, buffered=False)
    body = b"".join(response.response)
    response.close()
    assert response.status_code == 500 and b"This document cannot be opened" in body
    assert content[:4096] not in body and b"cccccccc" not in body and len(body) < 64 * KB
    events = _actions(app, "document.integrity_failure")
    assert len(events) == 1 and "before sending" in events[0].details
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(ReadReceipt)) == 0


@pytest.fixture
def verify_whole_1mb(app_config: dict) -> None:
    """Authenticate whole only files up to 1 MB, so a 2 MB file takes the streaming path."""
    app_config["VERIFY_WHOLE_MAX_BYTES"] = 1024 * KB


def test_an_untampered_file_over_the_limit_streams_whole(verify_whole_1mb: None, app: Flask,
                                                         admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    for size in (1024 * KB, 1024 * KB + 1):  # at the limit (verified first) and just over it (streamed)
        content = b"%PDF-1.4\n" + bytes(i % 251 for i in range(size - 9))
        assert upload(client, pid, [(f"{size}.pdf", content, "pdp")]).status_code == 302
        with app.app_context():
            doc, version = db.session.execute(db.select(DocumentVersion.document_id, DocumentVersion.id)
                                              .order_by(DocumentVersion.id.desc()).limit(1)).one()
        assert client.get(_paths(pid, doc, version)["download"]).data == content


def test_just_over_the_limit_tampering_is_found_while_sending(verify_whole_1mb: None, app: Flask,
                                                              admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    path, _ = _tampered_near_the_end(app, client, 1024 * KB + 1)
    response = client.get(path, buffered=False)
    assert response.status_code == 200  # streamed: the failure comes after the headers
    with pytest.raises(Exception, match=r"failed authentication|IntegrityFailure"):
        b"".join(response.response)
    response.close()
    at_limit, _ = _tampered_near_the_end(app, client, 1024 * KB)  # one byte smaller: the error page
    assert client.get(at_limit).status_code == 500


def test_tampering_found_mid_stream_aborts_without_sending_unverified_bytes(
        verify_whole_1mb: None, app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    tail = b"TAIL-SECRET-" * 2000  # the last 24 KB: the region whose ciphertext is tampered with
    content = b"%PDF-1.4\n" + b"b" * (2 * 1024 * KB) + tail
    assert upload(client, pid, [("long.pdf", content, "pdp")]).status_code == 302
    doc, version = only_document(app)
    _flip(blob_path(app, version), -40)  # inside the last chunk
    response = client.get(_paths(pid, doc, version)["download"], buffered=False)
    assert response.status_code == 200  # the headers went before the failure was found
    received = bytearray()
    with pytest.raises(Exception, match=r"failed authentication|IntegrityFailure"):
        for piece in response.response:
            received += piece
    response.close()
    assert 0 < len(received) < len(content) and content.startswith(bytes(received))
    assert b"TAIL-SECRET" not in received
    events = _actions(app, "document.integrity_failure")
    assert len(events) == 1 and "while sending" in events[0].details


class _BreaksAfter(io.RawIOBase):
    """A blob being read from the store whose connection breaks after `limit` bytes (as StoreError does)."""

    def __init__(self, inner: io.BufferedIOBase, limit: int) -> None:
        super().__init__()
        self.inner, self.left = inner, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left <= 0:
            raise StoreError("cannot read blob: ReadTimeoutError: the connection was reset")
        view = memoryview(buffer)[:self.left]
        read = self.inner.readinto(view)
        self.left -= read
        return read

    def close(self) -> None:
        self.inner.close()
        super().close()


def test_a_store_that_stops_answering_mid_stream_cuts_the_download_logged_and_audited(
        verify_whole_1mb: None, app: Flask, admin_client: tuple[FlaskClient, Person],
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    content = b"%PDF-1.4\n" + b"c" * (3 * 1024 * KB)
    assert upload(client, pid, [("long.pdf", content, "pdp")]).status_code == 302
    doc, version = only_document(app)
    store = app_store(app)
    real_open = store.open
    monkeypatch.setattr(store, "open", lambda blob_id: _BreaksAfter(real_open(blob_id), 1024 * KB))
    caplog.set_level(logging.ERROR, logger="portal.documents.services")
    response = client.get(_paths(pid, doc, version)["download"], buffered=False)
    assert response.status_code == 200  # the headers went before the store stopped answering
    received = bytearray()
    with pytest.raises(Exception, match=r"stopped answering|StoreUnavailable"):
        for piece in response.response:
            received += piece
    response.close()
    assert 0 < len(received) < len(content) and content.startswith(bytes(received))
    events = _actions(app, "document.store_unavailable")
    assert len(events) == 1 and json.loads(events[0].details)["stage"] == "while sending"
    reference = json.loads(events[0].details)["incident"]
    assert any(reference in r.getMessage() and "while sending" in r.getMessage() for r in caplog.records)
    assert _actions(app, "document.integrity_failure") == []


# Names the panel sees ----------------------------------------------------------------------------


def _named_after_the_nqsw(app: Flask, client: FlaskClient) -> tuple[int, int, int, int]:
    """Jane Smith's portfolio, pseudonymised B1, holding an untitled 6-month review named after her, then a
    replacement PDF: (portfolio, document, version 1, version 2)."""
    pid = make_portfolio(app, "Jane Smith")
    with app.app_context():
        db.session.get(Portfolio, pid).pseudonym = "B1"
        db.session.commit()
    assert upload(client, pid, [("Jane Smith 6-month review.docx", office_zip("docx"), "review_6_month")]
                  ).status_code == 302
    doc, first = only_document(app)
    assert replace(client, pid, doc, "Jane Smith 6-month review (final).pdf", PDF).status_code == 302
    with app.app_context():
        second = db.session.get(Document, doc).current_version_id
    return pid, doc, first, second


def test_the_panel_never_sees_an_uploaded_file_name(app: Flask, admin_client: tuple[FlaskClient, Person],
                                                    signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    admin, _ = admin_client
    pid, doc, first, second = _named_after_the_nqsw(app, admin)
    chair, person = signed_in(Role.MEMBER)
    meeting_id = seat(app, person.id, [pid], PanelRole.CHAIR)
    paths, old = _paths(pid, doc, second), _paths(pid, doc, first)
    for path in (paths["list"], paths["document"], f"/portfolios/{pid}", f"/meetings/{meeting_id}",
                 f"/reviews/meetings/{meeting_id}", f"/reviews/meetings/{meeting_id}/record"):
        response = chair.get(path)
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and "Jane" not in page and "Smith" not in page, path
    assert "6-month review" in chair.get(paths["list"]).get_data(as_text=True)  # the untitled one's name
    page = chair.get(paths["document"]).get_data(as_text=True)
    assert "Download Portfolio B1 - 6-month review - version 2.pdf (PDF, " in page
    assert "Download Portfolio B1 - 6-month review - version 1.docx (Word document, " in page
    assert chair.get(paths["download"]).headers["Content-Disposition"] == (
        'attachment; filename="Portfolio B1 - 6-month review - version 2.pdf"; '
        "filename*=UTF-8''Portfolio%20B1%20-%206-month%20review%20-%20version%202.pdf")
    assert chair.get(paths["view"]).headers["Content-Disposition"].startswith(
        'inline; filename="Portfolio B1 - 6-month review - version 2.pdf"; ')
    assert chair.get(old["download"]).headers["Content-Disposition"].startswith(
        'attachment; filename="Portfolio B1 - 6-month review - version 1.docx"; ')
    # The Lead, who holds the key to the pseudonyms, keeps the names as uploaded.
    lead_page = admin.get(paths["document"]).get_data(as_text=True)
    assert "Download Jane Smith 6-month review (final).pdf (PDF, " in lead_page
    assert "Download Jane Smith 6-month review.docx (Word document, " in lead_page
    assert admin.get(paths["download"]).headers["Content-Disposition"].startswith(
        'attachment; filename="Jane Smith 6-month review (final).pdf"; ')


def test_a_title_given_at_upload_is_kept(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    assert upload(client, pid, [("scan 0042.pdf", PDF, "supervision")], title="  Supervision,\tApril  ").status_code \
        == 302
    with app.app_context():
        assert db.session.scalars(db.select(Document.title)).one() == "Supervision, April"


# Access ------------------------------------------------------------------------------------------


def test_panel_members_see_documents_only_while_sampled(app: Flask, stored: tuple,
                                                        signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    _, pid, doc, version = stored
    paths = _paths(pid, doc, version)
    outsider, _ = signed_in(Role.MEMBER)
    for path in paths.values():
        assert outsider.get(path).status_code == 404, path
    member, person = signed_in(Role.MEMBER)
    meeting_id = seat(app, person.id, [pid])
    for name in ("list", "document", "view", "download"):
        assert member.get(paths[name]).status_code == 200, name
    for name in ("upload", "replace", "readiness"):
        assert member.get(paths[name]).status_code == 404, name
    with app.app_context():
        db.session.get(Meeting, meeting_id).access_closes_at = clock.now() - timedelta(minutes=1)
        db.session.commit()
    for path in paths.values():
        assert member.get(path).status_code == 404, path


def test_observers_assessors_nqsws_and_strangers_get_404(app: Flask, stored: tuple,
                                                         signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    _, pid, doc, version = stored
    paths = _paths(pid, doc, version)
    observer, person = signed_in(Role.OBSERVER)
    seat(app, person.id, [pid], PanelRole.OBSERVER)
    for role_client in (observer, signed_in(Role.ASSESSOR)[0], signed_in(Role.NQSW)[0]):
        for path in paths.values():
            assert role_client.get(path).status_code == 404, path
    anonymous = app.test_client()
    assert anonymous.get(paths["download"]).status_code == 302
    assert anonymous.get(paths["download"]).headers["Location"].startswith("/sign-in")


def test_a_document_is_reached_only_through_its_own_portfolio(
        app: Flask, stored: tuple, signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    _, _, doc, version = stored
    other = make_portfolio(app, "Sam Other")
    member, person = signed_in(Role.MEMBER)
    seat(app, person.id, [other])
    paths = _paths(other, doc, version)
    for name in ("document", "view", "download"):
        assert member.get(paths[name]).status_code == 404, name
    assert "Final report" not in member.get(paths["list"]).get_data(as_text=True)


def test_every_view_and_download_is_audited(app: Flask, stored: tuple) -> None:
    client, pid, doc, version = stored
    client.get(_paths(pid, doc, version)["view"])
    client.get(_paths(pid, doc, version)["download"])
    client.get(_paths(pid, doc, version)["download"])
    assert len(_actions(app, "document.viewed")) == 1
    downloads = _actions(app, "document.downloaded")
    assert len(downloads) == 2 and downloads[0].target == f"document:{doc}"
    assert len(_actions(app, "document.uploaded")) == 1


# The optional PDF stamp --------------------------------------------------------------------------


@pytest.fixture
def pdf_stamp(app_config: dict) -> None:
    """Turn PDF_STAMP on for this test."""
    app_config["PDF_STAMP"] = True


def _two_page_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    for text in ("Page one", "Page two"):
        pdf.add_page()
        pdf.set_font("helvetica", size=12)
        pdf.text(x=20, y=20, text=text)
    return bytes(pdf.output())


def test_pdf_stamp_marks_every_page_with_reader_and_date(pdf_stamp: None, app: Flask,
                                                         admin_client: tuple[FlaskClient, Person]) -> None:
    from pypdf import PdfReader

    client, person = admin_client
    pid = make_portfolio(app)
    assert upload(client, pid, [("two.pdf", _two_page_pdf(), "pdp")]).status_code == 302
    doc, version = only_document(app)
    expected = f"Confidential - viewed by {person.name} on {clock.format_date(clock.now())}"
    for name in ("view", "download"):
        response = client.get(_paths(pid, doc, version)[name])
        assert response.status_code == 200 and response.headers["Content-Type"] == "application/pdf"
        pages = [page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages]
        assert len(pages) == 2 and all(expected in text for text in pages)
        assert "Page one" in pages[0] and "Page two" in pages[1]
    with app.app_context():
        receipt = db.session.scalars(db.select(ReadReceipt)).one()
        assert (receipt.views, receipt.downloads) == (1, 1)


def test_pdf_stamp_writes_a_name_outside_latin1_exactly_on_every_page(
        pdf_stamp: None, app: Flask, signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    from pypdf import PdfReader
    from pypdf.generic import ContentStream

    name = "Łukasz Wójcik-Dvořák (Siân Llŷr, Иван Петров)"
    client, _ = signed_in(Role.ADMIN, name=name)
    pid = make_portfolio(app)
    assert upload(client, pid, [("two.pdf", _two_page_pdf(), "pdp")]).status_code == 302
    doc, version = only_document(app)
    response = client.get(_paths(pid, doc, version)["view"])
    assert response.status_code == 200
    reader = PdfReader(io.BytesIO(response.data))
    expected = f"Confidential - viewed by {name} on {clock.format_date(clock.now())}"
    assert [expected in page.extract_text() for page in reader.pages] == [True, True]
    for page in reader.pages:
        fonts = {str(key): font.get_object() for key, font in page["/Resources"]["/Font"].items()}
        [stamp_font] = [key for key, font in fonts.items() if font["/Subtype"] == "/Type0"]
        # the stamp's font is embedded; the test PDF's own Helvetica is left as it was
        assert "/FontFile2" in fonts[stamp_font]["/DescendantFonts"][0].get_object()["/FontDescriptor"]
        # The stamp is drawn inside a watermark artifact, so it adds no untagged content to a tagged PDF.
        stack: list[tuple[str, dict]] = []
        font, stamp_lines = None, []
        for operands, operator in ContentStream(page.get_contents(), reader).operations:
            if operator == b"BDC":
                stack.append((str(operands[0]), dict(operands[1])))
            elif operator == b"EMC":
                stack.pop()
            elif operator == b"Tf":
                font = str(operands[0])
            elif operator in (b"Tj", b"TJ") and font == stamp_font:
                stamp_lines.append(stack[-1:])
        assert stamp_lines and all(marks == [("/Artifact", {"/Type": "/Pagination", "/Subtype": "/Watermark"})]
                                   for marks in stamp_lines)


@pytest.fixture
def london_after_midnight(app: Flask) -> datetime:
    """Move the clock to half past midnight on a summer night in London, still the day before in UTC."""
    current = clock.now()
    target = datetime(current.year + 1, 7, 1, 23, 30, tzinfo=UTC)
    clock.advance(target - current)
    return target


def test_pdf_stamp_dates_the_page_as_people_in_london_read_it(pdf_stamp: None, app: Flask,
                                                              london_after_midnight: datetime,
                                                              admin_client: tuple[FlaskClient, Person]) -> None:
    from pypdf import PdfReader

    client, _ = admin_client
    pid = make_portfolio(app)
    assert upload(client, pid, [("two.pdf", _two_page_pdf(), "pdp")]).status_code == 302
    doc, version = only_document(app)
    response = client.get(_paths(pid, doc, version)["download"])
    text = PdfReader(io.BytesIO(response.data)).pages[0].extract_text()
    assert f"on 2 July {london_after_midnight.year}" in text, text


def test_pdf_stamp_refuses_a_pdf_it_cannot_read(pdf_stamp: None, app: Flask,
                                                admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    assert upload(client, pid, [("broken.pdf", b"%PDF-1.4\nnot really a pdf", "pdp")]).status_code == 302
    doc, version = only_document(app)
    response = client.get(_paths(pid, doc, version)["view"])
    assert response.status_code == 500 and "This PDF cannot be opened" in response.get_data(as_text=True)
    assert b"not really" not in response.data


def test_pdf_stamp_is_off_by_default(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    original = _two_page_pdf()
    upload(client, pid, [("two.pdf", original, "pdp")])
    doc, version = only_document(app)
    assert client.get(_paths(pid, doc, version)["download"]).data == original


# Statements per transfer (DESIGN section 8: a bounded number of queries) ------------------------------------


def test_an_upload_and_a_download_run_a_fixed_handful_of_statements(
        app: Flask, admin_client: tuple[FlaskClient, Person],
        signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    with app.app_context():
        db.session.get(Portfolio, pid).pseudonym = "C2"
        db.session.commit()
    member, person = signed_in(Role.MEMBER)
    seat(app, person.id, [pid])
    counts = []
    for round_number in range(2):  # the second round runs with more documents, versions and receipts about
        with counting_statements(app) as uploading:
            assert upload(client, pid, [(f"round {round_number}.pdf", PDF, "pdp")]).status_code == 302
        with app.app_context():
            doc, version = db.session.execute(db.select(DocumentVersion.document_id, DocumentVersion.id)
                                              .order_by(DocumentVersion.id.desc()).limit(1)).one()
        client.get(_paths(pid, doc, version)["download"])  # the first read creates the receipt
        with counting_statements(app) as downloading:
            response = client.get(_paths(pid, doc, version)["download"])
            assert response.status_code == 200 and response.data == PDF
        member.get(_paths(pid, doc, version)["download"])
        with counting_statements(app) as panel_downloading:  # its neutral file name comes with the version
            response = member.get(_paths(pid, doc, version)["download"])
            assert response.data == PDF and "Portfolio C2 - " in response.headers["Content-Disposition"]
        form = count_queries(app, client, _paths(pid, doc, version)["upload"])  # the helper first GETs the form
        counts.append((len(uploading) - form, len(downloading), len(panel_downloading)))
    # Uploading: session, portfolio, the registry's names (for the names check), 2 ids reserved before the file
    # streams, 2 inserts (their encrypted fields sealed to those ids), 2 updates, the audit chain. Downloading:
    # session, version with its document and portfolio, receipt read and update, the audit chain (the same for the
    # Lead and the panel). The audit trail takes 4 statements: on SQLite take the head, look for events waiting to
    # be chained, append, set the head's end; on PostgreSQL try for the appenders' turn, take the head, look for
    # waiting events, and append with the head's new end in a CTE.
    assert counts == [(9 + 4, 4 + 4, 4 + 4)] * 2, counts
