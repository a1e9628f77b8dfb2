"""Dashboards: each role lands on what it must do next, in a bounded number of SQL queries."""

import html as html_text
from datetime import timedelta

from conftest import sign_in, submit
from factories import make_meeting
from helpers_queries import count_queries
from helpers_reports import build_meeting
from sqlalchemy import delete

from portal import clock
from portal.extensions import db
from portal.models import Action, Assessment, FeedbackRecipient, FeedbackRelease, Meeting, Role
from portal.reports.dashboard import SHOWN


def _set(app, meeting_id, **values):
    with app.app_context():
        meeting = db.session.get(Meeting, meeting_id)
        for key, value in values.items():
            setattr(meeting, key, value)
        db.session.commit()


def _approve(chair, meeting_id, publish=False, action=None):
    page = f"/meetings/{meeting_id}/minutes"
    if action:
        submit(chair, f"{page}/actions", {"description": action, "owner": "ASYE Lead",
                                          "due_on": ["1", "1", "2020"]}, page=f"{page}/edit")
    submit(chair, f"{page}/approve", {}, page=page)
    if publish:
        submit(chair, f"{page}/publish", {}, page=page)


def test_admin_sees_the_cycle_and_what_is_overdue(app, signed_in):
    admin, _ = signed_in(Role.ADMIN)
    assert "There are no meetings yet" in admin.get("/dashboard").get_data(as_text=True)
    chair, chair_person = signed_in(Role.MEMBER)
    _, member_person = signed_in(Role.MEMBER)
    today = clock.now().date()
    past = build_meeting(app, chair_person.id, held_on=today - timedelta(days=20), title="Past panel")
    _approve(chair, past.meeting_id, action="Rewrite the induction pack")
    upcoming = build_meeting(app, chair_person.id, member_ids=(member_person.id,),
                             held_on=today + timedelta(days=10), title="Next panel")
    with app.app_context():
        db.session.execute(delete(Assessment).where(Assessment.meeting_id == upcoming.meeting_id,
                                                    Assessment.user_id == member_person.id))
        db.session.commit()
    _set(app, upcoming.meeting_id, reading_deadline=today - timedelta(days=1))
    html = admin.get("/dashboard").get_data(as_text=True)
    for expected in ("Past panel", "Next panel", "2 portfolios drawn", "2 of 4", "Approved", "Overdue",
                     "Feedback for Past panel was due to be released", "2 assessments for Next panel are past",
                     "Rewrite the induction pack"):
        assert expected in html, expected


def test_member_sees_what_to_read_and_submit_by_when(app, signed_in):
    chair, chair_person = signed_in(Role.MEMBER)
    member, member_person = signed_in(Role.MEMBER)
    today = clock.now().date()
    built = build_meeting(app, chair_person.id, member_ids=(member_person.id,), held_on=today + timedelta(days=14),
                          title="Next panel")
    with app.app_context():
        db.session.execute(delete(Assessment).where(Assessment.user_id == member_person.id))
        db.session.commit()
    _set(app, built.meeting_id, reading_deadline=today + timedelta(days=7))
    html = member.get("/dashboard").get_data(as_text=True)
    assert "govuk-notification-banner" in html and "Deadlines" in html
    assert "Read and submit your assessments for Next panel by" in html
    assert "You have submitted" in html and "0 of 2" in html
    assert f"/reviews/meetings/{built.meeting_id}" in html
    assert f"/meetings/{built.meeting_id}/minutes" not in html  # the minutes links are the Chair's
    chair_html = chair.get("/dashboard").get_data(as_text=True)
    assert f"/meetings/{built.meeting_id}/minutes" in chair_html and "Deadlines" not in chair_html
    outsider, _ = signed_in(Role.MEMBER)
    assert "Next panel" not in outsider.get("/dashboard").get_data(as_text=True)


def test_a_chair_keeps_the_release_target_after_publishing_until_feedback_is_released(app, signed_in):
    chair, chair_person = signed_in(Role.MEMBER)
    member, member_person = signed_in(Role.MEMBER)
    built = build_meeting(app, chair_person.id, member_ids=(member_person.id,),
                          held_on=clock.now().date() - timedelta(days=20), title="Past panel")
    _approve(chair, built.meeting_id, publish=True)  # published before the feedback is released
    release_link = f"/meetings/{built.meeting_id}/feedback-release"
    html = chair.get("/dashboard").get_data(as_text=True)
    assert "Past panel" in html and "Overdue" in html and release_link in html
    # Published minutes close assessing: no invitation to submit, no reading deadline, but why.
    assert "submit your assessments" not in html and "Deadlines" not in html
    assert "Closed: the minutes were published on" in html
    assert "Past panel" not in member.get("/dashboard").get_data(as_text=True)  # nothing left for a member
    assert submit(chair, release_link, {}).status_code == 302
    assert "Past panel" not in chair.get("/dashboard").get_data(as_text=True)


def test_observer_sees_published_minutes_and_open_actions(app, signed_in):
    chair, chair_person = signed_in(Role.MEMBER)
    observer, _ = signed_in(Role.OBSERVER)
    draft = build_meeting(app, chair_person.id, title="Draft panel")
    _approve(chair, draft.meeting_id, action="Hidden until published")
    published = build_meeting(app, chair_person.id, title="Published panel")
    _approve(chair, published.meeting_id, publish=True, action="Visible action")
    html = observer.get("/dashboard").get_data(as_text=True)
    assert "Minutes of Published panel" in html and "Draft panel" not in html
    assert "Visible action" in html and "Hidden until published" not in html and "Overdue" in html


def test_nqsw_sees_their_feedback(app, signed_in, make_user):
    chair, chair_person = signed_in(Role.MEMBER)
    built = build_meeting(app, chair_person.id, title="Autumn panel")
    nqsw_person = make_user(Role.NQSW, email=built.nqsw_emails[0])
    nqsw = app.test_client()
    sign_in(app, nqsw, nqsw_person)
    assert "There is no feedback for you yet" in nqsw.get("/dashboard").get_data(as_text=True)
    _approve(chair, built.meeting_id)
    submit(chair, f"/meetings/{built.meeting_id}/feedback-release", {})
    html = nqsw.get("/dashboard").get_data(as_text=True)
    assert "Feedback from Autumn panel" in html and "Not read yet" in html and "New feedback" in html


def _release_to(app, meeting_id, nqsw) -> None:
    """A release of this meeting reaching this NQSW (made directly: only the dashboard is under test here)."""
    with app.app_context():
        now = clock.now()
        item = FeedbackRelease(meeting_id=meeting_id, target_on=now.date(), released_at=now,
                               released_by_id=nqsw.id)
        item.recipients.append(FeedbackRecipient(user_id=nqsw.id, notified_at=now, has_feedback=True))
        db.session.add(item)
        db.session.commit()


def test_dashboard_queries_do_not_grow_with_the_data(app, signed_in, make_user):
    chair, chair_person = signed_in(Role.MEMBER)
    admin, _ = signed_in(Role.ADMIN)
    observer, _ = signed_in(Role.OBSERVER)
    nqsw_person = make_user(Role.NQSW)
    nqsw = app.test_client()
    sign_in(app, nqsw, nqsw_person)
    clients = (("admin", admin), ("chair", chair), ("observer", observer), ("nqsw", nqsw))
    today = clock.now().date()
    build_meeting(app, chair_person.id, held_on=today - timedelta(days=30), sampled=2)
    first = build_meeting(app, chair_person.id, held_on=today - timedelta(days=20), sampled=2)
    _approve(chair, first.meeting_id, publish=True, action="Action 0")
    _release_to(app, first.meeting_id, nqsw_person)
    build_meeting(app, chair_person.id, held_on=today + timedelta(days=30), sampled=2)
    small = {name: count_queries(app, client, "/dashboard") for name, client in clients}
    for i in range(1, 4):
        extra = build_meeting(app, chair_person.id, held_on=today - timedelta(days=10 - i), sampled=4)
        _approve(chair, extra.meeting_id, publish=True, action=f"Action {i}")
        _release_to(app, extra.meeting_id, nqsw_person)
    with app.app_context():
        assert db.session.query(Action).count() == 4
    assert nqsw.get("/dashboard").get_data(as_text=True).count("Feedback from") == 4
    large = {name: count_queries(app, client, "/dashboard") for name, client in clients}
    assert large == small, (small, large)


def _actions(app, meeting_id: int, count: int, due) -> None:
    with app.app_context():
        now = clock.now()
        db.session.add_all([Action(meeting_id=meeting_id, description=f"Bulk action {n:03d}", owner="ASYE Lead",
                                   due_on=due, created_at=now, updated_at=now) for n in range(count)])
        db.session.commit()


def test_dashboards_stay_one_screen_and_say_how_many_more_there_are(app, signed_in):
    chair, person = signed_in(Role.MEMBER)
    admin, _ = signed_in(Role.ADMIN)
    observer, _ = signed_in(Role.OBSERVER)
    today = clock.now().date()
    now = clock.now()
    # 25 past meetings chaired and published but not released, and 2 coming up: the Chair must see those first.
    for n in range(25):
        mid = make_meeting(app, held_on=today - timedelta(days=40 + n), seats={person.id: "chair"},
                           title=f"Old panel {n:02d}")
        _set(app, mid, minutes_published_at=now - timedelta(days=30 + n))
    upcoming = [make_meeting(app, held_on=today + timedelta(days=d), seats={person.id: "member"},
                             title=f"Coming panel {d}") for d in (30, 10)]
    _actions(app, mid, 30, today - timedelta(days=5))
    html = chair.get("/dashboard").get_data(as_text=True)
    shown = [line for line in html.split("govuk-summary-card__title\">")[1:]]
    titles = [t.split(",")[0] for t in shown]
    assert titles[:2] == ["Coming panel 10", "Coming panel 30"]  # coming up first, soonest first
    assert titles[2:] == [f"Old panel {n:02d}" for n in range(SHOWN - 2)]  # then the latest awaiting release
    assert f"{27 - SHOWN} more meetings are waiting for you" in html and 'href="/meetings"' in html
    # The observer: the latest published minutes and the first open actions, with what is left and where.
    seen = html_text.unescape(observer.get("/dashboard").get_data(as_text=True))
    assert seen.count("Minutes of Old panel") == SHOWN and "Minutes of Old panel 00" in seen
    assert f"{25 - SHOWN} earlier meetings' minutes are in" in seen
    assert seen.count("Bulk action") == SHOWN and f"{30 - SHOWN} more open actions are in" in seen
    # The Lead: the overdue actions counted in full, SHOWN of them listed.
    board = admin.get("/dashboard").get_data(as_text=True)
    assert board.count("Bulk action") == SHOWN and f"{30 - SHOWN} more overdue actions are in" in board
    assert "30 things are overdue" in board
    assert upcoming  # (the ids are not needed further)
