"""The whole moderation cycle in Chromium, driven through the real pages, with axe-core on every page visited.

The Lead registers the cohort (a CSV import with a bad row first) and uploads a PDF to each portfolio; the Lead
creates a meeting and seats a Chair and two members; the Chair draws the sample and checks the draw; a member
reads a sampled document and submits an assessment; a second member sends apologies and submits a written
assessment; the Chair records the panel's view, approves and publishes the minutes and releases feedback; an
NQSW from the CSV follows the emailed invitation, sets up the account, reads the feedback and acknowledges it.
Only the starting people are made directly in the database; which NQSW was sampled is read from it.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from conftest import Person, link_in_last_email
from flask import Flask
from helpers_documents import PDF
from helpers_pages import ESCAPED_TAG
from helpers_reviews import answers_for
from playwright.sync_api import BrowserContext, Page
from sqlalchemy import select

from browser.steps import (
    HEADER,
    ROWS,
    assert_accessible,
    browser_sign_in,
    code_from_typed_key,
    draw_two_after_refusing_one,
    press,
)
from portal import clock
from portal.extensions import db
from portal.models import Meeting, Portfolio, Role, SampledPortfolio
from portal.reviews.template_default import DEFAULT_SCHEMA

BAD_ROW = b"Quin Fictional,not-an-email,Fictional Trust,Academy 2026,dentistry,,,,\n"
PEOPLE_IN_CSV = ("Nia Fictional", "Olu Fictional", "Pat Fictional", "Ash Assessor", "Bo Assessor")
PASSWORD = "four unrelated words together"
FEEDBACK = "Your reflections on direct observations were thorough and honest."
KEY_MESSAGE = "Date and sign every direct observation."


@dataclass
class Cycle:
    """What the journey learns as it goes: the pages of each person and the ids the pages showed."""

    live_url: str
    lead: Page
    chair: Page
    reader: Page
    absent: Page
    portfolio_ids: list[int] = field(default_factory=list)
    meeting_id: int = 0
    sampled_ids: list[int] = field(default_factory=list)

    def go(self, page: Page, path: str, status: int = 200) -> None:
        """Open a page, check its status, that axe-core finds nothing wrong with it and that no markup shows
        as text (escaped twice)."""
        response = page.goto(self.live_url + path)
        assert response is not None and response.status == status, f"{path}: {response and response.status}"
        assert_accessible(page)
        assert not ESCAPED_TAG.search(page.content()), f"{path} shows markup as text"


def _upload_csv(page: Page, rows: list[bytes]) -> int:
    page.set_input_files("input[type=file]", files=[{"name": "cohort.csv", "mimeType": "text/csv",
                                                     "buffer": HEADER + b"".join(rows)}])
    return press(page, "Check the file").status


def register_cohort(c: Cycle) -> None:
    """The Lead imports the cohort (first with a bad row, which writes nothing) and uploads a PDF to each portfolio."""
    page = c.lead
    c.go(page, "/cohort")
    page.get_by_role("link", name="Import from a CSV file").first.click()
    page.wait_for_url("**/cohort/import")
    assert_accessible(page)
    assert _upload_csv(page, [*ROWS, BAD_ROW]) == 400
    assert "Line 5:" in page.content() and "Line 2:" not in page.content()  # only the bad row
    assert_accessible(page)
    c.go(page, "/portfolios")
    assert "Nia Fictional" not in page.content(), "a CSV with a bad row must write nothing"

    c.go(page, "/cohort/import")
    assert _upload_csv(page, ROWS) == 200
    assert "Academy 2026" in page.content()
    assert_accessible(page)
    press(page, "Import these rows")
    assert "Imported 3 NQSWs" in page.content()
    assert_accessible(page)

    c.go(page, "/portfolios")
    hrefs = page.locator("main a[href^='/portfolios/']").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    c.portfolio_ids = sorted({int(m.group(1)) for h in hrefs if (m := re.fullmatch(r"/portfolios/(\d+)", h))})
    assert len(c.portfolio_ids) == 3, hrefs
    for pid in c.portfolio_ids:
        c.go(page, f"/portfolios/{pid}/documents/upload")
        page.select_option("#evidence_type-0", "final_report")
        page.set_input_files("#file-0", files=[{"name": "Final report.pdf", "mimeType": "application/pdf",
                                                "buffer": PDF}])
        page.get_by_role("button", name="Upload", exact=True).click()
        page.get_by_text("1 document uploaded").wait_for()
        assert page.url == f"{c.live_url}/portfolios/{pid}/documents"
        assert_accessible(page)
    c.go(page, f"/portfolios/{c.portfolio_ids[0]}")


def _fill_date(page: Page, legend: str, day: date) -> None:
    group = page.get_by_role("group", name=legend)
    group.get_by_label("Day").fill(str(day.day))
    group.get_by_label("Month").fill(str(day.month))
    group.get_by_label("Year").fill(str(day.year))


def _seat(page: Page, person: Person, role: str) -> None:
    page.get_by_label("Person").select_option(label=f"{person.name} (Panel member)")
    page.get_by_label(role, exact=True).check()
    press(page, "Add to the meeting")
    assert f"{person.name} is now" in page.content()
    assert_accessible(page)


def create_meeting(c: Cycle, chair: Person, reader: Person, absent: Person) -> None:
    """The Lead creates the meeting (an incomplete form first) and seats the Chair and two members."""
    page = c.lead
    c.go(page, "/meetings")
    page.get_by_role("button", name="Create a meeting").first.click()
    page.wait_for_url("**/meetings/new")
    assert_accessible(page)
    assert press(page, "Save meeting").status == 400
    assert_accessible(page)
    today = clock.now().date()
    page.get_by_label("Title").fill("Winter 2026 panel")
    _fill_date(page, "Date of the meeting", today + timedelta(days=14))
    _fill_date(page, "Reading deadline", today + timedelta(days=7))
    press(page, "Save meeting")
    match = re.search(r"/meetings/(\d+)/members$", page.url)
    assert match, page.url
    c.meeting_id = int(match.group(1))
    assert_accessible(page)
    _seat(page, chair, "Chair")
    _seat(page, reader, "Member")
    _seat(page, absent, "Member")
    c.go(page, f"/meetings/{c.meeting_id}")


def draw_sample(c: Cycle, app: Flask) -> None:
    """The Chair draws a sample of 2 (after a refused size of 1) and opens the verification page."""
    page = c.chair
    c.go(page, f"/meetings/{c.meeting_id}")
    page.get_by_role("button", name="Draw the sample").click()
    page.wait_for_url("**/sample")
    assert "3 portfolios eligible" in page.content()
    assert_accessible(page)
    draw_two_after_refusing_one(page)
    assert "/sample/draws/" in page.url
    c.go(page, f"/meetings/{c.meeting_id}")
    page.get_by_role("link", name="Check the draw").click()
    page.wait_for_url("**/sample/draws/*")
    assert "Re-running the draw gives the same portfolios" in page.content()
    assert_accessible(page)
    with app.app_context():
        c.sampled_ids = list(db.session.scalars(select(SampledPortfolio.portfolio_id).where(
            SampledPortfolio.meeting_id == c.meeting_id).order_by(SampledPortfolio.position)))
    assert len(c.sampled_ids) == 2 and set(c.sampled_ids) <= set(c.portfolio_ids)


def _complete_sections(c: Cycle, page: Page) -> None:
    for section in DEFAULT_SCHEMA["sections"]:
        page.get_by_role("link", name=section["title"], exact=True).click()
        page.wait_for_url(f"**/sections/{section['key']}")
        assert_accessible(page)
        for name, value in answers_for(section["key"]).items():
            inputs = page.locator(f"[name='{name}']")
            if inputs.first.get_attribute("type") == "radio":
                page.locator(f"[name='{name}'][value='{value}']").check()
            else:
                inputs.fill(value)
        assert press(page, "Save and return to the task list").status == 200
        assert_accessible(page)


def _submit(c: Cycle, page: Page, written: bool) -> None:
    page.get_by_role("button", name="Check your answers").click()
    page.wait_for_url("**/check")
    assert ("written assessment" in page.content()) == written
    assert_accessible(page)
    assert press(page, "Submit assessment").status == 200
    assert_accessible(page)
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Written assessment submitted" if written else "Assessment submitted")


def member_reads_and_submits(c: Cycle) -> None:
    """A member reads a sampled document (the view link), is refused an early submission, then submits."""
    page, pid = c.reader, c.sampled_ids[0]
    c.go(page, "/dashboard")
    c.go(page, f"/meetings/{c.meeting_id}")
    page.locator(f"main a[href='/portfolios/{pid}']").click()
    page.wait_for_url(f"**/portfolios/{pid}")
    shown = page.locator("main").inner_text()
    assert not [n for n in PEOPLE_IN_CSV if n in shown], "members see the label, never a name from the CSV"
    assert_accessible(page)
    c.go(page, f"/portfolios/{pid}/documents")
    assert "Not read yet" in page.content()
    opened = page.context.expect_event("response", lambda r: r.url.endswith("/view"))
    with page.expect_popup() as popup_info, opened as seen:
        page.get_by_role("link", name=re.compile(r"^Open Final assessment report \(PDF")).click()
    assert seen.value.status == 200 and seen.value.headers["content-type"].startswith("application/pdf")
    assert seen.value.headers["content-length"] == str(len(PDF))  # the body shows as Chromium's PDF viewer
    popup_info.value.close()  # Chromium's PDF viewer, not a portal page: nothing for axe-core to check
    c.go(page, f"/portfolios/{pid}/documents")
    assert "Not read yet" not in page.content()
    not_sampled = next(p for p in c.portfolio_ids if p not in c.sampled_ids)
    c.go(page, f"/portfolios/{not_sampled}", status=404)  # the error state: only the sample is open to the panel

    c.go(page, f"/reviews/meetings/{c.meeting_id}")
    page.get_by_role("link", name=re.compile("^Portfolio ")).first.click()
    page.wait_for_url(f"**/portfolios/{pid}")
    assert_accessible(page)
    page.get_by_role("button", name="Check your answers").click()
    page.wait_for_url("**/check")
    assert press(page, "Submit assessment").status == 400  # nothing answered yet
    assert_accessible(page)
    page.get_by_role("link", name="Back to the task list").click()
    page.wait_for_url(f"**/portfolios/{pid}")
    _complete_sections(c, page)
    _submit(c, page, written=False)
    page.get_by_role("link", name="See the other members' assessments of this portfolio").click()
    page.wait_for_url("**/others")
    # Before the reading deadline no one sees the others' judgements, even after submitting their own.
    assert page.get_by_role("heading", level=1).inner_text() == "The other members' assessments are not shown yet"
    assert_accessible(page)
    c.go(page, f"/reviews/meetings/{c.meeting_id}/portfolios/{pid}")
    assert "It can no longer be changed" in page.content()


def absent_member_writes(c: Cycle) -> None:
    """The second member sends apologies and submits the same form as a written assessment."""
    page, pid = c.absent, c.sampled_ids[0]
    c.go(page, f"/reviews/meetings/{c.meeting_id}")
    page.get_by_role("link", name="Send apologies and submit your assessments in writing").click()
    page.wait_for_url("**/apologies")
    assert_accessible(page)
    assert press(page, "Send apologies").status == 200
    assert_accessible(page)
    c.go(page, f"/reviews/meetings/{c.meeting_id}/portfolios/{pid}")
    assert "You have sent apologies" in page.content()
    _complete_sections(c, page)
    _submit(c, page, written=True)


def chair_closes_the_meeting(c: Cycle, app: Flask, chair: Person, lead: Person) -> None:
    """Before the day the Chair sees neither the assessments nor a way to record; on the meeting's date the Chair,
    who has not assessed, sees every submitted assessment and records attendance and the panel's view, writes,
    approves and publishes the minutes and releases feedback."""
    page, pid = c.chair, c.sampled_ids[0]
    c.go(page, f"/meetings/{c.meeting_id}")
    page.get_by_role("link", name="Meeting record").click()
    page.wait_for_url("**/record")
    assert "Sent apologies" in page.content()
    main = page.locator("main").inner_text()
    assert "you can record attendance and the panel's views from that day" in main
    assert "Record attendance and apologies" not in main and "Mina Reader" in main
    assert "Assessments side by side" not in main and "Go to your assessment" in main
    assert_accessible(page)
    c.go(page, f"/reviews/meetings/{c.meeting_id}/record/attendance", status=409)

    with app.app_context():
        held_on = db.session.get(Meeting, c.meeting_id).held_on
    clock.travel_to(datetime.combine(held_on, time(9, 30), tzinfo=clock.LONDON))
    browser_sign_in(page, c.live_url, chair, app)  # sessions end while the clock moves on: everyone signs in again
    browser_sign_in(c.lead, c.live_url, lead, app)
    c.go(page, "/dashboard")
    c.go(c.lead, "/dashboard")
    c.go(page, f"/reviews/meetings/{c.meeting_id}/record")
    assert "2 assessments submitted, 1 in writing" in page.content()
    assert "Abe Absent (written assessment)" in page.content()
    page.get_by_role("link", name="Record attendance and apologies").click()
    page.wait_for_url("**/attendance")
    assert_accessible(page)
    assert press(page, "Save attendance").status == 200
    assert_accessible(page)
    c.go(page, f"/reviews/meetings/{c.meeting_id}/record")
    page.locator(f"a[href$='/record/portfolios/{pid}']").click()
    page.wait_for_url(f"**/record/portfolios/{pid}")
    assert "Abe Absent (written assessment)" in page.content()  # beside the form for the panel's view
    assert_accessible(page)
    page.locator("input[name='agreement']").first.check()
    page.get_by_label("Feedback to the NQSW").fill(FEEDBACK)
    page.get_by_label("Feedback to the Assessor").fill("Clear, well-evidenced decision.")
    assert press(page, "Save the panel's view").status == 200
    assert_accessible(page)

    c.go(page, f"/meetings/{c.meeting_id}/minutes")
    page.get_by_role("button", name="Edit the minutes").click()
    page.wait_for_url("**/minutes/edit")
    assert_accessible(page)
    assert press(page, "Add key message").status == 400  # empty
    assert_accessible(page)
    c.go(page, f"/meetings/{c.meeting_id}/minutes/edit")
    page.get_by_label("Discussion and decisions").fill("The panel agreed with the Internal Panel's decision.")
    press(page, "Save the minutes")
    assert_accessible(page)
    page.get_by_label("Key message").fill(KEY_MESSAGE)
    press(page, "Add key message")
    assert_accessible(page)
    c.go(page, f"/meetings/{c.meeting_id}/minutes")
    press(page, "Approve the minutes")
    assert_accessible(page)
    press(page, "Publish the minutes")
    assert_accessible(page)
    page.get_by_role("button", name="Feedback release").click()
    page.wait_for_url("**/feedback-release")
    assert_accessible(page)
    assert press(page, "Release feedback now").status == 200
    assert "0 of 5 people have acknowledged their feedback." in page.content()
    assert_accessible(page)


def nqsw_reads_feedback(c: Cycle, app: Flask, page: Page) -> None:
    """The sampled NQSW follows the emailed link, sets up the account, reads and acknowledges the feedback."""
    with app.app_context():
        email = db.session.get(Portfolio, c.sampled_ids[0]).nqsw.email
    assert email.encode() in HEADER + b"".join(ROWS)
    c.go(page, link_in_last_email(app, email))
    page.get_by_label("Create a password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm your password", exact=True).fill(PASSWORD + " not")
    assert press(page, "Continue").status == 400
    assert_accessible(page)
    page.get_by_label("Create a password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm your password", exact=True).fill(PASSWORD)
    press(page, "Continue")
    assert page.get_by_role("heading", level=1).inner_text() == "Set up your authenticator app"
    assert_accessible(page)
    right = code_from_typed_key(page)
    page.locator("#code").fill(f"{(int(right) + 1) % 1_000_000:06d}")  # a wrong code first
    assert press(page, page.locator("main button[type=submit]")).status == 400
    assert_accessible(page)
    page.locator("#code").fill(code_from_typed_key(page))
    press(page, page.locator("main button[type=submit]"))
    assert page.get_by_role("heading", level=1).inner_text() == "Save your recovery codes"
    assert_accessible(page)
    page.locator("main a.govuk-button").click()
    page.wait_for_url(f"{c.live_url}/dashboard")
    assert_accessible(page)
    page.locator(f"main a[href='/feedback/{c.meeting_id}']").first.click()
    page.wait_for_url(f"**/feedback/{c.meeting_id}")
    assert FEEDBACK in page.content() and KEY_MESSAGE in page.content()
    assert_accessible(page)
    press(page, "I have read this feedback")
    assert page.get_by_text("You confirmed you read this feedback").is_visible()
    assert_accessible(page)
    c.go(page, f"/portfolios/{c.sampled_ids[0]}/documents", status=404)  # feedback only, never the documents

    c.go(c.chair, f"/meetings/{c.meeting_id}/feedback-release")
    assert "1 of 5 people have acknowledged their feedback." in c.chair.content()  # 3 NQSWs and 2 Assessors


def test_the_moderation_cycle(app: Flask, live_url: str, new_context: Callable[..., BrowserContext],
                              make_user: Callable[..., Person]) -> None:
    people = {"lead": make_user(Role.ADMIN, name="Lena Lead"), "chair": make_user(Role.MEMBER, name="Chidi Chair"),
              "reader": make_user(Role.MEMBER, name="Mina Reader"),
              "absent": make_user(Role.MEMBER, name="Abe Absent")}
    pages = {}
    for key, person in people.items():
        pages[key] = new_context().new_page()
        browser_sign_in(pages[key], live_url, person, app)
    c = Cycle(live_url, **pages)
    register_cohort(c)
    create_meeting(c, people["chair"], people["reader"], people["absent"])
    draw_sample(c, app)
    member_reads_and_submits(c)
    absent_member_writes(c)
    chair_closes_the_meeting(c, app, people["chair"], people["lead"])
    nqsw_reads_feedback(c, app, new_context().new_page())
