"""Deletion by crypto-shredding, the retention purge and blob garbage collection."""

import os
from pathlib import Path

import pytest
from factories import add_panel_copy, blob_path, make_moderated_portfolio, store_document
from helpers_blobs import BucketObject, blob_file, entries, is_s3, leave_unfinished, write_raw
from helpers_keys import cli_runner
from sqlalchemy import select

from portal.documents import shredding
from portal.documents.storage import app_store
from portal.extensions import db
from portal.models import AuditEvent, Document, DocumentVersion, PanelCopy, Portfolio, Role, User

pytestmark = pytest.mark.both_blob_stores  # every test against the local folder and an S3 bucket


@pytest.fixture
def cli(app):
    return cli_runner(app)


def _age(file: Path | BucketObject, hours: int) -> None:
    """Make a file look `hours` older by the filesystem's own clock (which stamped it), as storage gc reads it.
    (The S3 server stamps its objects itself: tests on a bucket collect with no grace period instead.)"""
    if isinstance(file, BucketObject):
        return
    stamped = file.stat().st_mtime - hours * 3600
    os.utime(file, (stamped, stamped))


def paths(portfolio_id: int, document_id: int, version_id: int) -> list[str]:
    base = f"/portfolios/{portfolio_id}/documents"
    return [base, f"{base}/{document_id}", f"{base}/{document_id}/versions/{version_id}/view",
            f"{base}/{document_id}/versions/{version_id}/download"]


def delete(app, person_id: int, document_id: int) -> None:
    with app.app_context():
        shredding.delete_document(db.session.get(User, person_id), db.session.get(Document, document_id))


def test_delete_shreds_keys_then_blobs_and_leaves_a_tombstone(app, admin_client):
    browser, lead = admin_client
    portfolio = make_moderated_portfolio(app, lead.id, [])
    document_id, versions = store_document(app, lead.id, [b"old version", b"new version"], portfolio_id=portfolio)
    kept_id, (kept_version,) = store_document(app, lead.id, [b"another document"], portfolio_id=portfolio)
    files = [blob_path(app, v) for v in versions]
    download = paths(portfolio, document_id, versions[1])[3]
    assert browser.get(download).status_code == 200

    delete(app, lead.id, document_id)

    assert not any(f.exists() for f in files)
    assert blob_path(app, kept_version).exists()
    with app.app_context():
        document = db.session.get(Document, document_id)
        assert document.deleted_at is not None and document.title == "Deleted document"
        for version in document.versions:
            assert version.wrapped_key is None and version.shredded_at is not None
            assert version.filename == "" and version.digest == ""
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "document.deleted")).one()
        assert event.target == f"document:{document_id}" and event.actor_id == lead.id
    for path in paths(portfolio, document_id, versions[0])[1:] + paths(portfolio, document_id, versions[1])[1:]:
        assert browser.get(path).status_code == 404, path
    listing = browser.get(paths(portfolio, document_id, versions[0])[0]).get_data(as_text=True)
    assert "Supervision record for Jo Bloggs" in listing  # the other document is still listed
    assert f"/documents/{document_id}" not in listing
    assert browser.get(paths(portfolio, kept_id, kept_version)[3]).status_code == 200


def test_keys_are_destroyed_even_if_deleting_the_blobs_fails(app, make_user, cli, monkeypatch):
    lead = make_user(Role.ADMIN)
    document_id, (version_id,) = store_document(app, lead.id, [b"content"])
    file = blob_path(app, version_id)

    def broken_delete(self, blob_id):
        raise OSError("disk went away")

    monkeypatch.setattr(type(app_store(app)), "delete", broken_delete)
    with pytest.raises(OSError):
        delete(app, lead.id, document_id)
    monkeypatch.undo()

    with app.app_context():
        assert db.session.get(DocumentVersion, version_id).wrapped_key is None  # committed before the blob step
    assert file.exists()
    _age(file, hours=2)
    result = cli("storage", "gc", *_aged(app))
    assert f"removed {file.name}" in result.output and not file.exists()
    assert cli("keys", "verify").output.strip().endswith("0 failed")


def test_purge_respects_retention_consent_and_unpublished_meetings(app, make_user, cli):
    lead = make_user(Role.ADMIN)
    due = make_moderated_portfolio(app, lead.id, [400])
    drawn_not_sampled = make_moderated_portfolio(app, lead.id, [400], sampled=False)  # eligible, not picked: purged too
    consent_only = make_moderated_portfolio(app, lead.id, [400], consent=True)  # consent, but no exemplar was confirmed
    exemplar = make_moderated_portfolio(app, lead.id, [400], consent=True, exemplar="Reflection on a home visit")
    exemplar_without_consent = make_moderated_portfolio(app, lead.id, [400], exemplar="Reflection on a home visit")
    recent = make_moderated_portfolio(app, lead.id, [100])
    drawn_recently = make_moderated_portfolio(app, lead.id, [100], sampled=False)
    still_needed = make_moderated_portfolio(app, lead.id, [400, None])
    never_moderated = make_moderated_portfolio(app, lead.id, [])
    purged = (due, drawn_not_sampled, consent_only, exemplar_without_consent)
    kept = (exemplar, recent, drawn_recently, still_needed, never_moderated)
    documents = {p: store_document(app, lead.id, [b"evidence", b"evidence v2"], portfolio_id=p) for p in purged + kept}
    files = {p: [blob_path(app, v) for v in versions] for p, (_, versions) in documents.items()}

    dry = cli("retention", "purge", "--dry-run")

    assert all(f"would purge portfolio {p} " in dry.output for p in purged), dry.output
    assert "4 portfolios would be purged" in dry.output
    assert all(f"portfolio {p} " not in dry.output for p in kept)
    assert all(f.exists() for fs in files.values() for f in fs)
    with app.app_context():
        assert db.session.get(Portfolio, due).purged_at is None

    result = cli("retention", "purge")

    assert result.exit_code == 0, result.output
    assert "purged 4 portfolios: 4 documents crypto-shredded and deleted" in result.output
    assert not any(f.exists() for p in purged for f in files[p])
    assert all(f.exists() for p in kept for f in files[p])
    with app.app_context():
        assert all(db.session.get(Portfolio, p).purged_at is not None for p in purged)
        assert db.session.get(Document, documents[due][0]).deleted_at is not None
        assert all(v.wrapped_key is None for v in db.session.get(Document, documents[due][0]).versions)
        assert all(db.session.get(Document, documents[p][0]).deleted_at is None for p in kept)
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "portfolio.purged")).all()
        assert sorted(e.target for e in events) == sorted(f"portfolio:{p}" for p in purged)
        assert all('"documents":1' in e.details for e in events)
    assert cli("retention", "purge").output.strip() == "nothing is due for purging"


def test_purge_honours_the_retention_days_setting(app, make_user, cli):
    lead = make_user(Role.ADMIN)
    portfolio = make_moderated_portfolio(app, lead.id, [100])
    assert "nothing is due" in cli("retention", "purge", "--dry-run").output
    app.config["RETENTION_DAYS"] = 90
    assert f"would purge portfolio {portfolio} " in cli("retention", "purge", "--dry-run").output


def test_storage_gc_removes_orphans_and_temporary_files_but_not_live_or_recent_ones(app, make_user, cli):
    lead = make_user(Role.ADMIN)
    _, (live_version,) = store_document(app, lead.id, [b"live"])
    live = blob_path(app, live_version)
    if is_s3(app):  # objects and an unfinished multipart upload, all stamped just now by the server
        write_raw(app, "a" * 32, b"ciphertext")
        leave_unfinished(app, "c" * 32, b"ciphertext")
        assert "removed 0 orphaned files" in cli("storage", "gc").output  # all within the hour's grace
        result = cli("storage", "gc", "--grace-minutes", "0")
        assert f"removed {'a' * 32}" in result.output and f"removed {'c' * 32} (unfinished upload)" in result.output
        assert "removed 2 orphaned files" in result.output
        assert entries(app) == [live.name] and live.exists()
        return
    root = Path(app.config["BLOB_DIR"])
    old_orphan, new_orphan, temp = root / ("a" * 32), root / ("b" * 32), root / ".tmp-cccc-1234"
    for file in (old_orphan, new_orphan, temp):
        file.write_bytes(b"ciphertext")
    for file in (old_orphan, temp, live):
        _age(file, hours=2)

    result = cli("storage", "gc")

    assert result.exit_code == 0
    assert f"removed {old_orphan.name}" in result.output and f"removed {temp.name}" in result.output
    assert "removed 2 orphaned files" in result.output
    assert live.exists() and new_orphan.exists() and not old_orphan.exists() and not temp.exists()
    assert "removed 1 orphaned files" in cli("storage", "gc", "--grace-minutes", "0").output
    assert live.exists()


def _aged(app) -> list[str]:
    """storage gc's options for blobs _age made old: none for files, no grace period for objects."""
    return ["--grace-minutes", "0"] if is_s3(app) else []


def test_deleting_and_purging_shred_panel_copies_and_gc_keeps_live_ones(app, make_user, cli):
    lead = make_user(Role.ADMIN)
    portfolio = make_moderated_portfolio(app, lead.id, [400])
    document_id, (version_id,) = store_document(app, lead.id, [b"named"], portfolio_id=portfolio)
    _, (purged_version,) = store_document(app, lead.id, [b"named too"], portfolio_id=portfolio)
    _, (live_version,) = store_document(app, lead.id, [b"kept"])
    copies = {v: add_panel_copy(app, v, b"cleaned") for v in (version_id, purged_version, live_version)}
    with app.app_context():
        files = {v: blob_file(app, blob_id) for v, blob_id in copies.items()}
    for file in files.values():
        _age(file, hours=2)

    delete(app, lead.id, document_id)
    assert "purged 1 portfolios: 1 documents" in cli("retention", "purge").output

    with app.app_context():
        shredded = {c.version_id: c for c in db.session.scalars(select(PanelCopy))}
        for version in (version_id, purged_version):
            assert shredded[version].wrapped_key is None and shredded[version].kek_id is None
            assert shredded[version].shredded_at is not None and shredded[version].digest == ""
        assert shredded[live_version].wrapped_key is not None
        events = {e.action: e.details for e in db.session.scalars(select(AuditEvent))}
    assert not files[version_id].exists() and not files[purged_version].exists()
    assert '"versions":1' in events["document.deleted"] and '"versions":1' in events["portfolio.purged"]
    assert cli("storage", "gc", *_aged(app)).exit_code == 0
    assert files[live_version].exists()  # a live panel copy is not an orphan
