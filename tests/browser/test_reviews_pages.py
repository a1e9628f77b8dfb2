"""axe-core on the reviews pages (assessments, apologies, the meeting record, templates), and a keyboard-only
assessment."""

import re
from collections.abc import Callable
from datetime import timedelta

from conftest import Person, sign_in
from factories import make_panel
from flask import Flask
from helpers_documents import PDF, upload
from helpers_reviews import answers_for, base, complete, london_morning
from playwright.sync_api import Page

from browser.steps import assert_accessible, browser_sign_in, press
from portal import clock
from portal.extensions import db
from portal.models import Meeting, MeetingMember, Role

SignedInPage = Callable[..., tuple[Page, Person]]


def test_member_pages(app: Flask, live_url: str, signed_in_page: SignedInPage, make_user) -> None:
    page, member = signed_in_page(Role.MEMBER, name="Member One")
    other = make_user(Role.MEMBER, name="Member Two")
    panel = make_panel(app, [(member.id, "member"), (other.id, "member")])
    pid = panel.portfolio_ids[0]
    url = live_url + base(panel, pid)
    page.goto(f"{live_url}/reviews/meetings/{panel.meeting_id}")
    assert_accessible(page)
    page.goto(url)
    assert_accessible(page)
    page.goto(url + "/others")
    assert_accessible(page)
    page.goto(url + "/sections/part2")
    assert_accessible(page)
    page.goto(url + "/check")
    assert_accessible(page)
    assert press(page, "Submit assessment").status == 400
    assert_accessible(page)

    # Keyboard only: reach the first radio with Tab, choose with the arrow keys, save with Enter.
    page.goto(url + "/sections/part1")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "evidence-agreement":
            break
    assert page.evaluate("document.activeElement.id") == "evidence-agreement"
    page.keyboard.press("Space")
    assert page.locator("#evidence-agreement").is_checked()
    with page.expect_navigation():
        page.get_by_role("button", name="Save and return to the task list").focus()
        page.keyboard.press("Enter")
    assert page.url.endswith(base(panel, pid))
    assert page.get_by_text("In progress").first.is_visible()

    page.goto(url + "/sections/part1")
    page.evaluate("document.querySelector('#evidence-pdp').value = 'maybe'")
    page.locator("#evidence-pdp").check()
    assert press(page, "Save and return to the task list").status == 400
    assert_accessible(page)

    page.goto(f"{live_url}/reviews/meetings/{panel.meeting_id}/apologies")
    assert_accessible(page)
    assert press(page, "Send apologies").status == 200
    assert_accessible(page)


def test_an_assessment_links_to_the_evidence_and_opens_a_file_in_a_new_tab(
        app: Flask, live_url: str, signed_in_page: SignedInPage, make_user) -> None:
    """Issue 11 item 3: the task list, each section and the check page link to the portfolio's documents, and a
    Part 1 checklist item lists its own evidence, whose PDF opens in a new tab."""
    page, member = signed_in_page(Role.MEMBER, name="Member One")
    panel = make_panel(app, [(member.id, "member")])
    pid = panel.portfolio_ids[0]
    lead = app.test_client()
    sign_in(app, lead, make_user(Role.ADMIN))
    assert upload(lead, pid, [("Agreement.pdf", PDF, "agreement")]).status_code == 302
    url = live_url + base(panel, pid)
    everything = re.compile(r"^Read the portfolio's documents \(1 document\)")
    for path in ("", "/sections/part1", "/sections/part2", "/check"):
        page.goto(url + path)
        assert page.get_by_role("link", name=everything).count() >= 1, f"no link to the documents on {path or '/'}"
    page.goto(url + "/sections/part1")
    section_link = page.get_by_role("link", name=everything).first
    assert section_link.get_attribute("target") == "_blank"  # a form with unsaved answers: the list opens beside it
    item = page.locator(".govuk-form-group", has=page.locator("#evidence-agreement")).first
    opens = item.get_by_role("link", name=re.compile(r"^Open .+ in a new tab$"))
    assert opens.count() == 1, item.inner_text()
    with page.expect_popup() as popup:
        opens.click()
    popup.value.wait_for_load_state()
    assert "/view" in popup.value.url and page.url.endswith("/sections/part1")  # the form stays where it was
    assert_accessible(page)


def test_submitted_and_others(app: Flask, live_url: str, signed_in_page: SignedInPage, make_user) -> None:
    page, member = signed_in_page(Role.MEMBER, name="Member One")
    panel = make_panel(app, [(member.id, "member")], portfolios=1)
    pid = panel.portfolio_ids[0]
    url = live_url + base(panel, pid)
    for key in ("part1", "part2", "support", "part3"):
        page.goto(f"{url}/sections/{key}")
        for name, value in answers_for(key).items():
            field = page.locator(f"[name='{name}']")
            if field.first.get_attribute("type") == "radio":
                page.locator(f"[name='{name}'][value='{value}']").check()
            else:
                field.fill(value)
        press(page, "Save and return to the task list")
    assert_accessible(page)
    page.goto(url + "/check")
    assert_accessible(page)
    assert press(page, "Submit assessment").status == 200
    assert_accessible(page)
    for path in ("", "/check", "/others", "/sections/part1"):
        page.goto(url + path)
        assert_accessible(page)
    page.goto(url + "/others")
    assert page.get_by_role("heading", level=1).inner_text() == "The other members' assessments are not shown yet"
    with app.app_context():
        deadline = db.session.get(Meeting, panel.meeting_id).reading_deadline
    clock.travel_to(london_morning(deadline + timedelta(days=1)))
    browser_sign_in(page, live_url, member, app)
    page.goto(url + "/others")
    assert page.get_by_role("heading", level=1).inner_text() == "Other members' assessments"
    assert_accessible(page)


def test_chair_and_lead_pages(app: Flask, live_url: str, signed_in_page: SignedInPage, make_user) -> None:
    page, chair = signed_in_page(Role.MEMBER, name="Chair Person")
    panel = make_panel(app, [(chair.id, "chair")])
    record = f"{live_url}/reviews/meetings/{panel.meeting_id}/record"
    page.goto(record)
    assert_accessible(page)
    member = make_user(Role.MEMBER, name="Member One")
    with app.app_context():
        db.session.add(MeetingMember(meeting_id=panel.meeting_id, user_id=member.id, panel_role="member"))
        db.session.commit()
    client = app.test_client()
    sign_in(app, client, member)
    complete(client, panel, panel.portfolio_ids[0])
    complete(client, panel, panel.portfolio_ids[1], submit_it=False)
    page.goto(record)
    assert "you can record attendance and the panel's views from that day" in page.locator("main").inner_text()
    assert_accessible(page)
    assert press(page, "Send a reminder").status == 200
    assert_accessible(page)
    assert page.goto(record + "/attendance").status == 409  # before the meeting's date
    assert_accessible(page)
    with app.app_context():
        held_on = db.session.get(Meeting, panel.meeting_id).held_on
    clock.travel_to(london_morning(held_on))
    browser_sign_in(page, live_url, chair, app)  # the session ended while the clock moved on
    page.goto(record)
    assert "Member One" in page.content() and "Assessments side by side" in page.content()
    assert_accessible(page)  # on the day: every submitted assessment, though the Chair has not assessed
    page.goto(record + "/attendance")
    assert_accessible(page)
    assert press(page, "Save attendance").status == 200
    page.goto(f"{record}/portfolios/{panel.portfolio_ids[0]}")
    assert_accessible(page)
    page.get_by_label("Feedback to the NQSW").fill("Strong reflective writing")
    assert press(page, "Save the panel's view").status == 200
    assert_accessible(page)

    lead, _admin = signed_in_page(Role.ADMIN)
    lead.goto(record)
    assert_accessible(lead)
    lead.goto(live_url + "/reviews/templates")
    assert_accessible(lead)
    lead.goto(live_url + "/reviews/templates/new")
    assert_accessible(lead)
    lead.get_by_label("Template (JSON)").fill("{ not json")
    assert press(lead, "Publish new version").status == 400
    assert_accessible(lead)
