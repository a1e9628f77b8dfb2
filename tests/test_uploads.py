"""Uploads: encrypted while streaming (no plaintext on disk), size limit, type by content, names, atomicity."""

import io
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Person, csrf_from
from factories import make_portfolio
from flask import Flask
from flask.testing import FlaskClient
from helpers_blobs import entries, leave_unfinished
from helpers_disk import files_with as _files_with
from helpers_disk import open_files_with as _open_files_with
from helpers_documents import (
    DOC,
    HTML,
    JPEG,
    PDF,
    PNG,
    StreamedBody,
    office_zip,
    only_document,
    pdf_around,
    upload,
    upload_path,
)
from sqlalchemy import text

from portal.documents.storage import app_store
from portal.extensions import db
from portal.models import Document, DocumentVersion

pytestmark = pytest.mark.both_blob_stores  # every test against the local folder and an S3 bucket

MB = 1024 * 1024


def _counts(app: Flask) -> tuple[int, int]:
    with app.app_context():
        return (db.session.scalar(db.select(db.func.count()).select_from(Document)),
                db.session.scalar(db.select(db.func.count()).select_from(DocumentVersion)))


def _blob_files(app: Flask) -> list[str]:
    return entries(app)


def test_marker_scans_find_plaintext(tmp_path: Path, temp_files: list[str]) -> None:
    # The checks used below must be able to fail: they find a marker written in the clear, in a named file
    # and in an unnamed temporary file (what Werkzeug's spooling makes), and they see Werkzeug spool.
    (tmp_path / "spooled").write_bytes(b"x" * (5 * MB) + b"MARKER-visible" + b"y" * 10)
    assert _files_with([tmp_path], b"MARKER-visible") == [str(tmp_path / "spooled")]
    with tempfile.TemporaryFile() as unnamed:
        unnamed.write(b"z" * MB + b"MARKER-unnamed")
        unnamed.flush()
        assert len(_open_files_with(b"MARKER-unnamed")) == 1
    temp_files.clear()
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    from portal.documents.uploads import MemoryOnlyRequest

    def environ() -> dict:
        return EnvironBuilder(method="POST", data={"f": (io.BytesIO(b"0" * MB), "f.pdf")}).get_environ()

    assert Request(environ()).files["f"].read(1) == b"0"
    assert "TemporaryFile" in temp_files  # Werkzeug's default: a plaintext temporary file
    temp_files.clear()
    assert MemoryOnlyRequest(environ()).files["f"].read(1) == b"0"
    assert temp_files == []


def _on_memory_filesystem(folder: Path) -> bool:
    """True when the folder is on a tmpfs (in memory, never written to a disk)."""
    mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    best = max((m for m in mounts if str(folder).startswith(m[1].rstrip("/") + "/")), key=lambda m: len(m[1]))
    return best[2] == "tmpfs"


@pytest.fixture(params=["unscanned", "scanned"])
def scanning(request: pytest.FixtureRequest, app_config: dict) -> Path | None:
    """Virus scanning off, or on with the real clamd (whose scratch folder is returned)."""
    if request.param == "unscanned":
        return None
    server = request.getfixturevalue("start_clamd")()
    app_config["CLAMD"], app_config["CLAMD_MAX_BYTES"] = str(server.socket), 64 * MB
    return server.scratch


def test_50mb_upload_never_puts_plaintext_on_disk(scanning: Path | None, app: Flask,
                                                   admin_client: tuple[FlaskClient, Person],
                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   temp_files: list[str]) -> None:
    # A real 50 MB PDF carrying a marker: stored, scanned (when clamd is set) and copied for the panel without
    # its metadata, all in memory; nothing of it in the clear on disk, during or after the upload.
    client, _ = admin_client
    pid = make_portfolio(app)
    system_tmp = Path(tempfile.gettempdir())
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))  # any spooling in this process lands where we look
    marker = b"MARKER-" + secrets.token_hex(16).encode()
    token = csrf_from(client.get(upload_path(pid)).get_data(as_text=True))
    head, tail = pdf_around(50 * MB)
    body = StreamedBody([("csrf_token", token), ("evidence_type-0", "supervision"), ("title-0", "Big")],
                        "big.pdf", head, 50 * MB, b"0123456789abcdef\n", marker, tail=tail)
    roots = [Path(app.instance_path), Path(app.config["BLOB_DIR"]), spool]  # (with S3, the folder stays empty)
    started, found, scans, done = time.time() - 1, [], [0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            found.extend(_files_with(roots, marker) + _files_with([system_tmp], marker, started)
                         + _open_files_with(marker))
            scans[0] += 1
            done.wait(0.2)  # not time.sleep, which fails under faketime (the shifted leg) and would end the watch

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        response = client.post(upload_path(pid), input_stream=body, content_type=body.content_type,
                               content_length=body.length)
    finally:
        done.set()
        watcher.join()
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert scans[0] >= 1 and found == [] and temp_files == []
    assert _files_with(roots, marker) == [] and _files_with([system_tmp], marker, started) == []
    _, version_id = only_document(app)
    with app.app_context():
        version = db.session.get(DocumentVersion, version_id)
        assert version.size == 50 * MB
        blob = app_store(app).size(version.blob_id)
        assert blob > 50 * MB  # the whole file, encrypted
    downloaded = client.get(f"/portfolios/{pid}/documents/{only_document(app)[0]}/versions/{version_id}/download")
    assert downloaded.status_code == 200 and len(downloaded.data) == 50 * MB
    assert downloaded.data.startswith(head + marker)
    with app.app_context():
        version = db.session.get(DocumentVersion, version_id)
        assert version.cleaning == "cleaned" and version.panel_copy.size > 50 * MB - 4096  # the panel's copy
        assert version.names_check == "clear"  # its text was searched for names, in memory, while watched
    if scanning is not None:  # clamd holds the stream while it scans it: in memory, never on a disk
        assert _on_memory_filesystem(scanning) and _files_with([scanning], marker) == []


def test_several_files_each_with_its_evidence_type(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    response = upload(client, pid, [("Agreement.pdf", PDF, "agreement"), ("Obs 1.docx", office_zip("docx"),
                                     "direct_observation"), ("notes.txt", "Café notes\n".encode(), "supervision")])
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "3 documents uploaded" in page
    for label in ("Support and assessment agreement", "Direct observations", "Supervision records"):
        assert label in page
    with app.app_context():
        documents = {d.title: d for d in db.session.scalars(db.select(Document))}
        # Untitled, each is named by its kind of evidence: file names often name the NQSW.
        assert sorted(documents) == ["Direct observations", "Supervision records", "Support and assessment agreement"]
        assert documents["Direct observations"].evidence_type == "direct_observation"
        # Titles, file names and digests are encrypted in the database itself.
        raw = db.session.execute(text("SELECT d.title, v.filename, v.digest FROM documents d "
                                      "JOIN document_versions v ON v.document_id = d.id")).all()
    for title, filename, digest in raw:
        assert title.startswith("f2.") and filename.startswith("f2.") and digest.startswith("f2.")
        assert "Agreement" not in title + filename and ".pdf" not in filename


@pytest.mark.parametrize(("filename", "content", "mimetype"), [
    ("a.pdf", PDF, "application/pdf"),
    ("a.docx", office_zip("docx"), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("a.xlsx", office_zip("xlsx"), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("a.odt", office_zip("odt"), "application/vnd.oasis.opendocument.text"),
    ("a.doc", DOC, "application/msword"),
    ("a.png", PNG, "image/png"),
    ("a.JPG", JPEG, "image/jpeg"),
    ("a.txt", "plain UTF-8 \u2013 text\n".encode(), "text/plain; charset=utf-8"),
])
def test_accepted_types_are_recognised_by_content(app: Flask, admin_client: tuple[FlaskClient, Person],
                                                  filename: str, content: bytes, mimetype: str) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    assert upload(client, pid, [(filename, content, "other")]).status_code == 302
    with app.app_context():
        assert db.session.scalars(db.select(DocumentVersion)).one().content_type == mimetype


@pytest.mark.parametrize(("filename", "content", "message"), [
    ("report.pdf", HTML, "is not a file the portal accepts"),
    ("report.pdf", b"just some text", "its content is a Text file"),
    ("report.docx", office_zip("xlsx"), "its content is a Excel spreadsheet"),
    ("report.docx", b"PK\x03\x04" + b"\x00" * 100, "is not a file the portal accepts"),
    ("notes.txt", b"text with a \x00 NUL", "is not a file the portal accepts"),
    ("notes.txt", b"bad \xff\xfe UTF-8", "is not a file the portal accepts"),
    ("page.html", b"hello", "must be a PDF, Word, Excel"),
    ("report.pdf", b"", "is not a file the portal accepts"),
])
def test_wrong_or_disguised_types_are_refused_and_nothing_is_kept(
        app: Flask, admin_client: tuple[FlaskClient, Person], filename: str, content: bytes, message: str) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    response = upload(client, pid, [(filename, content, "final_report")])
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "There is a problem" in page and message in page and 'href="#file-0"' in page
    assert _counts(app) == (0, 0) and _blob_files(app) == []


def test_one_bad_file_means_none_are_uploaded(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    response = upload(client, pid, [("good.pdf", PDF, "pdp"), ("bad.pdf", HTML, "pdp"), ("also.png", PNG, "pdp")])
    assert response.status_code == 400 and 'href="#file-1"' in response.get_data(as_text=True)
    assert _counts(app) == (0, 0) and _blob_files(app) == []


def test_unknown_evidence_type_and_no_file_are_errors(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    assert "Select the kind of evidence" in upload(client, pid, [("a.pdf", PDF, "nonsense")]).get_data(as_text=True)
    response = upload(client, pid, [])
    assert response.status_code == 400 and "Select a file to upload" in response.get_data(as_text=True)
    assert _counts(app) == (0, 0) and _blob_files(app) == []


def test_names_are_sanitised(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    long_name = "é" * 300 + ".pdf"
    for name in ("../../etc/pass\x07wd\t\x1b.pdf", "C:/Users/x/report.pdf", long_name):
        assert upload(client, pid, [(name, PDF, "other")]).status_code == 302
    with app.app_context():
        names = [v.filename for v in db.session.scalars(db.select(DocumentVersion).order_by(DocumentVersion.id))]
    assert names[0] == "pass wd.pdf" and names[1] == "report.pdf"
    assert len(names[2]) == 150 and names[2].endswith(".pdf")


@pytest.fixture
def small_limit(app_config: dict) -> int:
    """A 100 KB upload limit for this test."""
    app_config["MAX_UPLOAD_BYTES"] = 100_000
    return 100_000


def test_over_the_limit_is_413_and_nothing_is_written(small_limit: int, app: Flask,
                                                      admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    response = upload(client, pid, [("small.pdf", PDF, "pdp"), ("big.pdf", PDF + b"0" * small_limit, "pdp")])
    page = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "The file is too large" in page and "big.pdf is larger than 0.0953674 MB" in page
    assert "Nothing was uploaded" in page and "Traceback" not in page
    assert _counts(app) == (0, 0) and _blob_files(app) == []
    # Exactly at the limit is fine.
    assert upload(client, pid, [("edge.pdf", PDF + b"0" * (small_limit - len(PDF)), "pdp")]).status_code == 302


def test_a_body_declared_too_large_is_refused_before_reading(small_limit: int, app: Flask,
                                                             admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    token = csrf_from(client.get(upload_path(pid)).get_data(as_text=True))
    body = StreamedBody([("csrf_token", token), ("evidence_type-0", "pdp")], "x.pdf", b"%PDF-", 10 * MB, b"0",
                        b"M")
    response = client.post(upload_path(pid), input_stream=body, content_type=body.content_type,
                           content_length=body.length)
    assert response.status_code == 413 and "Nothing was uploaded" in response.get_data(as_text=True)
    assert _blob_files(app) == []


def test_csrf_token_is_required_before_the_files(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    missing = client.post(upload_path(pid), data={"evidence_type-0": "pdp", "file-0": (io.BytesIO(PDF), "a.pdf")},
                          content_type="multipart/form-data")
    wrong = client.post(upload_path(pid), data={"csrf_token": "forged", "evidence_type-0": "pdp",
                                                "file-0": (io.BytesIO(PDF), "a.pdf")},
                        content_type="multipart/form-data")
    not_multipart = client.post(upload_path(pid), data={"csrf_token": "x"})
    assert missing.status_code == wrong.status_code == not_multipart.status_code == 400
    assert "Your form expired" in missing.get_data(as_text=True)
    assert _counts(app) == (0, 0) and _blob_files(app) == []


def test_a_crash_before_commit_leaves_no_document_and_gc_removes_the_blob(
        app: Flask, admin_client: tuple[FlaskClient, Person], monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)

    def killed() -> None:
        raise SystemExit("worker killed")  # as if the process died between the rename and the commit

    original = db.session.commit
    monkeypatch.setattr(db.session, "commit", killed)
    with pytest.raises(SystemExit):
        upload(client, pid, [("a.pdf", PDF, "pdp")])
    monkeypatch.setattr(db.session, "commit", original)
    assert _counts(app) == (0, 0)
    store = app_store(app)
    # The failed request cleaned up after itself; a real kill would not, which is what gc is for.
    assert list(store.ids()) == []
    orphan = store.new_blob_id()
    with store.write(orphan) as handle:
        handle.write(b"ciphertext of a killed upload")
    leave_unfinished(app, store.new_blob_id(), b"half")
    assert len(store.remove_orphans(set())) == 2 and _blob_files(app) == []


def test_a_body_cut_short_leaves_nothing(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    token = csrf_from(client.get(upload_path(pid)).get_data(as_text=True))
    body = StreamedBody([("csrf_token", token), ("evidence_type-0", "pdp")], "x.pdf", b"%PDF-", 3 * MB, b"0",
                        b"M", complete=False)
    response = client.post(upload_path(pid), input_stream=body, content_type=body.content_type,
                           content_length=body.length)
    assert response.status_code == 400
    assert _counts(app) == (0, 0) and _blob_files(app) == []


def test_plain_form_works_without_javascript_and_script_only_on_upload_page(
        app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    page = client.get(upload_path(pid)).get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'method="post"' in page
    assert page.count('type="file"') == 5 and '<label class="govuk-label" for="file-0">' in page
    assert 'src="/static/dist/upload.js"' in page and "<script>" not in page
    assert "upload.js" not in client.get(f"/portfolios/{pid}/documents").get_data(as_text=True)
    script = (Path(app.root_path).parent / "static" / "src" / "upload.js").read_text()
    assert "progress" in script and "preventDefault" in script


def test_only_the_admin_uploads(app: Flask, signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    from factories import seat

    from portal.models import Role

    pid = make_portfolio(app)
    member, person = signed_in(Role.MEMBER)
    seat(app, person.id, [pid])
    assert member.get(upload_path(pid)).status_code == 404
    token = csrf_from(member.get(f"/portfolios/{pid}/documents").get_data(as_text=True))
    response = member.post(upload_path(pid), data={"csrf_token": token, "evidence_type-0": "pdp",
                                                   "file-0": (io.BytesIO(PDF), "a.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 404
    assert _counts(app) == (0, 0) and _blob_files(app) == []


def test_file_parts_sent_to_any_other_form_stay_in_memory(app: Flask, admin_client: tuple[FlaskClient, Person],
                                                          temp_files: list[str]) -> None:
    from portal.documents.uploads import MemoryOnlyRequest

    assert app.request_class is MemoryOnlyRequest
    client, _ = admin_client
    token = csrf_from(client.get("/account").get_data(as_text=True))
    # Werkzeug would spool this 2 MB part to a temporary file while the CSRF check parses the form.
    client.post("/account/password", data={"csrf_token": token, "f": (io.BytesIO(b"1" * 2 * MB), "x.csv")},
                content_type="multipart/form-data")
    assert temp_files == []
    too_big = client.post("/account/password", data={"csrf_token": token,
                                                     "f": (io.BytesIO(b"0" * (17 * MB)), "x.csv")},
                          content_type="multipart/form-data")
    assert too_big.status_code == 413 and temp_files == []
