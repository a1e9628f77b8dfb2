"""The test factories: rows made directly in the database, one helper for each kind of thing.

Each returns ids (or a small dataclass of ids), never rows, so a test can use them in any application context.
HTTP helpers (uploads through the real forms, filling in assessments) stay in the helpers_*.py of their area.

- portfolios: make_portfolio (a bare one for a new NQSW), make_registered_portfolio (with employer, cohort,
  Assessor and outcome, as the registry holds them), make_moderated_portfolio (moderated by meetings whose minutes
  were published some days ago, for retention);
- meetings: make_meeting (seats only), make_panel (seats and a sample of new portfolios), seat (a person on a new
  meeting that sampled these portfolios);
- documents: add_document_row (rows only, no file), store_document (encrypted through the blob store, as an upload
  is), add_panel_copy, blob_path;
- partnership: make_employer (a member employer with the next code);
- sign-in: add_passkey (a passkey or security key row; the ceremonies themselves are tests/soft_authenticator.py).
"""

import json
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import blake3
from flask import Flask
from helpers_blobs import BucketObject, blob_file
from sqlalchemy import select

from portal import clock
from portal.admin import partnership
from portal.documents.storage import current_store
from portal.extensions import db
from portal.models import (
    Assessor,
    Cohort,
    Document,
    DocumentVersion,
    Meeting,
    MeetingMember,
    Nqsw,
    Organisation,
    PanelCopy,
    PanelRole,
    PanelView,
    Passkey,
    Portfolio,
    SampledPortfolio,
    SampleDraw,
    User,
)
from portal.security import crypto, streams

# Portfolios ---------------------------------------------------------------------------------------------


def make_portfolio(app: Flask, name: str = "Alex Example") -> int:
    """A portfolio for a new NQSW (no employer, cohort, Assessor or outcome); returns its id."""
    with app.app_context():
        nqsw = Nqsw(name=name, email=f"{name.replace(' ', '.').lower()}.{clock.now().timestamp()}@example.org")
        portfolio = Portfolio(nqsw=nqsw, created_at=clock.now())
        db.session.add(portfolio)
        db.session.commit()
        return portfolio.id


def make_registered_portfolio(app: Flask, n: int, *, service: str = "children", outcome: str | None = "pass",
                              outcome_date: date | None = date(2026, 6, 1), employer: str = "Northshire Council",
                              assessor_email: str | None = None) -> int:
    """NQSW number n (and an Assessor) in the registry with one portfolio, in cohort "Academy 2026"; returns its id."""
    with app.app_context():
        organisation = db.session.scalar(db.select(Organisation).where(Organisation.name == employer))
        organisation = organisation or Organisation(name=employer, kind="employer")
        cohort = db.session.scalar(db.select(Cohort).where(Cohort.name == "Academy 2026")) or Cohort(
            name="Academy 2026")
        email = assessor_email or f"assessor{n}@example.org"
        assessor = db.session.scalar(db.select(Assessor).where(Assessor.email == email)) or Assessor(
            name=f"Assessor Person {n}", email=email, organisation=organisation)
        nqsw = Nqsw(name=f"Nqsw Person {n}", email=f"nqsw{n}@example.org", employer=organisation, cohort=cohort,
                    service=service)
        portfolio = Portfolio(nqsw=nqsw, assessor=assessor, outcome=outcome, outcome_date=outcome_date,
                              created_at=clock.now())
        db.session.add(portfolio)
        db.session.commit()
        return portfolio.id


def make_moderated_portfolio(app: Flask, owner: int, published_days_ago: list[int | None], consent: bool = False,
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


# Meetings -----------------------------------------------------------------------------------------------


def make_meeting(app: Flask, held_on: date = date(2026, 11, 30), seats: dict[int, str] | None = None,
                 title: str = "Winter panel") -> int:
    """A meeting with people seated (user id -> panel role) and no sample yet; returns its id."""
    with app.app_context():
        meeting = Meeting(title=title, held_on=held_on, agenda="1. Welcome", terms_of_reference="Terms",
                          created_at=clock.now(), access_window_days=30)
        for user_id, role in (seats or {}).items():
            meeting.members.append(MeetingMember(user_id=user_id, panel_role=PanelRole(role).value))
        db.session.add(meeting)
        db.session.commit()
        return meeting.id


@dataclass
class Panel:
    """Ids of a meeting and of its sampled portfolios."""

    meeting_id: int
    portfolio_ids: list[int] = field(default_factory=list)


def make_panel(app: Flask, seats: list[tuple[int, str]], portfolios: int = 2, title: str = "Panel meeting",
               start: int = 0, held_on: date | None = None, reading_deadline: date | None = None) -> Panel:
    """A meeting with these (user id, panel role) seats and a sample of this many new portfolios.

    By default it is held on 10 December 2026 with a reading deadline of 3 December (after TEST_START).
    """
    with app.app_context():
        meeting = Meeting(title=title, held_on=held_on or date(2026, 12, 10),
                          reading_deadline=reading_deadline or (None if held_on else date(2026, 12, 3)),
                          created_at=clock.now())
        db.session.add(meeting)
        db.session.flush()
        for user_id, role in seats:
            db.session.add(MeetingMember(meeting_id=meeting.id, user_id=user_id, panel_role=role))
        draw = SampleDraw(meeting_id=meeting.id, seed="0" * 64, population="[]", parameters="{}", picks="[]",
                          drawn_by_id=seats[0][0], drawn_at=clock.now())
        db.session.add(draw)
        db.session.flush()
        panel = Panel(meeting.id)
        for number in range(start, start + portfolios):
            nqsw = Nqsw(name=f"Nqsw Person {meeting.id}-{number}", email=f"nqsw{meeting.id}-{number}@example.org")
            db.session.add(nqsw)
            db.session.flush()
            portfolio = Portfolio(nqsw_id=nqsw.id, outcome="pass", pseudonym=f"B{meeting.id}-{number}",
                                  created_at=clock.now())
            db.session.add(portfolio)
            db.session.flush()
            db.session.add(SampledPortfolio(meeting_id=meeting.id, portfolio_id=portfolio.id, draw_id=draw.id,
                                            position=number))
            panel.portfolio_ids.append(portfolio.id)
        db.session.commit()
        return panel


def seat(app: Flask, user_id: int, portfolio_ids: list[int], role: PanelRole = PanelRole.MEMBER) -> int:
    """Put a person on a new meeting that has sampled these portfolios; returns the meeting id."""
    with app.app_context():
        meeting = Meeting(title="Panel", held_on=date(2026, 12, 1), created_at=clock.now())
        db.session.add(meeting)
        db.session.flush()
        draw = SampleDraw(meeting_id=meeting.id, seed="0" * 64, population="[]", parameters="{}", picks="[]",
                          drawn_by_id=user_id, drawn_at=clock.now())
        db.session.add(draw)
        db.session.flush()
        db.session.add(MeetingMember(meeting_id=meeting.id, user_id=user_id, panel_role=role.value))
        for position, pid in enumerate(portfolio_ids):
            db.session.add(SampledPortfolio(meeting_id=meeting.id, portfolio_id=pid, draw_id=draw.id,
                                            position=position))
        db.session.commit()
        return meeting.id


# Documents ----------------------------------------------------------------------------------------------


def add_document_row(app: Flask, portfolio_id: int, uploader_id: int, evidence_type: str = "final_report",
                     title: str = "Doc", versions: int = 1) -> tuple[int, list[int]]:
    """A document with this many versions as rows only (no file: for the completeness check, readiness and the
    meeting record, which read only the rows); returns (document id, version ids)."""
    with app.app_context():
        document = Document(portfolio_id=portfolio_id, evidence_type=evidence_type, title=title,
                            created_by_id=uploader_id, created_at=clock.now())
        db.session.add(document)
        db.session.flush()
        ids = []
        for number in range(1, versions + 1):
            version = DocumentVersion(document_id=document.id, number=number, blob_id=f"blob-{document.id}-{number}",
                                      filename="report.pdf", content_type="application/pdf", size=10,
                                      digest="0" * 64, uploaded_by_id=uploader_id, uploaded_at=clock.now())
            db.session.add(version)
            db.session.flush()
            ids.append(version.id)
        document.current_version_id = ids[-1]
        db.session.commit()
        return document.id, ids


def store_document(app: Flask, owner_id: int, contents: list[bytes], portfolio_id: int | None = None,
                   title: str = "Supervision record for Jo Bloggs") -> tuple[int, list[int]]:
    """A document with one version per content, encrypted into the blob store as the upload service does;
    returns (document id, version ids)."""
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


def blob_path(app: Flask, version_id: int) -> Path | BucketObject:
    """The file (or bucket object) holding a version's encrypted blob."""
    with app.app_context():
        return blob_file(app, db.session.get(DocumentVersion, version_id).blob_id)


def owner_id(app: Flask) -> int:
    """Any user's id (documents need an uploader)."""
    with app.app_context():
        return db.session.scalar(select(User.id).limit(1))


def add_passkey(app: Flask, user_id: int, name: str = "Blue security key") -> int:
    """A passkey or security key row for the person, as if added earlier (its key is random bytes: it is counted
    and listed, not signed in with; tests that sign in with one use tests/soft_authenticator.py)."""
    with app.app_context():
        passkey = Passkey(user_id=user_id, credential_id=secrets.token_urlsafe(16), public_key=secrets.token_bytes(77),
                          user_handle=secrets.token_urlsafe(32), name=name, transports="usb", created_at=clock.now())
        db.session.add(passkey)
        db.session.commit()
        return passkey.id


def make_employer(app: Flask, name: str) -> int:
    """A member employer (with the next partnership code); its id."""
    with app.app_context():
        employer = partnership.new_employer(name)
        db.session.commit()
        return employer.id
