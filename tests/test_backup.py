"""Backups: a snapshot, the blobs and a sealed manifest, never the keyring; verify; restore to a working portal."""

import base64
import json
from pathlib import Path

import pytest
from conftest import KEYRING, PG_URL, Browser, sign_in
from factories import add_panel_copy, make_moderated_portfolio, owner_id, store_document
from helpers_blobs import entries
from helpers_keys import cli_runner
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from portal import audit, create_app
from portal.documents.storage import current_store
from portal.extensions import db
from portal.models import Base, Deployment, Document, Role, UserSession
from portal.security import crypto

pytestmark = pytest.mark.both_blob_stores  # every test against the local folder and an S3 bucket


@pytest.fixture
def cli(app):
    return cli_runner(app)


@pytest.fixture
def stocked(app, make_user, client):
    """A Lead (signed in once, so there are sessions and audit events) and three documents."""
    lead = make_user(Role.ADMIN)
    sign_in(app, client, lead)
    portfolio = make_moderated_portfolio(app, lead.id, [])
    documents = [store_document(app, lead.id, [b"agreement v1", b"agreement v2"], portfolio_id=portfolio),
                 store_document(app, lead.id, [bytes(range(256)) * 300], portfolio_id=portfolio),
                 store_document(app, lead.id, [b"supervision notes naming a family"], portfolio_id=portfolio)]
    return lead, documents, portfolio


def restore_database_url(tmp_path: Path) -> str:
    """An empty database for the restored instance: a second PostgreSQL database, or a new SQLite file."""
    if not PG_URL:
        return f"sqlite:///{tmp_path / 'restored.sqlite3'}"
    url = make_url(PG_URL)
    name = f"{url.database}_restore"
    server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        if not connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    server.dispose()
    target = url.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(target)
    Base.metadata.drop_all(engine)
    engine.dispose()
    return target


@pytest.fixture
def fresh_app(app_config, tmp_path):
    """A second, empty instance (its own folder, database and blob store) with the same keyring."""
    folder = tmp_path / "fresh"
    (folder / "instance").mkdir(parents=True)
    config = {**app_config, "INSTANCE_PATH": str(folder / "instance"), "BLOB_DIR": str(folder / "blobs"),
              "S3_PREFIX": f"{folder.name}/", "OUTBOX_DIR": str(folder / "outbox"),
              "SQLALCHEMY_DATABASE_URI": restore_database_url(tmp_path)}
    application = create_app(config)
    application.test_client_class = Browser
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def backup_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


def test_backup_holds_database_blobs_and_manifest_but_never_the_keyring(app, cli, stocked, tmp_path):
    target = tmp_path / "backup"
    result = cli("backup", "create", str(target))

    assert result.exit_code == 0, result.output
    manifest = json.loads((target / "manifest.json").read_text())
    names = set(manifest["files"])
    assert {f"blobs/{name}" for name in entries(app)} <= names
    assert len([n for n in names if n.startswith("blobs/")]) == 4
    assert ("database.sqlite3" in names) if not PG_URL else ("database/document_versions.copy" in names)
    assert not any("keyring" in n for n in names)
    everything = backup_bytes(target)
    for key in KEYRING.keys.values():
        for form in (key, key.hex().encode(), base64.b64encode(key), base64.urlsafe_b64encode(key).rstrip(b"=")):
            assert form not in everything
    assert b"supervision notes naming a family" not in everything  # blobs and titles stay encrypted
    assert b"Supervision record for Jo Bloggs" not in everything
    assert cli("backup", "verify", str(target)).output.strip().endswith("is intact")


def test_backup_refuses_a_directory_that_is_not_empty(app, cli, stocked, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "something").write_text("x")
    result = cli("backup", "create", str(tmp_path / "full"))
    assert result.exit_code == 1 and "not empty" in result.output


@pytest.mark.parametrize("damage", ["flip a blob byte", "delete a blob", "add a file", "edit the manifest"])
def test_verify_detects_damage(app, cli, stocked, tmp_path, damage):
    target = tmp_path / "backup"
    cli("backup", "create", str(target))
    blob = next((target / "blobs").iterdir())
    if damage == "flip a blob byte":
        data = bytearray(blob.read_bytes())
        data[70] ^= 1
        blob.write_bytes(bytes(data))
    elif damage == "delete a blob":
        blob.unlink()
    elif damage == "add a file":
        (target / "blobs" / ("0" * 32)).write_bytes(b"extra")
    else:
        manifest = json.loads((target / "manifest.json").read_text())
        manifest["files"].pop(f"blobs/{blob.name}")
        blob.unlink()
        (target / "manifest.json").write_text(json.dumps(manifest))
    result = cli("backup", "verify", str(target))
    assert result.exit_code == 1 and "NOT intact" in result.output


def test_restore_into_an_empty_instance_gives_a_working_portal(app, cli, stocked, tmp_path, fresh_app):
    lead, documents, portfolio = stocked
    target = tmp_path / "backup"
    assert cli("backup", "create", str(target)).exit_code == 0
    with app.app_context():
        expected = sorted((d.id, d.title) for d in db.session.scalars(select(Document)))

    restored = cli_runner(fresh_app)("backup", "restore", str(target))

    assert restored.exit_code == 0, restored.output
    assert "restored" in restored.output
    verified = cli_runner(fresh_app)("keys", "verify")
    assert verified.exit_code == 0 and "verified 4 of 4 blobs; 0 failed" in verified.output
    with fresh_app.app_context():
        assert audit.verify()[1] is None  # the chain continues after the restore
        assert sorted((d.id, d.title) for d in db.session.scalars(select(Document))) == expected
        assert db.session.scalar(select(Document).where(Document.id == documents[0][0])).current_version_id \
            == documents[0][1][1]
        assert db.session.scalars(select(UserSession)).all() == []  # everyone signs in again
    # New rows get fresh ids after the restored ones (PostgreSQL sequences moved on).
    added = store_document(fresh_app, owner_id(fresh_app), [b"after the restore"])
    assert added[0] > max(d for d, _ in documents)
    assert added[1][0] > max(v for _, versions in documents for v in versions)
    browser = fresh_app.test_client()
    sign_in(fresh_app, browser, lead)
    assert browser.get("/dashboard").status_code == 200
    (first, (_, second_version)), (big, (big_version,)) = documents[0], documents[1]
    base = f"/portfolios/{portfolio}/documents"
    assert browser.get(f"{base}/{first}/versions/{second_version}/download").data == b"agreement v2"
    assert browser.get(f"{base}/{big}/versions/{big_version}/download").data == bytes(range(256)) * 300


def test_restore_into_sqlite_reads_either_databases_backup(app, cli, stocked, tmp_path, app_config):
    """A PostgreSQL backup (COPY text files, parsed here) restores into SQLite as a SQLite backup does."""
    lead, documents, portfolio = stocked
    target = tmp_path / "backup"
    assert cli("backup", "create", str(target)).exit_code == 0
    with app.app_context():
        expected = sorted((d.id, d.title, d.current_version_id) for d in db.session.scalars(select(Document)))
    folder = tmp_path / "sqlite-server"
    (folder / "instance").mkdir(parents=True)
    sqlite_app = create_app({**app_config, "INSTANCE_PATH": str(folder / "instance"), "BLOB_DIR": str(folder / "blobs"),
                             "S3_PREFIX": f"{folder.name}/", "OUTBOX_DIR": str(folder / "outbox"),
                             "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'restored.sqlite3'}"})
    sqlite_app.test_client_class = Browser

    restored = cli_runner(sqlite_app)("backup", "restore", str(target))

    assert restored.exit_code == 0, restored.output
    with sqlite_app.app_context():
        assert audit.verify()[1] is None
        assert sorted((d.id, d.title, d.current_version_id) for d in db.session.scalars(select(Document))) == expected
    browser = sqlite_app.test_client()
    sign_in(sqlite_app, browser, lead)
    (first, (_, second_version)), (big, (big_version,)) = documents[0], documents[1]
    base = f"/portfolios/{portfolio}/documents"
    assert browser.get(f"{base}/{first}/versions/{second_version}/download").data == b"agreement v2"
    assert browser.get(f"{base}/{big}/versions/{big_version}/download").data == bytes(range(256)) * 300
    with sqlite_app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_restore_into_a_migrated_database_takes_the_deployments_records(app, cli, stocked, tmp_path, app_config):
    """As on a new server: the database is migrated and the portal has started on it (recording this host's
    SECRET_KEY and keys) before the backup is restored; the backup's records replace them."""
    target = tmp_path / "backup"
    assert cli("backup", "create", str(target)).exit_code == 0
    folder = tmp_path / "new-server"
    (folder / "instance").mkdir(parents=True)
    config = {**app_config, "INSTANCE_PATH": str(folder / "instance"), "BLOB_DIR": str(folder / "blobs"),
              "S3_PREFIX": f"{folder.name}/", "OUTBOX_DIR": str(folder / "outbox"),
              "SQLALCHEMY_DATABASE_URI": restore_database_url(tmp_path)}
    engine = create_engine(config["SQLALCHEMY_DATABASE_URI"])
    Base.metadata.create_all(engine)
    engine.dispose()
    wrong_secret = create_app({**config, "SECRET_KEY": "a new server's own secret key"})
    with wrong_secret.app_context():
        assert db.session.get(Deployment, 1) is not None  # recorded when it started

    restored = cli_runner(wrong_secret)("backup", "restore", str(target))

    assert restored.exit_code == 0, restored.output
    assert "SECRET_KEY is not the deployment's" in restored.output  # the backup's deployment has another one
    assert wrong_secret.test_client().get("/health/ready").status_code == 503
    right = create_app(config)
    assert right.test_client().get("/health/ready").status_code == 200
    with right.app_context():
        assert db.session.get(Deployment, 1).secret_check == crypto.secret_check(app_config["SECRET_KEY"])
        db.session.remove()
        db.engine.dispose()
    with wrong_secret.app_context():
        db.session.remove()
        db.engine.dispose()


def test_restore_refuses_a_database_that_has_data(app, cli, stocked, tmp_path):
    target = tmp_path / "backup"
    cli("backup", "create", str(target))
    result = cli("backup", "restore", str(target))
    assert result.exit_code == 1 and "not empty" in result.output


def test_restore_refuses_a_damaged_backup(app, cli, stocked, tmp_path, fresh_app):
    target = tmp_path / "backup"
    cli("backup", "create", str(target))
    next((target / "blobs").iterdir()).write_bytes(b"damaged")
    result = cli_runner(fresh_app)("backup", "restore", str(target))
    assert result.exit_code == 1 and "does not verify" in result.output
    with fresh_app.app_context():
        assert entries(fresh_app) == []


def test_dump_values_round_trip_through_json():
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from portal.ops.backup import _decode, _encode

    values = [None, True, 7, "text", b"\x00\xffbytes", datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
              date(2026, 1, 2), Decimal("1.50"), {"$b": "not a tag"}, ["a", 1]]
    assert [_decode(json.loads(json.dumps(_encode(v)))) for v in values] == values


def test_copy_text_format_parses_back_to_the_values_postgresql_wrote(tmp_path):
    """The COPY text format, as PostgreSQL writes it (UTC, ISO dates, hex bytea), read back for a restore into a
    database other than PostgreSQL: escapes, NULLs, bytes, booleans, dates and times."""
    from datetime import UTC, date, datetime

    from sqlalchemy import Boolean, Column, Date, DateTime, Integer, LargeBinary, MetaData, Table, Text

    from portal.ops.backup import _copy_rows

    table = Table("sample", MetaData(), Column("id", Integer), Column("note", Text), Column("raw", LargeBinary),
                  Column("flag", Boolean), Column("on", Date), Column("at", DateTime(timezone=True)))
    (tmp_path / "sample.copy").write_bytes(
        b"1\ttab\\there\\nnew line \\\\ backslash \\\\N not null\t\\\\x00ff41\tt\t2026-01-02\t"
        b"2026-01-02 03:04:05.000006+00\n"
        b"2\t\\N\t\\N\tf\t\\N\t2026-01-02 03:04:05+00\n")
    rows = list(_copy_rows(tmp_path / "sample.copy", list(table.columns)))
    assert rows == [
        {"id": 1, "note": "tab\there\nnew line \\ backslash \\N not null", "raw": b"\x00\xffA", "flag": True,
         "on": date(2026, 1, 2), "at": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)},
        {"id": 2, "note": None, "raw": None, "flag": False, "on": None,
         "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)},
    ]


def test_panel_copies_are_backed_up_and_a_missing_one_is_reported(app, cli, stocked, tmp_path):
    _, documents, _ = stocked
    (_, (first_version, _)), (_, (second_version,)) = documents[0], documents[1]
    kept = add_panel_copy(app, first_version, b"agreement without its author")
    lost = add_panel_copy(app, second_version, b"bytes without their author")
    with app.app_context():
        current_store().delete(lost)

    result = cli("backup", "create", str(tmp_path / "backup"))

    assert result.exit_code == 0, result.output
    names = set(json.loads((tmp_path / "backup" / "manifest.json").read_text())["files"])
    assert f"blobs/{kept}" in names
    assert f"blob {lost} is named by the database but missing from the store" in result.output
