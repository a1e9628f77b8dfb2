"""A portal part-way through its second cycle, so that every page of the journey has something to show.

Built through the real forms where a page is the way in (uploads, minutes, approval, release, reads), and in
the database where only the data matters (the meetings, their samples and submitted assessments, from
helpers_reports.build_meeting). Used by the tests that render every page (test_page_text) and the browser test
that checks every page with a table at 320 CSS pixels (browser/test_reflow).
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from conftest import PASSWORD, Person, sign_in, submit
from factories import make_panel
from flask import Flask
from flask.testing import FlaskClient
from helpers_documents import PDF, upload
from helpers_reports import build_meeting
from sqlalchemy import select, update

from portal import clock
from portal.extensions import db
from portal.models import (
    Assessment,
    AssessmentTemplate,
    Assessor,
    Document,
    FeedbackRecipient,
    Nqsw,
    OutboxMessage,
    Portfolio,
    Role,
    SampleDraw,
    Theme,
    User,
)
from portal.reviews.template_default import DEFAULT_SCHEMA
from portal.security import passwords, totp

# A tag shown as text: markup escaped a second time (test_page_text, and the browser's cycle journey).
ESCAPED_TAG = re.compile(r"&(?:amp;)?lt;/?[a-zA-Z][a-zA-Z0-9]*(?:\s|/|&(?:amp;)?gt;)")
# A long unbroken word, as people sometimes type (an email address, a web address), for the reflow checks.
LONG_WORD = "https://intranet.example.org/asye/supervision-records/2026/northshire/templates/protected-time"


@dataclass
class Journey:
    """Who is who and what was made: ids for building every page's address."""

    lead: Person
    chair: Person
    member: Person
    observer: Person
    nqsw: Person  # an NQSW whose portfolio was sampled, with an account made by the feedback release
    cohort_nqsw: Person  # an NQSW in the same cohort, not sampled: key messages only
    assessor: Person
    earlier_id: int  # a meeting months ago: minutes published, feedback released, an action still open
    meeting_id: int  # yesterday's meeting: assessed, documents uploaded and read, minutes approved
    upcoming_id: int  # a meeting in a fortnight: sample drawn, nothing assessed yet
    portfolio_ids: list[int] = field(default_factory=list)  # yesterday's sample
    upcoming_portfolio_ids: list[int] = field(default_factory=list)
    document_ids: list[int] = field(default_factory=list)
    version_ids: list[int] = field(default_factory=list)
    draw_ids: list[int] = field(default_factory=list)  # yesterday's meeting: the first draw and the redraw
    nqsw_record_id: int = 0
    assessor_record_id: int = 0
    employer_lead: Person | None = None  # the Lead of the employer whose portfolio the earlier meeting moderated
    theme_id: int = 0  # a theme from the published minutes (its own page lists where it was raised)

    @property
    def everyone(self) -> list[Person]:
        """Every person, one per role the portal has."""
        people = [self.lead, self.chair, self.member, self.observer, self.nqsw, self.cohort_nqsw, self.assessor]
        return people + ([self.employer_lead] if self.employer_lead else [])


def _activate(app: Flask, email: str) -> Person:
    """Finish an account the feedback release created, as the person would through their invitation."""
    secret = totp.new_secret()
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        user.password_hash = passwords.hash_password(PASSWORD)
        user.totp_secret, user.enrolled_at, user.password_changed_at = secret, clock.now(), clock.now()
        db.session.commit()
        return Person(user.id, email, user.name, user.role, PASSWORD, secret)


def _minutes(chair: FlaskClient, meeting_id: int, theme: str) -> None:
    page = f"/meetings/{meeting_id}/minutes"
    for what, data in (("notes", {"notes": "The panel agreed with both decisions. " + LONG_WORD}),
                       ("themes", {"name": theme, "note": "Records are often unsigned."}),
                       ("actions", {"description": "Add a protected-time log to the templates", "owner": "ASYE Lead",
                                    "due_on": ["30", "1", "2026"]}),
                       ("key-messages", {"text": "Date and sign every direct observation."})):
        assert submit(chair, f"{page}/{what}", data, page=f"{page}/edit").status_code == 302, what
    assert submit(chair, f"{page}/approve", {}, page=page).status_code == 302


def _default_template(app: Flask, meeting_ids: list[int]) -> None:
    """Give the built assessments the default form, so the side-by-side tables have every question."""
    with app.app_context():
        template = AssessmentTemplate(name="External moderation reviewer template", version=99,
                                      schema=json.dumps(DEFAULT_SCHEMA), created_at=clock.now())
        db.session.add(template)
        db.session.flush()
        db.session.execute(update(Assessment).where(Assessment.meeting_id.in_(meeting_ids))
                           .values(template_id=template.id))
        db.session.commit()


def build_journey(app: Flask, make_user: Callable[..., Person]) -> Journey:
    """Build the portal's state (see the module's docstring) and return who and what is in it."""
    lead = make_user(Role.ADMIN, name="Lena Lead")
    chair = make_user(Role.MEMBER, name="Chidi Chair")
    member = make_user(Role.MEMBER, name="Mina Member-Longname-Hyphenated")
    observer = make_user(Role.OBSERVER, name="Otto Observer")
    today = clock.today()
    earlier = build_meeting(app, chair.id, member_ids=(member.id,), observer_ids=(observer.id,),
                            held_on=today - timedelta(days=120), title="Summer panel")
    current = build_meeting(app, chair.id, member_ids=(member.id,), observer_ids=(observer.id,),
                            held_on=today - timedelta(days=1), title="Winter panel")
    upcoming = make_panel(app, [(chair.id, "chair"), (member.id, "member"), (observer.id, "observer")],
                            title="Spring panel", held_on=today + timedelta(days=14),
                            reading_deadline=today + timedelta(days=7), start=50)
    _default_template(app, [earlier.meeting_id, current.meeting_id])

    lead_client, chair_client = app.test_client(), app.test_client()
    sign_in(app, lead_client, lead)
    sign_in(app, chair_client, chair)
    for pid in current.portfolio_ids:
        response = upload(lead_client, pid, [("Final report.pdf", PDF, "final_report"),
                                             ("Observation.pdf", PDF, "direct_observation")])
        assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        documents = list(db.session.scalars(select(Document).order_by(Document.id)))
        journey = Journey(lead, chair, member, observer, lead, lead, lead, earlier.meeting_id, current.meeting_id,
                          upcoming.meeting_id, current.portfolio_ids, upcoming.portfolio_ids,
                          [d.id for d in documents], [d.current_version_id or 0 for d in documents])
        first = db.session.scalar(select(SampleDraw).where(SampleDraw.meeting_id == current.meeting_id))
        redraw = SampleDraw(meeting_id=current.meeting_id, seed="ab" * 32, population="[]", parameters="{}",
                            picks="[]", reason="The first draw missed the adults' team", drawn_by_id=chair.id,
                            drawn_at=clock.now(), current=False)
        db.session.add(redraw)
        db.session.commit()
        journey.draw_ids = [first.id, redraw.id]
    chair_client.get(f"/portfolios/{current.portfolio_ids[0]}/documents/{journey.document_ids[0]}"
                     f"/versions/{journey.version_ids[0]}/view")  # a read, for the readiness tables

    _minutes(chair_client, earlier.meeting_id, "Supervision records")
    assert submit(chair_client, f"/meetings/{earlier.meeting_id}/minutes/publish", {},
                  page=f"/meetings/{earlier.meeting_id}/minutes").status_code == 302
    assert submit(chair_client, f"/meetings/{earlier.meeting_id}/feedback-release", {}).status_code == 302
    _minutes(chair_client, current.meeting_id, "Protected time")

    with app.app_context():
        sampled = db.session.get(Portfolio, earlier.portfolio_ids[0])
        nqsw_email, assessor_email = sampled.nqsw.email, sampled.assessor.email
        journey.nqsw_record_id, journey.assessor_record_id = sampled.nqsw_id, sampled.assessor_id or 0
        journey.theme_id = db.session.scalar(select(Theme.id).where(Theme.name == "Supervision records")) or 0
        # One email the portal could not deliver, for the Lead's page of undelivered emails.
        message = db.session.scalar(select(OutboxMessage).order_by(OutboxMessage.id).limit(1))
        message.attempts, message.last_error, message.sent_at = 1, "550 mailbox unavailable", None
        message.next_attempt_at = clock.now() + timedelta(days=1)
        db.session.commit()
        assert db.session.scalar(select(FeedbackRecipient).limit(1)) is not None
        assert db.session.scalar(select(Nqsw).where(Nqsw.email == earlier.cohort_nqsw_email)) is not None
        assert db.session.scalar(select(Assessor).where(Assessor.email == assessor_email)) is not None
    journey.nqsw = _activate(app, nqsw_email)
    journey.cohort_nqsw = _activate(app, earlier.cohort_nqsw_email)
    journey.assessor = _activate(app, assessor_email)
    with app.app_context():
        employer_id = db.session.get(Nqsw, journey.nqsw_record_id).employer_id
    journey.employer_lead = make_user(Role.LEAD, name="Ebo Employer-Lead", organisation_id=employer_id)
    return journey
