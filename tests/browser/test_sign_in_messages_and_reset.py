"""axe-core on the sign-in pages in every failure state, and on the Lead's reset journey (with and without script)."""

from collections.abc import Callable
from datetime import UTC, datetime

from conftest import Person, fresh_code, sign_in
from flask import Flask
from helpers_auth import SIGN_IN_FAILED, new_recovery_codes, wrong_code
from playwright.sync_api import BrowserContext, Page

from browser.steps import assert_accessible, press, reset_link
from browser.steps import assert_accessible as check_accessible
from portal import clock
from portal.extensions import db
from portal.models import Role, User
from portal.security import totp


def _password_step(page: Page, live_url: str, email: str, password: str) -> int:
    page.goto(live_url + "/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    return press(page, "Continue").status


def _error_text(page: Page) -> str:
    return " ".join(page.locator(".govuk-error-summary").inner_text().split())


def test_the_security_code_page_says_what_is_wrong_and_what_to_do(app: Flask, live_url: str, page: Page,
                                                                   make_user: Callable[..., Person]) -> None:
    person = make_user(Role.MEMBER)
    setup = app.test_client()
    sign_in(app, setup, person)
    codes = new_recovery_codes(app, setup, person)  # this accepted a security code, which is replayed below

    assert _password_step(page, live_url, person.email, person.password) == 200
    assert "/sign-in/code" in page.url
    page.get_by_label("Security code").fill(codes[0])
    assert press(page, "Sign in").status == 200  # a recovery code signs in
    page.context.clear_cookies()

    with app.app_context():
        last_step = db.session.get(User, person.id).totp_last_step
    replayed = totp.code_at(person.secret, datetime.fromtimestamp(last_step * totp.STEP_SECONDS, UTC))
    attempts = [
        (wrong_code(person.secret), "That security code is not right or has expired"),
        (replayed, "That security code has already been used"),
        (codes[0], "That recovery code has already been used: use another one, or ask your ASYE Lead to reset "
                   "your sign-in"),
        ("abcd-efgh-jkmnp", "That is not one of your recovery codes"),
        ("12345", "A security code is 6 digits"),
    ]
    assert _password_step(page, live_url, person.email, person.password) == 200
    for code, message in attempts:
        page.get_by_label("Security code").fill(code)
        assert press(page, "Sign in").status == 400, code
        assert message in _error_text(page), (code, _error_text(page))
        assert_accessible(page)
    # After five failures the code step says to wait.
    page.get_by_label("Security code").fill(fresh_code(app, person))
    assert press(page, "Sign in").status == 400
    assert "Too many attempts" in _error_text(page)
    assert_accessible(page)


def test_the_password_step_has_one_plain_message_with_a_next_step(app: Flask, live_url: str, page: Page,
                                                                  make_user: Callable[..., Person]) -> None:
    person = make_user(Role.MEMBER)
    for _ in range(5):
        assert _password_step(page, live_url, person.email, "not the password at all") == 400
    assert SIGN_IN_FAILED in _error_text(page) and "contact your ASYE Lead" in _error_text(page)
    assert_accessible(page)
    # Throttled now: the right password gets the very same words.
    assert _password_step(page, live_url, person.email, person.password) == 400
    assert SIGN_IN_FAILED in _error_text(page) and "Too many" not in page.content()
    assert_accessible(page)
    page.get_by_role("link", name="I have forgotten my password", exact=True).click()
    page.wait_for_url("**/password-help")


def _walk_the_reset_journey(app: Flask, live_url: str, page: Page, person: Person, axe: bool = True) -> None:
    """The whole journey; axe needs script in the page, so a page without JavaScript is checked by the other run."""

    def assert_accessible(page: Page) -> None:
        if axe:
            check_accessible(page)

    page.goto(live_url + reset_link(app, person))
    assert page.get_by_role("heading", name="Set up a new authenticator app").is_visible()
    body = " ".join(page.locator("main").inner_text().split())
    assert "You keep your password" in body and "Create a password" not in body
    assert page.locator('input[autocomplete="new-password"]').count() == 0
    assert_accessible(page)

    page.get_by_label("Password", exact=True).fill("not my password at all")
    assert press(page, "Continue").status == 400
    assert "That password is not right" in _error_text(page)
    assert_accessible(page)

    page.get_by_label("Password", exact=True).fill(person.password)
    assert press(page, "Continue").status == 200
    assert page.get_by_role("heading", name="Scan the code with your new authenticator app").is_visible()
    assert_accessible(page)
    secret = page.locator("#typed-key").inner_text().replace(" ", "")

    page.get_by_label("Security code").fill(wrong_code(secret))
    assert press(page, "Confirm and continue").status == 400
    assert "That security code is not right" in _error_text(page)
    assert_accessible(page)

    page.get_by_label("Security code").fill(totp.code_at(secret, clock.now()))
    assert press(page, "Confirm and continue").status == 200
    assert page.get_by_role("heading", name="Save your recovery codes").is_visible()
    assert page.locator(".portal-recovery-codes li").count() == 10
    assert_accessible(page)
    assert page.goto(live_url + "/dashboard").status == 200 and "/sign-in" not in page.url
    with app.app_context():
        assert db.session.get(User, person.id).totp_secret == secret


def test_the_leads_reset_keeps_the_password_and_sets_up_a_new_authenticator(
        app: Flask, live_url: str, page: Page, make_user: Callable[..., Person]) -> None:
    _walk_the_reset_journey(app, live_url, page, make_user(Role.MEMBER))


def test_the_reset_journey_works_without_javascript(app: Flask, live_url: str,
                                                    new_context: Callable[..., BrowserContext],
                                                    make_user: Callable[..., Person]) -> None:
    page = new_context(java_script_enabled=False).new_page()
    _walk_the_reset_journey(app, live_url, page, make_user(Role.MEMBER), axe=False)
    assert "js-enabled" not in (page.locator("body").get_attribute("class") or "")


def test_a_reset_for_a_forgotten_password_too_chooses_a_new_one(app: Flask, live_url: str, page: Page,
                                                                make_user: Callable[..., Person]) -> None:
    person = make_user(Role.MEMBER)
    page.goto(live_url + reset_link(app, person, forgot_password=True))
    assert page.get_by_role("heading", name="Choose a new password").is_visible()
    assert_accessible(page)
    page.get_by_label("Create a password", exact=True).fill("a fresh river of nine words")
    page.get_by_label("Confirm your password", exact=True).fill("a fresh river of nine words")
    assert press(page, "Continue").status == 200
    assert page.get_by_role("heading", name="Set up your authenticator app").is_visible()
    assert_accessible(page)
