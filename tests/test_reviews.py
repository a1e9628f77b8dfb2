"""Structured assessments over HTTP: task list, drafts, check answers, submission lock, apologies, independence."""

import json
import threading
import time
from datetime import timedelta

import pytest
from conftest import csrf_from, sign_in, submit
from factories import make_panel, make_registered_portfolio
from flask import render_template
from flask_login import login_user
from helpers_queries import count_queries
from helpers_reviews import SECTIONS, answers_for, base, complete
from sqlalchemy import delete, func, select, text, update

from portal import clock
from portal.extensions import db
from portal.models import (
    Assessment,
    AssessmentTemplate,
    AuditEvent,
    Document,
    DocumentVersion,
    Meeting,
    MeetingMember,
    Portfolio,
    Role,
    SampledPortfolio,
    User,
)


@pytest.fixture
def setting(app, signed_in, make_user):
    """A chair and two members seated at a meeting with two sampled portfolios, each signed in.

    The meeting is today and its reading deadline has passed, so what the members see of each other's
    assessments depends only on their own (test_meeting_record covers the days before).
    """
    chair_client, chair = signed_in(Role.MEMBER, name="Chair Person")
    one_client, one = signed_in(Role.MEMBER, name="Member One")
    two_client, two = signed_in(Role.MEMBER, name="Member Two")
    today = clock.today()
    panel = make_panel(app, [(chair.id, "chair"), (one.id, "member"), (two.id, "member")], held_on=today,
                         reading_deadline=today - timedelta(days=7))
    return {"panel": panel, "chair": (chair_client, chair), "one": (one_client, one), "two": (two_client, two)}


def _assessment(app, user_id, portfolio_id):
    with app.app_context():
        return db.session.scalar(select(Assessment).where(Assessment.user_id == user_id,
                                                          Assessment.portfolio_id == portfolio_id))


def _actions(app, action):
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_task_list_shows_each_section_and_its_status(app, setting):
    client, _person = setting["one"]
    panel = setting["panel"]
    pid = panel.portfolio_ids[0]
    page = client.get(base(panel, pid)).get_data(as_text=True)
    assert "govuk-task-list" in page
    for title in ("Part 1: evidence in the portfolio", "Part 2: the decision", "Quality of support",
                  "Part 3: feedback"):
        assert title in page
    assert page.count("Not started") == 4

    partial = dict(list(answers_for("part1").items())[:3])
    response = submit(client, f"{base(panel, pid)}/sections/part1", partial)
    assert response.status_code == 302 and response.headers["Location"].endswith(base(panel, pid))
    page = client.get(base(panel, pid)).get_data(as_text=True)
    assert "In progress" in page and page.count("Not started") == 3

    submit(client, f"{base(panel, pid)}/sections/part1", answers_for("part1"))
    page = client.get(base(panel, pid)).get_data(as_text=True)
    assert "Completed" in page and "In progress" not in page


def test_section_page_is_accessible_form(app, setting):
    client, _person = setting["one"]
    panel = setting["panel"]
    page = client.get(f"{base(panel, panel.portfolio_ids[0])}/sections/part2").get_data(as_text=True)
    assert page.count("<fieldset") == 5  # four criteria and the agreement question, each with a legend
    assert page.count("<legend") == 5
    assert '<label class="govuk-label govuk-label--s" for="accurate_comment">' in page
    assert 'id="accurate_comment-hint"' in page
    assert page.count("<h1") == 1


def test_draft_saves_encrypted_and_is_audited(app, setting):
    client, person = setting["one"]
    panel = setting["panel"]
    pid = panel.portfolio_ids[0]
    submit(client, f"{base(panel, pid)}/sections/part3", answers_for("part3", text="Secret feedback words"))
    assessment = _assessment(app, person.id, pid)
    assert assessment.status == "draft"
    assert assessment.answer_map["feedback_nqsw"] == "Secret feedback words"
    with app.app_context():
        raw = db.session.execute(text("SELECT answers FROM assessments")).scalar_one()
    assert "Secret" not in raw
    events = _actions(app, "assessment.draft_saved")
    assert len(events) == 1 and events[0].actor_id == person.id
    # The saved draft fills the form when the section is opened again.
    assert "Secret feedback words" in client.get(f"{base(panel, pid)}/sections/part3").get_data(as_text=True)


def test_check_answers_has_change_links(app, setting):
    client, _person = setting["one"]
    panel = setting["panel"]
    pid = panel.portfolio_ids[0]
    submit(client, f"{base(panel, pid)}/sections/part2", answers_for("part2", choice=1))
    page = client.get(f"{base(panel, pid)}/check").get_data(as_text=True)
    assert "govuk-summary-list" in page
    assert f'href="{base(panel, pid)}/sections/part2#accurate"' in page
    assert "Agree with reservations" in page and "Not answered" in page


def test_incomplete_submission_is_blocked_with_what_is_missing(app, setting):
    client, person = setting["one"]
    panel = setting["panel"]
    pid = panel.portfolio_ids[0]
    submit(client, f"{base(panel, pid)}/sections/part1", answers_for("part1"))
    response = submit(client, f"{base(panel, pid)}/check", {})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "govuk-error-summary" in page and "answers are missing" in page
    assert "Is the decision accurate?" in page and "Feedback to the Assessor" in page
    assert f"{base(panel, pid)}/sections/part2#accurate" in page
    assert "Support and assessment agreement" not in page.split("govuk-error-summary")[1].split("</div>")[0]
    assert _assessment(app, person.id, pid).status == "draft"
    assert not _actions(app, "assessment.submitted")


def test_submitting_with_nothing_saved_is_blocked(app, setting):
    client, person = setting["one"]
    panel = setting["panel"]
    response = submit(client, f"{base(panel, panel.portfolio_ids[0])}/check", {})
    assert response.status_code == 400 and "answers are missing" in response.get_data(as_text=True)
    assert _assessment(app, person.id, panel.portfolio_ids[0]) is None


def test_submission_locks_the_assessment(app, setting):
    client, person = setting["one"]
    panel = setting["panel"]
    pid = panel.portfolio_ids[0]
    complete(client, panel, pid, text="Original words")
    assessment = _assessment(app, person.id, pid)
    assert assessment.status == "submitted" and assessment.submitted_at is not None and not assessment.written
    assert len(_actions(app, "assessment.submitted")) == 1
    assert "Assessment submitted" in client.get(f"{base(panel, pid)}/submitted").get_data(as_text=True)

    path = f"{base(panel, pid)}/sections/part3"
    html = client.get(f"{base(panel, pid)}/check").get_data(as_text=True)
    response = client.post(path, data={**answers_for("part3", text="Changed words"), "csrf_token": csrf_from(html)})
    assert response.status_code == 409
    assert "can no longer be changed" in response.get_data(as_text=True)
    assert client.get(path).status_code == 409
    again = client.post(f"{base(panel, pid)}/check", data={"csrf_token": csrf_from(html)})
    assert again.status_code == 409
    after = _assessment(app, person.id, pid)
    assert after.answer_map == assessment.answer_map and after.answer_map["feedback_nqsw"] == "Original words"
    assert len(_actions(app, "assessment.submitted")) == 1
    page = client.get(f"{base(panel, pid)}/check").get_data(as_text=True)
    assert "Your submitted answers" in page and "Change" not in page


def test_invalid_choice_is_refused_and_nothing_saved(app, setting):
    client, person = setting["one"]
    panel = setting["panel"]
    pid = panel.portfolio_ids[0]
    response = submit(client, f"{base(panel, pid)}/sections/part1", {**answers_for("part1"),
                                                                      "evidence-pdp": "maybe"})
    assert response.status_code == 400 and "govuk-error-summary" in response.get_data(as_text=True)
    assert _assessment(app, person.id, pid) is None


def test_post_without_csrf_token_changes_nothing(app, setting):
    client, person = setting["one"]
    panel = setting["panel"]
    pid = panel.portfolio_ids[0]
    response = client.post(f"{base(panel, pid)}/sections/part1", data=answers_for("part1"))
    assert response.status_code == 400
    assert _assessment(app, person.id, pid) is None


def test_apologies_then_written_assessment(app, setting):
    client, person = setting["two"]
    panel = setting["panel"]
    pid = panel.portfolio_ids[1]
    page = client.get(f"/reviews/meetings/{panel.meeting_id}/apologies").get_data(as_text=True)
    assert "Send apologies" in page and "written assessment" in page
    response = submit(client, f"/reviews/meetings/{panel.meeting_id}/apologies", {})
    assert response.status_code == 302
    with app.app_context():
        seat = db.session.scalar(select(MeetingMember).where(MeetingMember.user_id == person.id))
        assert seat.attendance == "apologies"
    assert len(_actions(app, "meeting.apologies_sent")) == 1
    overview = client.get(f"/reviews/meetings/{panel.meeting_id}").get_data(as_text=True)
    assert "Your apologies have been sent" in overview and "written assessments" in overview
    complete(client, panel, pid)
    assert _assessment(app, person.id, pid).written is True
    assert "Written assessment submitted" in client.get(f"{base(panel, pid)}/submitted").get_data(as_text=True)
    assert "Written assessment submitted" in client.get(base(panel, pid)).get_data(as_text=True)
    # Others see it marked as written, and so does the Chair.
    other_client, _other = setting["one"]
    complete(other_client, panel, pid)
    assert "Written assessment" in other_client.get(f"{base(panel, pid)}/others").get_data(as_text=True)


def test_apologies_after_submitting_mark_the_assessment_written(app, setting):
    client, person = setting["one"]
    panel = setting["panel"]
    pid = panel.portfolio_ids[0]
    complete(client, panel, pid)
    submit(client, f"/reviews/meetings/{panel.meeting_id}/apologies", {})
    assert _assessment(app, person.id, pid).written is True


def test_others_are_hidden_until_own_submitted(app, setting):
    one_client, _one = setting["one"]
    two_client, _two = setting["two"]
    panel = setting["panel"]
    pid = panel.portfolio_ids[0]
    complete(two_client, panel, pid, text="Member two's private judgement")
    before = one_client.get(f"{base(panel, pid)}/others").get_data(as_text=True)
    assert "Submit your own assessment first" in before
    assert "private judgement" not in before and "Member Two" not in before
    complete(one_client, panel, pid, submit_it=False)
    assert "private judgement" not in one_client.get(f"{base(panel, pid)}/others").get_data(as_text=True)
    assert submit(one_client, f"{base(panel, pid)}/check", {}).status_code == 302
    after = one_client.get(f"{base(panel, pid)}/others").get_data(as_text=True)
    assert "Member Two" in after and "Member two&#39;s private judgement" in after


@pytest.mark.parametrize("role", [Role.ASSESSOR, Role.NQSW, Role.OBSERVER])
def test_assessors_nqsws_and_observers_never_see_assessments(app, setting, signed_in, role):
    panel = setting["panel"]
    pid = panel.portfolio_ids[0]
    complete(setting["one"][0], panel, pid)
    client, person = signed_in(role)
    with app.app_context():  # even seated at the meeting
        db.session.add(MeetingMember(meeting_id=panel.meeting_id, user_id=person.id, panel_role="member"))
        db.session.commit()
    for path in (base(panel, pid), f"{base(panel, pid)}/others", f"{base(panel, pid)}/check",
                 f"{base(panel, pid)}/sections/part1", f"/reviews/meetings/{panel.meeting_id}",
                 f"/reviews/meetings/{panel.meeting_id}/record"):
        assert client.get(path).status_code == 404, path


def test_observer_seat_and_non_members_get_404(app, setting, signed_in):
    panel = setting["panel"]
    pid = panel.portfolio_ids[0]
    complete(setting["one"][0], panel, pid)
    outsider, _person = signed_in(Role.MEMBER)
    observer_client, observer = signed_in(Role.MEMBER)
    with app.app_context():
        db.session.add(MeetingMember(meeting_id=panel.meeting_id, user_id=observer.id, panel_role="observer"))
        db.session.commit()
    for client in (outsider, observer_client):
        for path in (base(panel, pid), f"{base(panel, pid)}/others", f"/reviews/meetings/{panel.meeting_id}"):
            assert client.get(path).status_code == 404, path
        response = client.post(f"{base(panel, pid)}/sections/part1", data=answers_for("part1"))
        assert response.status_code in (400, 404)
    assert client.get("/reviews/meetings/99999").status_code == 404


def test_portfolio_outside_the_sample_is_404(app, setting, signed_in):
    panel = setting["panel"]
    client, _one = setting["one"]
    other = make_panel(app, [(setting["two"][1].id, "chair")], portfolios=1, start=50)
    assert client.get(base(panel, other.portfolio_ids[0])).status_code == 404
    assert client.get(f"{base(panel, panel.portfolio_ids[0])}/sections/nope").status_code == 404


def test_outside_the_access_window_is_404(app, setting):
    client, _one = setting["one"]
    chair_client, _chair = setting["chair"]
    panel = setting["panel"]
    pid = panel.portfolio_ids[0]
    complete(client, panel, pid, submit_it=False)
    token = csrf_from(client.get(f"{base(panel, pid)}/sections/part1").get_data(as_text=True))
    with app.app_context():
        meeting = db.session.get(Meeting, panel.meeting_id)
        meeting.minutes_published_at = clock.now()
        meeting.access_closes_at = clock.now() + timedelta(days=30)
        db.session.commit()
    # The window keeps the member's portfolios and own work readable after publication, but a draft no longer
    # saves: published minutes are read-only (DESIGN 2.8), and they count only what was submitted by then.
    assert client.get(base(panel, pid)).status_code == 200
    late = client.post(f"{base(panel, pid)}/sections/part1", data={**answers_for("part1", 1), "csrf_token": token})
    assert late.status_code == 409 and "minutes of this meeting were published" in late.get_data(as_text=True)
    clock.advance(timedelta(days=31))
    sign_in(app, client, setting["one"][1])  # the earlier sessions have expired too
    sign_in(app, chair_client, setting["chair"][1])
    for path in (base(panel, pid), f"{base(panel, pid)}/check", f"{base(panel, pid)}/others"):
        assert client.get(path).status_code == 404
    assert chair_client.get(f"/reviews/meetings/{panel.meeting_id}/record").status_code == 404


def test_overview_lists_progress(app, setting):
    client, _one = setting["one"]
    panel = setting["panel"]
    complete(client, panel, panel.portfolio_ids[0])
    page = client.get(f"/reviews/meetings/{panel.meeting_id}").get_data(as_text=True)
    deadline = clock.format_date(clock.today() - timedelta(days=7))
    assert "Submitted" in page and "Not started" in page and deadline in page
    assert "Meeting record" not in page
    assert "Meeting record" in setting["chair"][0].get(f"/reviews/meetings/{panel.meeting_id}").get_data(as_text=True)


def test_meeting_links_partial(app, setting, make_user):
    panel = setting["panel"]
    admin = make_user(Role.ADMIN)
    cases = [(setting["one"][1].id, True, False), (setting["chair"][1].id, True, True), (admin.id, False, True)]
    for user_id, assessments, record in cases:
        with app.test_request_context():
            login_user(db.session.get(User, user_id))
            html = render_template("reviews/_meeting_links.html", meeting=db.session.get(Meeting, panel.meeting_id))
        assert ("Your assessments for this meeting" in html) is assessments
        assert (f"{base(panel, panel.portfolio_ids[1])}\">Assess Portfolio B" in html) is assessments
        assert ("Meeting record" in html) is record


def test_a_concurrent_first_save_reuses_the_row_and_the_seeded_template(app, setting, monkeypatch):
    """Two first saves at once (a double click) meet the unique constraints and carry on with the winner's rows."""
    from portal.reviews import services
    from portal.reviews.template_default import DEFAULT_NAME, DEFAULT_SCHEMA

    panel = setting["panel"]
    client, person = setting["one"]
    pid = panel.portfolio_ids[0]
    submit(client, f"{base(panel, pid)}/sections/part1", answers_for("part1"))  # the winner: template and row
    real = services.current_template
    stale = iter([AssessmentTemplate(name=DEFAULT_NAME, version=1, schema=json.dumps(DEFAULT_SCHEMA),
                                     active=True, created_at=clock.now())])
    monkeypatch.setattr(services, "current_template", lambda: next(stale, None) or real())
    with app.test_request_context():
        meeting = db.session.get(Meeting, panel.meeting_id)
        portfolio = db.session.get(Portfolio, pid)
        actor = db.session.get(User, person.id)
        again = services._new_assessment(actor, meeting, portfolio)
        assert again.id == _assessment(app, person.id, pid).id
        db.session.rollback()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AssessmentTemplate)) == 1
        assert db.session.scalar(select(func.count()).select_from(Assessment)) == 1


# A first save racing a redraw of the sample ----------------------------------------------------------------

NOT_SAMPLED = "This portfolio is no longer in the meeting&#39;s sample: the sample was drawn again"


def _redraw_from_fresh_portfolios(app, panel, chair_id):
    """The Chair redraws in their own session; only the fresh portfolios are eligible, so the old ones leave."""
    from portal.meetings import services as meetings

    with app.app_context(), app.test_request_context():
        meeting = db.session.get(Meeting, panel.meeting_id)
        meetings.draw_sample(db.session.get(User, chair_id), meeting,
                             meetings.DrawRequest(number=2, reason="The Chair knows a sampled NQSW"))


def test_a_redraw_landing_between_the_form_and_the_first_save_is_refused(app, setting, monkeypatch):
    """The page's checks pass, then the sample is redrawn, then the save runs: nothing is saved, and it says why."""
    from portal.reviews import services

    panel = setting["panel"]
    client, person = setting["one"]
    pid = panel.portfolio_ids[0]
    fresh = [make_registered_portfolio(app, n) for n in (101, 102)]
    path = f"{base(panel, pid)}/sections/part1"
    token = csrf_from(client.get(path).get_data(as_text=True))  # the member opens the form
    real = services.save_section

    def redraw_then_save(*args, **kwargs):
        _redraw_from_fresh_portfolios(app, panel, setting["chair"][1].id)
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "save_section", redraw_then_save)
    refused = client.post(path, data={**answers_for("part1"), "csrf_token": token})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 409
    assert NOT_SAMPLED in html and "Your answers have not been saved" in html
    with app.app_context():
        assert set(db.session.scalars(select(SampledPortfolio.portfolio_id))) == set(fresh)  # the redraw happened
        assert db.session.scalar(select(func.count()).select_from(Assessment)) == 0
    assert _actions(app, "assessment.draft_saved") == [] and len(_actions(app, "sample.redrawn")) == 1

    monkeypatch.setattr(services, "save_section", real)
    assert client.post(path, data={**answers_for("part1"), "csrf_token": token}).status_code == 404  # now gone
    saved = submit(client, f"{base(panel, fresh[0])}/sections/part1", answers_for("part1"))
    assert saved.status_code == 302  # the new sample is open to the member as usual
    assert _assessment(app, person.id, fresh[0]).status == "draft"


def test_a_member_removed_before_the_first_save_is_refused(app, setting, monkeypatch):
    """The seat is checked again under the lock too."""
    from portal.reviews import services

    panel = setting["panel"]
    client, person = setting["one"]
    path = f"{base(panel, panel.portfolio_ids[0])}/sections/part1"
    token = csrf_from(client.get(path).get_data(as_text=True))
    real = services.save_section

    def remove_then_save(*args, **kwargs):
        with app.app_context():
            db.session.execute(delete(MeetingMember).where(MeetingMember.user_id == person.id))
            db.session.commit()
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "save_section", remove_then_save)
    refused = client.post(path, data={**answers_for("part1"), "csrf_token": token})
    assert refused.status_code == 409
    assert "You no longer have access to this meeting&#39;s portfolios" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Assessment)) == 0


def test_a_first_save_waits_for_the_meeting_lock_and_then_sees_the_new_sample(app, setting, monkeypatch):
    """A second connection holds the meeting row lock mid-redraw; the save queues on that lock, not later.

    On PostgreSQL the waiting statement must be the meeting row's SELECT ... FOR UPDATE; on SQLite the save
    must be inside the lock helper when it waits. Either way, once the redraw commits the save is refused.
    """
    from portal import visibility

    panel = setting["panel"]
    client, person = setting["one"]
    pid = panel.portfolio_ids[0]
    path = f"{base(panel, pid)}/sections/part1"
    token = csrf_from(client.get(path).get_data(as_text=True))
    entered = threading.Event()
    real_lock = visibility.lock_meeting

    def watched_lock(meeting):
        entered.set()
        real_lock(meeting)

    monkeypatch.setattr(visibility, "lock_meeting", watched_lock)
    outcome = {}

    def post():
        try:
            outcome["response"] = client.post(path, data={**answers_for("part1"), "csrf_token": token})
        except Exception as error:  # the main thread reports it, rather than the thread dying quietly
            outcome["error"] = error

    with app.app_context():
        engine = db.engine
        postgres = engine.dialect.name == "postgresql"
        redraw = engine.connect()
        if not postgres:
            redraw.exec_driver_sql("BEGIN IMMEDIATE")  # SQLite's write lock: what the helper waits for there
        redraw.execute(select(Meeting.id).where(Meeting.id == panel.meeting_id).with_for_update())
        redraw.execute(delete(SampledPortfolio).where(SampledPortfolio.meeting_id == panel.meeting_id,
                                                      SampledPortfolio.portfolio_id == pid))
        saver = threading.Thread(target=post)
        try:
            saver.start()
            assert entered.wait(10), "the save never reached the meeting lock"
            waiting = _waiting_statement(engine, redraw, saver) if postgres else _still_waiting(saver)
            assert waiting, "the first save did not wait for the meeting lock"
            if postgres:
                assert "FROM meetings" in waiting and "FOR UPDATE" in waiting, waiting
        finally:
            redraw.commit()  # the "redraw" finishes; the save goes on
            redraw.close()
            saver.join(30)
    assert not saver.is_alive() and "error" not in outcome, outcome
    assert outcome["response"].status_code == 409
    assert NOT_SAMPLED in outcome["response"].get_data(as_text=True)
    assert _assessment(app, person.id, pid) is None


def _waiting_statement(engine, holder, saver, seconds=10.0):
    """The statement blocked by the holder connection's locks (PostgreSQL), polling for a few seconds."""
    holder_pid = holder.execute(text("SELECT pg_backend_pid()")).scalar_one()
    deadline = time.monotonic() + seconds
    with engine.connect() as watcher:
        while time.monotonic() < deadline and saver.is_alive():
            query = watcher.execute(text(
                "SELECT query FROM pg_stat_activity WHERE :holder = ANY(pg_blocking_pids(pid))"),
                {"holder": holder_pid}).scalar()
            watcher.rollback()
            if query:
                return query
            time.sleep(0.05)
    return ""


def _still_waiting(saver, seconds=0.5):
    """True if the save is still held up after a moment (SQLite has no view of who waits for what)."""
    saver.join(seconds)
    return saver.is_alive()


def test_assessment_pages_use_a_bounded_number_of_queries(app, setting, signed_in):
    panel = setting["panel"]
    chair, _ = setting["chair"]
    pid = panel.portfolio_ids[0]
    for client in (chair, setting["one"][0]):
        complete(client, panel, pid)
    paths = (f"/reviews/meetings/{panel.meeting_id}", f"{base(panel, pid)}/others",
             f"/reviews/meetings/{panel.meeting_id}/record/attendance")
    small = [count_queries(app, chair, path) for path in paths]
    # Six more portfolios in the sample, and five more members who each submit on the first portfolio.
    extra = make_panel(app, [(setting["chair"][1].id, "chair")], portfolios=6, start=100)
    with app.app_context():
        db.session.execute(update(SampledPortfolio).where(SampledPortfolio.meeting_id == extra.meeting_id)
                           .values(meeting_id=panel.meeting_id))
        db.session.commit()
    panel.portfolio_ids += extra.portfolio_ids
    for _ in range(5):
        client, person = signed_in(Role.MEMBER)
        with app.app_context():
            db.session.add(MeetingMember(meeting_id=panel.meeting_id, user_id=person.id, panel_role="member"))
            db.session.commit()
        complete(client, panel, pid)
    complete(chair, panel, panel.portfolio_ids[-1], submit_it=False)
    assert chair.get(f"{base(panel, pid)}/others").get_data(as_text=True).count("<h2") >= 6
    assert [count_queries(app, chair, path) for path in paths] == small


def _publish_minutes(client, meeting_id):
    page = f"/meetings/{meeting_id}/minutes"
    for step in ("approve", "publish"):
        assert submit(client, f"{page}/{step}", {}, page=page).status_code == 302


def test_published_minutes_freeze_assessments_apologies_and_attendance(app, setting):
    """After publication nothing the minutes count changes: a late save, submission or apology is refused."""
    from portal.reviews import meeting_data

    panel = setting["panel"]
    m, pid = panel.meeting_id, panel.portfolio_ids[0]
    one_client, one = setting["one"]
    two_client, _two = setting["two"]
    chair_client, chair = setting["chair"]
    complete(two_client, panel, pid)
    complete(one_client, panel, pid, submit_it=False)
    # Pages loaded before publication, as a member with the form open would have them.
    one_token = csrf_from(one_client.get(f"{base(panel, pid)}/check").get_data(as_text=True))
    two_token = csrf_from(two_client.get(f"/reviews/meetings/{m}/apologies").get_data(as_text=True))
    chair_token = csrf_from(chair_client.get(f"/reviews/meetings/{m}/record/attendance").get_data(as_text=True))
    with app.app_context():
        seats = {s.user_id: (s.id, s.attendance) for s in db.session.scalars(select(MeetingMember))}
    _publish_minutes(chair_client, m)
    before = _assessment(app, one.id, pid).answers

    attempts = [
        (one_client, f"{base(panel, pid)}/check", {"csrf_token": one_token}, "assessments can no longer be saved"),
        (one_client, f"{base(panel, pid)}/sections/part3", {**answers_for("part3", text="Late"),
                                                             "csrf_token": one_token}, "can no longer be saved"),
        (two_client, f"/reviews/meetings/{m}/apologies", {"csrf_token": two_token}, "apologies can no longer be sent"),
        (chair_client, f"/reviews/meetings/{m}/record/attendance",
         {**{f"seat-{seat_id}": "apologies" for seat_id, _ in seats.values()}, "csrf_token": chair_token},
         "attendance and apologies can no longer be changed"),
    ]
    for client, path, data, message in attempts:
        response = client.post(path, data=data)
        html = response.get_data(as_text=True)
        assert response.status_code == 409, path
        assert message in html and "Nothing has been saved" in html, path
        page = client.get(path)
        if path.endswith("/check"):  # the member's own answers stay readable, without the submit button
            assert page.status_code == 200 and "can no longer be changed or submitted" in page.get_data(as_text=True)
            assert "Submit assessment" not in page.get_data(as_text=True)
        else:  # the page says so up front, without a form
            assert page.status_code == 409, path

    assert _assessment(app, one.id, pid).status == "draft" and _assessment(app, one.id, pid).answers == before
    with app.app_context():
        assert {s.user_id: (s.id, s.attendance) for s in db.session.scalars(select(MeetingMember))} == seats
        counted = meeting_data.build(db.session.get(Meeting, m), db.session.get(User, chair.id))
    assert counted.total.submitted == 1 and counted.total.written == 0
    assert len(_actions(app, "assessment.submitted")) == 1
    assert _actions(app, "meeting.apologies_sent") == [] and _actions(app, "meeting.attendance_recorded") == []
    task_list = one_client.get(base(panel, pid)).get_data(as_text=True)
    assert "can no longer be changed or submitted" in task_list and "Check your answers" not in task_list
    record_page = chair_client.get(f"/reviews/meetings/{m}/record").get_data(as_text=True)
    assert "can no longer be changed" in record_page and "Record attendance and apologies" not in record_page


def test_the_apologies_link_goes_once_every_assessment_is_submitted(app, setting):
    client, _one = setting["one"]
    panel = setting["panel"]
    overview = f"/reviews/meetings/{panel.meeting_id}"
    link = f'href="/reviews/meetings/{panel.meeting_id}/apologies"'
    assert link in client.get(overview).get_data(as_text=True)
    complete(client, panel, panel.portfolio_ids[0])
    assert link in client.get(overview).get_data(as_text=True)  # one still to do
    complete(client, panel, panel.portfolio_ids[1])
    page = client.get(overview).get_data(as_text=True)
    assert link not in page and "If you cannot attend" not in page


def _document(app, portfolio_id: int, evidence: str, title: str, content_type: str, size: int) -> tuple[int, int]:
    """A document row with one version (no blob: the assessment pages only link to it)."""
    with app.app_context():
        document = Document(portfolio_id=portfolio_id, evidence_type=evidence, title=title, created_by_id=1,
                            created_at=clock.now())
        db.session.add(document)
        db.session.flush()
        version = DocumentVersion(document_id=document.id, number=1, blob_id=f"blob-{document.id}",
                                  filename="file", content_type=content_type, size=size, digest="0" * 64,
                                  uploaded_by_id=1, uploaded_at=clock.now())
        db.session.add(version)
        db.session.flush()
        document.current_version_id = version.id
        db.session.commit()
        return document.id, version.id


def test_the_assessment_links_to_the_evidence_it_asks_about(app, setting):
    client, _one = setting["one"]
    panel = setting["panel"]
    pid = panel.portfolio_ids[0]
    agreement, agreement_version = _document(app, pid, "agreement", "Signed agreement", "application/pdf", 2048)
    _observation, observation_version = _document(
        app, pid, "direct_observation", "Observation 1",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", 3 * 1024 * 1024)
    documents = f'href="/portfolios/{pid}/documents"'
    view = f'href="/portfolios/{pid}/documents/{agreement}/versions/{agreement_version}/view"'

    task_list = client.get(base(panel, pid)).get_data(as_text=True)
    assert documents in task_list and "Read the portfolio&#39;s documents (2 documents)</a>" in task_list
    part1 = client.get(f"{base(panel, pid)}/sections/part1").get_data(as_text=True)
    # The list opens in a new tab from a form, so unsaved answers stay; a PDF opens in a new tab, as on its page.
    assert f'{documents} target="_blank" rel="noopener noreferrer">' in part1 and "in a new tab</a>" in part1
    agreement_hint = part1.split('id="evidence-agreement-hint"')[1].split("</div>")[0]
    assert view in agreement_hint and 'target="_blank"' in agreement_hint
    assert "Open Signed agreement (PDF, 2 KB) in a new tab" in agreement_hint
    observation_hint = part1.split('id="evidence-direct_observation-hint"')[1].split("</div>")[0]
    assert "At least 3 observations of practice" in observation_hint
    assert f"/versions/{observation_version}/download" in observation_hint and "Observation 1" in observation_hint
    assert "3 MB" in observation_hint and "/view" not in observation_hint  # a Word file downloads
    pdp_hint = part1.split('id="evidence-pdp-hint"')[1].split("</div>")[0]
    assert "No documents of this kind are in the portfolio" in pdp_hint
    for key in SECTIONS[1:]:
        assert documents in client.get(f"{base(panel, pid)}/sections/{key}").get_data(as_text=True), key
    check = client.get(f"{base(panel, pid)}/check").get_data(as_text=True)
    assert documents in check and view in check and "No documents of this kind" in check
    complete(client, panel, pid)
    submitted = client.get(f"{base(panel, pid)}/check").get_data(as_text=True)
    assert "Your submitted answers" in submitted and view in submitted
