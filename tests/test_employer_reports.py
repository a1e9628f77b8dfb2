"""Each employer's Lead sees the feedback release ledger for their own people only, and downloads the report on
their own portfolios (page, PDF, DOCX); another employer's are 404 (issue 13 item 4, first part)."""

from conftest import csrf_from, sign_in
from flask import Flask
from helpers_auth import lead_of
from helpers_pages import build_journey
from sqlalchemy import select

from portal import clock
from portal.extensions import db
from portal.models import Action, MeetingTheme, Nqsw, Portfolio, Theme, User


def _employer_of_portfolio(app: Flask, portfolio_id: int) -> int:
    with app.app_context():
        return db.session.scalar(select(Nqsw.employer_id).join(Portfolio, Portfolio.nqsw_id == Nqsw.id)
                                 .where(Portfolio.id == portfolio_id))


def test_each_lead_sees_their_own_ledger_and_report_only(app: Flask, make_user) -> None:
    journey = build_journey(app, make_user)
    with app.app_context():
        earlier_pids = list(db.session.scalars(select(Portfolio.id).join(Nqsw).where(
            Nqsw.id == journey.nqsw_record_id)))
    released_employer = _employer_of_portfolio(app, earlier_pids[0])
    other_employer = _employer_of_portfolio(app, journey.portfolio_ids[0])
    assert released_employer != other_employer
    lead, _ = lead_of(app, make_user, released_employer, name="Lara Lead")
    other, _ = lead_of(app, make_user, other_employer, name="Omar Other")
    with app.app_context():
        nqsw_name = db.session.get(User, journey.nqsw.id).name
        assessor_name = db.session.get(User, journey.assessor.id).name

    ledger = lead.get("/employer/feedback").get_data(as_text=True)
    assert nqsw_name in ledger and assessor_name in ledger
    assert "Summer panel" in ledger
    # The meeting was months ago, so its release target has passed: no one has acknowledged, all are overdue.
    assert "Overdue" in ledger and "Acknowledged" not in ledger
    assert f"/employer/reports/{journey.earlier_id}" in ledger
    elsewhere = other.get("/employer/feedback").get_data(as_text=True)
    assert nqsw_name not in elsewhere and assessor_name not in elsewhere
    assert "No feedback has been released to your people yet" in elsewhere
    assert f"/employer/reports/{journey.earlier_id}" not in elsewhere

    nqsw = app.test_client()
    sign_in(app, nqsw, journey.nqsw)
    page = nqsw.get(f"/feedback/{journey.earlier_id}").get_data(as_text=True)
    assert nqsw.post(f"/feedback/{journey.earlier_id}/acknowledge",
                     data={"csrf_token": csrf_from(page)}).status_code == 302
    assert "Acknowledged" in lead.get("/employer/feedback").get_data(as_text=True)

    report = lead.get(f"/employer/reports/{journey.earlier_id}")
    text = report.get_data(as_text=True)
    assert report.status_code == 200
    assert "Your employer&#39;s report" in text or "Your employer's report" in text
    assert nqsw_name.split()[0] in text  # the Lead's own portfolio, by name
    assert "Feedback to the NQSW" in text
    for kind, mimetype in (("pdf", "application/pdf"),
                           ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")):
        download = lead.get(f"/employer/reports/{journey.earlier_id}.{kind}")
        assert download.status_code == 200 and download.mimetype == mimetype
    for path in (f"/employer/reports/{journey.earlier_id}", f"/employer/reports/{journey.earlier_id}.pdf",
                 f"/employer/reports/{journey.meeting_id}"):  # not theirs; and minutes not published
        assert other.get(path).status_code == 404, path
    assert lead.get(f"/employer/reports/{journey.meeting_id}").status_code == 404  # minutes not yet published


def test_an_employers_report_shows_the_partnerships_themes_and_its_own_not_anothers(app: Flask, make_user) -> None:
    journey = build_journey(app, make_user)
    with app.app_context():
        own_pid = db.session.scalar(select(Portfolio.id).where(Portfolio.nqsw_id == journey.nqsw_record_id))
    own_employer = _employer_of_portfolio(app, own_pid)
    other_employer = _employer_of_portfolio(app, journey.portfolio_ids[0])
    lead, _ = lead_of(app, make_user, own_employer, name="Lara Lead")
    with app.app_context():
        now = clock.now()
        for name, employer_id in (("Whole partnership theme", None), ("Own employer theme", own_employer),
                                  ("Other employer theme", other_employer)):
            theme = Theme(name=name, created_at=now)
            db.session.add(theme)
            db.session.flush()
            db.session.add(MeetingTheme(meeting_id=journey.earlier_id, theme_id=theme.id, note=f"About {name}",
                                        employer_id=employer_id))
        for description, employer_id in (("Partnership action", None), ("Own employer action", own_employer),
                                         ("Other employer action", other_employer)):
            db.session.add(Action(meeting_id=journey.earlier_id, description=description, owner="A Lead",
                                  due_on=None, status="open", created_at=now, updated_at=now,
                                  employer_id=employer_id))
        db.session.commit()
    text = lead.get(f"/employer/reports/{journey.earlier_id}").get_data(as_text=True)
    assert "Whole partnership theme" in text and "Own employer theme" in text
    assert "Own employer action" in text
    assert "Other employer theme" not in text and "Other employer action" not in text
    assert "Partnership action" not in text  # the partnership's actions are the Steering Group's
