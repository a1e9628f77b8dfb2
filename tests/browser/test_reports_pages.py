"""axe-core on the minutes, report, themes, feedback release, feedback and dashboard pages, in normal, error and
empty states; the Chair publishes and releases, and an NQSW acknowledges, in the browser."""

from collections.abc import Callable
from datetime import timedelta

from conftest import Person, sign_in, submit
from flask import Flask
from helpers_reports import build_meeting
from helpers_reviews import london_morning
from playwright.sync_api import Page

from browser.steps import assert_accessible, browser_sign_in, press
from portal import clock
from portal.extensions import db
from portal.models import Meeting, Role

SignedInPage = Callable[..., tuple[Page, Person]]


def test_chair_writes_publishes_and_releases(app: Flask, live_url: str, signed_in_page: SignedInPage,
                                             make_user) -> None:
    page, chair = signed_in_page(Role.MEMBER, name="Chair Fictional")
    member = make_user(Role.MEMBER, name="Member Fictional")
    built = build_meeting(app, chair.id, member_ids=(member.id,), held_on=clock.now().date() + timedelta(days=3))
    with app.app_context():
        db.session.get(Meeting, built.meeting_id).reading_deadline = clock.now().date() + timedelta(days=1)
        db.session.commit()
    m = built.meeting_id
    page.goto(f"{live_url}/dashboard")
    assert_accessible(page)
    page.goto(f"{live_url}/meetings/{m}/minutes")
    assert_accessible(page)
    page.goto(f"{live_url}/meetings/{m}/minutes/edit")
    assert_accessible(page)
    assert press(page, "Add action").status == 400  # the error state
    assert_accessible(page)
    page.goto(f"{live_url}/meetings/{m}/minutes/edit")
    page.get_by_label("Discussion and decisions").fill("The panel discussed reflective writing.")
    press(page, "Save the minutes")
    page.get_by_label("Theme").fill("Protected time")
    press(page, "Add theme")
    page.get_by_label("Action", exact=True).fill("Add a protected-time log")
    page.get_by_label("Owner").fill("ASYE Lead")
    page.get_by_label("Day").fill("1")
    page.get_by_label("Month").fill("3")
    page.get_by_label("Year").fill("2027")
    press(page, "Add action")
    page.get_by_label("Key message").fill("Date every observation.")
    press(page, "Add key message")
    assert_accessible(page)
    page.goto(f"{live_url}/meetings/{m}/feedback-release")
    assert_accessible(page)
    page.goto(f"{live_url}/meetings/{m}/minutes")
    assert "can be approved and published from that day" in page.content()  # the meeting is in 3 days
    assert_accessible(page)
    with app.app_context():
        held_on = db.session.get(Meeting, m).held_on
    clock.travel_to(london_morning(held_on))
    browser_sign_in(page, live_url, chair, app)  # the session ended while the clock moved on
    page.goto(f"{live_url}/meetings/{m}/minutes")
    press(page, "Approve the minutes")
    press(page, "Publish the minutes")
    assert_accessible(page)
    page.goto(f"{live_url}/meetings/{m}/minutes/correct")
    page.get_by_label("Reason for the correction").fill("")
    assert press(page, "Publish the correction").status == 400
    assert_accessible(page)
    page.get_by_label("Reason for the correction").fill("Typo")
    press(page, "Publish the correction")
    assert_accessible(page)  # with the earlier revision shown
    page.goto(f"{live_url}/meetings/{m}/report")
    assert_accessible(page)
    page.goto(f"{live_url}/themes")
    assert_accessible(page)
    page.goto(f"{live_url}/reports")
    assert_accessible(page)
    page.goto(f"{live_url}/meetings/{m}/feedback-release")
    press(page, "Release feedback now")
    assert_accessible(page)


def test_nqsw_and_observer_pages(app: Flask, live_url: str, signed_in_page: SignedInPage, make_user,
                                 new_context) -> None:
    page, _ = signed_in_page(Role.OBSERVER)
    page.goto(f"{live_url}/dashboard")
    assert_accessible(page)  # empty state
    page.goto(f"{live_url}/themes")
    assert_accessible(page)
    chair = make_user(Role.MEMBER)
    built = build_meeting(app, chair.id)
    nqsw = make_user(Role.NQSW, email=built.nqsw_emails[0])
    not_sampled = make_user(Role.NQSW, email=built.cohort_nqsw_email)  # in the cohort, not in the sample
    chair_client = app.test_client()
    sign_in(app, chair_client, chair)
    base = f"/meetings/{built.meeting_id}/minutes"
    submit(chair_client, f"{base}/actions", {"description": "Open action", "owner": "PSW",
                                             "due_on": ["1", "1", "2020"]}, page=f"{base}/edit")
    submit(chair_client, f"{base}/approve", {}, page=base)
    submit(chair_client, f"{base}/publish", {}, page=base)
    submit(chair_client, f"/meetings/{built.meeting_id}/feedback-release", {})
    page.goto(f"{live_url}/dashboard")
    assert_accessible(page)  # published minutes and an overdue open action
    nqsw_page = new_context().new_page()
    browser_sign_in(nqsw_page, live_url, nqsw, app)
    nqsw_page.goto(f"{live_url}/dashboard")
    assert_accessible(nqsw_page)
    nqsw_page.goto(f"{live_url}/feedback")
    assert_accessible(nqsw_page)
    nqsw_page.goto(f"{live_url}/feedback/{built.meeting_id}")
    assert_accessible(nqsw_page)
    press(nqsw_page, "I have read this feedback")
    assert nqsw_page.get_by_text("You confirmed you read this feedback").is_visible()
    assert_accessible(nqsw_page)

    # An NQSW whose portfolio was not sampled is told so, and shown the key messages for everyone (issue 11 item 6).
    cohort_page = new_context().new_page()
    browser_sign_in(cohort_page, live_url, not_sampled, app)
    cohort_page.goto(f"{live_url}/dashboard")
    main = cohort_page.locator("main")
    assert "Your portfolio was not in the sample this time" in main.inner_text()
    assert "has feedback for you" not in main.inner_text()
    assert_accessible(cohort_page)  # the key-messages banner
    cohort_page.goto(f"{live_url}/feedback/{built.meeting_id}")
    assert cohort_page.get_by_role("heading", level=1).inner_text() == "Key messages from the External Moderation Panel"
    assert "Your portfolio was not in the sample this time" in cohort_page.locator("main").inner_text()
    assert_accessible(cohort_page)
    press(cohort_page, "I have read these key messages")
    assert_accessible(cohort_page)
