"""The Alembic migrations build exactly the schema the models describe, on SQLite and on PostgreSQL."""

import secrets
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import KEYRING, PG_URL
from flask_migrate import downgrade, upgrade
from sqlalchemy import Boolean, Date, DateTime, column, create_engine, insert, inspect, select, table, text
from sqlalchemy.engine import make_url

from portal import audit, clock, create_app
from portal.extensions import db
from portal.models import (
    AuditEvent,
    Base,
    Document,
    DocumentVersion,
    Meeting,
    MeetingTemplate,
    Nqsw,
    Portfolio,
    SampleDraw,
    User,
)
from portal.security import crypto


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    """An empty database of the kind this leg tests: a new SQLite file, or a new PostgreSQL database."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    name = f"portal_migrations_{secrets.token_hex(4)}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _app_for(url: str, tmp_path: Path):
    return create_app({"TESTING": True, "SECRET_KEY": "x" * 32, "INSTANCE_PATH": str(tmp_path),
                       "SQLALCHEMY_DATABASE_URI": url, "KEYRING": KEYRING})


def test_migrations_match_the_models(empty_database: str, tmp_path: Path) -> None:
    app = _app_for(empty_database, tmp_path)
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        tables = set(inspect(db.engine).get_table_names())
        db.engine.dispose()
    assert differences == [], f"models and migrations differ: {differences}"
    assert {t.name for t in Base.metadata.sorted_tables} <= tables


def test_migrations_downgrade_to_nothing(empty_database: str, tmp_path: Path) -> None:
    app = _app_for(empty_database, tmp_path)
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        remaining = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
        db.engine.dispose()
    assert remaining == set()


# 0002: free text written in plaintext under 0001 is encrypted in place -----------------------------------

TITLE, REASON, TEMPLATE = "Panel for Jo Bloggs", "Jo Bloggs's Assessor sits on the panel", "1. Apologies: Jo Bloggs"
PLAIN_COLUMNS = {"meetings.title": TITLE, "sample_draws.reason": REASON, "meeting_templates.text": TEMPLATE}


def _stored(column: str) -> list[str]:
    """A column's values exactly as stored, in id order."""
    table, name = column.split(".")
    return list(db.session.execute(text(f"SELECT {name} FROM {table} ORDER BY id")).scalars())


def _write_0001_rows() -> None:
    """Rows as the 0001 code wrote them: free text in plaintext, audit details as plain JSON in a valid chain."""
    now = clock.now()
    person = User(email="lead@example.org", name="Lead", role="admin", created_at=now)
    db.session.add(person)
    db.session.flush()
    for number in range(3):
        audit.record(person, "test.event", f"thing:{number}", reason=f"{REASON} ({number})")
    db.session.commit()
    keyring = crypto.installed()
    for event_id, stored in db.session.execute(text("SELECT id, details FROM audit_events")).all():
        db.session.execute(text("UPDATE audit_events SET details = :plain WHERE id = :id"),
                           {"plain": keyring.decrypt_field("audit_events.details", stored), "id": event_id})
    meetings = table("meetings", column("id"), column("title"), column("held_on", Date),
                     column("access_window_days"), column("created_at", DateTime(timezone=True)))
    db.session.execute(insert(meetings).values(id=1, title=TITLE, held_on=date(2027, 3, 18), access_window_days=30,
                                               created_at=now))
    draws = table("sample_draws", column("id"), column("meeting_id"), column("seed"), column("population"),
                  column("parameters"), column("picks"), column("reason"), column("drawn_by_id"),
                  column("drawn_at", DateTime(timezone=True)), column("current", Boolean))
    db.session.execute(insert(draws).values(id=1, meeting_id=1, seed="00", population="[]", parameters="{}",
                                            picks="[]", reason=REASON, drawn_by_id=person.id, drawn_at=now,
                                            current=True))
    templates = table("meeting_templates", column("id"), column("kind"), column("text"),
                      column("updated_at", DateTime(timezone=True)))
    db.session.execute(insert(templates).values(id=1, kind="agenda", text=TEMPLATE, updated_at=now))
    db.session.commit()


def test_upgrade_encrypts_existing_free_text_in_place_and_downgrade_restores_it(empty_database: str,
                                                                                tmp_path: Path) -> None:
    app = _app_for(empty_database, tmp_path)
    with app.app_context():
        upgrade(revision="0001")
        _write_0001_rows()
        plain_details = _stored("audit_events.details")
        assert all(d.startswith('{"reason":') for d in plain_details)
        db.session.remove()  # PostgreSQL: a transaction left open here would block the migration's ALTER TABLE

        upgrade()

        stored = {c: _stored(c) for c in [*PLAIN_COLUMNS, "audit_events.details"]}
        assert all(v.startswith("f1.") and "Jo Bloggs" not in v for values in stored.values() for v in values), stored
        db.session.expire_all()
        assert db.session.scalar(select(Meeting.title)) == TITLE
        assert db.session.scalar(select(SampleDraw.reason)) == REASON
        assert db.session.scalar(select(MeetingTemplate.text)) == TEMPLATE
        details = list(db.session.scalars(select(AuditEvent.details).order_by(AuditEvent.seq)))
        assert details == plain_details
        assert audit.verify() == (3, None)  # the chain covers the plaintext, which did not change
        db.session.remove()

        downgrade(revision="0001")

        assert {c: _stored(c) for c in PLAIN_COLUMNS} == {c: [v] for c, v in PLAIN_COLUMNS.items()}
        assert _stored("audit_events.details") == plain_details
        title_type = {c["name"]: c["type"] for c in inspect(db.engine).get_columns("meetings")}["title"]
        assert getattr(title_type, "length", None) == 200
        db.session.remove()

        upgrade()  # and again: the values are encrypted once, not twice

        db.session.expire_all()
        assert db.session.scalar(select(Meeting.title)) == TITLE
        assert audit.verify() == (3, None)
        db.session.remove()
        db.engine.dispose()


# 0003: a title copied from the uploaded file's name becomes the evidence type's label --------------------------


def test_upgrade_replaces_titles_copied_from_file_names_and_keeps_typed_ones(empty_database: str,
                                                                             tmp_path: Path) -> None:
    app = _app_for(empty_database, tmp_path)
    with app.app_context():
        upgrade(revision="0002")
        now = clock.now()
        lead = User(email="lead@example.org", name="Lead", role="admin", created_at=now)
        nqsw = Nqsw(name="Jane Smith", email="jane@example.org")
        db.session.add_all([lead, nqsw])
        db.session.flush()
        portfolio = Portfolio(nqsw_id=nqsw.id, created_at=now)
        db.session.add(portfolio)
        db.session.flush()
        titles = {"Jane Smith 6-month review": ("review_6_month", "Jane Smith 6-month review.docx"),
                  "Six-month review, second draft": ("review_6_month", "Jane Smith review v2.pdf")}
        for title, (evidence, filename) in titles.items():
            document = Document(portfolio_id=portfolio.id, evidence_type=evidence, title=title,
                                created_by_id=lead.id, created_at=now)
            db.session.add(document)
            db.session.flush()
            # Only the columns revision 0002 has (later revisions add more to the model): an insert naming them.
            db.session.execute(insert(DocumentVersion).values(
                document_id=document.id, number=1, blob_id=secrets.token_hex(16), filename=filename,
                content_type="application/pdf", size=1, digest="", uploaded_by_id=lead.id, uploaded_at=now))
        db.session.commit()
        db.session.remove()

        upgrade()

        stored = _stored("documents.title")
        assert all(v.startswith("f1.") and "Jane" not in v for v in stored)
        assert list(db.session.scalars(select(Document.title).order_by(Document.id))) == [
            "6-month review", "Six-month review, second draft"]
        assert list(db.session.scalars(select(DocumentVersion.filename).order_by(DocumentVersion.id))) == [
            "Jane Smith 6-month review.docx", "Jane Smith review v2.pdf"]  # the Lead keeps the uploaded names
        db.session.remove()
        downgrade(revision="0002")
        upgrade()  # a re-run changes nothing more
        assert list(db.session.scalars(select(Document.title).order_by(Document.id))) == [
            "6-month review", "Six-month review, second draft"]
        db.session.remove()
        db.engine.dispose()
