"""The demo command fills an empty database with a clearly fictional panel, and refuses a database in use."""

import logging
import re

from conftest import Person, sign_in
from sqlalchemy import func, select

from portal import clock
from portal.extensions import db
from portal.models import (
    Cohort,
    Document,
    FeedbackRelease,
    Meeting,
    MeetingMember,
    Minutes,
    Nqsw,
    Organisation,
    PanelRole,
    Portfolio,
    Role,
    SampledPortfolio,
    User,
)


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_demo_fills_an_empty_database_and_its_people_can_sign_in(app):
    runner = app.test_cli_runner()
    audit_level = logging.getLogger("portal.audit").level
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert logging.getLogger("portal.audit").level == audit_level  # quietened for the demo only
    with app.app_context():
        assert _count(Nqsw) == 40
        assert _count(Portfolio) == 40
        academy = db.session.scalar(select(Cohort).where(Cohort.name == "Academy 2026"))
        assert _count(Nqsw, Nqsw.cohort_id == academy.id) == 10
        assert db.session.scalar(select(Cohort).where(Cohort.name.like("Grow your own%"))) is not None
        kinds = dict(db.session.execute(select(Organisation.kind, func.count()).group_by(Organisation.kind)).all())
        assert kinds == {"employer": 3, "university": 1, "community": 1}
        # A partnership: a council and two small providers, each provider with its own Lead and 2 to 4 NQSWs.
        employers = {o.name: o for o in db.session.scalars(select(Organisation).where(Organisation.kind == "employer"))}
        council = employers["Northshire County Council (fictional)"]
        services = set(db.session.scalars(select(Nqsw.service).where(Nqsw.employer_id == council.id)))
        assert services == {"children", "adults"}
        for name, organisation in employers.items():
            if organisation.id != council.id:
                assert 2 <= _count(Nqsw, Nqsw.employer_id == organisation.id) <= 4, name
                assert _count(User, User.role == "lead", User.organisation_id == organisation.id) == 1, name
        panel_organisations = set(db.session.scalars(
            select(User.organisation_id).join(MeetingMember, MeetingMember.user_id == User.id)))
        assert set(o.id for o in employers.values()) <= panel_organisations  # a panel from every employer
        assert _count(Document) == 120
        meetings = list(db.session.scalars(select(Meeting).order_by(Meeting.held_on)))
        assert len(meetings) == 2
        past, upcoming = meetings
        assert past.minutes_published_at is not None
        assert db.session.scalar(select(Minutes.status).where(Minutes.meeting_id == past.id)) == "published"
        assert _count(FeedbackRelease, FeedbackRelease.meeting_id == past.id) == 1
        assert _count(SampledPortfolio, SampledPortfolio.meeting_id == upcoming.id) == 3
        sampled_employers = set(db.session.scalars(
            select(Nqsw.employer_id).join(Portfolio, Portfolio.nqsw_id == Nqsw.id)
            .join(SampledPortfolio, SampledPortfolio.portfolio_id == Portfolio.id)
            .where(SampledPortfolio.meeting_id == upcoming.id)))
        assert len(sampled_employers) >= 2
        assert _count(MeetingMember, MeetingMember.meeting_id == upcoming.id,
                      MeetingMember.panel_role.in_((PanelRole.CHAIR.value, PanelRole.MEMBER.value))) == 6
        emails = list(db.session.scalars(select(User.email)))
        assert all(email.endswith("@example.org") for email in emails)
        assert all("(fictional)" in name for name in db.session.scalars(select(Organisation.name)))
        lead = db.session.scalar(select(User).where(User.email == "demo.lead@example.org"))
        assert lead.role == Role.ADMIN.value
    password = re.search(r"password: (.+)", result.output).group(1).strip()
    secret = re.search(r"demo\.lead@example\.org\s+key (\S+)", result.output).group(1)
    client = app.test_client()
    sign_in(app, client, Person(lead.id, "demo.lead@example.org", "", "admin", password, secret))
    html = client.get("/dashboard").get_data(as_text=True)
    assert "Autumn panel (demo)" in html and "3 portfolios drawn" in html
    # The private provider's Lead sees their own three NQSWs and no one else's.
    secret = re.search(r"demo\.lead\.private@example\.org\s+key (\S+)", result.output).group(1)
    with app.app_context():
        provider = db.session.scalar(select(User).where(User.email == "demo.lead.private@example.org"))
        own = set(db.session.scalars(select(Nqsw.name).where(Nqsw.employer_id == provider.organisation_id)))
        others = set(db.session.scalars(select(Nqsw.name).where(Nqsw.employer_id != provider.organisation_id)))
    provider_client = app.test_client()
    sign_in(app, provider_client, Person(provider.id, provider.email, "", "lead", password, secret))
    listed = provider_client.get("/cohort/nqsws").get_data(as_text=True)
    assert own and all(name in listed for name in own) and not any(name in listed for name in others)


def test_demo_refuses_a_database_with_portfolios(app, make_user):
    with app.app_context():
        nqsw = Nqsw(name="Real Person", email="real@example.org")
        db.session.add(nqsw)
        db.session.flush()
        db.session.add(Portfolio(nqsw_id=nqsw.id, created_at=clock.now()))
        db.session.commit()
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["demo"])
    assert refused.exit_code != 0 and "already holds portfolios" in refused.output
    make_user(Role.ADMIN, email="demo.lead@example.org")
    forced = runner.invoke(args=["demo", "--force"])
    assert forced.exit_code != 0 and "already loaded" in forced.output
    with app.app_context():
        assert _count(Portfolio) == 1 and _count(Meeting) == 0
