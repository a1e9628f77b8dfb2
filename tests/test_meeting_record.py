"""The Chair's meeting record: readiness, reminders, attendance, side-by-side counts, the panel's view."""

import pytest
from conftest import outbox, submit
from helpers_queries import count_queries
from helpers_reviews import base, complete, make_meeting
from sqlalchemy import select, text

from portal import clock
from portal.extensions import db
from portal.models import (
    AuditEvent,
    Document,
    DocumentVersion,
    Meeting,
    MeetingMember,
    PanelView,
    Portfolio,
    ReadReceipt,
    Role,
)
from portal.reviews import services


@pytest.fixture
def setting(app, signed_in):
    """A chair and two members at a meeting with two sampled portfolios."""
    chair_client, chair = signed_in(Role.MEMBER, name="Chair Person")
    one_client, one = signed_in(Role.MEMBER, name="Member One")
    two_client, two = signed_in(Role.MEMBER, name="Member Two")
    panel = make_meeting(app, [(chair.id, "chair"), (one.id, "member"), (two.id, "member")])
    return {"panel": panel, "chair": (chair_client, chair), "one": (one_client, one), "two": (two_client, two)}


def record_path(panel) -> str:
    """The Chair's record page."""
    return f"/reviews/meetings/{panel.meeting_id}/record"


def add_document(app, portfolio_id: int, uploader_id: int, title: str, versions: int = 1) -> tuple[int, list[int]]:
    """A document with some versions (no blobs: the record reads only the rows)."""
    with app.app_context():
        document = Document(portfolio_id=portfolio_id, evidence_type="final_report", title=title,
                            created_by_id=uploader_id, created_at=clock.now())
        db.session.add(document)
        db.session.flush()
        ids = []
        for number in range(1, versions + 1):
            version = DocumentVersion(document_id=document.id, number=number, blob_id=f"blob-{document.id}-{number}",
                                      filename="report.pdf", content_type="application/pdf", size=10,
                                      digest="0" * 64, uploaded_by_id=uploader_id, uploaded_at=clock.now())
            db.session.add(version)
            db.session.flush()
            ids.append(version.id)
        document.current_version_id = ids[-1]
        db.session.commit()
        return document.id, ids


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
    document_id, (old, new) = add_document(app, panel.portfolio_ids[0], chair.id, "Final assessment report", 2)
    read(app, setting["one"][1].id, document_id, new)
    read(app, setting["two"][1].id, document_id, old)
    complete(setting["one"][0], panel, panel.portfolio_ids[0])
    complete(setting["two"][0], panel, panel.portfolio_ids[1], submit_it=False)
    page = setting["chair"][0].get(record_path(panel)).get_data(as_text=True)
    row = page.split("Final assessment report")[1].split("</tr>")[0]
    cells = [" ".join(c.split(">")[-1].split()) for c in row.split("</strong>")[:3]]
    assert cells == ["Not read", "Read", "Read an older version"]  # Chair Person, Member One, Member Two
    submissions = page.split("Assessments submitted")[1].split("</table>")[0]
    assert submissions.count("Submitted") == 1 and submissions.count("Draft") == 1
    assert submissions.count("Not started") == 4


def test_reminder_emails_a_link_to_those_behind(app, setting):
    panel = setting["panel"]
    chair_client, chair = setting["chair"]
    document_id, (version,) = add_document(app, panel.portfolio_ids[0], chair.id, "Report")
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
    chair_client, _chair = setting["chair"]
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
        totals = services.meeting_counts(db.session.get(Meeting, panel.meeting_id))
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
    part2 = page.split("Part 2: the decision against the KSS and PCF")[1].split("</table>")[0]
    accurate = part2.split("Is the decision accurate?")[1].split("</tr>")[0]
    assert [c.split(">")[-1] for c in accurate.split("</td>")[:2]] == ["2", "1"]
    agreement = page.split("Agreement with the Internal Panel")[1].split("</table>")[0]
    assert [c.split(">")[-1] for c in agreement.split("</td>")[:3]] == ["2", "1", "0"]
    with app.app_context():
        meeting = db.session.get(Meeting, panel.meeting_id)
        summary = services.portfolio_summary(meeting, db.session.get(Portfolio, pid))
        totals = services.meeting_counts(meeting)
    assert summary.submitted == 3
    assert summary.criteria["accurate"] == {"yes": 2, "no": 1}
    assert summary.agreement == {"agree": 2, "agree_with_reservations": 1, "disagree": 0}
    assert summary.support["protected_time"] == {"yes": 2, "no": 1, "unclear": 0}
    assert summary.evidence["direct_observation"] == {"yes": 2, "no": 1}
    assert totals.moderated == 2 and totals.total.submitted == 3
    assert totals.portfolios[pid].criteria == summary.criteria
    assert totals.portfolios[panel.portfolio_ids[1]].submitted == 0


def test_chair_sees_others_only_after_own_submission(app, setting):
    panel = setting["panel"]
    pid = panel.portfolio_ids[0]
    complete(setting["one"][0], panel, pid, text="Member one's view")
    page = setting["chair"][0].get(record_path(panel)).get_data(as_text=True)
    assert "Member one&#39;s view" not in page and "Submit your own assessment of this portfolio" in page
    complete(setting["chair"][0], panel, pid)
    assert "Member one&#39;s view" in setting["chair"][0].get(record_path(panel)).get_data(as_text=True)


def test_lead_sees_the_record_of_any_meeting(app, setting, admin_client):
    panel = setting["panel"]
    complete(setting["one"][0], panel, panel.portfolio_ids[0], text="Visible to the Lead")
    client, _admin = admin_client
    page = client.get(record_path(panel)).get_data(as_text=True)
    assert "Visible to the Lead" in page and "Nqsw Person" in page  # the Lead sees real names
    assert "Nqsw Person" not in setting["chair"][0].get(record_path(panel)).get_data(as_text=True)


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
        totals = services.meeting_counts(db.session.get(Meeting, panel.meeting_id))
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
        extra = make_meeting(app, [(1, "chair")], portfolios=portfolios, start=100 + members)
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
        document_id, versions = add_document(app, pid, 1, "Evidence", 2)
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
