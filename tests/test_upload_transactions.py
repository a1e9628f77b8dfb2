"""An upload holds no transaction while its file streams: the blob streams under ids reserved first, and the rows
follow in one short transaction. A crash or a SIGKILL at any moment leaves nothing visible, and nothing that
`storage gc` cannot sweep."""

import contextlib
import http.client
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from conftest import KEYRING, PG_URL, Person, csrf_from
from factories import make_portfolio
from flask import Flask
from flask.testing import FlaskClient
from helpers_blobs import entries, is_s3
from helpers_documents import StreamedBody, only_document, pdf_around, upload_path
from helpers_keys import cli_runner
from helpers_servers import Server, Visitor, code_for, server_environment, start_gunicorn
from sqlalchemy import create_engine, func, select, text

from portal.documents import identifiers
from portal.extensions import db
from portal.models import AuditEvent, Document, DocumentVersion, IdSequence, PanelCopy, Role

pytestmark = pytest.mark.both_blob_stores

MB = 1024 * 1024


def _rows(app: Flask) -> tuple[int, int, int, int]:
    """Documents, versions, panel copies and upload audit events, read on a connection of their own."""
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as connection:
            count = lambda table: connection.execute(select(func.count()).select_from(table)).scalar_one()  # noqa: E731
            uploaded = connection.execute(select(func.count()).select_from(AuditEvent.__table__).where(
                AuditEvent.__table__.c.action == "document.uploaded")).scalar_one()
            return (count(Document.__table__), count(DocumentVersion.__table__), count(PanelCopy.__table__),
                    uploaded)
    finally:
        engine.dispose()


def _transactions_held(app: Flask) -> list[str]:
    """What another session would wait for: SQLite's write lock, or PostgreSQL sessions inside a transaction."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not PG_URL:
        other = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")  # fails at once with "database is locked" while a writer holds it
            other.execute("ROLLBACK")
            return []
        except sqlite3.OperationalError as exc:
            return [str(exc)]
        finally:
            other.close()
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(
                "SELECT state || ': ' || coalesce(query, '') FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'")).scalars())
    finally:
        engine.dispose()


class _WatchedBody(StreamedBody):
    """A generated upload body that runs a check once, when `after` bytes of it have been read."""

    def __init__(self, *args: object, after: int, check: Callable[[], None], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._read, self._after, self._check, self.checked = 0, after, check, False

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        """Fill the buffer, checking on the way."""
        n = super().readinto(buffer)
        self._read += n
        if self._read >= self._after and not self.checked:
            self.checked = True
            self._check()
        return n


def test_nothing_is_written_and_no_transaction_is_held_while_a_file_streams(
        app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    seen: dict[str, object] = {}

    def check() -> None:  # half way through the file, from outside the request
        seen["rows"], seen["held"], seen["store"] = _rows(app), _transactions_held(app), entries(app)

    token = csrf_from(client.get(upload_path(pid)).get_data(as_text=True))
    head, tail = pdf_around(12 * MB)
    body = _WatchedBody([("csrf_token", token), ("evidence_type-0", "supervision"), ("title-0", "Big")], "big.pdf",
                        head, 12 * MB, b"0123456789abcdef\n", b"", tail=tail, after=9 * MB, check=check)
    response = client.post(upload_path(pid), input_stream=body, content_type=body.content_type,
                           content_length=body.length)

    assert response.status_code == 302, response.get_data(as_text=True)[:1000]
    assert body.checked
    assert seen["rows"] == (0, 0, 0, 0)  # nothing visible while it streams
    assert seen["held"] == []  # no lock, no open transaction
    # ...while the blob was on its way: a temporary file, or a multipart upload with a part or more sent
    assert seen["store"] and all(".tmp-" in name or "unfinished upload" in name for name in seen["store"])
    documents, versions, _, uploaded = _rows(app)
    assert (documents, versions, uploaded) == (1, 1, 1)  # then the rows, in one transaction
    doc, version = only_document(app)
    downloaded = client.get(f"/portfolios/{pid}/documents/{doc}/versions/{version}/download")
    assert downloaded.status_code == 200 and len(downloaded.data) == 12 * MB and downloaded.data.startswith(head)


def test_reserved_ids_are_never_handed_out_twice_nor_taken_by_other_rows(app: Flask, make_user) -> None:
    from factories import owner_id
    from factories import store_document as add_document

    make_user()
    with app.app_context():
        first = identifiers.reserve(Document.__table__, DocumentVersion.__table__)
        second = identifiers.reserve(Document.__table__, DocumentVersion.__table__)
    assert second[0] > first[0] and second[1] > first[1]
    document_id, (version_id,) = add_document(app, owner_id(app), [b"inserted without a reservation"])
    assert document_id not in (first[0], second[0]) and version_id not in (first[1], second[1])
    with app.app_context():
        third = identifiers.reserve(Document.__table__, DocumentVersion.__table__)
        assert third[0] > max(second[0], document_id) and third[1] > max(second[1], version_id)
        if not PG_URL:  # SQLite's own record of them; PostgreSQL uses the tables' sequences
            assert db.session.get(IdSequence, "documents").last_id == third[0]


def _signed_in(server: Server, person: Person) -> Visitor:
    """A browser signed in to this server through its real forms (password, then the security code)."""
    browser = Visitor()
    signed = browser.submit(server, "/sign-in", {"email": person.email, "password": person.password})
    assert signed.status_code == 302, signed.text[:500]
    form = browser.get(server, "/sign-in/code")
    coded = browser.http.post(f"{server.url}/sign-in/code", allow_redirects=False, timeout=60,
                              data={"code": code_for(person.secret, form), "csrf_token": csrf_from(form.text)})
    assert coded.status_code == 302, coded.text[:500]
    return browser


def test_a_server_killed_mid_upload_leaves_nothing_visible_and_gc_sweeps_the_rest(
        app: Flask, app_config: dict, make_user, tmp_path: Path) -> None:
    """SIGKILL the gunicorn worker (and its master) while a 40 MB upload streams into the store."""
    lead = make_user(Role.ADMIN)
    pid = make_portfolio(app)
    KEYRING.save(tmp_path / "keyring.json")
    server = start_gunicorn("killed", server_environment(app_config, tmp_path / "keyring.json"), tmp_path)
    try:
        browser = _signed_in(server, lead)
        token = csrf_from(browser.get(server, upload_path(pid)).text)
        head, tail = pdf_around(40 * MB)
        body = StreamedBody([("csrf_token", token), ("evidence_type-0", "supervision"), ("title-0", "Killed")],
                            "big.pdf", head, 40 * MB, b"0123456789abcdef\n", b"", tail=tail)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        connection.putrequest("POST", upload_path(pid))
        for name, value in (("Content-Type", body.content_type), ("Content-Length", str(body.length)),
                            ("Cookie", browser.cookie_header())):
            connection.putheader(name, value)
        connection.endheaders()
        sent, block = 0, bytearray(256 * 1024)
        while not entries(app):  # until the blob is on its way: a temporary file, or a part of a multipart upload
            n = body.readinto(memoryview(block))
            assert n and sent < 30 * MB, f"nothing reached the store after {sent} bytes:\n{server.output()}"
            connection.send(bytes(block[:n]))
            sent += n
        for _ in range(8):  # and a little more, so the kill lands while it is being written
            connection.send(bytes(block[:body.readinto(memoryview(block))]))
        server.kill()
        connection.close()
    finally:
        server.stop()

    left = entries(app)
    assert left and all(".tmp-" in name or "unfinished upload" in name for name in left), left
    assert _rows(app) == (0, 0, 0, 0)  # nothing visible
    assert _transactions_held(app) == []  # no lock or transaction outlives the killed process
    swept = cli_runner(app)("storage", "gc", "--grace-minutes", "0")
    assert swept.exit_code == 0 and f"removed {len(left)} orphaned files" in swept.output, swept.output
    assert entries(app) == []
    if is_s3(app):
        assert any("unfinished upload" in name for name in left)  # S3 kept the parts sent until gc aborted them


def test_a_server_killed_with_the_blob_stored_and_the_rows_uncommitted_leaves_nothing_visible(
        app: Flask, app_config: dict, make_user, tmp_path: Path) -> None:
    """SIGKILL the server after the whole file is in the store and the rows are flushed in the open transaction,
    just before it commits: no row is visible, no lock outlives the process, and `storage gc` removes the blobs."""
    lead = make_user(Role.ADMIN)
    pid = make_portfolio(app)
    KEYRING.save(tmp_path / "keyring.json")
    signal_file = tmp_path / "paused"
    environment = server_environment(app_config, tmp_path / "keyring.json")
    environment["PAUSED_UPLOAD_SIGNAL"] = str(signal_file)
    environment["PYTHONPATH"] = str(Path(__file__).resolve().parent)
    server = start_gunicorn("paused", environment, tmp_path, application="paused_upload_app:app")
    try:
        browser = _signed_in(server, lead)
        token = csrf_from(browser.get(server, upload_path(pid)).text)
        head, tail = pdf_around(2 * MB)
        body = StreamedBody([("csrf_token", token), ("evidence_type-0", "supervision"), ("title-0", "Paused")],
                            "paused.pdf", head, 2 * MB, b"0123456789abcdef\n", b"", tail=tail)

        def send() -> None:
            with contextlib.suppress(requests.ConnectionError):  # the server is killed before it answers
                browser.http.post(f"{server.url}{upload_path(pid)}", data=body, timeout=120,
                                  headers={"Content-Type": body.content_type, "Content-Length": str(body.length)})

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        deadline = time.monotonic() + 60
        while not signal_file.exists():
            assert time.monotonic() < deadline, f"the upload never reached its transaction:\n{server.output()}"
            threading.Event().wait(0.05)
        stored = entries(app)
        assert stored and not any(".tmp-" in name or "unfinished upload" in name for name in stored), stored
        server.kill()
    finally:
        server.stop()

    assert _rows(app) == (0, 0, 0, 0)  # the flushed rows died with their transaction
    assert _transactions_held(app) == []
    left = entries(app)
    swept = cli_runner(app)("storage", "gc", "--grace-minutes", "0")
    assert swept.exit_code == 0 and f"removed {len(left)} orphaned files" in swept.output, swept.output
    assert entries(app) == []
