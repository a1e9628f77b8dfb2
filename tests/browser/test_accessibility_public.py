"""axe-core on every page reachable without signing in, in its normal and error states."""

from collections.abc import Callable

from conftest import Person, link_in_last_email
from flask import Flask
from playwright.sync_api import Page

from browser.steps import assert_accessible, code_from_typed_key, invite, press
from portal.auth import services as auth_services
from portal.extensions import db
from portal.models import Role, User


def test_sign_in_and_security_code_pages(app: Flask, live_url: str, page: Page,
                                         make_user: Callable[..., Person]) -> None:
    person = make_user(Role.MEMBER)
    assert page.goto(live_url + "/sign-in").status == 200
    assert_accessible(page)

    page.get_by_label("Email address").fill(person.email)
    page.get_by_label("Password", exact=True).fill("not the password at all")
    assert press(page, "Continue").status == 400
    assert page.locator(".govuk-error-summary").is_visible()
    assert_accessible(page)

    page.get_by_label("Password", exact=True).fill(person.password)
    assert press(page, "Continue").status == 200
    assert "/sign-in/code" in page.url
    assert_accessible(page)

    page.get_by_label("Security code").fill("000000")
    assert press(page, "Sign in").status == 400
    assert page.locator(".govuk-error-summary").is_visible()
    assert_accessible(page)


def test_password_help_pages(app: Flask, live_url: str, page: Page, make_user: Callable[..., Person]) -> None:
    person = make_user(Role.MEMBER)
    page.goto(live_url + "/password-help")
    assert_accessible(page)

    assert press(page, "Send me a link").status == 400
    assert_accessible(page)

    page.get_by_label("Email address").fill(person.email)
    assert press(page, "Send me a link").status == 200
    assert page.get_by_role("heading", name="Check your email").is_visible()
    assert_accessible(page)

    assert page.goto(live_url + link_in_last_email(app, person.email)).status == 200
    assert page.get_by_role("heading", name="Choose a new password").is_visible()
    assert_accessible(page)

    page.get_by_label("New password", exact=True).fill("short")
    assert press(page, "Change password").status == 400
    assert page.locator(".govuk-error-summary").is_visible()
    assert_accessible(page)


def test_link_problem_page(live_url: str, page: Page) -> None:
    assert page.goto(live_url + "/invite/this-is-not-a-real-token").status == 404
    assert page.get_by_role("heading", name="This link cannot be used").is_visible()
    assert_accessible(page)


def test_accessibility_statement_and_not_found_pages(live_url: str, page: Page) -> None:
    assert page.goto(live_url + "/accessibility").status == 200
    assert_accessible(page)
    assert page.goto(live_url + "/no-such-page").status == 404
    assert page.get_by_role("heading", level=1).is_visible()
    assert_accessible(page)


def test_first_run_administrator_pages(app: Flask, live_url: str, page: Page) -> None:
    with app.app_context():
        token = auth_services.first_admin_link()
    assert token
    page.goto(f"{live_url}/invite/{token}")
    assert page.get_by_role("heading", name="Create your administrator account").is_visible()
    assert_accessible(page)

    page.get_by_label("Full name").fill("Grace Example")
    page.get_by_label("Email address").fill("not an email")
    page.get_by_label("Create a password", exact=True).fill("a long enough passphrase here")
    page.get_by_label("Confirm your password", exact=True).fill("a different passphrase here")
    assert press(page, "Continue").status == 400
    assert_accessible(page)

    page.get_by_label("Email address").fill("grace@example.org")
    page.get_by_label("Create a password", exact=True).fill("a long enough passphrase here")
    page.get_by_label("Confirm your password", exact=True).fill("a long enough passphrase here")
    assert press(page, "Continue").status == 200
    assert page.get_by_role("heading", name="Set up your authenticator app").is_visible()
    assert_accessible(page)

    page.get_by_label("Security code").fill("12ab")
    assert press(page, "Confirm and continue").status == 400
    assert_accessible(page)

    page.get_by_label("Security code").fill(code_from_typed_key(page))
    assert press(page, "Confirm and continue").status == 200
    assert page.get_by_role("heading", name="Save your recovery codes").is_visible()
    assert page.locator(".portal-recovery-codes li").count() == 10
    assert_accessible(page)


def test_invitation_pages(app: Flask, live_url: str, page: Page) -> None:
    page.goto(live_url + invite(app, "ada@example.org"))
    assert page.get_by_role("heading", name="Create a password").is_visible()
    assert_accessible(page)

    page.get_by_label("Create a password", exact=True).fill("ada@example.org is my password")
    assert press(page, "Continue").status == 400
    assert_accessible(page)

    page.get_by_label("Create a password", exact=True).fill("four unrelated words together")
    page.get_by_label("Confirm your password", exact=True).fill("four unrelated words together")
    assert press(page, "Continue").status == 200
    assert_accessible(page)

    page.get_by_label("Security code").fill("999999")
    assert press(page, "Confirm and continue").status == 400
    assert page.locator(".govuk-error-summary").is_visible()
    assert_accessible(page)

    page.get_by_label("Security code").fill(code_from_typed_key(page))
    assert press(page, "Confirm and continue").status == 200
    assert_accessible(page)
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == "ada@example.org"))
        assert user is not None and user.enrolled_at is not None
