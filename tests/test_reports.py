"""The partnership summary report and the downloads of minutes and report as accessible PDF and DOCX."""

import io
from datetime import date, timedelta

import docx
import pypdf
from conftest import outbox, sign_in, submit
from helpers_queries import count_queries
from helpers_reports import build_meeting
from sqlalchemy import func, select, update

from portal import clock
from portal.extensions import db
from portal.models import AuditEvent, FeedbackRelease, Minutes, MinutesRevision, Nqsw, Portfolio, Role


def _chair_meeting(app, signed_in, **kwargs):
    chair, person = signed_in(Role.MEMBER, name="Chair Fictional")
    built = build_meeting(app, person.id, **kwargs)
    return chair, built


def _fill_and_publish(chair, m, publish=True):
    page = f"/meetings/{m}/minutes"
    submit(chair, f"{page}/notes", {"notes": "Reflective writing was strong throughout."}, page=f"{page}/edit")
    submit(chair, f"{page}/themes", {"name": "Protected time", "note": "Not always recorded"}, page=f"{page}/edit")
    submit(chair, f"{page}/actions", {"description": "Add protected-time log to templates", "owner": "ASYE Lead",
                                      "due_on": ["30", "4", "2027"]}, page=f"{page}/edit")
    if publish:
        submit(chair, f"{page}/approve", {}, page=page)
        submit(chair, f"{page}/publish", {}, page=page)


def _pdf_text(data: bytes) -> tuple[pypdf.PdfReader, str]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return reader, " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def _flatten(items: list) -> list:
    return [leaf for item in items for leaf in (_flatten(item) if isinstance(item, list) else [item])]


def test_summary_report_page_is_filled_from_the_data(app, signed_in):
    chair, built = _chair_meeting(app, signed_in, held_on=date(2026, 10, 14), title="Autumn panel")
    _fill_and_publish(chair, built.meeting_id)
    html = chair.get(f"/meetings/{built.meeting_id}/report").get_data(as_text=True)
    for expected in ("Partnership summary report", "14 October 2026", "Chair Fictional", "Northshire Council",
                     "Portfolios moderated</th>", "Decisions confirmed by the panel",
                     "Part 1: evidence checklist answers", "Part 2: members answering yes",
                     "Critical reflection 2", "Protected time", "Add protected-time log to templates",
                     "This is the first meeting"):
        assert expected in html, expected


def test_report_says_whether_the_last_reports_actions_were_completed(app, signed_in):
    chair, first = _chair_meeting(app, signed_in, held_on=date(2026, 3, 1), title="March panel")
    _fill_and_publish(chair, first.meeting_id)
    _, second_person = signed_in(Role.MEMBER)
    second = build_meeting(app, second_person.id, held_on=date(2026, 9, 1), title="September panel")
    admin, _ = signed_in(Role.ADMIN)
    html = admin.get(f"/meetings/{second.meeting_id}/report").get_data(as_text=True)
    assert "0 of 1 actions from 1 March 2026 are done" in html
    assert "Actions carried forward" in html


def test_who_may_read_the_report(app, signed_in):
    chair, built = _chair_meeting(app, signed_in)
    m = built.meeting_id
    observer, _ = signed_in(Role.OBSERVER)
    member, _member_person = signed_in(Role.MEMBER)
    nqsw, _ = signed_in(Role.NQSW)
    admin, _ = signed_in(Role.ADMIN)
    assert admin.get(f"/meetings/{m}/report").status_code == 200
    assert chair.get(f"/meetings/{m}/report").status_code == 200
    for client in (observer, member, nqsw):
        assert client.get(f"/meetings/{m}/report").status_code == 404
        assert client.get(f"/meetings/{m}/report.pdf").status_code == 404
    _fill_and_publish(chair, m)
    assert observer.get(f"/meetings/{m}/report").status_code == 200
    assert observer.get(f"/meetings/{m}/report.docx").status_code == 200
    assert nqsw.get(f"/meetings/{m}/report").status_code == 404
    assert admin.get(f"/meetings/{m}/report.exe").status_code == 404


def test_minutes_pdf_has_title_language_headings_and_text(app, signed_in):
    chair, built = _chair_meeting(app, signed_in, title="Autumn panel", held_on=date(2026, 10, 14))
    _fill_and_publish(chair, built.meeting_id, publish=False)
    response = chair.get(f"/meetings/{built.meeting_id}/minutes.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=\"minutes-2026-10-14-")
    assert "filename*=UTF-8''minutes-2026-10-14-" in disposition
    data = response.get_data()
    assert data.startswith(b"%PDF")
    reader, text = _pdf_text(data)
    assert reader.metadata.title == "Minutes: Autumn panel, 14 October 2026"
    assert b"/Lang (en-GB)" in data
    assert "Reflective writing was strong throughout." in text
    assert "Attendance and apologies" in text and "Northshire Council" in text
    assert "Protected time" in text
    outline = [item.title for item in _flatten(reader.outline)]
    assert "Attendance and apologies" in outline  # headings become bookmarks
    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "minutes.downloaded")))
    assert len(events) == 1 and '"format":"pdf"' in events[0].details


def test_minutes_docx_has_headings_and_tables(app, signed_in):
    chair, built = _chair_meeting(app, signed_in, title="Autumn panel")
    _fill_and_publish(chair, built.meeting_id)
    response = chair.get(f"/meetings/{built.meeting_id}/minutes.docx")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].endswith(".docx")
    document = docx.Document(io.BytesIO(response.get_data()))
    assert document.core_properties.title.startswith("Minutes: Autumn panel")
    assert document.core_properties.language == "en-GB"
    headings = [(p.style.name, p.text) for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert ("Heading 2", "Attendance and apologies") in headings
    assert ("Heading 2", "Actions for the Steering Group") in headings
    tables = [[cell.text for cell in table.rows[0].cells] for table in document.tables]
    assert ["Name", "Organisation", "Role", "Attendance"] in tables
    assert ["Action", "Owner", "For", "Due", "Status"] in tables
    body = "\n".join(p.text for p in document.paragraphs)
    assert "Reflective writing was strong throughout." in body


def test_summary_report_downloads(app, signed_in):
    chair, built = _chair_meeting(app, signed_in, title="Autumn panel", held_on=date(2026, 10, 14))
    _fill_and_publish(chair, built.meeting_id)
    observer, _ = signed_in(Role.OBSERVER)
    pdf = observer.get(f"/meetings/{built.meeting_id}/report.pdf")
    assert pdf.status_code == 200 and pdf.get_data().startswith(b"%PDF")
    reader, text = _pdf_text(pdf.get_data())
    assert reader.metadata.title == "Partnership summary report: Autumn panel, 14 October 2026"
    assert "Decisions confirmed by the panel" in text and "Add protected-time log to templates" in text
    word = observer.get(f"/meetings/{built.meeting_id}/report.docx")
    document = docx.Document(io.BytesIO(word.get_data()))
    assert ["Measure", "Number"] in [[c.text for c in t.rows[0].cells] for t in document.tables]
    with app.app_context():
        formats = {e.details for e in db.session.scalars(select(AuditEvent)
                                                         .where(AuditEvent.action == "report.downloaded"))}
    assert len(formats) == 2


def test_pdf_keeps_characters_outside_latin1_and_marks_those_the_font_lacks(app, signed_in):
    chair, built = _chair_meeting(app, signed_in)
    page = f"/meetings/{built.meeting_id}/minutes"
    submit(chair, f"{page}/notes", {"notes": "\u201cQuoted\u201d \u2013 and \u03a9mega \u2713 \u4e2d\u6587"},
           page=f"{page}/edit")
    response = chair.get(f"{page}.pdf")
    assert response.status_code == 200
    _, text = _pdf_text(response.get_data())
    # DejaVu Sans has no Chinese: "?" rather than an invisible .notdef glyph
    assert "\u201cQuoted\u201d \u2013 and \u03a9mega \u2713 ??" in text


def test_lists_of_meetings_and_themes(app, signed_in):
    chair, built = _chair_meeting(app, signed_in, title="Autumn panel")
    _fill_and_publish(chair, built.meeting_id, publish=False)
    observer, _ = signed_in(Role.OBSERVER)
    assert "Autumn panel" not in observer.get("/reports").get_data(as_text=True)
    assert "Protected time" not in observer.get("/themes").get_data(as_text=True)
    page = f"/meetings/{built.meeting_id}/minutes"
    submit(chair, f"{page}/approve", {}, page=page)
    submit(chair, f"{page}/publish", {}, page=page)
    assert "Autumn panel" in observer.get("/reports").get_data(as_text=True)
    assert "Protected time" in observer.get("/themes").get_data(as_text=True)


def _counts(app, meeting_id):
    """Corrections, releases, record edits and emails: what a refused request must leave as it was."""
    with app.app_context():
        revisions = db.session.scalar(select(func.count()).select_from(MinutesRevision).join(Minutes)
                                      .where(Minutes.meeting_id == meeting_id))
        releases = db.session.scalar(select(func.count()).select_from(FeedbackRelease)
                                     .where(FeedbackRelease.meeting_id == meeting_id))
        notes = db.session.scalar(select(Minutes.notes).where(Minutes.meeting_id == meeting_id))
    return revisions, releases, notes, len(outbox(app))


def test_after_the_access_window_the_chair_reads_the_record_but_acts_on_nothing(app, signed_in):
    member, member_person = signed_in(Role.MEMBER)
    chair, chair_person = signed_in(Role.MEMBER, name="Chair Fictional")
    built = build_meeting(app, chair_person.id, member_ids=(member_person.id,))
    admin, admin_person = signed_in(Role.ADMIN)
    m, pid = built.meeting_id, built.portfolio_ids[0]
    _fill_and_publish(chair, m)
    reads = [f"/meetings/{m}/minutes", f"/meetings/{m}/minutes.pdf", f"/meetings/{m}/report",
             f"/meetings/{m}/report.docx"]
    chair_pages = [f"/meetings/{m}/minutes/correct", f"/meetings/{m}/feedback-release", f"/meetings/{m}/sample",
                   f"/reviews/meetings/{m}/record", f"/portfolios/{pid}"]
    # While the window is open the Chair reads and acts; a member of the panel does not act.
    for path in reads + chair_pages:
        assert chair.get(path).status_code == 200, path
    assert member.get(f"/meetings/{m}/minutes").status_code == 200
    for path in [*chair_pages[:-1], f"/meetings/{m}/report"]:
        assert member.get(path).status_code == 404, path
    page = chair.get(f"/meetings/{m}").get_data(as_text=True)
    assert "Release feedback to Assessors and NQSWs" in page and "Meeting record" in page
    assert "Correct the minutes" in chair.get(f"/meetings/{m}/minutes").get_data(as_text=True)

    clock.advance(timedelta(days=31))  # the default window closes 30 days after publication
    for client, person in ((chair, chair_person), (member, member_person), (admin, admin_person)):
        sign_in(app, client, person)  # the earlier sessions have expired too
    before = _counts(app, m)
    # The Chair's own record stays readable: counts and the panel's recorded views, no documents or assessments.
    for path in reads:
        assert chair.get(path).status_code == 200, path
    assert f"/meetings/{m}/minutes" in chair.get("/reports").get_data(as_text=True)
    minutes_page = chair.get(f"/meetings/{m}/minutes").get_data(as_text=True)
    assert "Correct the minutes" not in minutes_page and "/feedback-release" not in minutes_page
    page = chair.get(f"/meetings/{m}").get_data(as_text=True)
    assert "Release feedback to Assessors and NQSWs" not in page and "Meeting record" not in page
    # Everything that shows the sample's documents, the members' assessments or the people behind the sample,
    # and every action as Chair, is now a 404 that changes nothing.
    for path in chair_pages:
        assert chair.get(path).status_code == 404, path
    for path, data in ((f"/meetings/{m}/minutes/correct", {"notes": "Late change", "reason": "Typo"}),
                       (f"/meetings/{m}/feedback-release", {}),
                       (f"/meetings/{m}/minutes/notes", {"notes": "Late change"}),
                       (f"/meetings/{m}/minutes/themes", {"name": "Late theme", "note": ""}),
                       (f"/meetings/{m}/minutes/approve", {}),
                       (f"/meetings/{m}/sample", {"size_kind": "number", "number": "2", "reason": "Late"}),
                       (f"/reviews/meetings/{m}/record/reminders", {})):
        assert submit(chair, path, data, page="/dashboard").status_code == 404, path
    assert _counts(app, m) == before
    # A member of the panel still reads the published minutes only.
    assert member.get(f"/meetings/{m}/minutes").status_code == 200
    for path in [*chair_pages, f"/meetings/{m}/report"]:
        assert member.get(path).status_code == 404, path
    # The Lead sees everything and can still correct the minutes and release the feedback.
    for path in reads + chair_pages:
        assert admin.get(path).status_code == 200, path
    assert submit(admin, f"/meetings/{m}/minutes/correct", {"notes": "Corrected text", "reason": "Typo"}
                  ).status_code == 302
    assert submit(admin, f"/meetings/{m}/feedback-release", {}).status_code == 302
    revisions, releases, _notes, emails = _counts(app, m)
    assert (revisions, releases) == (before[0] + 1, 1) and emails > before[3]


def _record_with(app, chair, built, items: int) -> None:
    """Themes, actions and key messages on a meeting's minutes, published and corrected, and feedback released."""
    page = f"/meetings/{built.meeting_id}/minutes"
    for i in range(items):
        submit(chair, f"{page}/themes", {"name": f"Theme {built.meeting_id}-{i}", "note": "Seen often"},
               page=f"{page}/edit")
        submit(chair, f"{page}/actions", {"description": f"Action {i}", "owner": "ASYE Lead",
                                          "due_on": ["30", "4", "2027"]}, page=f"{page}/edit")
        submit(chair, f"{page}/key-messages", {"text": f"Key message {i}"}, page=f"{page}/edit")
    submit(chair, f"{page}/approve", {}, page=page)
    submit(chair, f"{page}/publish", {}, page=page)
    for i in range(items):
        assert submit(chair, f"{page}/correct", {"notes": f"Corrected {i}", "reason": f"Typo {i}"}).status_code == 302
    released = submit(chair, f"/meetings/{built.meeting_id}/feedback-release", {})
    assert released.status_code == 302, released.get_data(as_text=True)


def test_report_pages_use_a_bounded_number_of_queries(app, signed_in, make_user):
    chair, chair_person = signed_in(Role.MEMBER)
    lead, _ = signed_in(Role.ADMIN)
    observer, _ = signed_in(Role.OBSERVER)
    members = [make_user(Role.MEMBER).id for _ in range(6)]
    today = clock.now().date()
    build_meeting(app, chair_person.id, held_on=today - timedelta(days=60), sampled=1)  # each has a previous one
    small = build_meeting(app, chair_person.id, member_ids=tuple(members[:2]), held_on=today - timedelta(days=40))
    nqsw_person = make_user(Role.NQSW, email=small.nqsw_emails[0])  # the release links the registry entry
    nqsw = app.test_client()
    sign_in(app, nqsw, nqsw_person)
    _record_with(app, chair, small, 1)

    def counts(built) -> dict[str, int]:
        mid = built.meeting_id
        paths = {"minutes": (chair, f"/meetings/{mid}/minutes"), "observed": (observer, f"/meetings/{mid}/minutes"),
                 "report": (lead, f"/meetings/{mid}/report"), "release": (chair, f"/meetings/{mid}/feedback-release"),
                 "feedback": (nqsw, f"/feedback/{mid}"), "feedback list": (nqsw, "/feedback"),
                 "reports": (observer, "/reports"), "themes": (lead, "/themes"),
                 "observed themes": (observer, "/themes")}
        return {name: count_queries(app, client, path) for name, (client, path) in paths.items()}

    before = counts(small)
    large = build_meeting(app, chair_person.id, member_ids=tuple(members), held_on=today - timedelta(days=20),
                          sampled=8)
    with app.app_context():  # the same NQSW's second portfolio is in the larger sample
        db.session.execute(update(Portfolio).where(Portfolio.id == large.portfolio_ids[0])
                           .values(nqsw_id=select(Nqsw.id).where(Nqsw.email == small.nqsw_emails[0])
                                   .scalar_subquery()))
        db.session.commit()
    _record_with(app, chair, large, 6)
    assert nqsw.get("/feedback").get_data(as_text=True).count("/feedback/") >= 2
    assert chair.get(f"/meetings/{large.meeting_id}/minutes").get_data(as_text=True).count("Key message 5") == 1
    assert counts(large) == before
