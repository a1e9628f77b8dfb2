"""The Chair's meeting record: readiness, reminders, attendance, side-by-side counts, the panel's view."""

import json
import re
from datetime import datetime, time, timedelta

import pytest
from conftest import outbox, sign_in, submit
from factories import add_document_row, make_panel
from helpers_queries import count_queries
from helpers_reviews import base, complete, london_morning
from sqlalchemy import select, text

from portal import clock
from portal.extensions import db
from portal.models import (
    AuditEvent,
    Meeting,
    MeetingMember,
    PanelView,
    ReadReceipt,
    Role,
    User,
)
from portal.reviews import meeting_data


def _panel(app, signed_in, held_in_days: int = 0, deadline_in_days: int = -7) -> dict:
    chair_client, chair = signed_in(Role.MEMBER, name="Chair Person")
    one_client, one = signed_in(Role.MEMBER, name="Member One")
    two_client, two = signed_in(Role.MEMBER, name="Member Two")
    today = clock.today()
    panel = make_panel(app, [(chair.id, "chair"), (one.id, "member"), (two.id, "member")],
                         held_on=today + timedelta(days=held_in_days),
                         reading_deadline=today + timedelta(days=deadline_in_days))
    return {"panel": panel, "chair": (chair_client, chair), "one": (one_client, one), "two": (two_client, two)}


@pytest.fixture
def setting(app, signed_in):
    """A chair and two members at a meeting held today (the reading deadline was a week ago), two portfolios."""
    return _panel(app, signed_in)


@pytest.fixture
def ahead(app, signed_in):
    """The same panel, for a meeting in 14 days with a reading deadline in 7."""
    return _panel(app, signed_in, held_in_days=14, deadline_in_days=7)


def record_path(panel) -> str:
    """The Chair's record page."""
    return f"/reviews/meetings/{panel.meeting_id}/record"


def read(app, user_id: int, document_id: int, version_id: int) -> None:
    """Record that a person opened a version."""
    with app.app_context():
        db.session.add(ReadReceipt(user_id=user_id, document_id=document_id, version_id=version_id,
                                   first_at=clock.now(), last_at=clock.now(), views=1))
        db.session.commit()


def _events(app, action):
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_readiness_matrix_shows_read_older_and_not_read(app, setting):
    panel = setting["panel"]
    chair = setting["chair"][1]
    document_id, (old, new) = add_document_row(app, panel.portfolio_ids[0], chair.id, title="Final assessment report",
                                               versions=2)
    read(app, setting["one"][1].id, document_id, new)
    read(app, setting["two"][1].id, document_id, old)
    complete(setting["one"][0], panel, panel.portfolio_ids[0])
    complete(setting["two"][0], panel, panel.portfolio_ids[1], submit_it=False)
    page = setting["chair"][0].get(record_path(panel)).get_data(as_text=True)
    row = page.split("Final assessment report")[1].split("</tr>")[0]
    cells = [" ".join(c.split(">")[-1].split()) for c in row.split("</strong>")[:3]]
    assert cells == ["Not read", "Read", "Read an older version"]  # Chair Person, Member One, Member Two
    submissions = page.split("Assessments submitted</caption>")[1].split("</table>")[0]
    assert submissions.count("Submitted") == 1 and submissions.count("Draft") == 1
    assert submissions.count("Not started") == 4


def test_reminder_emails_a_link_to_those_behind(app, setting):
    panel = setting["panel"]
    chair_client, chair = setting["chair"]
    document_id, (version,) = add_document_row(app, panel.portfolio_ids[0], chair.id, title="Report")
    one_client, one = setting["one"]
    read(app, one.id, document_id, version)
    complete(one_client, panel, panel.portfolio_ids[0])
    complete(one_client, panel, panel.portfolio_ids[1])
    response = submit(chair_client, f"{record_path(panel)}/reminders", {}, page=record_path(panel))
    assert response.status_code == 302
    messages = outbox(app)
    recipients = sorted(m.recipient for m in messages)
    assert recipients == sorted([chair.email, setting["two"][1].email])
    for message in messages:
        assert f"https://portal.test/reviews/meetings/{panel.meeting_id}" in message.body
        assert "Member" not in message.body and "Nqsw" not in message.body
    events = _events(app, "meeting.reminder_sent")
    assert len(events) == 1 and events[0].actor_id == chair.id
    assert "Reminder sent to 2 members" in chair_client.get(record_path(panel)).get_data(as_text=True)


def test_attendance_and_apologies_are_recorded(app, setting):
    panel = setting["panel"]
    chair_client, chair = setting["chair"]
    with app.app_context():
        seats = {m.user_id: m.id for m in db.session.scalars(select(MeetingMember))}
    one, two = setting["one"][1], setting["two"][1]
    complete(setting["two"][0], panel, panel.portfolio_ids[0])
    complete(chair_client, panel, panel.portfolio_ids[0])
    path = f"/reviews/meetings/{panel.meeting_id}/record/attendance"
    page = chair_client.get(path).get_data(as_text=True)
    assert page.count("<legend") == 3
    data = {f"seat-{seat}": "attended" for seat in seats.values()}
    data[f"seat-{seats[two.id]}"] = "apologies"
    assert submit(chair_client, path, data).status_code == 302
    with app.app_context():
        values = {m.user_id: m.attendance for m in db.session.scalars(select(MeetingMember))}
    assert values[one.id] == "attended" and values[two.id] == "apologies"
    assert len(_events(app, "meeting.attendance_recorded")) == 1
    with app.app_context():
        totals = meeting_data.build(db.session.get(Meeting, panel.meeting_id), db.session.get(User, chair.id))
    assert totals.attendance == {"expected": 0, "attended": 2, "apologies": 1}
    assert totals.total.written == 1  # recorded apologies make an assessment already submitted a written one
    page = chair_client.get(record_path(panel)).get_data(as_text=True)
    assert "Sent apologies" in page and "Member Two (written assessment)" in page
    bad = submit(chair_client, path, {**data, f"seat-{seats[one.id]}": "dancing"})
    assert bad.status_code == 400 and "govuk-error-summary" in bad.get_data(as_text=True)


def test_side_by_side_with_counts(app, setting):
    panel = setting["panel"]
    pid = panel.portfolio_ids[0]
    complete(setting["chair"][0], panel, pid, choice=0, text="Chair's words")
    complete(setting["one"][0], panel, pid, choice=0, text="One's words")
    complete(setting["two"][0], panel, pid, choice=1, text="Two's words")
    page = setting["chair"][0].get(record_path(panel)).get_data(as_text=True)
    assert "Assessments side by side" in page
    for words in ("Chair&#39;s words", "One&#39;s words", "Two&#39;s words"):
        assert words in page
    part2 = page.split("Part 2: the decision against the KSS and PCF</caption>")[1].split("</table>")[0]
    accurate = part2.split("Is the decision accurate?")[1].split("</tr>")[0]
    assert [c.split(">")[-1] for c in accurate.split("</td>")[:2]] == ["2", "1"]
    agreement = page.split("Agreement with the Internal Panel</caption>")[1].split("</table>")[0]
    assert [c.split(">")[-1] for c in agreement.split("</td>")[:3]] == ["2", "1", "0"]
    with app.app_context():
        totals = meeting_data.build(db.session.get(Meeting, panel.meeting_id),
                                    db.session.get(User, setting["chair"][1].id))
    summary = totals.portfolio(pid).summary
    assert summary.submitted == 3
    assert summary.criteria["accurate"] == {"yes": 2, "no": 1}
    assert summary.agreement == {"agree": 2, "agree_with_reservations": 1, "disagree": 0}
    assert summary.support["protected_time"] == {"yes": 2, "no": 1, "unclear": 0}
    assert summary.evidence["direct_observation"] == {"yes": 2, "no": 1}
    assert totals.moderated == 2 and totals.total.submitted == 3
    assert totals.portfolio(panel.portfolio_ids[1]).summary.submitted == 0


def test_from_the_meeting_date_the_chair_sees_every_assessment_where_the_panel_view_is_recorded(app, setting):
    """The Chair has assessed neither portfolio, yet on the day sees each member's judgement and the counts on
    the record, on the page for the panel's view and in the minutes editor (where themes are recorded)."""
    panel = setting["panel"]
    first, second = panel.portfolio_ids
    complete(setting["one"][0], panel, first, choice=1, text="Member one's judgement")
    complete(setting["two"][0], panel, second, text="Member two's judgement")
    chair = setting["chair"][0]
    page = chair.get(record_path(panel)).get_data(as_text=True)
    assert "Member one&#39;s judgement" in page and "Member two&#39;s judgement" in page
    assert "Submit your own assessment" not in page
    agreement = page.split("Agreement with the Internal Panel</caption>")[1].split("</table>")[0]
    assert [c.split(">")[-1] for c in agreement.split("</td>")[:3]] == ["0", "1", "0"]
    view = chair.get(f"{record_path(panel)}/portfolios/{first}").get_data(as_text=True)
    assert "Member one&#39;s judgement" in view and "Assessments side by side" in view
    assert "Member two&#39;s judgement" not in view  # only the portfolio whose view is being recorded
    assert "1 assessment submitted" in view
    minutes = chair.get(f"/meetings/{panel.meeting_id}/minutes/edit").get_data(as_text=True)
    assert "Member one&#39;s judgement" in minutes and "Member two&#39;s judgement" in minutes


def test_before_the_meeting_date_the_chair_judges_independently_like_a_member(app, ahead, signed_in):
    panel = ahead["panel"]
    pid = panel.portfolio_ids[0]
    with app.app_context():
        meeting = db.session.get(Meeting, panel.meeting_id)
        deadline, held_on = meeting.reading_deadline, meeting.held_on
    complete(ahead["one"][0], panel, pid, text="Member one's view")
    chair_client, chair = ahead["chair"]
    page = chair_client.get(record_path(panel)).get_data(as_text=True)
    assert "Member one&#39;s view" not in page and "Go to your assessment" in page
    assert "Part 2: the decision" not in page  # not even the counts
    assert f"From the day of the meeting, {clock.format_date(held_on)}, you see every submitted" in page
    complete(chair_client, panel, pid)
    page = chair_client.get(record_path(panel)).get_data(as_text=True)
    assert "Member one&#39;s view" not in page, "nobody sees the assessments before the reading deadline"
    assert f"you can see them from {clock.format_date(deadline + timedelta(days=1))}" in " ".join(page.split())
    clock.travel_to(london_morning(deadline + timedelta(days=1)))
    sign_in(app, chair_client, chair)
    assert "Member one&#39;s view" in chair_client.get(record_path(panel)).get_data(as_text=True)


def test_a_member_sees_the_others_only_after_their_own_and_the_reading_deadline(app, ahead):
    panel = ahead["panel"]
    pid = panel.portfolio_ids[0]
    with app.app_context():
        deadline = db.session.get(Meeting, panel.meeting_id).reading_deadline
    complete(ahead["two"][0], panel, pid, text="Member two's view")
    one_client, one = ahead["one"]
    others = f"{base(panel, pid)}/others"
    before = one_client.get(others).get_data(as_text=True)
    assert "Submit your own assessment first" in before and "Member two&#39;s view" not in before
    complete(one_client, panel, pid)
    early = one_client.get(others).get_data(as_text=True)
    assert "Member two&#39;s view" not in early and "not shown yet" in early
    assert clock.format_date(deadline + timedelta(days=1)) in early
    clock.travel_to(london_morning(deadline + timedelta(days=1)))
    sign_in(app, one_client, one)
    assert "Member two&#39;s view" in one_client.get(others).get_data(as_text=True)


def test_lead_sees_the_record_of_any_meeting_once_the_reading_deadline_has_passed(app, ahead, signed_in):
    panel = ahead["panel"]
    complete(ahead["one"][0], panel, panel.portfolio_ids[0], text="Visible to the Lead")
    client, lead = signed_in(Role.ADMIN)
    page = client.get(record_path(panel)).get_data(as_text=True)
    assert "Visible to the Lead" not in page and "Nqsw Person" in page  # the Lead sees real names
    with app.app_context():
        deadline = db.session.get(Meeting, panel.meeting_id).reading_deadline
    clock.travel_to(london_morning(deadline + timedelta(days=1)))
    sign_in(app, client, lead)
    assert "Visible to the Lead" in client.get(record_path(panel)).get_data(as_text=True)
    chair_client, chair = ahead["chair"]
    sign_in(app, chair_client, chair)
    assert "Nqsw Person" not in chair_client.get(record_path(panel)).get_data(as_text=True)


def test_before_the_meeting_date_attendance_and_the_panel_view_are_refused(app, ahead, signed_in):
    panel = ahead["panel"]
    pid = panel.portfolio_ids[0]
    with app.app_context():
        held_on = db.session.get(Meeting, panel.meeting_id).held_on
        seats = [m.id for m in db.session.scalars(select(MeetingMember))]
    message = f"This meeting is on {clock.format_date(held_on)}: you can record it from that day"
    chair_client, chair = ahead["chair"]
    page = chair_client.get(record_path(panel)).get_data(as_text=True)
    assert "Record attendance and apologies" not in page and "the panel&#39;s view<span" not in page
    attendance = f"{record_path(panel)}/attendance"
    view = f"{record_path(panel)}/portfolios/{pid}"
    for path in (attendance, view):
        refused = chair_client.get(path)
        assert refused.status_code == 409 and message in refused.get_data(as_text=True), path
    # A form sent anyway (say, from a page opened before the Lead moved the date back) changes nothing.
    early = submit(chair_client, attendance, {f"seat-{s}": "apologies" for s in seats}, page=record_path(panel))
    assert early.status_code == 409 and message in early.get_data(as_text=True)
    early = submit(chair_client, view, {"agreement": "agree", "feedback_nqsw": "Too soon"}, page=record_path(panel))
    assert early.status_code == 409 and message in early.get_data(as_text=True)
    with app.app_context():
        assert {m.attendance for m in db.session.scalars(select(MeetingMember))} == {"expected"}
        assert db.session.scalar(select(PanelView)) is None
    assert not _events(app, "meeting.attendance_recorded") and not _events(app, "panel_view.saved")
    # Members' own apologies and assessments stay open before the date.
    one_client, _one = ahead["one"]
    assert submit(one_client, f"/reviews/meetings/{panel.meeting_id}/apologies", {}).status_code == 302
    complete(one_client, panel, pid)
    # On the day (London's date: just after midnight there) the Chair records it.
    clock.travel_to(datetime.combine(held_on, time(0, 5), tzinfo=clock.LONDON))
    sign_in(app, chair_client, chair)
    assert submit(chair_client, view, {"agreement": "agree", "feedback_nqsw": "On the day"}).status_code == 302


def test_a_meeting_brought_forward_is_recorded_once_the_lead_changes_its_date(app, ahead, admin_client):
    panel = ahead["panel"]
    chair_client, _chair = ahead["chair"]
    attendance = f"{record_path(panel)}/attendance"
    assert chair_client.get(attendance).status_code == 409
    lead, _ = admin_client
    with app.app_context():
        meeting = db.session.get(Meeting, panel.meeting_id)
        old = meeting.held_on
    today = clock.today()
    form = lead.get(f"/meetings/{panel.meeting_id}/edit").get_data(as_text=True)
    day = [str(today.day), str(today.month), str(today.year)]
    data = {"title": "Panel meeting", "held_on": day, "reading_deadline": day, "access_window_days": "30",
            "agenda": "Agenda", "terms_of_reference": "Terms"}
    assert submit(lead, f"/meetings/{panel.meeting_id}/edit", data, page=form).status_code == 302
    events = _events(app, "meeting.date_changed")
    assert len(events) == 1
    assert json.loads(events[0].details) == {"held_on": today.isoformat(), "moved_from": old.isoformat()}
    assert chair_client.get(attendance).status_code == 200


def test_panel_view_is_recorded_encrypted_and_audited(app, setting):
    panel = setting["panel"]
    pid = panel.portfolio_ids[1]
    chair_client, chair = setting["chair"]
    path = f"/reviews/meetings/{panel.meeting_id}/record/portfolios/{pid}"
    data = {"agreement": "agree_with_reservations", "decision_view": "Sound but thin on reflection",
            "support_view": "Supervision was irregular", "exemplars_confirmed": "Direct observation 2",
            "feedback_assessor": "Cite the KSS explicitly", "feedback_nqsw": "Strong reflective writing"}
    assert submit(chair_client, path, data).status_code == 302
    with app.app_context():
        view = db.session.scalar(select(PanelView))
        assert (view.agreement, view.feedback_nqsw, view.updated_by_id) == (
            "agree_with_reservations", "Strong reflective writing", chair.id)
        raw = db.session.execute(text("SELECT feedback_nqsw, decision_view FROM panel_views")).one()
    assert "Strong" not in raw[0] and "Sound" not in raw[1]
    assert len(_events(app, "panel_view.saved")) == 1
    page = chair_client.get(record_path(panel)).get_data(as_text=True)
    assert "Supervision was irregular" in page and "Agree with reservations" in page
    assert "Sound but thin on reflection" in chair_client.get(path).get_data(as_text=True)
    bad = submit(chair_client, path, {**data, "agreement": "overturn", "feedback_nqsw": "Changed"})
    assert bad.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(PanelView)).feedback_nqsw == "Strong reflective writing"
        totals = meeting_data.build(db.session.get(Meeting, panel.meeting_id), db.session.get(User, chair.id))
    assert totals.confirmed == 1 and totals.panel_agreement["agree_with_reservations"] == 1
    with app.app_context():
        db.session.get(Meeting, panel.meeting_id).minutes_published_at = clock.now()
        db.session.commit()
    locked = submit(chair_client, path, {**data, "feedback_nqsw": "Rewritten after publication"})
    assert locked.status_code == 409 and "can no longer be changed" in locked.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(PanelView)).feedback_nqsw == "Strong reflective writing"


def test_members_cannot_use_the_chairs_pages(app, setting):
    panel = setting["panel"]
    client, _one = setting["one"]
    pid = panel.portfolio_ids[0]
    for path in (record_path(panel), f"{record_path(panel)}/attendance", f"{record_path(panel)}/portfolios/{pid}"):
        assert client.get(path).status_code == 404, path
    html = client.get(base(panel, pid)).get_data(as_text=True)
    from conftest import csrf_from

    token = csrf_from(client.get(f"{base(panel, pid)}/sections/part1").get_data(as_text=True))
    assert html
    assert client.post(f"{record_path(panel)}/reminders", data={"csrf_token": token}).status_code == 404
    assert client.post(f"{record_path(panel)}/portfolios/{pid}",
                       data={"csrf_token": token, "feedback_nqsw": "x"}).status_code == 404
    assert not outbox(app)
    with app.app_context():
        assert db.session.scalar(select(PanelView)) is None


def _grow(app, panel, make_user, members: int, portfolios: int) -> None:
    """Seat more members, sample more portfolios, and give each documents, reads and assessments."""
    with app.app_context():
        extra = make_panel(app, [(1, "chair")], portfolios=portfolios, start=100 + members)
        db.session.execute(text("UPDATE sampled_portfolios SET meeting_id = :m WHERE meeting_id = :e"),
                           {"m": panel.meeting_id, "e": extra.meeting_id})
        db.session.commit()
        panel.portfolio_ids += extra.portfolio_ids
    people = [make_user(Role.MEMBER) for _ in range(members)]
    with app.app_context():
        for person in people:
            db.session.add(MeetingMember(meeting_id=panel.meeting_id, user_id=person.id, panel_role="member"))
        db.session.commit()
    for pid in extra.portfolio_ids:
        document_id, versions = add_document_row(app, pid, 1, title="Evidence", versions=2)
        for person in people:
            read(app, person.id, document_id, versions[person.id % 2])


def test_record_page_queries_do_not_grow_with_the_meeting(app, setting, make_user):
    panel = setting["panel"]
    chair_client, _chair = setting["chair"]
    for client in (setting["chair"][0], setting["one"][0]):
        complete(client, panel, panel.portfolio_ids[0])
    _grow(app, panel, make_user, members=1, portfolios=1)
    chair_client.get(record_path(panel))
    small = count_queries(app, chair_client, record_path(panel))
    _grow(app, panel, make_user, members=6, portfolios=5)
    complete(setting["two"][0], panel, panel.portfolio_ids[-1])
    large = count_queries(app, chair_client, record_path(panel))
    assert "Evidence" in chair_client.get(record_path(panel)).get_data(as_text=True)
    assert small == large, (small, large)


def test_draft_minutes_and_report_count_the_assessments_only_for_those_who_may_see_them(app, ahead):
    """The draft minutes count each portfolio's answers: before the day the Chair reads them as the record does."""
    panel = ahead["panel"]
    complete(ahead["one"][0], panel, panel.portfolio_ids[0])
    chair_client, chair = ahead["chair"]
    with app.app_context():
        held_on = db.session.get(Meeting, panel.meeting_id).held_on
    minutes, report = f"/meetings/{panel.meeting_id}/minutes", f"/meetings/{panel.meeting_id}/report"
    hidden = f"The counts of the members&#39; assessments are shown here from {clock.format_date(held_on)}"
    for path in (minutes, report):
        page = chair_client.get(path).get_data(as_text=True)
        assert hidden in page, path
        assert "Submitted assessments: 1" not in page and "Assessments submitted by members" not in page, path
        assert "1 assessment was submitted" not in page, path
    clock.travel_to(london_morning(held_on))
    sign_in(app, chair_client, chair)
    page = chair_client.get(minutes).get_data(as_text=True)
    assert "Submitted assessments: 1 (0 in writing)" in page and "1 assessment was submitted" in page
    assert "Assessments submitted by members" in chair_client.get(report).get_data(as_text=True)


def test_a_large_sample_is_recorded_five_portfolios_a_page_and_the_chair_returns_to_the_right_page(app, signed_in):
    chair_client, chair = signed_in(Role.MEMBER, name="Chair Person")
    one_client, one = signed_in(Role.MEMBER, name="Member One")
    today = clock.today()
    panel = make_panel(app, [(chair.id, "chair"), (one.id, "member")], portfolios=7, held_on=today,
                       reading_deadline=today - timedelta(days=7))
    ids = panel.portfolio_ids
    for n, pid in enumerate(ids):
        complete(one_client, panel, pid, text=f"Words on portfolio {n}")
    size = meeting_data.RECORD_PAGE
    first = chair_client.get(record_path(panel)).get_data(as_text=True)
    assert f"the assessments of portfolios 1 to {size} of 7 ({size} a page)" in first
    assert 'aria-label="Pages of portfolios: assessments"' in first and "page=2" in first
    second = chair_client.get(f"{record_path(panel)}?page=2").get_data(as_text=True)
    assert f"portfolios {size + 1} to 7 of 7" in second
    # Each portfolio's section and answers are on exactly one page, in draw order; none is left out.
    sections = [re.findall(r'id="portfolio-(\d+)"', page) for page in (first, second)]
    assert [int(i) for i in sections[0] + sections[1]] == ids
    for n in range(7):
        assert (f"Words on portfolio {n}" in first) != (f"Words on portfolio {n}" in second)
    # The table of who has submitted what still lists every portfolio on every page.
    for page in (first, second):
        table = page.split("Assessments submitted</caption>")[1].split("</table>")[0]
        assert table.count("<tr") == 1 + 7
    # Saving the panel's view of the sixth portfolio returns to page 2 at its section; its back link too.
    view = f"{record_path(panel)}/portfolios/{ids[size]}"
    assert f'href="{record_path(panel)}?page=2#portfolio-{ids[size]}"' in chair_client.get(view).get_data(
        as_text=True)
    saved = submit(chair_client, view, {"agreement": "agree", "decision_view": "Sound"})
    assert saved.status_code == 302
    assert saved.headers["Location"].endswith(f"{record_path(panel)}?page=2#portfolio-{ids[size]}")
    first_saved = submit(chair_client, f"{record_path(panel)}/portfolios/{ids[0]}",
                         {"agreement": "agree", "decision_view": "Sound"})
    assert first_saved.headers["Location"].endswith(f"{record_path(panel)}#portfolio-{ids[0]}")
    # A page past the end is the last page; the record costs the same statements on either page.
    assert f"portfolios {size + 1} to 7 of 7" in chair_client.get(f"{record_path(panel)}?page=9").get_data(
        as_text=True)
    assert count_queries(app, chair_client, record_path(panel)) == count_queries(
        app, chair_client, f"{record_path(panel)}?page=2")
