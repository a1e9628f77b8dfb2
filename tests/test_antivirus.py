"""Virus scanning with the real clamd (started by the tests, with a one-signature database under tests/clamav)."""

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Clamd, Person, eicar
from factories import make_portfolio
from flask import Flask
from flask.testing import FlaskClient
from helpers_documents import PDF, replace, upload

from portal.extensions import db
from portal.models import AuditEvent, Document, DocumentVersion

MB = 1024 * 1024


@pytest.fixture
def clamd(start_clamd: Callable[..., Clamd], app_config: dict) -> Clamd:
    """Scanning on, through clamd's Unix socket."""
    server = start_clamd()
    app_config["CLAMD"] = str(server.socket)
    app_config["CLAMD_MAX_BYTES"] = 64 * MB
    return server


def _nothing_kept(app: Flask) -> bool:
    with app.app_context():
        counts = (db.session.scalar(db.select(db.func.count()).select_from(Document)),
                  db.session.scalar(db.select(db.func.count()).select_from(DocumentVersion)))
    root = Path(app.config["BLOB_DIR"])
    return counts == (0, 0) and (not root.exists() or not any(root.iterdir()))


def _events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        events = list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == action)))
        db.session.expunge_all()
        return events


def test_clean_files_are_scanned_and_stored(clamd: Clamd, app: Flask,
                                            admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    assert upload(client, pid, [("a.pdf", PDF, "pdp"), ("notes.txt", b"Supervision notes\n", "supervision")]
                  ).status_code == 302
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(DocumentVersion)) == 2


def test_an_infected_file_is_refused_audited_and_nothing_is_kept(clamd: Clamd, app: Flask,
                                                                 admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    response = upload(client, pid, [("good.pdf", PDF, "pdp"), ("Reflection.txt", eicar(), "critical_reflection")])
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and 'href="#file-1"' in page
    assert "Reflection.txt was not uploaded: the virus scanner found Portal.Test.EICAR.UNOFFICIAL in it" in page
    assert _nothing_kept(app)  # the good file in the same upload is not kept either
    (event,) = _events(app, "document.infected")
    assert event.target == f"portfolio:{pid}" and "Portal.Test.EICAR" in event.details
    assert "Reflection.txt" in event.details and "critical_reflection" in event.details


def test_a_virus_inside_a_docx_or_a_replacement_is_found(clamd: Clamd, app: Flask,
                                                         admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"<w:document>" + eicar() + b"</w:document>")
    response = upload(client, pid, [("Observation.docx", buffer.getvalue(), "direct_observation")])
    assert response.status_code == 400 and "found Portal.Test.EICAR" in response.get_data(as_text=True)
    assert upload(client, pid, [("a.pdf", PDF, "pdp")]).status_code == 302
    with app.app_context():
        doc = db.session.scalars(db.select(Document)).one().id
    replaced = replace(client, pid, doc, "v2.txt", eicar())
    assert replaced.status_code == 400 and "found Portal.Test.EICAR" in replaced.get_data(as_text=True)
    assert len(_events(app, "document.infected")) == 2
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(DocumentVersion)) == 1


@pytest.fixture(params=["unix socket", "tcp"])
def no_scanner(request: pytest.FixtureRequest, app_config: dict, tmp_path: Path) -> None:
    """Scanning configured, but nothing listening where the scanner should be."""
    app_config["CLAMD"] = str(tmp_path / "no-clamd.sock") if request.param == "unix socket" else "127.0.0.1:9"


def test_an_unreachable_scanner_means_nothing_is_stored_unscanned(no_scanner: None, app: Flask,
                                                                  admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    response = upload(client, pid, [("a.pdf", PDF, "pdp")])
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "a.pdf was not uploaded because the virus scanner could not check it" in page
    assert _nothing_kept(app)
    assert len(_events(app, "document.not_scanned")) == 1


@pytest.fixture
def strict_clamd(start_clamd: Callable[..., Clamd], app_config: dict) -> Clamd:
    """A clamd that takes streams of up to 2 MB and scans files of up to 1 MB whole; the portal set to 3 MB."""
    server = start_clamd(stream_max="2M", max_file="1M")
    app_config["CLAMD"] = str(server.socket)
    app_config["CLAMD_MAX_BYTES"] = 3 * MB  # above clamd's own limit, as a misconfiguration would be
    return server


@pytest.mark.parametrize(("size", "why"), [
    (1536 * 1024, "is too large or complex for the virus scanner to check whole"),  # over MaxFileSize
    (2560 * 1024, "is larger than the virus scanner accepts"),  # over clamd's StreamMaxLength
])
def test_a_file_over_the_scanners_limits_is_refused(strict_clamd: Clamd, app: Flask,
                                                    admin_client: tuple[FlaskClient, Person], size: int,
                                                    why: str) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    response = upload(client, pid, [("big.txt", b"supervision notes\n" * (size // 18), "supervision")])
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and f"big.txt {why}" in page, page[page.find("govuk-error-summary"):][:600]
    assert _nothing_kept(app) and len(_events(app, "document.not_scanned")) == 1
    small = upload(client, pid, [("small.txt", b"supervision notes\n" * 1000, "supervision")])
    assert small.status_code == 302  # the same scanner still takes a file within its limits


def test_a_file_over_clamd_max_bytes_is_refused_before_the_scanner_is_sent_more(
        clamd: Clamd, app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    app.config["CLAMD_MAX_BYTES"] = MB
    client, _ = admin_client
    pid = make_portfolio(app)
    response = upload(client, pid, [("big.txt", b"supervision notes\n" * (MB // 9), "supervision")])
    assert response.status_code == 400
    assert "big.txt is larger than 1 MB, the largest file the virus scanner checks" in response.get_data(as_text=True)
    assert _nothing_kept(app) and len(_events(app, "document.not_scanned")) == 1
