"""axe-core on the sign-in check: the Chair's table and reminder, and the page for people who cannot sign in."""

from collections.abc import Callable
from datetime import timedelta

from conftest import Person
from factories import make_panel
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect

from browser.steps import assert_accessible, browser_sign_in, press
from portal import clock
from portal.models import Role


def test_the_chairs_sign_in_check_and_reminder(app: Flask, live_url: str,
                                               new_context: Callable[..., BrowserContext],
                                               make_user: Callable[..., Person]) -> None:
    chair = make_user(Role.MEMBER, name="Chair Fictional")
    waiting = make_user(Role.MEMBER, name="Not Yet Signed")
    panel = make_panel(app, [(chair.id, "chair"), (waiting.id, "member")])
    clock.advance(timedelta(minutes=1))
    page = new_context(viewport={"width": 320, "height": 640}).new_page()
    browser_sign_in(page, live_url, chair, app)
    page.goto(f"{live_url}/reviews/meetings/{panel.meeting_id}/record#signing-in")
    expect(page.get_by_role("heading", name="Signing in before the meeting")).to_be_visible()
    assert_accessible(page)
    press(page, "Remind them to sign in")
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Sign-in reminder sent to 1 member.")
    assert_accessible(page)


def test_the_page_for_people_who_cannot_sign_in(live_url: str, page: Page) -> None:
    page.goto(live_url + "/sign-in")
    press(page, page.get_by_role("link", name="I cannot sign in for another reason"))
    expect(page.get_by_role("heading", level=1)).to_have_text("If you cannot sign in")
    assert_accessible(page)
