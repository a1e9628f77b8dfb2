"""Issue 13 item 4's rest: the summary report's sections from Skills for Care's template that the ASYE Lead
writes (withdrawals, the national panel's feedback, organisational and support issues, employment or capability
issues), and themes and actions owned by a member employer."""

import io

import docx
import pypdf
from conftest import submit
from factories import make_employer
from flask import Flask
from helpers_auth import lead_of
from helpers_reports import build_meeting
from sqlalchemy import select, text

from portal.extensions import db
from portal.models import Action, AuditEvent, MeetingTheme, Role

SECTIONS = {
    "withdrawals": "One NQSW withdrew in month 4 (ill health); returns next cohort, outcome deferred.",
    "national_feedback": "The national panel found our summaries of evidence clear.",
    "organisational_issues": "Protected time was cut in one team during a restructure.",
    "employment_issues": "One capability procedure ran alongside the programme.",
}


def _meeting(app: Flask, signed_in) -> tuple:
    chair, chair_person = signed_in(Role.MEMBER, name="Chair Fictional")
    observer, observer_person = signed_in(Role.OBSERVER, name="Olu Observer")
    built = build_meeting(app, chair_person.id, observer_ids=(observer_person.id,))
    return chair, observer, built.meeting_id


def _publish(client, meeting_id: int) -> None:
    page = f"/meetings/{meeting_id}/minutes"
    assert submit(client, f"{page}/approve", {}, page=page).status_code == 302
    assert submit(client, f"{page}/publish", {}, page=page).status_code == 302


def _edit(client, meeting_id: int, what: str, data: dict):
    return submit(client, f"/meetings/{meeting_id}/minutes/{what}", data, page=f"/meetings/{meeting_id}/minutes/edit")


# The Lead's own sections of the summary report ------------------------------------------------------------------


def test_the_lead_writes_the_reports_own_sections_shown_on_the_page_pdf_and_docx(app: Flask, signed_in) -> None:
    chair, observer, m = _meeting(app, signed_in)
    admin, _ = signed_in(Role.ADMIN)
    before = admin.get(f"/meetings/{m}/report").get_data(as_text=True)
    assert "Withdrawals" in before and "Employment or capability issues" in before  # headings, "None recorded."
    assert f"/meetings/{m}/report/sections" in before
    assert submit(admin, f"/meetings/{m}/report/sections", SECTIONS).status_code == 302

    _publish(chair, m)
    page = observer.get(f"/meetings/{m}/report").get_data(as_text=True)
    for heading in ("Withdrawals", "Feedback from the national moderation panel", "Organisational and support issues",
                    "Employment or capability issues"):
        assert heading in page, heading
    for written in SECTIONS.values():
        assert written.replace("'", "&#39;") in page, written
    assert f"/meetings/{m}/report/sections" not in page  # the observer reads, only the Lead writes

    pdf = observer.get(f"/meetings/{m}/report.pdf")
    words = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.get_data())).pages).split()
    assert " ".join(SECTIONS["national_feedback"].split()) in " ".join(words)
    document = docx.Document(io.BytesIO(observer.get(f"/meetings/{m}/report.docx").get_data()))
    paragraphs = [p.text for p in document.paragraphs]
    assert SECTIONS["withdrawals"] in paragraphs and SECTIONS["employment_issues"] in paragraphs
    assert ("Heading 2", "Organisational and support issues") in [(p.style.name, p.text)
                                                                   for p in document.paragraphs]


def test_the_sections_are_encrypted_audited_and_only_the_lead_writes_them(app: Flask, signed_in) -> None:
    chair, observer, m = _meeting(app, signed_in)
    admin, _ = signed_in(Role.ADMIN)
    for client in (chair, observer):  # the Chair keeps the minutes, not the Lead's sections of the report
        assert client.get(f"/meetings/{m}/report/sections").status_code in (403, 404)
        assert submit(client, f"/meetings/{m}/report/sections", SECTIONS,
                      page=f"/meetings/{m}/report").status_code in (403, 404)
    assert submit(admin, f"/meetings/{m}/report/sections", SECTIONS).status_code == 302
    changed = dict(SECTIONS, withdrawals="None this cycle.")
    assert submit(admin, f"/meetings/{m}/report/sections", changed).status_code == 302
    with app.app_context():
        raw = db.session.execute(text("SELECT withdrawals, national_feedback, organisational_issues, "
                                      "employment_issues FROM report_sections WHERE meeting_id = :m"), {"m": m}).one()
        stored = " ".join(raw)
        assert "None this cycle" not in stored and "national panel" not in stored  # ciphertext only
        events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "report.sections_edited")
                                         .order_by(AuditEvent.id)))
        assert [e.target for e in events] == [f"meeting:{m}"] * 2
        assert "withdrawals" in events[1].details and "national_feedback" not in events[1].details
        assert "None this cycle" not in events[1].details  # the audit names the sections, never their text
    too_long = submit(admin, f"/meetings/{m}/report/sections", dict(SECTIONS, employment_issues="x" * 20_001))
    assert too_long.status_code == 400
    assert "There is a problem" in too_long.get_data(as_text=True)
    assert "None this cycle." in admin.get(f"/meetings/{m}/report").get_data(as_text=True)


# Themes and actions owned by an employer ------------------------------------------------------------------------


def test_themes_and_actions_owned_by_an_employer_are_shown_filtered_and_seen_by_its_lead(app: Flask, signed_in,
                                                                                          make_user) -> None:
    chair, observer, m = _meeting(app, signed_in)
    riverside, oakwood = make_employer(app, "Riverside Care"), make_employer(app, "Oakwood Family Trust")
    riverside_lead, _ = lead_of(app, make_user, riverside)
    oakwood_lead, _ = lead_of(app, make_user, oakwood)

    edit = chair.get(f"/meetings/{m}/minutes/edit").get_data(as_text=True)
    assert "Employer it concerns" in edit and "Employer responsible" in edit and "The whole partnership" in edit
    assert "Riverside Care" not in edit  # the Chair chooses an employer by its code, as the panel knows it
    assert _edit(chair, m, "themes", {"name": "Protected time", "note": "Cut during the restructure",
                                      "theme_employer": riverside}).status_code == 302
    assert _edit(chair, m, "themes", {"name": "Supervision", "note": "Strong everywhere"}).status_code == 302
    assert _edit(chair, m, "actions", {"description": "Restore protected time", "owner": "Riverside's Lead",
                                       "due_on": ["31", "3", "2027"], "action_employer": riverside}).status_code == 302
    assert _edit(chair, m, "actions", {"description": "Share supervision templates", "owner": "ASYE Lead",
                                       "due_on": ["30", "4", "2027"], "action_employer": 0}).status_code == 302
    # Only a member employer can own a theme or action.
    assert _edit(chair, m, "themes", {"name": "Elsewhere", "theme_employer": 99999}).status_code == 400
    with app.app_context():
        owners = {t.note: t.employer_id for t in db.session.scalars(select(MeetingTheme))}
        assert owners == {"Cut during the restructure": riverside, "Strong everywhere": None}
        assert {a.description: a.employer_id for a in db.session.scalars(select(Action))} == {
            "Restore protected time": riverside, "Share supervision templates": None}
        code = db.session.execute(text("SELECT code FROM organisations WHERE id = :i"), {"i": riverside}).scalar()

    edit = chair.get(f"/meetings/{m}/minutes/edit").get_data(as_text=True)
    assert f"Protected time</strong> (Employer {code})" in edit and "For: The whole partnership" in edit

    # Before publication an employer Lead sees nothing; afterwards their own employer's only.
    assert "Protected time" not in riverside_lead.get("/themes").get_data(as_text=True)
    _publish(chair, m)
    own = riverside_lead.get("/themes").get_data(as_text=True)
    assert "Protected time" in own and "Restore protected time" in own
    assert "Supervision" not in own and "Share supervision templates" not in own
    assert 'name="owner"' not in own  # nothing to filter: they see their own employer's
    other = oakwood_lead.get("/themes").get_data(as_text=True)
    assert "Protected time" not in other and "Restore protected time" not in other
    assert "No themes have been recorded yet." in other

    # The administrator filters by owner; the minutes and the summary report name the owner by code.
    admin, _ = signed_in(Role.ADMIN)
    everything = admin.get("/themes").get_data(as_text=True)
    assert "Protected time" in everything and "Supervision" in everything
    assert f"Riverside Care ({code})" in everything
    only_riverside = admin.get(f"/themes?owner={riverside}").get_data(as_text=True)
    assert "Restore protected time" in only_riverside and "Share supervision templates" not in only_riverside
    assert "Cut during the restructure" in only_riverside and "Strong everywhere" not in only_riverside
    partnership_only = admin.get("/themes?owner=partnership").get_data(as_text=True)
    assert "Share supervision templates" in partnership_only and "Restore protected time" not in partnership_only
    report = observer.get(f"/meetings/{m}/report").get_data(as_text=True)
    assert f"Employer {code}" in report and "Riverside Care" not in report
