"""The Alembic migrations build exactly the schema the models describe, on SQLite and on PostgreSQL."""

import importlib.util
import json
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
    Assessment,
    AssessmentTemplate,
    AuditEvent,
    Base,
    Document,
    DocumentVersion,
    Meeting,
    MeetingTemplate,
    Nqsw,
    OutboxMessage,
    Portfolio,
    SampleDraw,
    User,
)
from portal.ops import keys
from portal.security import crypto, tokens


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
    # The chain as 0001 wrote it (the format in portal/audit.py's notes), with the details in plain JSON.
    kid, key = crypto.installed().derive("portal audit chain v1")
    events = table("audit_events", column("seq"), column("at", DateTime(timezone=True)), column("actor_id"),
                   column("action"), column("target"), column("details"), column("ip"), column("key_id"),
                   column("prev_hash"), column("hash"))
    prev_hash = "0" * 64
    for number in range(3):
        fields = [number + 1, now.isoformat(timespec="microseconds"), person.id, "test.event", f"thing:{number}",
                  json.dumps({"reason": f"{REASON} ({number})"}, separators=(",", ":")), "", prev_hash]
        digest = tokens.keyed_hash(key, json.dumps(fields, separators=(",", ":")))
        db.session.execute(insert(events).values(seq=number + 1, at=now, actor_id=person.id, action="test.event",
                                                 target=f"thing:{number}", details=fields[5], ip="", key_id=kid,
                                                 prev_hash=prev_hash, hash=digest))
        prev_hash = digest
    db.session.execute(insert(table("audit_head", column("id"), column("seq"), column("hash")))
                       .values(id=1, seq=3, hash=prev_hash))
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
        assert all(v.startswith("f2.") and "Jo Bloggs" not in v for values in stored.values() for v in values), stored
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
        for number, (title, (evidence, filename)) in enumerate(titles.items(), start=1):
            # Ids given, as the code of that time had no id_sequences table (0011) to take them from.
            document = Document(id=number, portfolio_id=portfolio.id, evidence_type=evidence, title=title,
                                created_by_id=lead.id, created_at=now)
            db.session.add(document)
            db.session.flush()
            # Only the columns revision 0002 has (later revisions add more to the model), and the file name in the
            # format of that time (f1, bound to its column only): a plain insert naming them.
            keyring = crypto.installed()
            db.session.execute(text(
                "INSERT INTO document_versions (document_id, number, blob_id, filename, content_type, size, digest, "
                "uploaded_by_id, uploaded_at) VALUES (:document, 1, :blob, :filename, 'application/pdf', 1, :digest, "
                ":lead, :now)"), {
                    "document": document.id, "blob": secrets.token_hex(16), "lead": lead.id, "now": now,
                    "filename": keyring.encrypt_field("document_versions.filename", filename),
                    "digest": keyring.encrypt_field("document_versions.digest", "")})
        db.session.commit()
        db.session.remove()
        _as_before_0006(db.engine)

        upgrade()

        stored = _stored("documents.title")
        assert all(v.startswith("f2.") and "Jane" not in v for v in stored)
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


# 0006: every encrypted field is bound to its row -------------------------------------------------------------


def _migration_0006():
    """The migration's module, as Alembic loads it."""
    path = Path(__file__).resolve().parent.parent / "migrations" / "versions" / "0006_fields_bound_to_rows.py"
    spec = importlib.util.spec_from_file_location("migration_0006", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _as_before_0018(engine) -> None:
    """Give every audit event the ref the code before 0018 would have bound its details to: its seq."""
    if "ref" not in {c["name"] for c in inspect(engine).get_columns("audit_events")}:
        return
    keyring, label = crypto.installed(), "audit_events.details"
    with engine.begin() as connection:
        for event_id, seq, ref, stored in connection.execute(text("SELECT id, seq, ref, details FROM audit_events")):
            details = keyring.encrypt_row_field(label, seq, keyring.decrypt_row_field(label, ref, stored))
            connection.execute(text("UPDATE audit_events SET ref = :ref, details = :details WHERE id = :id"),
                               {"ref": str(seq), "details": details, "id": event_id})


def _as_before_0006(engine) -> None:
    """Turn every encrypted value into the format the code before 0006 wrote (f1, bound to its column only)."""
    _as_before_0018(engine)
    present = [table for table in _migration_0006().TABLES if inspect(engine).has_table(table.name)]
    keys.bind_fields_to_rows(engine, crypto.installed(), present, unbind=True)


# Encrypted tables created after 0006: their own migrations make them, and the models bind them to rows from the start.
CREATED_AFTER_0006 = {"kept_forms", "reading_notes", "report_sections"}
# Encrypted columns added to older tables after 0006 (empty when added, and bound to rows from the start).
ADDED_AFTER_0006 = {"document_versions": {"names_found"}}
# Columns whose values 0006 bound to another identity, which a later migration carried over (0018: the audit
# details' ref is its seq's digits for every event written before it).
REBOUND_AFTER_0006 = {("audit_events", "ref"): "seq"}


def test_0006_covers_every_encrypted_column_of_the_models() -> None:
    tables = {(t.name, t.identity, frozenset(t.columns)) for t in _migration_0006().TABLES}
    assert tables == {(item.table.name, REBOUND_AFTER_0006.get((item.table.name, item.identity.name),
                                                               item.identity.name),
                       frozenset(c.name for c in item.columns) - ADDED_AFTER_0006.get(item.table.name, set()))
                      for item in keys.encrypted_tables() if item.table.name not in CREATED_AFTER_0006}


SECRETS = {"lead@example.org": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
           "member@example.org": "KRUGKIDROVUWG2ZAMJZG653OEBTG66BA"}


def _write_fields() -> dict[str, object]:
    """People, a meeting, documents, an assessment, an email and audit events, as the models write them."""
    now = clock.now()
    people = [User(email=email, name=email.split("@")[0].title(), role="admin", created_at=now, totp_secret=secret)
              for email, secret in SECRETS.items()]
    db.session.add_all(people)
    db.session.flush()
    meeting = Meeting(title="Panel for Jo Bloggs", held_on=date(2027, 3, 18), agenda="1. Welcome",
                      terms_of_reference="Our terms", created_at=now)
    nqsw = Nqsw(name="Jane Smith", email="jane@example.org")
    template = AssessmentTemplate(name="Reviewer template", version=1, schema='{"sections": []}', created_at=now)
    db.session.add_all([meeting, nqsw, template])
    db.session.flush()
    portfolio = Portfolio(nqsw_id=nqsw.id, created_at=now)
    db.session.add(portfolio)
    db.session.flush()
    documents = [Document(portfolio_id=portfolio.id, title=title, created_by_id=people[0].id, created_at=now)
                 for title in ("Jane Smith's final report", "Supervision records")]
    db.session.add_all(documents)
    db.session.flush()
    db.session.add_all([DocumentVersion(document_id=d.id, number=1, blob_id=secrets.token_hex(16),
                                        filename=f"{d.title}.pdf", content_type="application/pdf", size=1,
                                        digest="ab" * 32, uploaded_by_id=people[0].id, uploaded_at=now)
                        for d in documents])
    db.session.add(Assessment(meeting_id=meeting.id, portfolio_id=portfolio.id, user_id=people[1].id,
                              template_id=template.id, answers='{"agree": "yes"}', created_at=now, updated_at=now))
    db.session.add(OutboxMessage(recipient="jane@example.org", subject="Hello", body="https://portal.test/x",
                                 created_at=now, next_attempt_at=now))
    for number in range(3):
        audit.record(people[0], "test.event", f"thing:{number}", reason=f"Jo Bloggs ({number})")
    db.session.commit()
    return _readable()


def _readable() -> dict[str, object]:
    """Every encrypted value written by _write_fields, read through the models."""
    db.session.expire_all()
    return {"totp": sorted(db.session.execute(select(User.email, User.totp_secret)).all()),
            "meeting": db.session.execute(select(Meeting.title, Meeting.agenda, Meeting.terms_of_reference)).all(),
            "titles": sorted(db.session.scalars(select(Document.title))),
            "files": sorted(db.session.execute(select(DocumentVersion.filename, DocumentVersion.digest)).all()),
            "answers": db.session.scalar(select(Assessment.answers)),
            "email": db.session.scalar(select(OutboxMessage.body)),
            "details": list(db.session.scalars(select(AuditEvent.details).order_by(AuditEvent.seq)))}


ALL_FIELDS = [("users", "totp_secret"), ("meetings", "title"), ("documents", "title"),
              ("document_versions", "filename"), ("assessments", "answers"), ("outbox", "body"),
              ("audit_events", "details")]


def _formats() -> dict[str, set[str]]:
    return {f"{t}.{c}": {v.split(".", 1)[0] for v in _stored(f"{t}.{c}") if v is not None} for t, c in ALL_FIELDS}


class Killed(Exception):
    """Stands for the process being killed between two batches."""


def test_0006_binds_every_field_to_its_row_resumably_and_downgrades(empty_database: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    app = _app_for(empty_database, tmp_path)
    with app.app_context():
        upgrade()
        expected = _write_fields()
        db.session.remove()
        _as_before_0006(db.engine)  # the database as the code before 0006 left it
        downgrade(revision="0005")
        assert set().union(*_formats().values()) == {"f1"}
        with pytest.raises(crypto.FieldIntegrityError, match="before migration 0006"):
            db.session.scalar(select(User.totp_secret))  # the portal refuses values not bound to their rows
        db.session.remove()

        def kill(changed: int) -> None:
            raise Killed(f"killed after {changed} rows")

        monkeypatch.setattr(keys, "after_batch", kill)
        with pytest.raises(Killed):
            upgrade()
        monkeypatch.setattr(keys, "after_batch", None)
        db.session.remove()

        # The first batch was committed before the kill; the rest is still as it was, and so is the revision.
        formats = _formats()
        assert formats["users.totp_secret"] == {"f2"} and formats["audit_events.details"] == {"f1"}, formats
        assert db.session.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0005"
        db.session.remove()

        upgrade()  # run again: it finishes the job

        assert set().union(*_formats().values()) == {"f2"}
        assert _readable() == expected
        assert audit.verify() == (3, None)
        db.session.remove()

        downgrade(revision="0005")  # back to f1, readable by the code before 0006
        assert set().union(*_formats().values()) == {"f1"}
        keyring = crypto.installed()
        totp = dict(db.session.execute(text("SELECT email, totp_secret FROM users")).all())
        assert {e: keyring.decrypt_field("users.totp_secret", v) for e, v in totp.items()} == SECRETS
        db.session.remove()
        upgrade()
        assert _readable() == expected
        db.session.remove()
        db.engine.dispose()



# 0014: the partnership; existing data moves into a first employer named at upgrade ----------------------------


def test_0014_moves_existing_data_into_the_first_employer_named_at_upgrade(empty_database: str,
                                                                          tmp_path: Path) -> None:
    app = create_app({"TESTING": True, "SECRET_KEY": "x" * 32, "INSTANCE_PATH": str(tmp_path),
                      "SQLALCHEMY_DATABASE_URI": empty_database, "KEYRING": KEYRING,
                      "FIRST_EMPLOYER": "Northshire Council"})
    with app.app_context():
        upgrade(revision="0013")
        now = clock.now()

        def add(table_name: str, /, **values: object) -> int:  # no explicit ids: PostgreSQL's sequences stay right
            columns = [column("id"), *(column(key) for key in values)]
            return db.session.execute(insert(table(table_name, *columns)).values(**values)
                                      .returning(column("id"))).scalar_one()

        riverside = add("organisations", name="Riverside Care", kind="employer")
        university = add("organisations", name="Northfield University", kind="university")
        add("users", email="lead@example.org", name="Lead", role="admin", organisation_id=None, active=True,
            created_at=now)
        add("users", email="member@example.org", name="Member", role="member", organisation_id=university,
            active=True, created_at=now)
        academy = add("cohorts", name="Academy 2026")
        shared = add("cohorts", name="Shared")
        a = add("nqsws", name="A", email="a@example.org", employer_id=None, cohort_id=academy, service="adults")
        b = add("nqsws", name="B", email="b@example.org", employer_id=None, cohort_id=shared, service="adults")
        c = add("nqsws", name="C", email="c@example.org", employer_id=riverside, cohort_id=shared, service="adults")
        add("assessors", name="X", email="x@example.org", organisation_id=None)
        db.session.commit()
        db.session.remove()

        upgrade()

        rows = {row.name: row for row in db.session.execute(text("SELECT id, name, kind, code FROM organisations"))}
        first = rows["Northshire Council"]
        assert (first.kind, first.code) == ("employer", "E1")
        assert rows["Riverside Care"].code == "E2"
        assert rows["Northfield University"].code is None
        employers = dict(db.session.execute(text("SELECT id, employer_id FROM nqsws")).all())
        assert employers == {a: first.id, b: first.id, c: riverside}
        assert db.session.scalar(text("SELECT organisation_id FROM assessors")) == first.id
        people = dict(db.session.execute(text("SELECT role, organisation_id FROM users")).all())
        assert people == {"admin": first.id, "member": rows["Northfield University"].id}
        cohort_owners = dict(db.session.execute(text("SELECT name, employer_id FROM cohorts")).all())
        assert cohort_owners == {"Academy 2026": first.id, "Shared": None}  # shared with Riverside's NQSW
        assert db.session.scalar(text("SELECT name FROM partnership")) == "Northshire Council moderation partnership"
        db.session.remove()

        downgrade(revision="0013")
        assert "code" not in {c["name"] for c in inspect(db.engine).get_columns("organisations")}
        upgrade()  # and up again: the named employer is found, not made twice
        assert db.session.scalar(text("SELECT count(*) FROM organisations WHERE name = 'Northshire Council'")) == 1
        db.session.remove()
        db.engine.dispose()


def test_0014_without_a_name_picks_the_employer_of_most_nqsws(empty_database: str, tmp_path: Path) -> None:
    app = _app_for(empty_database, tmp_path)
    with app.app_context():
        upgrade(revision="0013")
        organisations = table("organisations", column("id"), column("name"), column("kind"))
        small, big = (db.session.execute(insert(organisations).values(name=name, kind="employer")
                                         .returning(organisations.c.id)).scalar_one() for name in ("Small", "Big"))
        nqsws = table("nqsws", column("name"), column("email"), column("employer_id"), column("service"))
        db.session.execute(insert(nqsws), [
            {"name": "N", "email": f"n{n}@example.org", "employer_id": big if n > 1 else small, "service": "adults"}
            for n in range(1, 4)])
        db.session.commit()
        db.session.remove()
        upgrade()
        codes = dict(db.session.execute(text("SELECT name, code FROM organisations")).all())
        assert codes == {"Big": "E1", "Small": "E2"}
        db.session.remove()
        db.engine.dispose()


def test_0014_on_an_empty_portal_makes_no_employer(empty_database: str, tmp_path: Path) -> None:
    app = _app_for(empty_database, tmp_path)
    with app.app_context():
        upgrade()
        assert db.session.scalar(text("SELECT count(*) FROM organisations")) == 0
        assert db.session.scalar(text("SELECT name FROM partnership")) == "Moderation partnership"
        db.session.remove()
        db.engine.dispose()
