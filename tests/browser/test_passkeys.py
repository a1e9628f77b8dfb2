"""Passkeys in a real browser: Chromium's own WebAuthn virtual authenticator (the DevTools WebAuthn domain, through
Playwright's CDP session) answers the real ceremonies. axe-core runs on every passkey page and state.

Browsers refuse WebAuthn on an IP address, so these tests visit the live server as http://localhost:PORT and
configure that as the relying party (id `localhost`, origin http://localhost:PORT).
"""

from collections.abc import Callable

import pytest
from conftest import Person, fresh_code
from flask import Flask
from playwright.sync_api import BrowserContext, Page

from browser.steps import SMALL, assert_accessible, invite, page_widths, press, press_enter, reset_link, tab_to
from portal.models import Role

PASSWORD = "four unrelated words together"
# A passkey on a phone or laptop: it checks a fingerprint, face or PIN (user verification), and is discoverable.
PLATFORM = {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
            "isUserVerified": True, "automaticPresenceSimulation": True}
# A plain security key: touched, never unlocked (no PIN or fingerprint), so it can only be the second factor.
SECURITY_KEY = {"protocol": "ctap2", "transport": "usb", "hasResidentKey": False, "hasUserVerification": False,
                "automaticPresenceSimulation": True}


@pytest.fixture
def site(app: Flask, live_url: str) -> str:
    """The live server's address under the name browsers accept for WebAuthn, configured as the relying party."""
    url = live_url.replace("127.0.0.1", "localhost")
    app.config.update(PASSKEY_RP_ID="localhost", PASSKEY_ORIGIN=url)
    return url


def with_authenticator(page: Page, options: dict) -> tuple[object, str]:
    """Attach a virtual authenticator to the page's browser; return the CDP session and the authenticator's id."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return cdp, added["authenticatorId"]


def credentials(cdp: object, authenticator: str) -> list[dict]:
    """The credentials the virtual authenticator holds."""
    return cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]  # type: ignore[attr-defined]


def sign_out(page: Page) -> None:
    press(page, "Sign out")
    page.wait_for_url("**/sign-in")


def password_step(page: Page, site: str, email: str, password: str) -> None:
    page.goto(site + "/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    press(page, "Continue")


def sign_in_with_code(page: Page, site: str, person: Person, app: Flask) -> None:
    password_step(page, site, person.email, person.password)
    if "/sign-in/passkey/key" in page.url:
        page.get_by_role("link", name="Enter a security code from your authenticator app, or a recovery code").click()
        page.wait_for_url("**/sign-in/code**")
    page.get_by_label("Security code").fill(fresh_code(app, person))
    press(page, "Sign in")


def use_passkey(page: Page, button: str) -> None:
    """Press the page's passkey button; the virtual authenticator answers and the form posts itself."""
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()


def test_enrol_with_a_passkey_sign_out_and_sign_in_with_it(app: Flask, site: str, page: Page) -> None:
    cdp, authenticator = with_authenticator(page, PLATFORM)
    page.goto(site + invite(app, "pat@example.org"))
    page.get_by_label("Create a password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm your password", exact=True).fill(PASSWORD)
    press(page, "Continue")
    page.get_by_role("link", name="Set up a passkey or security key instead").click()
    page.wait_for_url("**/passkey")
    assert page.get_by_role("heading", level=1).inner_text() == "Set up a passkey or security key"
    assert_accessible(page)

    # The name is required: the ceremony runs, but nothing is added until the form is right.
    use_passkey(page, "Set up a passkey or security key")
    assert page.locator(".govuk-error-summary").is_visible()
    assert_accessible(page)
    page.get_by_label("Name for this passkey or security key").fill("My laptop")
    use_passkey(page, "Set up a passkey or security key")
    assert page.get_by_role("heading", name="Save your recovery codes").is_visible()
    assert len(credentials(cdp, authenticator)) >= 1
    assert_accessible(page)

    page.goto(site + "/account")
    row = page.get_by_role("row").filter(has_text="My laptop")
    assert row.get_by_role("cell", name="Never").is_visible()  # set up, not yet used to sign in
    assert_accessible(page)
    sign_out(page)

    # "Sign in with a passkey": no email, no password; with the keyboard alone.
    page.get_by_role("link", name="sign in with a passkey").click()
    page.wait_for_url("**/sign-in/passkey")
    assert_accessible(page)
    tab_to(page, "[data-passkey-start]")
    press_enter(page)
    page.wait_for_url(lambda url: "/sign-in" not in url)
    page.goto(site + "/account")
    assert page.get_by_role("heading", name="Your account").is_visible()
    sign_out(page)

    # The password, then the passkey as the second factor.
    password_step(page, site, "pat@example.org", PASSWORD)
    page.wait_for_url("**/sign-in/passkey/key")
    assert page.get_by_role("link", name="Enter a recovery code").is_visible()  # no app was set up
    assert_accessible(page)
    use_passkey(page, "Use my passkey or security key")
    page.wait_for_url(lambda url: "/sign-in" not in url)

    # Their only passkey cannot be removed: the page says why and offers the ways to add another.
    page.goto(site + "/account")
    with page.expect_navigation():
        page.get_by_role("link", name="Remove My laptop").click()
    page.get_by_text("You cannot remove this passkey").wait_for()
    assert page.get_by_label("Password").count() == 0
    assert_accessible(page)


def test_add_a_passkey_from_the_account_page_and_remove_it(app: Flask, site: str, page: Page,
                                                          make_user: Callable[..., Person]) -> None:
    person = make_user(Role.MEMBER)
    cdp, authenticator = with_authenticator(page, PLATFORM)
    sign_in_with_code(page, site, person, app)
    page.goto(site + "/account")
    assert page.get_by_text("You have not added a passkey").is_visible()
    page.get_by_role("button", name="Add a passkey or security key").click()
    page.wait_for_url("**/account/passkeys/add")
    assert_accessible(page)
    page.get_by_label("Password", exact=True).fill("not the password at all")
    page.get_by_label("Security code or recovery code").fill(fresh_code(app, person))
    assert press(page, "Continue").status == 400
    assert_accessible(page)
    page.get_by_label("Password", exact=True).fill(person.password)
    page.get_by_label("Security code or recovery code").fill(fresh_code(app, person))
    press(page, "Continue")
    assert page.get_by_role("heading", name="Name and add your passkey or security key").is_visible()
    assert_accessible(page)
    page.get_by_label("Name for this passkey or security key").fill("Work laptop")
    use_passkey(page, "Add a passkey or security key")
    page.wait_for_url("**/account")
    assert page.get_by_text("Your passkey or security key has been added").is_visible()
    assert page.get_by_role("cell", name="Work laptop", exact=True).is_visible()
    assert_accessible(page)
    page.set_viewport_size(SMALL)  # reflow: the list of passkeys never makes the page scroll sideways
    page.reload()
    document, viewport = page_widths(page)
    assert document <= viewport, f"the account page is {document} px wide at {viewport} px"
    assert_accessible(page)

    # Removing it: the password, and the passkey itself as the second factor.
    with page.expect_navigation():
        page.get_by_role("link", name="Remove Work laptop").click()
    assert_accessible(page)
    page.get_by_label("Password", exact=True).fill(person.password)
    use_passkey(page, "Continue with a passkey")
    page.wait_for_url("**/account")
    assert page.get_by_text("The passkey or security key has been removed").is_visible()
    assert page.get_by_role("cell", name="Work laptop", exact=True).count() == 0
    assert_accessible(page)
    assert len(credentials(cdp, authenticator)) == 1  # still on the device: the page tells them to delete it there


def test_a_security_key_without_user_verification_is_only_a_second_factor(app: Flask, site: str, page: Page,
                                                                          make_user: Callable[..., Person]) -> None:
    person = make_user(Role.MEMBER)
    with_authenticator(page, SECURITY_KEY)
    sign_in_with_code(page, site, person, app)
    page.goto(site + "/account/passkeys/add")
    page.get_by_label("Password", exact=True).fill(person.password)
    page.get_by_label("Security code or recovery code").fill(fresh_code(app, person))
    press(page, "Continue")
    page.get_by_label("Name for this passkey or security key").fill("Blue key")
    use_passkey(page, "Add a passkey or security key")
    page.wait_for_url("**/account")
    sign_out(page)

    # On its own it is refused, with a plain reason, and no one is signed in. (Chromium itself may already decline
    # to offer a key that cannot verify the person; otherwise the portal refuses its answer.)
    page.goto(site + "/sign-in/passkey")
    page.get_by_role("button", name="Sign in with a passkey").click()
    refusal = page.locator("#credential-error, [data-passkey-status]:has-text('was not used')").first
    refusal.wait_for()
    assert any(words in refusal.inner_text() for words in ("cannot confirm it is you on its own", "was not used"))
    assert_accessible(page)
    assert page.goto(site + "/account").url.endswith("/sign-in?next=/account")

    # After the password it is the second factor.
    password_step(page, site, person.email, person.password)
    page.wait_for_url("**/sign-in/passkey/key")
    use_passkey(page, "Use my passkey or security key")
    page.wait_for_url(lambda url: "/sign-in" not in url)
    assert page.goto(site + "/account").url.endswith("/account")


def test_after_the_leads_reset_a_passkey_replaces_the_lost_factor(app: Flask, site: str, page: Page,
                                                                   make_user: Callable[..., Person]) -> None:
    person = make_user(Role.MEMBER)
    cdp, authenticator = with_authenticator(page, PLATFORM)
    page.goto(site + reset_link(app, person))
    page.get_by_label("Password", exact=True).fill(person.password)
    press(page, "Continue")
    press(page, "Set up a passkey or security key instead")
    assert page.get_by_role("heading", level=1).inner_text() == "Set up a passkey or security key"
    assert_accessible(page)
    page.get_by_label("Name for this passkey or security key").fill("Phone")
    use_passkey(page, "Set up a passkey or security key")
    assert page.get_by_role("heading", name="Save your recovery codes").is_visible()
    assert len(credentials(cdp, authenticator)) == 1
    assert_accessible(page)


def test_without_javascript_the_passkey_pages_explain_what_to_do(app: Flask, site: str,
                                                                  new_context: Callable[..., BrowserContext]) -> None:
    page = new_context(java_script_enabled=False).new_page()
    page.goto(site + "/sign-in/passkey")
    assert page.get_by_text("this browser has JavaScript turned off or cannot use them").is_visible()
    assert page.get_by_role("button", name="Sign in with a passkey").count() == 0  # hidden, so not offered
    assert page.get_by_text("Sign in with your email address and password instead.").is_visible()
    # axe-core needs JavaScript; the same words without WebAuthn are checked by axe in the next test.


def test_without_webauthn_the_button_is_not_offered(app: Flask, site: str, page: Page) -> None:
    page.add_init_script("delete window.PublicKeyCredential")
    page.goto(site + "/sign-in/passkey")
    assert page.get_by_text("this browser has JavaScript turned off or cannot use them").is_visible()
    assert not page.get_by_role("button", name="Sign in with a passkey").is_visible()
    assert_accessible(page)
