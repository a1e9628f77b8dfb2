"""The timeout warning (GOV.UK pattern, WCAG 2.2.1) in Chromium: keyboard, screen-reader wiring, axe, 320 px;
and kept work after a session ended, saved from the Unsaved work page."""

import re
from collections.abc import Callable
from datetime import timedelta

from conftest import Person
from factories import make_panel
from flask import Flask
from helpers_reviews import base
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from browser.steps import assert_accessible, browser_sign_in, press
from portal import clock
from portal.extensions import db
from portal.models import Assessment, Role

SERVER_MS = 15_000  # waits on the portal's answers (a busy machine can be slow)
TYPED = "Every visit is linked to supervision notes; the learning is clear."


def _signed_in(app: Flask, live_url: str, new_context: Callable[..., BrowserContext], person: Person,
               **options: object) -> Page:
    page = new_context(**options).new_page()
    page.clock.install()  # the page's timers run on a clock the test moves, with the portal's clock beside it
    browser_sign_in(page, live_url, person, app)
    page.goto(live_url + "/account")
    # One round trip to the page before the test moves its clock: moved straight after the navigation, the page's
    # clock could run on before the new document's timers were set, and the warning never came.
    page.wait_for_function("() => document.readyState === 'complete'")
    return page


def _let_time_pass(page: Page, seconds: int) -> None:
    """Move the portal's clock and the page's clock on together."""
    clock.advance(timedelta(seconds=seconds))
    page.clock.run_for(seconds * 1000)


def _server_seconds_left(page: Page, live_url: str) -> int:
    return page.request.get(live_url + "/session/time-left").json()["seconds_left"]


def test_the_warning_appears_before_the_idle_timeout_and_keyboard_users_can_stay_signed_in(
        app: Flask, live_url: str, new_context: Callable[..., BrowserContext],
        make_user: Callable[..., Person]) -> None:
    page = _signed_in(app, live_url, new_context, make_user(Role.MEMBER))
    dialog = page.locator("#timeout-warning")
    expect(dialog).to_be_hidden(timeout=SERVER_MS)
    page.get_by_role("link", name="Change password").focus()
    _let_time_pass(page, 30 * 60 - 115)  # just inside the last two minutes
    expect(dialog).to_be_visible(timeout=SERVER_MS)
    # A modal dialog named by its heading and described by its text; focus moves to the heading.
    expect(page.get_by_role("dialog", name="You\u2019re about to be signed out")).to_be_visible()
    assert dialog.evaluate("d => d.matches(':modal')")
    expect(page.locator("#timeout-warning-heading")).to_be_focused()
    expect(page.locator("#timeout-warning-announce")).to_have_text("We will sign you out in 2 minutes.")
    expect(page.locator("#timeout-warning-announce")).to_have_attribute("aria-live", "assertive")
    assert_accessible(page)
    # The visible countdown moves each second; what a screen reader hears changes only each minute.
    page.clock.run_for(60_000)
    clock.advance(timedelta(seconds=60))
    expect(page.locator(".portal-timeout-dialog__countdown")).to_have_text(re.compile(r"^[1-5]?[0-9] seconds$"))
    expect(page.locator("#timeout-warning-announce")).to_have_text("We will sign you out in 1 minute.")
    # Keyboard only: Tab reaches "Stay signed in" and Enter presses it; the idle time starts again.
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Stay signed in")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden(timeout=SERVER_MS)
    expect(page.get_by_role("link", name="Change password")).to_be_focused()  # focus goes back where it was
    assert _server_seconds_left(page, live_url) >= 30 * 60 - 5
    # Escape also keeps the person signed in.
    _let_time_pass(page, 30 * 60 - 100)
    expect(dialog).to_be_visible(timeout=SERVER_MS)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden(timeout=SERVER_MS)
    assert _server_seconds_left(page, live_url) >= 30 * 60 - 5


def test_when_time_runs_out_the_person_is_told_they_were_signed_out(
        app: Flask, live_url: str, new_context: Callable[..., BrowserContext],
        make_user: Callable[..., Person]) -> None:
    page = _signed_in(app, live_url, new_context, make_user(Role.MEMBER), viewport={"width": 320, "height": 640})
    _let_time_pass(page, 30 * 60 - 110)
    expect(page.locator("#timeout-warning")).to_be_visible(timeout=SERVER_MS)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"the warning makes the page {width} px wide at 320 px"
    assert_accessible(page)
    _let_time_pass(page, 120)  # past the end: the page asks the portal, which says the session has ended
    page.wait_for_url("**/signed-out?next=%2Faccount", timeout=SERVER_MS)
    expect(page.get_by_role("heading", level=1)).to_have_text("You have been signed out")
    assert_accessible(page)
    press(page, page.get_by_role("link", name="Sign in again"))
    assert "/sign-in?next=/account" in page.url


def test_work_in_another_tab_keeps_the_warning_away(app: Flask, live_url: str,
                                                    new_context: Callable[..., BrowserContext],
                                                    make_user: Callable[..., Person]) -> None:
    page = _signed_in(app, live_url, new_context, make_user(Role.MEMBER))
    clock.advance(timedelta(minutes=20))
    page.request.get(live_url + "/dashboard")  # another tab of the same browser is in use
    clock.advance(timedelta(seconds=30 * 60 - 20 * 60 - 110))
    with page.expect_response("**/session/time-left", timeout=SERVER_MS) as asked:
        page.clock.run_for((30 * 60 - 110) * 1000)  # this tab's own count says the warning is due
    assert asked.value.json()["seconds_left"] > 20 * 60
    page.wait_for_timeout(500)
    expect(page.locator("#timeout-warning")).to_be_hidden()


def test_an_assessment_typed_as_the_session_ended_is_saved_after_signing_in_again(
        app: Flask, live_url: str, new_context: Callable[..., BrowserContext],
        make_user: Callable[..., Person]) -> None:
    person = make_user(Role.MEMBER)
    panel = make_panel(app, [(person.id, "member")])
    page = new_context().new_page()
    browser_sign_in(page, live_url, person, app)
    section = f"{base(panel, panel.portfolio_ids[0])}/sections/part1"
    page.goto(live_url + section)
    first_box = page.locator("textarea").first
    first_box.fill(TYPED)
    clock.advance(timedelta(minutes=31))  # the person was called away; the session ended meanwhile
    press(page, "Save and return to the task list")
    assert "/sign-in" in page.url
    expect(page.locator(".govuk-notification-banner")).to_contain_text("It has been kept")
    assert_accessible(page)
    browser_sign_in(page, live_url, person, app, path=page.url.removeprefix(live_url))
    assert page.url.endswith("/unsaved-work")
    expect(page.locator(".portal-kept-text").first).to_have_text(TYPED)
    assert_accessible(page)
    press(page, page.get_by_role("button", name="Save it"))
    assert page.url.endswith(base(panel, panel.portfolio_ids[0]))
    with app.app_context():
        assessment = db.session.scalar(select(Assessment).where(Assessment.user_id == person.id))
        assert TYPED in assessment.answer_map.values()
