"""axe-core on the administrator's 'Emails not delivered' page and the People banner that leads to it."""

from collections.abc import Callable

from conftest import Person
from flask import Flask
from playwright.sync_api import Page

from browser.steps import assert_accessible, press
from portal import mail
from portal.extensions import db
from portal.models import Role

SignedInPage = Callable[..., tuple[Page, Person]]


def test_emails_not_delivered(app: Flask, live_url: str, signed_in_page: SignedInPage) -> None:
    page, _ = signed_in_page(Role.ADMIN)
    page.goto(live_url + "/admin/emails")
    assert page.get_by_text("Every email has been delivered").is_visible()
    assert_accessible(page)

    app.config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=9)  # nothing listens on port 9
    with app.app_context():
        mail.queue("someone@example.org", "Your link to the moderation portal", "invitation",
                   link_url="https://portal.test/invite/x", hours=72)
        db.session.commit()
        mail.deliver_due()
    page.goto(live_url + "/admin/people")
    banner = page.locator(".govuk-notification-banner")
    assert banner.is_visible() and "1 email could not be delivered" in banner.inner_text()
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("link", name="See emails not delivered").click()
    page.get_by_role("table").wait_for()
    assert_accessible(page)
    assert press(page, "Try again").status == 200  # redirected back to the list, where it waits for the worker
    assert page.get_by_text("will be sent again now").is_visible()
    assert page.get_by_role("cell", name="Being sent again").is_visible()
    assert_accessible(page)
