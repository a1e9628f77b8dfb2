"""Meetings, members and the verifiable sample draw, over HTTP."""

import json
import re
from datetime import date, timedelta

from conftest import csrf_from, outbox, sign_in, submit
from factories import make_meeting, make_registered_portfolio
from helpers_queries import count_queries
from helpers_reviews import answers_for

from portal import clock, visibility
from portal.extensions import db
from portal.meetings.texts import DEFAULT_AGENDA
from portal.models import (
    Assessment,
    AuditEvent,
    Meeting,
    MeetingMember,
    Organisation,
    Portfolio,
    Role,
    SampledPortfolio,
    SampleDraw,
    User,
)

MEETING = {"title": "Spring panel", "held_on": ["18", "3", "2027"], "reading_deadline": ["4", "3", "2027"],
           "access_window_days": "30", "agenda": "1. Welcome", "terms_of_reference": "Our terms"}


def draw(client, meeting_id: int, **data: str):
    return submit(client, f"/meetings/{meeting_id}/sample", {"size_kind": "number", **data})


def current(app, meeting_id: int) -> SampleDraw | None:
    with app.app_context():
        record = db.session.scalar(db.select(SampleDraw).where(SampleDraw.meeting_id == meeting_id,
                                                               SampleDraw.current))
        if record is not None:
            db.session.expunge(record)
        return record


def test_create_meeting_from_editable_templates_with_clear_errors(app, admin_client):
    client, _ = admin_client
    form = client.get("/meetings/new").get_data(as_text=True)
    assert "Scrutiny of each sampled portfolio" in form and "does not have the power to override" in form
    bad = submit(client, "/meetings/new", {**MEETING, "title": "", "reading_deadline": ["1", "4", "2027"]})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400
    assert "Enter a title for the meeting" in html
    assert submit(client, "/meetings/new", {**MEETING, "held_on": ["31", "2", "2027"]}).status_code == 400
    late = submit(client, "/meetings/new", {**MEETING, "reading_deadline": ["1", "4", "2027"]})
    assert late.status_code == 400 and "on or before the date of the meeting" in late.get_data(as_text=True)
    assert submit(client, "/meetings/new", MEETING).status_code == 302
    saved = submit(client, "/meetings/templates", {"agenda": "1. Our own agenda", "terms_of_reference": "New ToR"})
    assert saved.status_code == 302
    assert "1. Our own agenda" in client.get("/meetings/new").get_data(as_text=True)
    with app.app_context():
        meeting = db.session.scalar(db.select(Meeting))
        assert (meeting.title, meeting.held_on, meeting.agenda) == ("Spring panel", date(2027, 3, 18), "1. Welcome")
    page = client.get("/meetings/1").get_data(as_text=True)
    assert "Our terms" in page and "1. Welcome" in page  # existing meetings keep their own texts
    edited = submit(client, "/meetings/1/edit", {**MEETING, "agenda": "1. Changed agenda"})
    assert edited.status_code == 302
    assert "1. Changed agenda" in client.get("/meetings/1").get_data(as_text=True)
    assert DEFAULT_AGENDA.splitlines()[0] not in client.get("/meetings/templates").get_data(as_text=True)


def test_members_are_invited_and_there_is_one_chair(app, admin_client, make_user, monkeypatch):
    client, _ = admin_client
    first = make_user(Role.MEMBER, name="Dr Uni Academic")
    second = make_user(Role.MEMBER, name="Carer Representative")
    steering = make_user(Role.OBSERVER)
    mid = make_meeting(app, title="Review of Jane Smith's portfolio")
    with app.app_context():
        db.session.get(Meeting, mid).reading_deadline = date(2026, 11, 16)
        db.session.commit()
    assert submit(client, f"/meetings/{mid}/members", {"person": first.id, "panel_role": "chair"}).status_code == 302
    mail = [m for m in outbox(app) if m.recipient == first.email][-1]
    assert f"https://portal.test/meetings/{mid}" in mail.body
    assert "30 November 2026" in mail.body and "16 November 2026" in mail.body and "chair" in mail.body
    assert "Jane Smith" not in mail.body and "Review of" not in mail.body  # the title is free text: never emailed
    assert submit(client, f"/meetings/{mid}/members", {"person": second.id, "panel_role": "chair"}).status_code == 302
    with app.app_context():
        roles = {m.user_id: m.panel_role for m in db.session.scalars(db.select(MeetingMember))}
    assert roles == {first.id: "member", second.id: "chair"}
    assert len([m for m in outbox(app) if m.recipient == first.email]) == 1  # a role change sends no new email
    refused = submit(client, f"/meetings/{mid}/members", {"person": steering.id, "panel_role": "member"})
    assert refused.status_code == 400 and "can only observe" in refused.get_data(as_text=True)
    assert submit(client, f"/meetings/{mid}/members", {"person": steering.id, "panel_role": "observer"}
                  ).status_code == 302
    with app.app_context():
        member_id = db.session.scalar(db.select(MeetingMember.id).where(MeetingMember.user_id == first.id))
    locked = []  # the removal takes the meeting lock a first assessment save takes, while the seat still exists
    real_lock = visibility.lock_meeting

    def watched_lock(meeting: Meeting) -> None:
        locked.append((meeting.id, db.session.get(MeetingMember, member_id) is not None))
        real_lock(meeting)

    monkeypatch.setattr(visibility, "lock_meeting", watched_lock)
    removed = submit(client, f"/meetings/{mid}/members/{member_id}/remove", {}, page=f"/meetings/{mid}/members")
    assert removed.status_code == 302
    assert locked == [(mid, True)]
    with app.app_context():
        assert db.session.get(MeetingMember, member_id) is None


def test_meeting_pages_are_for_its_members_and_the_lead(app, admin_client, signed_in):
    seated, person = signed_in(Role.MEMBER)
    stranger, _ = signed_in(Role.MEMBER)
    mid = make_meeting(app, seats={person.id: "member"})
    assert seated.get(f"/meetings/{mid}").status_code == 200
    assert "Winter panel" in seated.get("/meetings").get_data(as_text=True)
    assert stranger.get(f"/meetings/{mid}").status_code == 404
    assert "Winter panel" not in stranger.get("/meetings").get_data(as_text=True)
    for path in (f"/meetings/{mid}/edit", f"/meetings/{mid}/members", "/meetings/new", f"/meetings/{mid}/sample"):
        assert seated.get(path).status_code == 404, path  # a member who is not Chair draws nothing


def test_chair_draws_a_recorded_verifiable_sample_and_the_sampled_are_told(app, admin_client, signed_in):
    chair, person = signed_in(Role.MEMBER)
    pids = [make_registered_portfolio(app, n) for n in range(1, 7)]
    mid = make_meeting(app, seats={person.id: "chair"})
    page = chair.get(f"/meetings/{mid}/sample").get_data(as_text=True)
    assert "6 portfolios eligible" in page
    response = draw(chair, mid, number="2")
    assert response.status_code == 302
    record = current(app, mid)
    assert re.fullmatch(r"[0-9a-f]{32}", record.seed)
    assert json.loads(record.population) == pids
    picks = json.loads(record.picks)
    assert len(picks) == 2 and json.loads(record.parameters)["size"] == 2
    with app.app_context():
        rows = list(db.session.scalars(db.select(SampledPortfolio).order_by(SampledPortfolio.position)))
        assert [r.portfolio_id for r in rows] == picks
        labels = [db.session.get(Portfolio, pid).pseudonym for pid in picks]
        assert all(labels)  # sampled portfolios get a panel label at once
        event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "sample.drawn"))
        assert event is not None and record.seed in event.details
    told = {m.recipient: m for m in outbox(app) if "selected for external moderation" in m.subject}
    expected = {f"nqsw{pid}@example.org" for pid in picks} | {f"assessor{pid}@example.org" for pid in picks}
    assert set(told) == expected
    for message in told.values():
        assert "does not have the power to override the final judgement of the Internal Panel" in message.body
        assert "Person" not in message.body  # no names in emails
        assert "30 November 2026" in message.body and "Winter panel" not in message.body  # the date, not the title
    verified = chair.get(response.headers["Location"]).get_data(as_text=True)
    assert "Re-running the draw gives the same portfolios" in verified and record.seed in verified
    assert "Nqsw Person" not in verified and "Assessor Person" not in verified  # the Chair sees labels only
    meeting_page = chair.get(f"/meetings/{mid}").get_data(as_text=True)
    for label in labels:
        assert f"Portfolio {label}" in meeting_page


def test_verification_reports_a_tampered_draw(app, admin_client):
    client, _ = admin_client
    for n in range(1, 6):
        make_registered_portfolio(app, n)
    mid = make_meeting(app)
    draw(client, mid, number="2")
    record = current(app, mid)
    path = f"/meetings/{mid}/sample/draws/{record.id}"
    assert "Verified" in client.get(path).get_data(as_text=True)
    with app.app_context():
        stored = db.session.get(SampleDraw, record.id)
        population = json.loads(stored.population)
        stored.picks = json.dumps([p for p in population if p not in json.loads(stored.picks)][:2])
        db.session.commit()
    html = client.get(path).get_data(as_text=True)
    assert "The re-run does not match the recorded picks" in html and "Verified" not in html


def test_redraw_needs_a_reason_and_supersedes_the_previous_draw(app, admin_client, signed_in):
    chair, person = signed_in(Role.MEMBER)
    for n in range(1, 11):
        make_registered_portfolio(app, n)
    mid = make_meeting(app, seats={person.id: "chair"})
    draw(chair, mid, number="3")
    first = current(app, mid)
    no_reason = draw(chair, mid, number="3", reason="  ")
    assert no_reason.status_code == 400
    assert "Give the reason for drawing the sample again" in no_reason.get_data(as_text=True)
    assert current(app, mid).id == first.id
    again = draw(chair, mid, number="3", reason="A sampled NQSW's Assessor sits on the panel")
    assert again.status_code == 302
    second = current(app, mid)
    assert second.id != first.id and second.reason.startswith("A sampled NQSW")
    with app.app_context():
        assert db.session.get(SampleDraw, first.id).current is False
        rows = [r.portfolio_id for r in db.session.scalars(db.select(SampledPortfolio).order_by(
            SampledPortfolio.position))]
        assert rows == json.loads(second.picks)
        assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "sample.redrawn")) is not None
    dropped = set(json.loads(first.picks)) - set(json.loads(second.picks))
    notices = {m.recipient for m in outbox(app) if "no longer selected" in m.subject}
    assert all("30 November 2026" in m.body and "Winter panel" not in m.body
               for m in outbox(app) if "no longer selected" in m.subject)
    assert notices == {f"nqsw{pid}@example.org" for pid in dropped} | {f"assessor{pid}@example.org" for pid in dropped}
    # Both draws still verify.
    for record in (first, second):
        assert "Verified" in chair.get(f"/meetings/{mid}/sample/draws/{record.id}").get_data(as_text=True)


def test_eligibility_since_the_previous_meeting_and_never_sampled_twice(app, admin_client):
    client, admin = admin_client
    old = make_registered_portfolio(app, 1, outcome_date=date(2026, 4, 1))  # before the previous meeting
    fresh = [make_registered_portfolio(app, n, outcome_date=date(2026, 7, 1)) for n in range(2, 6)]
    undecided = make_registered_portfolio(app, 6, outcome=None, outcome_date=None)
    purged = make_registered_portfolio(app, 7)
    previous = make_meeting(app, held_on=date(2026, 5, 1), title="Previous")
    mid = make_meeting(app, held_on=date(2026, 11, 30))
    with app.app_context():
        db.session.get(Portfolio, purged).purged_at = clock.now()
        record = SampleDraw(meeting_id=previous, seed="0" * 32, population="[]", parameters="{}", picks="[]",
                            drawn_by_id=admin.id, drawn_at=clock.now())
        db.session.add(record)
        db.session.flush()
        db.session.add(SampledPortfolio(meeting_id=previous, portfolio_id=fresh[0], draw_id=record.id, position=1))
        db.session.commit()
    draw(client, mid, number="2")
    assert json.loads(current(app, mid).population) == fresh[1:]
    assert {old, undecided, purged, fresh[0]}.isdisjoint(json.loads(current(app, mid).population))
    too_many = draw(client, mid, number="4", reason="Bigger sample")
    assert too_many.status_code == 400
    assert "not enough eligible portfolios: 3 eligible, 4 needed" in too_many.get_data(as_text=True)
    too_small = draw(client, mid, number="1", reason="Smaller")
    assert too_small.status_code == 400 and "at least 2" in too_small.get_data(as_text=True)


def test_percentage_and_strata(app, admin_client):
    client, _ = admin_client
    for n in range(1, 21):
        make_registered_portfolio(app, n, service="adults" if n <= 2 else "children")
    mid = make_meeting(app)
    response = submit(client, f"/meetings/{mid}/sample", {"size_kind": "percentage", "percentage": "11",
                                                          "strata": ["service"]})
    assert response.status_code == 302, response.get_data(as_text=True)
    record = current(app, mid)
    picks = json.loads(record.picks)
    assert len(picks) == 3  # 11% of 20 is 2.2, rounded up
    assert any(pid <= 2 for pid in picks) and any(pid > 2 for pid in picks)  # both services represented
    parameters = json.loads(record.parameters)
    assert parameters["percentage"] == 11 and parameters["strata"] == ["service"]
    assert "Verified" in client.get(f"/meetings/{mid}/sample/draws/{record.id}").get_data(as_text=True)
    missing = submit(client, f"/meetings/{mid}/sample", {"size_kind": "percentage", "percentage": "",
                                                         "reason": "x"})
    assert missing.status_code == 400 and "Enter the percentage" in missing.get_data(as_text=True)


def test_sample_access_for_members_opens_with_the_draw_and_closes_with_the_window(app, admin_client, signed_in):
    chair, person = signed_in(Role.MEMBER)
    reader, member = signed_in(Role.MEMBER)
    pids = [make_registered_portfolio(app, n) for n in range(1, 5)]
    mid = make_meeting(app, seats={person.id: "chair", member.id: "member"})
    assert all(reader.get(f"/portfolios/{pid}").status_code == 404 for pid in pids)
    draw(chair, mid, number="2")
    picks = json.loads(current(app, mid).picks)
    for pid in pids:
        assert reader.get(f"/portfolios/{pid}").status_code == (200 if pid in picks else 404)
    with app.app_context():
        meeting = db.session.get(Meeting, mid)
        meeting.minutes_published_at = clock.now()
        meeting.access_closes_at = clock.now() + timedelta(days=30)
        db.session.commit()
    refused = draw(chair, mid, number="2", reason="late")
    assert refused.status_code == 400 and "minutes are published" in refused.get_data(as_text=True)
    clock.advance(timedelta(days=31))
    sign_in(app, reader, member)
    assert all(reader.get(f"/portfolios/{pid}").status_code == 404 for pid in pids)
    assert "access window has closed" in reader.get(f"/meetings/{mid}").get_data(as_text=True)


def test_meeting_page_queries_do_not_grow_with_the_sample(app, admin_client, signed_in):
    lead, _ = admin_client
    chair, person = signed_in(Role.MEMBER)
    reader, member = signed_in(Role.MEMBER)
    for n in range(1, 13):
        make_registered_portfolio(app, n)
    mid = make_meeting(app, seats={person.id: "chair", member.id: "member"})
    counts = []
    for size, reason in (("2", ""), ("12", "A bigger sample")):
        assert draw(chair, mid, number=size, reason=reason).status_code == 302
        page = reader.get(f"/meetings/{mid}").get_data(as_text=True)
        assert page.count('href="/portfolios/') == int(size)  # each sampled portfolio is linked for the member
        counts.append([count_queries(app, client, f"/meetings/{mid}") for client in (lead, chair, reader)])
    assert counts[0] == counts[1]


def _sample_state(app, meeting_id: int) -> tuple[list[int], int, int, int]:
    """The sampled portfolio ids in order, the number of draws, of emails and of draw audit records."""
    with app.app_context():
        rows = list(db.session.scalars(db.select(SampledPortfolio.portfolio_id)
                                       .where(SampledPortfolio.meeting_id == meeting_id)
                                       .order_by(SampledPortfolio.position)))
        draws = db.session.scalar(db.select(db.func.count(SampleDraw.id)).where(SampleDraw.meeting_id == meeting_id))
        audited = db.session.scalar(db.select(db.func.count(AuditEvent.id)).where(
            AuditEvent.action.in_(("sample.drawn", "sample.redrawn"))))
    return rows, draws, len(outbox(app)), audited


def test_a_started_assessment_blocks_a_redraw(app, admin_client, signed_in):
    chair, person = signed_in(Role.MEMBER)
    reader, member = signed_in(Role.MEMBER)
    for n in range(1, 11):
        make_registered_portfolio(app, n)
    mid = make_meeting(app, seats={person.id: "chair", member.id: "member"})
    page = chair.get(f"/meetings/{mid}/sample").get_data(as_text=True)
    assert "no longer be drawn again" not in page  # a first draw is unaffected
    assert draw(chair, mid, number="3").status_code == 302
    first = current(app, mid)
    # Before anyone has started assessing, a redraw still works.
    page = chair.get(f"/meetings/{mid}/sample").get_data(as_text=True)
    assert 'name="reason"' in page and "Once a panel member starts an assessment" in page
    assert draw(chair, mid, number="3", reason="The Chair knows a sampled NQSW").status_code == 302
    second = current(app, mid)
    assert second.id != first.id
    picks = json.loads(second.picks)

    stale = chair.get(f"/meetings/{mid}/sample").get_data(as_text=True)  # the form, loaded before any draft
    assert "Draw the sample again" in chair.get(f"/meetings/{mid}").get_data(as_text=True)
    saved = submit(reader, f"/reviews/meetings/{mid}/portfolios/{picks[0]}/sections/part1", answers_for("part1"))
    assert saved.status_code == 302
    with app.app_context():
        assert db.session.scalar(db.select(Assessment.status)) == "draft"
    before = _sample_state(app, mid)

    refused = chair.post(f"/meetings/{mid}/sample", data={
        "size_kind": "number", "number": "3", "reason": "Try again", "csrf_token": csrf_from(stale)})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    message = ("You cannot redraw the sample: 1 assessment has already been started for this meeting&#39;s "
               "portfolios.")
    assert message in html
    assert 'class="govuk-error-summary"' in html and 'href="#redraw-blocked"' in html
    assert 'id="redraw-blocked"' in html and 'class="govuk-error-message"' in html
    assert "<title>Error: " in html and 'name="reason"' not in html
    assert _sample_state(app, mid) == before  # no new draw, sample, email or audit record
    assert current(app, mid).id == second.id

    # A stale form with nothing valid in it gets the same refusal, not a complaint about its fields.
    empty = chair.post(f"/meetings/{mid}/sample", data={"size_kind": "number", "csrf_token": csrf_from(stale)})
    assert empty.status_code == 400 and message in empty.get_data(as_text=True)
    assert "Enter the number" not in empty.get_data(as_text=True)
    assert _sample_state(app, mid) == before

    # The meeting page stops offering a redraw; the draw page explains, without the form, for Chair and Lead.
    lead, _ = admin_client
    for client in (chair, lead):
        assert "Draw the sample again" not in client.get(f"/meetings/{mid}").get_data(as_text=True)
        page = client.get(f"/meetings/{mid}/sample")
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "The sample can no longer be drawn again" in html
        assert "1 assessment has been started (saved as a draft or submitted)" in html
        assert "govuk-error-summary" not in html and "<form" not in html.split('id="main-content"')[1]
        assert f"/meetings/{mid}/sample/draws/{second.id}" in html

    # A submitted assessment counts too; the count follows.
    with app.app_context():
        db.session.add(Assessment(meeting_id=mid, portfolio_id=picks[1], user_id=person.id,
                                  template_id=db.session.scalar(db.select(Assessment.template_id)),
                                  status="submitted", created_at=clock.now(), updated_at=clock.now(),
                                  submitted_at=clock.now()))
        db.session.commit()
    assert "2 assessments have been started" in chair.get(f"/meetings/{mid}/sample").get_data(as_text=True)


def test_draw_check_page_queries_do_not_grow_with_the_draws(app, signed_in):
    chair, person = signed_in(Role.MEMBER)
    for n in range(1, 11):
        make_registered_portfolio(app, n)
    mid = make_meeting(app, seats={person.id: "chair"})

    def redraw_by_new_leads(count: int) -> int:
        # Each draw by a different Lead, none of them seated, so no drawer's name is already loaded.
        for _ in range(count):
            lead, _ = signed_in(Role.ADMIN)
            assert draw(lead, mid, number="3", reason="Drawn again").status_code == 302
        return current(app, mid).id

    path = f"/meetings/{mid}/sample/draws/{redraw_by_new_leads(2)}"
    small = count_queries(app, chair, path)
    path = f"/meetings/{mid}/sample/draws/{redraw_by_new_leads(5)}"
    html = chair.get(path).get_data(as_text=True)
    assert html.count("Replaced</td>") == 6 and "Verified" in html
    assert count_queries(app, chair, path) == small


def test_members_and_sample_pages_queries_do_not_grow(app, admin_client, signed_in, make_user):
    lead, admin = admin_client
    mid = make_meeting(app, seats={admin.id: "chair"})

    def grow(first: int, last: int) -> None:
        """More people seated, each of their own organisation, and more eligible portfolios."""
        for n in range(first, last):
            person = make_user(Role.MEMBER)
            with app.app_context():
                org = Organisation(name=f"Org {n}", kind="employer")
                db.session.add(org)
                db.session.flush()
                db.session.get(User, person.id).organisation_id = org.id
                db.session.add(MeetingMember(meeting_id=mid, user_id=person.id, panel_role="member"))
                db.session.commit()
            make_registered_portfolio(app, n, employer=f"Employer {n}")

    paths = (f"/meetings/{mid}/members", f"/meetings/{mid}/sample")
    grow(1, 3)
    small = [count_queries(app, lead, path) for path in paths]
    grow(3, 12)
    assert lead.get(paths[0]).get_data(as_text=True).count("Remove<span") == 12  # the Chair and 11 members
    assert "11 portfolios eligible" in lead.get(paths[1]).get_data(as_text=True)
    assert [count_queries(app, lead, path) for path in paths] == small


def test_the_meetings_list_is_paged_newest_first_with_every_meeting_once(app, admin_client, signed_in):
    client, _ = admin_client
    member, person = signed_in(Role.MEMBER)
    chair = signed_in(Role.MEMBER)[1]
    start = date(2020, 1, 6)
    for n in range(60):  # a meeting a week; the member sits at every third, the Chair chairs the even ones
        seats = {chair.id: "chair"} if n % 2 == 0 else {}
        if n % 3 == 0:
            seats[person.id] = "member"
        make_meeting(app, held_on=start + timedelta(weeks=n), seats=seats, title=f"Paged panel {n:02d}")

    def titles(c, page: int) -> list[str]:
        return re.findall(r'">Paged panel (\d\d)</a>', c.get(f"/meetings?page={page}").get_data(as_text=True))

    first = client.get("/meetings").get_data(as_text=True)
    assert "60 meetings, showing 1 to 50, newest first" in first
    assert 'aria-label="Pages of meetings"' in first and 'rel="next"' in first
    assert titles(client, 1) + titles(client, 2) == [f"{n:02d}" for n in range(59, -1, -1)]  # each once, none cut
    second = client.get("/meetings?page=2").get_data(as_text=True)
    assert "60 meetings, showing 51 to 60" in second and 'rel="next"' not in second
    # Each row names its Chair (or says none was chosen) and counts its sample.
    row = re.search(r"Paged panel 58</a></td>(.*?)</tr>", first, re.S).group(1)
    assert chair.name in row and ">0<" in row
    assert "Not chosen yet" in re.search(r"Paged panel 59</a></td>(.*?)</tr>", first, re.S).group(1)
    # A member pages through only the meetings they sit at.
    assert "20 meetings, newest first" in member.get("/meetings").get_data(as_text=True)
    assert titles(member, 1) == [f"{n:02d}" for n in range(57, -1, -3)]


def test_the_meetings_list_queries_do_not_grow_with_meetings(app, admin_client, signed_in):
    client, admin = admin_client
    member, person = signed_in(Role.MEMBER)

    def add(first: int, last: int) -> None:
        for n in range(first, last):
            pid = make_registered_portfolio(app, n)
            mid = make_meeting(app, held_on=date(2021, 1, 1) + timedelta(days=n),
                               seats={person.id: "chair" if n % 2 else "member"}, title=f"Panel {n}")
            with app.app_context():
                draw = SampleDraw(meeting_id=mid, seed="0" * 32, population="[]", parameters="{}",
                                  picks=f"[{pid}]", drawn_by_id=admin.id, drawn_at=clock.now())
                db.session.add(draw)
                db.session.flush()
                db.session.add(SampledPortfolio(meeting_id=mid, portfolio_id=pid, draw_id=draw.id, position=1))
                db.session.commit()

    add(1, 3)
    small = [count_queries(app, c, "/meetings") for c in (client, member)]
    sizes = [len(c.get("/meetings").get_data()) for c in (client, member)]
    add(3, 130)
    assert [count_queries(app, c, "/meetings?page=2") for c in (client, member)] == small
    # A page of 50 rows: the HTML grows by the rows shown, not by every meeting held.
    assert all(len(c.get("/meetings?page=2").get_data()) < size + 50 * 600 for c, size in zip((client, member),
                                                                                             sizes, strict=True))
