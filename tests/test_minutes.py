"""Minutes: filled from the data, who may read and write them, draft -> approved -> published, corrections."""

import re
from datetime import date, timedelta

from conftest import csrf_from, sign_in, submit
from helpers_reports import build_meeting
from helpers_reviews import london_morning
from sqlalchemy import func, select

from portal import clock
from portal.extensions import db
from portal.models import Action, AuditEvent, Meeting, Minutes, Role, Theme


def _setup(app, signed_in, make_user, **kwargs):
    chair, chair_person = signed_in(Role.MEMBER, name="Chair Fictional")
    member, member_person = signed_in(Role.MEMBER, name="Member Absent")
    built = build_meeting(app, chair_person.id, member_ids=(member_person.id,), **kwargs)
    return chair, member, built


def _edit(client, meeting_id, what, data):
    return submit(client, f"/meetings/{meeting_id}/minutes/{what}", data, page=f"/meetings/{meeting_id}/minutes/edit")


def _publish(client, meeting_id):
    page = f"/meetings/{meeting_id}/minutes"
    assert submit(client, f"{page}/approve", {}, page=page).status_code == 302
    assert submit(client, f"{page}/publish", {}, page=page).status_code == 302


def _actions(app, meeting_id):
    with app.app_context():
        return list(db.session.scalars(select(Action).where(Action.meeting_id == meeting_id)))


def test_minutes_are_filled_from_the_data_and_the_chairs_text(app, signed_in, make_user):
    chair, member, built = _setup(app, signed_in, make_user)
    m = built.meeting_id
    assert _edit(chair, m, "notes", {"notes": "The panel discussed reflective writing."}).status_code == 302
    assert _edit(chair, m, "themes", {"name": "Supervision records", "note": "Often unsigned"}).status_code == 302
    assert _edit(chair, m, "actions", {"description": "Audit supervision templates", "owner": "ASYE Lead",
                                       "due_on": ["31", "3", "2027"]}).status_code == 302
    assert _edit(chair, m, "key-messages", {"text": "Date every reflection."}).status_code == 302
    _publish(chair, m)  # members read the minutes once they are published
    html = member.get(f"/meetings/{m}/minutes").get_data(as_text=True)
    for expected in ("The panel discussed reflective writing.", "Supervision records", "Often unsigned",
                     "Audit supervision templates", "31 March 2027", "Date every reflection.",
                     "Chair Fictional", "Northshire Council", "Member Absent", "Apologies (written assessment)",
                     "Portfolio B", "Decision sound for B", "Supervision regular", "Critical reflection 2",
                     "4 assessments were", "confirmed the Internal Panel&#39;s decision on 2"):
        assert expected in html, expected
    assert "Nqsw Fictional" not in html  # the panel sees pseudonyms, not names


def test_form_errors_show_the_error_summary_with_400(app, signed_in, make_user):
    chair, _, built = _setup(app, signed_in, make_user)
    response = _edit(chair, built.meeting_id, "actions", {"description": "", "owner": "", "due_on": ["", "", ""]})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "There is a problem" in html and "Enter the action" in html
    assert _actions(app, built.meeting_id) == []


def test_who_may_read_and_write_the_minutes(app, signed_in, make_user):
    chair, member, built = _setup(app, signed_in, make_user)
    m = built.meeting_id
    observer, _ = signed_in(Role.OBSERVER)
    outsider, _ = signed_in(Role.MEMBER)
    nqsw, _ = signed_in(Role.NQSW)
    assert chair.get(f"/meetings/{m}/minutes").status_code == 200
    # Draft minutes count each portfolio's "yes" answers and show the Chair's view: a member who has not yet
    # submitted must not see how the others judged (DESIGN 2.7), so the draft is the Chair's and the Lead's.
    for path in (f"/meetings/{m}/minutes", f"/meetings/{m}/minutes.pdf", f"/meetings/{m}/minutes.docx"):
        assert member.get(path).status_code == 404, path
    assert f'href="/meetings/{m}/minutes"' not in member.get("/reports").get_data(as_text=True)
    assert member.get(f"/meetings/{m}/minutes/edit").status_code == 404
    # A member with a valid CSRF token of their own still cannot write the record.
    forged = submit(member, f"/meetings/{m}/minutes/notes", {"notes": "Member rewrote it"}, page="/dashboard")
    assert forged.status_code == 404
    for client in (observer, outsider, nqsw):
        assert client.get(f"/meetings/{m}/minutes").status_code == 404
        assert client.get(f"/meetings/{m}/minutes.pdf").status_code == 404
    _publish(chair, m)
    assert observer.get(f"/meetings/{m}/minutes").status_code == 200
    assert member.get(f"/meetings/{m}/minutes").status_code == 200
    assert member.get(f"/meetings/{m}/minutes.pdf").status_code == 200
    assert f'href="/meetings/{m}/minutes"' in member.get("/reports").get_data(as_text=True)
    assert outsider.get(f"/meetings/{m}/minutes").status_code == 404
    assert nqsw.get(f"/meetings/{m}/minutes").status_code == 404
    with app.app_context():
        assert db.session.get(Minutes, 1).notes != "Member rewrote it"


def test_workflow_is_audited_and_publishing_opens_the_access_window(app, signed_in, make_user):
    chair, _, built = _setup(app, signed_in, make_user)
    m, page = built.meeting_id, f"/meetings/{built.meeting_id}/minutes"
    _edit(chair, m, "notes", {"notes": "Draft text"})
    refused = submit(chair, f"{page}/publish", {}, page=page)
    assert refused.status_code == 409 and "Approve the minutes before publishing" in refused.get_data(as_text=True)
    _publish(chair, m)
    with app.app_context():
        meeting = db.session.get(Meeting, m)
        assert meeting.minutes_published_at is not None
        assert meeting.access_closes_at == meeting.minutes_published_at + timedelta(days=30)
        actions = set(db.session.scalars(select(AuditEvent.action).where(AuditEvent.target == f"meeting:{m}")))
    assert {"minutes.approved", "minutes.published"} <= actions
    assert "Published" in chair.get(page).get_data(as_text=True)


def test_editing_approved_minutes_returns_them_to_draft(app, signed_in, make_user):
    chair, _, built = _setup(app, signed_in, make_user)
    m, page = built.meeting_id, f"/meetings/{built.meeting_id}/minutes"
    assert submit(chair, f"{page}/approve", {}, page=page).status_code == 302
    _edit(chair, m, "notes", {"notes": "Late change"})
    with app.app_context():
        assert db.session.scalar(select(Minutes.status)) == "draft"


def test_published_minutes_are_read_only(app, signed_in, make_user):
    chair, _, built = _setup(app, signed_in, make_user)
    m = built.meeting_id
    _edit(chair, m, "notes", {"notes": "Published text"})
    edit_page_token = chair.get(f"/meetings/{m}/minutes/edit").get_data(as_text=True)
    _publish(chair, m)
    assert chair.get(f"/meetings/{m}/minutes/edit").status_code == 409
    token = csrf_from(edit_page_token)
    for what, data in (("notes", {"notes": "Rewritten"}), ("key-messages", {"text": "Sneaked in"}),
                       ("themes", {"name": "New theme", "note": ""})):
        response = chair.post(f"/meetings/{m}/minutes/{what}", data={**data, "csrf_token": token})
        assert response.status_code == 409, what
    with app.app_context():
        assert db.session.scalar(select(Minutes.notes)) == "Published text"
        assert db.session.scalar(select(func.count()).select_from(Theme)) == 0


def test_a_correction_is_a_new_revision_and_keeps_the_earlier_text(app, signed_in, make_user):
    chair, member, built = _setup(app, signed_in, make_user)
    m = built.meeting_id
    _edit(chair, m, "notes", {"notes": "The panel met on Tuesday."})
    _publish(chair, m)
    missing = submit(chair, f"/meetings/{m}/minutes/correct", {"notes": "The panel met on Wednesday.", "reason": ""})
    assert missing.status_code == 400 and "Enter the reason" in missing.get_data(as_text=True)
    response = submit(chair, f"/meetings/{m}/minutes/correct",
                      {"notes": "The panel met on Wednesday.", "reason": "Wrong day recorded"})
    assert response.status_code == 302
    html = member.get(f"/meetings/{m}/minutes").get_data(as_text=True)
    assert "The panel met on Wednesday." in html
    assert "The panel met on Tuesday." in html  # revision 1 stays visible
    assert "Wrong day recorded" in html and "Revision 1" in html
    with app.app_context():
        assert "minutes.corrected" in set(db.session.scalars(select(AuditEvent.action)))
    assert submit(member, f"/meetings/{m}/minutes/correct", {"notes": "x", "reason": "y"},
                  page="/dashboard").status_code == 404


def test_themes_are_reused_across_meetings_and_listed_with_their_meetings(app, signed_in, make_user):
    chair, _, first = _setup(app, signed_in, make_user, held_on=date(2026, 3, 1), title="March panel")
    second_chair, second_person = signed_in(Role.MEMBER)
    second = build_meeting(app, second_person.id, held_on=date(2026, 9, 1), title="September panel")
    _edit(chair, first.meeting_id, "themes", {"name": "Supervision records", "note": "First seen"})
    _edit(second_chair, second.meeting_id, "themes", {"name": "supervision   RECORDS", "note": "Again"})
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Theme)) == 1
    admin, _ = signed_in(Role.ADMIN)
    html = admin.get("/themes").get_data(as_text=True)
    assert "March panel" in html and "September panel" in html and "raised at 2 meetings" in html
    assert "Academy 2026" in html  # the cohorts sampled at each meeting


def test_themes_show_only_meetings_whose_minutes_the_person_may_read(app, signed_in, make_user):
    """A member sees the theme notes of published meetings they sat on, not those of another panel's meeting."""
    chair, member, first = _setup(app, signed_in, make_user, held_on=date(2026, 3, 1), title="March panel")
    other_chair, other_chair_person = signed_in(Role.MEMBER)
    other_member, other_member_person = signed_in(Role.MEMBER)
    second = build_meeting(app, other_chair_person.id, member_ids=(other_member_person.id,),
                           held_on=date(2026, 9, 1), title="September panel")
    _edit(chair, first.meeting_id, "themes", {"name": "Supervision records", "note": "Unsigned in March"})
    _edit(other_chair, second.meeting_id, "themes", {"name": "Protected time", "note": "Not taken in September"})
    _publish(chair, first.meeting_id)
    _publish(other_chair, second.meeting_id)
    observer, _ = signed_in(Role.OBSERVER)
    outsider, _ = signed_in(Role.MEMBER)
    seen = {name: client.get("/themes").get_data(as_text=True)
            for name, client in (("member", member), ("other", other_member), ("observer", observer),
                                 ("outsider", outsider))}
    assert "Unsigned in March" in seen["member"] and "March panel" in seen["member"]
    assert "Not taken in September" not in seen["member"] and "Protected time" not in seen["member"]
    assert "Not taken in September" in seen["other"] and "Unsigned in March" not in seen["other"]
    assert "Unsigned in March" in seen["observer"] and "Not taken in September" in seen["observer"]
    assert "Unsigned in March" not in seen["outsider"] and "Not taken in September" not in seen["outsider"]


def test_actions_not_done_are_carried_forward_until_done(app, signed_in, make_user):
    chair, _, first = _setup(app, signed_in, make_user, held_on=date(2026, 3, 1), title="March panel")
    _edit(chair, first.meeting_id, "actions", {"description": "Refresh Assessor training", "owner": "PSW",
                                               "due_on": ["1", "6", "2026"]})
    later_chair = make_user(Role.MEMBER)
    later = build_meeting(app, later_chair.id, held_on=date(2026, 9, 1), title="September panel")
    client = app.test_client()
    sign_in(app, client, later_chair)
    html = client.get(f"/meetings/{later.meeting_id}/minutes").get_data(as_text=True)
    assert "Actions carried forward" in html and "Refresh Assessor training" in html
    action_id = _actions(app, first.meeting_id)[0].id
    response = submit(client, f"/meetings/{later.meeting_id}/minutes/actions/{action_id}/status",
                      {f"action{action_id}-status": "done"}, page=f"/meetings/{later.meeting_id}/minutes/edit")
    assert response.status_code == 302
    assert _actions(app, first.meeting_id)[0].status == "done"
    third_person = signed_in(Role.MEMBER)[1]
    third = build_meeting(app, third_person.id, held_on=date(2027, 3, 1), title="March 2027 panel")
    admin, _ = signed_in(Role.ADMIN)
    assert "Refresh Assessor training" not in admin.get(f"/meetings/{third.meeting_id}/minutes").get_data(as_text=True)


def test_a_chair_cannot_change_another_meetings_action(app, signed_in, make_user):
    chair, _, first = _setup(app, signed_in, make_user, held_on=date(2026, 3, 1))
    _edit(chair, first.meeting_id, "actions", {"description": "Theirs", "owner": "Lead", "due_on": ["1", "6", "2026"]})
    other, other_person = signed_in(Role.MEMBER)
    # A meeting held EARLIER does not carry the later meeting's action, so its Chair cannot reach it.
    earlier = build_meeting(app, other_person.id, held_on=date(2025, 9, 1))
    action_id = _actions(app, first.meeting_id)[0].id
    response = submit(other, f"/meetings/{earlier.meeting_id}/minutes/actions/{action_id}/status",
                      {f"action{action_id}-status": "done"}, page=f"/meetings/{earlier.meeting_id}/minutes/edit")
    assert response.status_code == 404
    assert _actions(app, first.meeting_id)[0].status == "open"


def test_the_meeting_page_links_to_what_each_person_may_open(app, signed_in, make_user):
    chair, member, built = _setup(app, signed_in, make_user)
    m = built.meeting_id
    chair_page = chair.get(f"/meetings/{m}").get_data(as_text=True)
    member_page = member.get(f"/meetings/{m}").get_data(as_text=True)
    for href in (f"/meetings/{m}/minutes", f"/meetings/{m}/report", f"/meetings/{m}/feedback-release"):
        assert f'href="{href}"' in chair_page, href
    assert f'href="/meetings/{m}/minutes"' not in member_page  # a draft is the Chair's (see above)
    assert f'href="/meetings/{m}/feedback-release"' not in member_page
    assert f'href="/meetings/{m}/report"' not in member_page
    _publish(chair, m)
    member_page = member.get(f"/meetings/{m}").get_data(as_text=True)
    assert f'href="/meetings/{m}/minutes"' in member_page and "Read the minutes" in member_page
    assert f'href="/meetings/{m}/report"' not in member_page


def test_minutes_counts_read_as_english_for_one(app, signed_in):
    chair, chair_person = signed_in(Role.MEMBER)
    built = build_meeting(app, chair_person.id, sampled=1)
    html = chair.get(f"/meetings/{built.meeting_id}/minutes").get_data(as_text=True)
    assert "1 portfolio was sampled" in html and "1 portfolios" not in html
    submitted = re.search(r"(\d+) (assessment was|assessments were) submitted", html)
    assert submitted is not None and (submitted.group(1) == "1") == (submitted.group(2) == "assessment was")


def test_the_minutes_editor_offers_the_themes_already_recorded(app, signed_in, make_user):
    chair, _, built = _setup(app, signed_in, make_user)
    page = chair.get(f"/meetings/{built.meeting_id}/minutes/edit").get_data(as_text=True)
    assert "<option" not in page.split('id="known-themes"')[1].split("</datalist>")[0]  # none yet
    assert "Themes already recorded" not in page
    assert _edit(chair, built.meeting_id, "themes", {"name": "Supervision records", "note": ""}).status_code == 302
    assert _edit(chair, built.meeting_id, "themes", {"name": "  supervision   RECORDS ", "note": ""}).status_code == 302
    page = chair.get(f"/meetings/{built.meeting_id}/minutes/edit").get_data(as_text=True)
    assert 'list="known-themes"' in page and '<option value="Supervision records">' in page
    assert "Themes already recorded (1)" in page  # the same theme, whatever its spacing and case


def test_minutes_are_approved_and_published_only_from_the_meeting_date(app, signed_in, make_user):
    held_on = clock.today() + timedelta(days=7)
    chair, chair_person = signed_in(Role.MEMBER)
    built = build_meeting(app, chair_person.id, held_on=held_on)
    m, page = built.meeting_id, f"/meetings/{built.meeting_id}/minutes"
    message = f"This meeting is on {clock.format_date(held_on)}: you can record it from that day"
    # The Chair may draft the minutes before the meeting, but not approve them.
    assert _edit(chair, m, "notes", {"notes": "Drafted before the meeting."}).status_code == 302
    html = chair.get(page).get_data(as_text=True)
    assert "Approve the minutes" not in html and "can be approved and published from that day" in html
    refused = submit(chair, f"{page}/approve", {}, page=page)
    assert refused.status_code == 409 and message in refused.get_data(as_text=True)
    with app.app_context():
        minutes = db.session.scalar(select(Minutes).where(Minutes.meeting_id == m))
        minutes.status = "approved"  # as if approved before the Lead moved the meeting later
        db.session.commit()
    refused = submit(chair, f"{page}/publish", {}, page=page)
    assert refused.status_code == 409 and message in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Meeting, m).minutes_published_at is None
        actions = set(db.session.scalars(select(AuditEvent.action)))
    assert not {"minutes.approved", "minutes.published"} & actions
    clock.travel_to(london_morning(held_on))
    sign_in(app, chair, chair_person)
    assert submit(chair, f"{page}/publish", {}, page=page).status_code == 302
