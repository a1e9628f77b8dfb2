"""Feedback release: one moment, links only, accounts by invitation, own feedback only, acknowledgement, target."""

import re
from datetime import date, timedelta

import pytest
from conftest import PASSWORD, Person, csrf_from, link_in_last_email, outbox, sign_in, submit
from helpers_reports import build_meeting
from helpers_reviews import london_morning
from sqlalchemy import select

from portal import clock, create_app
from portal.extensions import db
from portal.models import AuditEvent, FeedbackRecipient, FeedbackRelease, KeyMessage, Minutes, PanelView, Role, User
from portal.reports import release
from portal.security import passwords, totp


def _approved_meeting(app, signed_in, **kwargs):
    chair, chair_person = signed_in(Role.MEMBER)
    built = build_meeting(app, chair_person.id, **kwargs)
    page = f"/meetings/{built.meeting_id}/minutes"
    submit(chair, f"{page}/key-messages", {"text": "Date every reflection."}, page=f"{page}/edit")
    assert submit(chair, f"{page}/approve", {}, page=page).status_code == 302
    return chair, built


def _release(client, meeting_id):
    path = f"/meetings/{meeting_id}/feedback-release"
    return submit(client, path, {})


def _activate(app, email: str) -> Person:
    """Finish an invited account directly (the enrolment forms are tested by the auth suite)."""
    secret = totp.new_secret()
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        user.password_hash = passwords.hash_password(PASSWORD)
        user.totp_secret, user.enrolled_at, user.password_changed_at = secret, clock.now(), clock.now()
        db.session.commit()
        return Person(user.id, email, user.name, user.role, PASSWORD, secret)


def _client_for(app, email):
    client = app.test_client()
    sign_in(app, client, _activate(app, email))
    return client


def test_release_needs_approved_minutes(app, signed_in):
    chair, chair_person = signed_in(Role.MEMBER)
    built = build_meeting(app, chair_person.id)
    response = _release(chair, built.meeting_id)
    assert response.status_code == 409
    assert "Approve the minutes before releasing feedback" in response.get_data(as_text=True)
    assert outbox(app) == []


def test_release_reaches_everyone_at_once_by_link_only(app, signed_in):
    chair, built = _approved_meeting(app, signed_in)
    assert _release(chair, built.meeting_id).status_code == 302
    with app.app_context():
        recipients = list(db.session.scalars(select(FeedbackRecipient)))
        users = {u.email: u for u in db.session.scalars(select(User))}
        assert "feedback.released" in set(db.session.scalars(select(AuditEvent.action)))
    # 2 sampled NQSWs and their 2 Assessors, plus the cohort's other NQSW and that NQSW's Assessor.
    assert len(recipients) == 6
    assert sum(r.has_feedback for r in recipients) == 4
    assert len({r.notified_at for r in recipients}) == 1  # one moment
    for email in [*built.nqsw_emails, built.cohort_nqsw_email]:
        assert users[email].role == "nqsw" and users[email].password_hash is None
    for email in built.assessor_emails:
        assert users[email].role == "assessor"
    messages = outbox(app)
    assert len(messages) == 6
    for message in messages:
        assert "NQSW feedback" not in message.body and "Assessor feedback" not in message.body
        assert "Fictional" not in message.body and "Date every reflection" not in message.body
        assert f"https://portal.test/feedback/{built.meeting_id}" in message.body
        assert "https://portal.test/invite/" in message.body  # no accounts existed: each is invited
    # The invitation link works: it opens the choose-a-password page.
    link = link_in_last_email(app, built.nqsw_emails[0])
    assert app.test_client().get(link).status_code == 200
    again = _release(chair, built.meeting_id)
    assert again.status_code == 409 and "already been released" in again.get_data(as_text=True)
    assert len(outbox(app)) == 6


def test_existing_accounts_get_a_plain_link(app, signed_in, make_user):
    chair, chair_person = signed_in(Role.MEMBER)
    built = build_meeting(app, chair_person.id, sampled=2)
    make_user(Role.NQSW, email=built.nqsw_emails[0])
    page = f"/meetings/{built.meeting_id}/minutes"
    submit(chair, f"{page}/approve", {}, page=page)
    _release(chair, built.meeting_id)
    body = [m for m in outbox(app) if m.recipient == built.nqsw_emails[0]][-1].body
    assert "/invite/" not in body and f"/feedback/{built.meeting_id}" in body


def test_each_person_sees_only_their_own_feedback_and_the_key_messages(app, signed_in):
    chair, built = _approved_meeting(app, signed_in)
    _release(chair, built.meeting_id)
    m = built.meeting_id
    nqsw = _client_for(app, built.nqsw_emails[0])
    html = nqsw.get(f"/feedback/{m}").get_data(as_text=True)
    with app.app_context():
        from portal.models import Portfolio

        pseudonyms = [db.session.get(Portfolio, pid).pseudonym for pid in built.portfolio_ids]
    assert f"NQSW feedback {pseudonyms[0]}" in html
    assert f"NQSW feedback {pseudonyms[1]}" not in html
    assert "Assessor feedback" not in html
    assert "Date every reflection." in html
    assert "cannot change the Internal Panel" in html
    assessor = _client_for(app, built.assessor_emails[1])
    html = assessor.get(f"/feedback/{m}").get_data(as_text=True)
    assert f"Assessor feedback {pseudonyms[1]}" in html and "NQSW feedback" not in html
    cohort = _client_for(app, built.cohort_nqsw_email)
    html = cohort.get(f"/feedback/{m}").get_data(as_text=True)
    assert "Date every reflection." in html and "NQSW feedback" not in html
    # No one else's feedback, no minutes, no report, no release page, no themes.
    _other_chair, other_person = signed_in(Role.MEMBER)
    other = build_meeting(app, other_person.id)
    for path in (f"/feedback/{other.meeting_id}", f"/meetings/{m}/minutes", f"/meetings/{m}/report",
                 f"/meetings/{m}/minutes.pdf", f"/meetings/{m}/feedback-release", "/themes", "/reports"):
        assert nqsw.get(path).status_code == 404, path
    outsider, _ = signed_in(Role.NQSW)
    assert outsider.get(f"/feedback/{m}").status_code == 404
    assert chair.get(f"/feedback/{m}").status_code == 404  # the Chair is not a recipient


def test_a_release_to_one_person_reads_in_the_singular(app, signed_in):
    chair, built = _approved_meeting(app, signed_in)
    _release(chair, built.meeting_id)
    with app.app_context():
        first = db.session.scalar(select(FeedbackRecipient.id).order_by(FeedbackRecipient.id).limit(1))
        for recipient in db.session.scalars(select(FeedbackRecipient).where(FeedbackRecipient.id != first)):
            db.session.delete(recipient)
        db.session.commit()
    page = chair.get(f"/meetings/{built.meeting_id}/feedback-release").get_data(as_text=True)
    assert "0 of 1 person has acknowledged their feedback." in page and "1 people" not in page


def test_acknowledgement_is_tracked_and_audited(app, signed_in):
    chair, built = _approved_meeting(app, signed_in)
    _release(chair, built.meeting_id)
    m = built.meeting_id
    nqsw = _client_for(app, built.nqsw_emails[0])
    assert "New" in nqsw.get("/feedback").get_data(as_text=True)
    response = submit(nqsw, f"/feedback/{m}/acknowledge", {}, page=f"/feedback/{m}")
    assert response.status_code == 302
    html = nqsw.get(f"/feedback/{m}").get_data(as_text=True)
    assert "You confirmed you read this feedback" in html and "I have read this feedback" not in html
    with app.app_context():
        assert "feedback.acknowledged" in set(db.session.scalars(select(AuditEvent.action)))
    page = chair.get(f"/meetings/{m}/feedback-release").get_data(as_text=True)
    assert "1 of 6 people have acknowledged" in page
    admin, _ = signed_in(Role.ADMIN)
    assert "1 of 6 people have acknowledged" in admin.get(f"/meetings/{m}/feedback-release").get_data(as_text=True)
    # Someone else cannot acknowledge for them, nor for a release they are not part of.
    outsider, _ = signed_in(Role.NQSW)
    assert submit(outsider, f"/feedback/{m}/acknowledge", {}, page="/feedback").status_code == 404


def test_target_is_five_working_days_and_shows_due_then_overdue(app, signed_in):
    with app.app_context():
        assert release.target_date(date(2026, 11, 20)) == date(2026, 11, 27)  # Friday -> next Friday
        assert release.target_date(date(2026, 11, 25)) == date(2026, 12, 2)  # over a weekend
    chair, built = _approved_meeting(app, signed_in)
    page = f"/meetings/{built.meeting_id}/feedback-release"
    html = chair.get(page).get_data(as_text=True)
    assert "govuk-tag--blue" in html and "Due" in html
    assert "Overdue" not in html
    clock.advance(timedelta(days=10))
    admin, _ = signed_in(Role.ADMIN)
    html = admin.get(page).get_data(as_text=True)
    assert "Overdue" in html and "govuk-tag--red" in html
    _release(admin, built.meeting_id)
    assert "Released late" in admin.get(page).get_data(as_text=True)


def test_only_the_chair_and_the_lead_release(app, signed_in, make_user):
    _chair, built = _approved_meeting(app, signed_in)
    member, _ = signed_in(Role.MEMBER)
    observer, _ = signed_in(Role.OBSERVER)
    assert member.get(f"/meetings/{built.meeting_id}/feedback-release").status_code == 404
    assert submit(member, f"/meetings/{built.meeting_id}/feedback-release", {}, page="/dashboard").status_code == 404
    assert observer.get(f"/meetings/{built.meeting_id}/feedback-release").status_code == 404
    assert outbox(app) == []


def _without_csrf(html: str) -> str:
    """The page without its CSRF tokens, which carry the second they were made in."""
    return re.sub(r'(name="csrf_token" (?:type="hidden" )?value=")[^"]+', r"\1", html)


def test_what_was_released_cannot_be_rewritten_afterwards(app, signed_in):
    """Recipients read their feedback and the key messages live, so after the release they stay as released."""
    chair, built = _approved_meeting(app, signed_in)  # approved, not published: the panel's view was still open
    m, pid = built.meeting_id, built.portfolio_ids[0]
    view_path = f"/reviews/meetings/{m}/record/portfolios/{pid}"
    edit = f"/meetings/{m}/minutes/edit"
    token = csrf_from(chair.get(view_path).get_data(as_text=True))  # a form the Chair had open before releasing
    with app.app_context():
        message_id = db.session.scalar(select(KeyMessage.id).where(KeyMessage.meeting_id == m))
    assert _release(chair, m).status_code == 302
    nqsw = _client_for(app, built.nqsw_emails[0])
    released_page = _without_csrf(nqsw.get(f"/feedback/{m}").get_data(as_text=True))

    attempts = [
        (view_path, {"agreement": "disagree", "decision_view": "Changed", "support_view": "",
                     "exemplars_confirmed": "", "feedback_assessor": "", "feedback_nqsw": "Rewritten after release"}),
        (f"/meetings/{m}/minutes/key-messages", {"text": "A message nobody was sent"}),
        (f"/meetings/{m}/minutes/key-messages/{message_id}/remove", {}),
    ]
    for path, data in attempts:
        response = chair.post(path, data={**data, "csrf_token": token})
        html = response.get_data(as_text=True)
        assert response.status_code == 409, path
        assert "Feedback for this meeting was released on" in html and "Nothing has been saved" in html, path
    assert chair.get(view_path).status_code == 409  # the page says so before the Chair writes anything
    page = chair.get(edit).get_data(as_text=True)
    assert "Feedback was released on" in page and "Add key message" not in page
    assert "Remove key message" not in page
    # The minutes themselves stay the Chair's to finish (notes, themes, actions) until they are published.
    assert submit(chair, f"/meetings/{m}/minutes/notes", {"notes": "Written after release"}, page=edit
                  ).status_code == 302

    with app.app_context():
        views = {v.portfolio_id: (v.agreement, v.feedback_nqsw) for v in db.session.scalars(select(PanelView))}
        messages = list(db.session.scalars(select(KeyMessage.text).where(KeyMessage.meeting_id == m)))
        actions = list(db.session.scalars(select(AuditEvent.action)))
    assert views[pid][0] == "agree" and views[pid][1].startswith("NQSW feedback")
    assert messages == ["Date every reflection."]
    assert actions.count("minutes.key_message_added") == 1  # the one added before the release
    assert "panel_view.saved" not in actions and "minutes.key_message_removed" not in actions
    assert _without_csrf(nqsw.get(f"/feedback/{m}").get_data(as_text=True)) == released_page


def test_feedback_is_released_only_from_the_meeting_date(app, signed_in):
    held_on = clock.today() + timedelta(days=3)
    chair, chair_person = signed_in(Role.MEMBER)
    built = build_meeting(app, chair_person.id, held_on=held_on)
    with app.app_context():
        minutes = Minutes(meeting_id=built.meeting_id, status="approved", notes="", updated_at=clock.now(),
                          updated_by_id=chair_person.id)  # approved before the Lead moved the meeting later
        db.session.add(minutes)
        db.session.commit()
    path = f"/meetings/{built.meeting_id}/feedback-release"
    page = chair.get(path).get_data(as_text=True)
    assert "Release feedback now" not in page
    assert f"This meeting is on {clock.format_date(held_on)}: feedback can be released from that day" in page
    refused = _release(chair, built.meeting_id)
    assert refused.status_code == 409
    assert f"This meeting is on {clock.format_date(held_on)}: you can record it from that day" in \
        refused.get_data(as_text=True)
    assert outbox(app) == []
    with app.app_context():
        assert db.session.scalar(select(FeedbackRelease)) is None
    clock.travel_to(london_morning(held_on))
    sign_in(app, chair, chair_person)
    assert _release(chair, built.meeting_id).status_code == 302


def _weekday_on_or_before(day: date, weekday: int) -> date:
    return day - timedelta(days=(day.weekday() - weekday) % 7)


def test_the_target_skips_the_uk_bank_holidays_without_a_typed_list(app):
    """Bank holidays come from the `holidays` package (England and Wales unless configured otherwise)."""
    year = clock.today().year
    with app.app_context():
        assert app.config["BANK_HOLIDAY_REGION"] == "ENG" and app.config["CLOSURE_DAYS"] == []
        # The late summer bank holiday (England and Wales) is the last Monday of August: a meeting the Friday
        # before has its 5 working days on Tuesday to Friday and the Monday after, not Monday to Friday.
        late_summer = _weekday_on_or_before(date(year, 8, 31), 0)
        assert release.target_date(late_summer - timedelta(days=3)) == late_summer + timedelta(days=7)
        # Christmas: from the Monday before 25 December, Christmas Day, Boxing Day (or the days given in lieu
        # when they fall at a weekend) and New Year's Day are skipped.
        christmas = date(year, 12, 25)
        monday = _weekday_on_or_before(christmas, 0)
        days_off = {christmas, date(year, 12, 26), date(year + 1, 1, 1)}
        for day in sorted(days_off):
            if day.weekday() >= 5:  # at a weekend: in lieu, the next weekday that is not already off
                while day in days_off or day.weekday() >= 5:
                    day += timedelta(days=1)
                days_off.add(day)
        expected, remaining = monday, 5
        while remaining:
            expected += timedelta(days=1)
            remaining -= expected.weekday() < 5 and expected not in days_off
        assert release.target_date(monday) == expected
        assert expected > monday + timedelta(days=7)  # without the bank holidays it would be the next Monday


def test_the_region_and_local_closure_days_are_configurable(app):
    year = clock.today().year
    first_monday_of_august = _weekday_on_or_before(date(year, 8, 7), 0)
    friday_before = first_monday_of_august - timedelta(days=3)
    with app.app_context():
        # Scotland's summer bank holiday is the first Monday of August; England's is not.
        assert release.target_date(friday_before) == first_monday_of_august + timedelta(days=4)
        app.config["BANK_HOLIDAY_REGION"] = "SCT"
        assert release.target_date(friday_before) == first_monday_of_august + timedelta(days=7)
        app.config["BANK_HOLIDAY_REGION"] = "ENG"
        # A council's own closure day (say, the Tuesday) is skipped too.
        app.config["CLOSURE_DAYS"] = [(first_monday_of_august + timedelta(days=1)).isoformat()]
        assert release.target_date(friday_before) == first_monday_of_august + timedelta(days=7)


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("BANK_HOLIDAY_REGION", "Narnia", "use one of ENG (England), WLS (Wales), SCT (Scotland), NIR (Northern Ireland)"),
    ("CLOSURE_DAYS", ["29/12/2026"], "CLOSURE_DAYS must be dates written like 2026-12-29"),
])
def test_a_wrong_holiday_setting_stops_the_portal_at_start(app_config, setting, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        create_app({**app_config, setting: value})


def test_people_whose_portfolio_was_not_sampled_are_told_so_and_shown_the_key_messages(app, signed_in):
    chair, built = _approved_meeting(app, signed_in)
    _release(chair, built.meeting_id)
    m = built.meeting_id
    with app.app_context():
        assessor_email = db.session.scalar(
            select(User.email).join(FeedbackRecipient, FeedbackRecipient.user_id == User.id)
            .where(User.role == Role.ASSESSOR.value, FeedbackRecipient.has_feedback.is_(False)))
    bodies = {message.recipient: message for message in outbox(app)}
    assert bodies[built.cohort_nqsw_email].subject == "Key messages from the External Moderation Panel"
    assert "including feedback for you" not in bodies[built.cohort_nqsw_email].body
    assert "no feedback for you personally" in bodies[built.cohort_nqsw_email].body
    assert bodies[built.nqsw_emails[0]].subject == "Feedback from the External Moderation Panel"
    for email, told in ((built.cohort_nqsw_email, "Your portfolio was not in the sample this time"),
                        (assessor_email, "None of the portfolios you assessed was in the sample this time")):
        client = _client_for(app, email)
        dashboard = client.get("/dashboard").get_data(as_text=True)
        assert "has feedback for you" not in dashboard and "New key messages" in dashboard
        assert told in dashboard and f"Key messages from {'Spring panel'}" in dashboard
        page = client.get(f"/feedback/{m}").get_data(as_text=True)
        assert told in page and "Date every reflection." in page
        assert "Key messages from the External Moderation Panel</h1>" in page
        assert "I have read these key messages" in page and "I have read this feedback" not in page
    sampled = _client_for(app, built.nqsw_emails[0])
    dashboard = sampled.get("/dashboard").get_data(as_text=True)
    assert "The External Moderation Panel has feedback for you" in dashboard and "not in the sample" not in dashboard
