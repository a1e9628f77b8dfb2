"""Test helpers for the cohort, portfolio and meeting tests: registry rows made directly in the database."""

import io
import re
from datetime import date

from conftest import csrf_from
from flask import Flask

from portal import clock
from portal.extensions import db
from portal.models import (
    Assessor,
    Cohort,
    Document,
    Meeting,
    MeetingMember,
    Nqsw,
    Organisation,
    PanelRole,
    Portfolio,
)


def make_portfolio(app: Flask, n: int, *, service: str = "children", outcome: str | None = "pass",
                   outcome_date: date | None = date(2026, 6, 1), employer: str = "Northshire Council",
                   assessor_email: str | None = None) -> int:
    """Create an NQSW (and Assessor) with one portfolio; return the portfolio id."""
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


def make_meeting(app: Flask, held_on: date = date(2026, 11, 30), seats: dict[int, str] | None = None,
                 title: str = "Winter panel") -> int:
    """Create a meeting with people seated (user id -> panel role); return its id."""
    with app.app_context():
        meeting = Meeting(title=title, held_on=held_on, agenda="1. Welcome", terms_of_reference="Terms",
                          created_at=clock.now(), access_window_days=30)
        for user_id, role in (seats or {}).items():
            meeting.members.append(MeetingMember(user_id=user_id, panel_role=PanelRole(role).value))
        db.session.add(meeting)
        db.session.commit()
        return meeting.id


def add_document(app: Flask, portfolio_id: int, evidence_type: str, created_by: int, title: str = "Doc") -> None:
    """A document row with a (fake) current version, enough for the completeness check."""
    from portal.models import DocumentVersion

    with app.app_context():
        document = Document(portfolio_id=portfolio_id, evidence_type=evidence_type, title=title,
                            created_by_id=created_by, created_at=clock.now())
        db.session.add(document)
        db.session.flush()
        version = DocumentVersion(document_id=document.id, number=1, blob_id=f"blob-{document.id}",
                                  filename="x.pdf", content_type="application/pdf", size=1, digest="0",
                                  uploaded_by_id=created_by, uploaded_at=clock.now())
        db.session.add(version)
        db.session.flush()
        document.current_version_id = version.id
        db.session.commit()


# The cohort CSV import, through HTTP ----------------------------------------------------------------

HEADER = ("nqsw_name,nqsw_email,employer,cohort,service,assessor_name,assessor_email,assessor_organisation,"
          "outcome,outcome_date,exemplar_consent\n")


def upload(client, text: str | bytes, filename: str = "cohort.csv"):
    """Send a cohort CSV to the import page as the signed-in client."""
    token = csrf_from(client.get("/cohort/import").get_data(as_text=True))
    data = text.encode() if isinstance(text, str) else text
    return client.post("/cohort/import", data={"csrf_token": token, "file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def sealed_from(html: str) -> str:
    """The sealed preview carried from the preview page to the confirmation."""
    match = re.search(r'name="sealed" type="hidden" value="([^"]+)"|type="hidden" name="sealed" value="([^"]+)"'
                      r'|id="sealed" name="sealed" type="hidden" value="([^"]+)"', html)
    assert match, html
    return next(g for g in match.groups() if g)
