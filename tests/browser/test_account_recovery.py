"""axe-core on the lost-phone pages: a new authenticator, new codes with the password and a code, other sessions,
the code box."""

from collections.abc import Callable

from conftest import Person, fresh_code, sign_in
from flask import Flask
from helpers_auth import new_recovery_codes
from playwright.sync_api import Page

from browser.steps import assert_accessible, press
from portal import clock
from portal.models import Role
from portal.security import totp

SignedInPage = Callable[..., tuple[Page, Person]]


def test_sign_out_other_sessions_and_set_up_a_new_authenticator(app: Flask, live_url: str,
                                                                signed_in_page: SignedInPage) -> None:
    page, person = signed_in_page(Role.MEMBER)
    sign_in(app, app.test_client(), person)
    page.goto(live_url + "/account")
    assert_accessible(page)
    assert press(page, "Sign out other sessions").status == 200
    assert page.get_by_text("You have signed out everywhere else.").is_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Set up a new one authenticator app").click()
    page.wait_for_url("**/account/authenticator")
    assert_accessible(page)
    assert press(page, "Continue").status == 400
    assert page.locator(".govuk-error-summary").is_visible()
    assert_accessible(page)
    page.get_by_label("Password", exact=True).fill(person.password)
    page.get_by_label("Security code or recovery code").fill("000000")
    assert press(page, "Continue").status == 400
    assert page.get_by_text("That security code is not right or has expired").first.is_visible()
    assert_accessible(page)
    page.get_by_label("Password", exact=True).fill(person.password)
    page.get_by_label("Security code or recovery code").fill(fresh_code(app, person))
    assert press(page, "Continue").status == 200
    assert page.locator("svg.portal-qr").is_visible()
    assert_accessible(page)

    assert press(page, "Confirm and continue").status == 400
    assert page.locator(".govuk-error-summary").is_visible()
    assert_accessible(page)
    secret = page.locator("#typed-key").inner_text().replace(" ", "")
    page.get_by_label("Security code").fill(totp.code_at(secret, clock.now()))
    assert press(page, "Confirm and continue").status == 200
    assert page.locator(".portal-recovery-codes li").count() == 10
    assert_accessible(page)


def test_a_recovery_code_in_the_code_box_then_new_codes_with_another(app: Flask, live_url: str, page: Page,
                                                                          make_user: Callable[..., Person]) -> None:
    person = make_user(Role.MEMBER)
    setup = app.test_client()
    sign_in(app, setup, person)
    codes = new_recovery_codes(app, setup, person)

    page.goto(live_url + "/sign-in")
    page.get_by_label("Email address").fill(person.email)
    page.get_by_label("Password", exact=True).fill(person.password)
    assert press(page, "Continue").status == 200
    box = page.get_by_label("Security code")
    assert box.get_attribute("inputmode") is None and box.get_attribute("autocomplete") == "one-time-code"
    assert_accessible(page)
    box.fill(codes[0].upper())
    assert press(page, "Sign in").status == 200
    assert "/sign-in" not in page.url

    page.goto(live_url + "/account/recovery-codes")
    assert_accessible(page)
    page.get_by_label("Password", exact=True).fill("not my password at all")
    assert press(page, "Create new recovery codes").status == 400
    assert page.locator(".govuk-error-summary").is_visible()
    assert_accessible(page)
    page.get_by_label("Password", exact=True).fill(person.password)
    page.get_by_label("Security code or recovery code").fill(codes[0])
    assert press(page, "Create new recovery codes").status == 400
    assert page.get_by_text("That recovery code has already been used").first.is_visible()
    assert_accessible(page)
    page.get_by_label("Password", exact=True).fill(person.password)
    page.get_by_label("Security code or recovery code").fill(codes[1])
    assert press(page, "Create new recovery codes").status == 200
    assert page.locator(".portal-recovery-codes li").count() == 10
    assert_accessible(page)
