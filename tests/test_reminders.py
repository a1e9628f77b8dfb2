"""Automatic reminders (portal/reviews/reminders.py), run as the worker's `reminders` job on the controlled clock."""

from datetime import timedelta

from conftest import outbox
from factories import make_panel
from flask import Flask
from helpers_reviews import complete
from sqlalchemy import select

from portal import clock
from portal.extensions import db
from portal.models import AuditEvent, Meeting, ReminderSent, Role
from portal.ops import jobs
from portal.reviews import reminders


def _run(app: Flask) -> str:
    with app.app_context():
        job = jobs.find("reminders")
        assert job is not None
        result = jobs.run(job, "test", force=True)
        assert result is not None and result.outcome == jobs.SUCCEEDED, result
        return result.summary


def _panel(app: Flask, signed_in, deadline_in_days: int, held_in_days: int) -> dict:
    chair_client, chair = signed_in(Role.MEMBER, name="Chair Person")
    one_client, one = signed_in(Role.MEMBER, name="Member One")
    _two_client, two = signed_in(Role.MEMBER, name="Member Two")
    _lead_client, lead = signed_in(Role.ADMIN, name="Lead Person")
    today = clock.today()
    panel = make_panel(app, [(chair.id, "chair"), (one.id, "member"), (two.id, "member")],
                         held_on=today + timedelta(days=held_in_days),
                         reading_deadline=today + timedelta(days=deadline_in_days))
    return {"panel": panel, "chair": chair, "one": (one_client, one), "two": two, "lead": lead,
            "chair_client": chair_client}


def _recipients(app: Flask) -> list[str]:
    return sorted(m.recipient for m in outbox(app))


def test_members_behind_are_reminded_once_at_each_stage(app, signed_in):
    setting = _panel(app, signed_in, deadline_in_days=7, held_in_days=14)
    panel = setting["panel"]
    one_client, _one = setting["one"]
    for portfolio_id in panel.portfolio_ids:  # Member One has nothing left: no documents and both submitted
        complete(one_client, panel, portfolio_id)
    assert _run(app) == "2 reading reminder(s), 0 access-closing notice(s), 0 Lead digest(s) sent"
    assert _recipients(app) == sorted([setting["chair"].email, setting["two"].email])
    for message in outbox(app):
        assert f"https://portal.test/reviews/meetings/{panel.meeting_id}" in message.body
        assert "automatic reminder" in message.body
        assert "Person" not in message.body and "Member" not in message.body and "Nqsw" not in message.body
    assert _run(app).startswith("0 reading reminder(s)")  # the same day again: nothing twice
    clock.advance(timedelta(days=2))  # 5 days before: between stages
    assert _run(app).startswith("0 reading reminder(s)")
    clock.advance(timedelta(days=2))  # 3 days before
    assert _run(app).startswith("2 reading reminder(s)")
    clock.advance(timedelta(days=2))  # 1 day before
    assert _run(app).startswith("2 reading reminder(s)")
    clock.advance(timedelta(days=1))  # the deadline itself is in the last stage: no third email for it
    assert _run(app).startswith("0 reading reminder(s)")
    assert len(outbox(app)) == 6
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "reminders.sent").limit(1))
        assert event.actor_id is None


def test_a_stage_the_worker_missed_is_sent_once_late(app, signed_in):
    setting = _panel(app, signed_in, deadline_in_days=2, held_in_days=9)  # no run on day 3
    assert _run(app).startswith("3 reading reminder(s)")
    clock.advance(timedelta(hours=12))
    assert _run(app).startswith("0 reading reminder(s)")
    assert len(_recipients(app)) == 3 and setting["lead"].email not in _recipients(app)


def test_the_stages_are_configurable(app, signed_in):
    app.config["REMINDER_DAYS_BEFORE_DEADLINE"] = [5]
    _panel(app, signed_in, deadline_in_days=7, held_in_days=14)
    assert _run(app).startswith("0 reading reminder(s)")
    clock.advance(timedelta(days=2))
    assert _run(app).startswith("3 reading reminder(s)")


def test_the_lead_gets_one_digest_a_day_of_what_is_overdue(app, signed_in):
    setting = _panel(app, signed_in, deadline_in_days=-1, held_in_days=3)
    assert _run(app) == "0 reading reminder(s), 0 access-closing notice(s), 1 Lead digest(s) sent"
    [digest] = outbox(app)
    assert digest.recipient == setting["lead"].email
    assert "3 members still reading or assessing" in digest.body
    assert f"https://portal.test/reviews/meetings/{setting['panel'].meeting_id}/record" in digest.body
    assert "Person" not in digest.body and "Member One" not in digest.body
    assert _run(app).startswith("0 reading reminder(s), 0 access-closing notice(s), 0 Lead")  # once a day
    clock.advance(timedelta(days=1))
    assert _run(app).endswith("1 Lead digest(s) sent")
    clock.advance(timedelta(days=3))  # the meeting has been held: nothing is overdue any more
    assert _run(app).endswith("0 Lead digest(s) sent")


def test_the_panel_is_told_before_its_access_window_closes(app, signed_in):
    setting = _panel(app, signed_in, deadline_in_days=-10, held_in_days=-3)
    with app.app_context():
        meeting = db.session.get(Meeting, setting["panel"].meeting_id)
        assert meeting is not None
        meeting.minutes_published_at = clock.now() - timedelta(days=26)
        meeting.access_closes_at = clock.now() + timedelta(days=4)
        db.session.commit()
    assert _run(app).startswith("0 reading reminder(s), 0 access-closing")  # 4 days ahead: not yet
    clock.advance(timedelta(days=1, hours=1))
    assert _run(app) == "0 reading reminder(s), 3 access-closing notice(s), 0 Lead digest(s) sent"
    assert _recipients(app) == sorted([setting["chair"].email, setting["one"][1].email, setting["two"].email])
    clock.advance(timedelta(days=1))
    assert _run(app).startswith("0 reading reminder(s), 0 access-closing")


def test_a_reminder_claimed_by_another_worker_is_not_sent(app, signed_in):
    setting = _panel(app, signed_in, deadline_in_days=7, held_in_days=14)
    with app.app_context():
        chair_key = f"reading:{setting['panel'].meeting_id}:{setting['chair'].id}:7"
        db.session.add(ReminderSent(key=chair_key, sent_at=clock.now()))
        db.session.commit()
        assert reminders.send_due().reading == 2
    assert setting["chair"].email not in _recipients(app)


def test_people_who_left_are_not_reminded(app, signed_in):
    setting = _panel(app, signed_in, deadline_in_days=7, held_in_days=14)
    with app.app_context():
        from portal.models import User

        two = db.session.get(User, setting["two"].id)
        assert two is not None
        two.active = False
        db.session.commit()
    assert _run(app).startswith("2 reading reminder(s)")
    assert setting["two"].email not in _recipients(app)
