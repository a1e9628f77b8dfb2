"""Test data for keys, backups and retention: encrypted documents written through the blob-store API."""

import json
import secrets
from datetime import date, timedelta
from pathlib import Path

import blake3
from flask import Flask
from helpers_blobs import BucketObject, blob_file, blob_states
from sqlalchemy import select, text

from portal import clock
from portal.documents.storage import current_store
from portal.extensions import db
from portal.models import (
    Document,
    DocumentVersion,
    Meeting,
    Nqsw,
    PanelCopy,
    PanelView,
    Portfolio,
    SampledPortfolio,
    SampleDraw,
    User,
)
from portal.security import crypto, streams
from portal.security.crypto import Keyring


def file_keyring_config(app_config: dict, tmp_path: Path) -> dict:
    """The test configuration with the keyring in instance/keyring.json (as in production) instead of memory."""
    path = Path(app_config["INSTANCE_PATH"]) / "keyring.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    Keyring.generate().save(path)
    # No portal process runs beside these tests' commands, so they need not wait for hosts to follow a new key.
    return {**app_config, "KEYRING": None, "KEYRING_FILE": str(path), "DEPLOYMENT_CHECK_SECONDS": 0}


def add_document(app: Flask, owner_id: int, contents: list[bytes], portfolio_id: int | None = None,
                 title: str = "Supervision record for Jo Bloggs") -> tuple[int, list[int]]:
    """Store a document with one version per content, encrypted as the upload service does."""
    with app.app_context():
        keyring, store = crypto.installed(), current_store()
        document = Document(portfolio_id=portfolio_id, title=title, created_by_id=owner_id, created_at=clock.now())
        db.session.add(document)
        db.session.flush()
        for number, content in enumerate(contents, start=1):
            blob_id = store.new_blob_id()
            version = DocumentVersion(document_id=document.id, number=number, blob_id=blob_id,
                                      filename=f"record-{number}.txt", content_type="text/plain", size=len(content),
                                      digest=blake3.blake3(content).hexdigest(),
                                      uploaded_by_id=owner_id,
                                      uploaded_at=clock.now())
            db.session.add(version)
            db.session.flush()
            data_key = streams.new_data_key()
            version.kek_id, version.wrapped_key = keyring.wrap(data_key)
            encryptor = streams.BlobEncryptor(data_key, streams.blob_context(document.id, version.id, blob_id))
            with store.write(blob_id) as handle:
                handle.write(encryptor.update(content))
                handle.write(encryptor.finalize())
            document.current_version_id = version.id
        db.session.commit()
        return document.id, [v.id for v in document.versions]


def add_panel_copy(app: Flask, version_id: int, content: bytes) -> str:
    """Give a version a panel copy holding `content`, encrypted as the upload service does; returns its blob id."""
    with app.app_context():
        keyring, store = crypto.installed(), current_store()
        version = db.session.get(DocumentVersion, version_id)
        blob_id, data_key = store.new_blob_id(), streams.new_data_key()
        kek_id, wrapped = keyring.wrap(data_key)
        db.session.add(PanelCopy(version_id=version.id, blob_id=blob_id, size=len(content),
                                 digest=blake3.blake3(content).hexdigest(), kek_id=kek_id, wrapped_key=wrapped,
                                 created_at=clock.now()))
        version.cleaning = "cleaned"
        encryptor = streams.BlobEncryptor(data_key, streams.panel_copy_context(version.document_id, version.id,
                                                                              blob_id))
        with store.write(blob_id) as handle:
            handle.write(encryptor.update(content))
            handle.write(encryptor.finalize())
        db.session.commit()
        return blob_id


def blob_files(app: Flask) -> dict[str, tuple[object, bytes]]:
    """Every blob's (when last written, bytes) by name."""
    return blob_states(app)


def blob_path(app: Flask, version_id: int) -> Path | BucketObject:
    """The file (or bucket object) holding a version's blob."""
    with app.app_context():
        version = db.session.get(DocumentVersion, version_id)
        return blob_file(app, version.blob_id)


def owner_id(app: Flask) -> int:
    """Any user's id (documents need an uploader)."""
    with app.app_context():
        return db.session.scalar(select(User.id).limit(1))


def make_portfolio(app: Flask, owner: int, published_days_ago: list[int | None], consent: bool = False,
                   sampled: bool = True, exemplar: str | None = None) -> int:
    """A portfolio moderated by one meeting per entry, whose minutes were published that many days ago (None: not).

    Sampled by each meeting, or with sampled=False only in its draw's population (eligible, not picked); with an
    exemplar, the first meeting's panel confirmed it.
    """
    with app.app_context():
        token = secrets.token_hex(4)
        nqsw = Nqsw(name=f"Nqsw {token}", email=f"nqsw-{token}@example.org")
        db.session.add(nqsw)
        db.session.flush()
        portfolio = Portfolio(nqsw_id=nqsw.id, exemplar_consent=consent, created_at=clock.now())
        db.session.add(portfolio)
        db.session.flush()
        for number, days in enumerate(published_days_ago):
            published = None if days is None else clock.now() - timedelta(days=days)
            meeting = Meeting(title=f"Panel {token}", held_on=date(2025, 1, 10), created_at=clock.now(),
                              minutes_published_at=published)
            db.session.add(meeting)
            db.session.flush()
            draw = SampleDraw(meeting_id=meeting.id, seed="00", population=json.dumps([portfolio.id]),
                              parameters="{}", picks=json.dumps([portfolio.id] if sampled else []),
                              drawn_by_id=owner, drawn_at=clock.now())
            db.session.add(draw)
            db.session.flush()
            if sampled:
                db.session.add(SampledPortfolio(meeting_id=meeting.id, portfolio_id=portfolio.id, draw_id=draw.id,
                                                position=1))
            if exemplar is not None and number == 0:
                db.session.add(PanelView(meeting_id=meeting.id, portfolio_id=portfolio.id,
                                         exemplars_confirmed=exemplar))
        db.session.commit()
        return portfolio.id


def cli_runner(app: Flask):
    """A function that runs a `flask --app portal` command against the test app and returns the click result."""
    runner = app.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(args=list(args), catch_exceptions=False)

    return invoke


def swap(app: Flask, table: str, column: str, first: int, second: int) -> None:
    """Swap two rows' stored (encrypted) values of a column, as someone with write access to the database could."""
    with app.app_context():
        stored = dict(db.session.execute(text(f"SELECT id, {column} FROM {table} WHERE id IN (:a, :b)"),
                                         {"a": first, "b": second}).all())
        for target, source in ((first, second), (second, first)):
            db.session.execute(text(f"UPDATE {table} SET {column} = :value WHERE id = :id"),
                               {"value": stored[source], "id": target})
        db.session.commit()
