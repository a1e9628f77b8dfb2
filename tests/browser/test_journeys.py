"""Journeys a person makes: by keyboard alone, and with JavaScript switched off; and the council styling."""

from collections.abc import Callable

from conftest import Person, fresh_code
from flask import Flask
from playwright.sync_api import BrowserContext, Page

from browser.steps import browser_sign_in, code_from_typed_key, invite, press, press_enter, tab_to
from portal.models import Role


def test_keyboard_only_sign_in(app: Flask, live_url: str, page: Page, make_user: Callable[..., Person]) -> None:
    person = make_user(Role.MEMBER)
    page.goto(live_url + "/sign-in")

    page.keyboard.press("Tab")
    assert page.locator("*:focus").inner_text() == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main-content"

    tab_to(page, "#email")
    page.keyboard.type(person.email)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(person.password)
    assert press_enter(page) == 200
    assert "/sign-in/code" in page.url

    tab_to(page, "#code")
    page.keyboard.type(fresh_code(app, person))
    assert press_enter(page) == 200
    assert page.url.split("#")[0] == live_url + "/dashboard"  # the skip link's #main-content may stay on
    assert page.get_by_role("heading", level=1).inner_text() == f"Hello, {person.name}"


def test_keyboard_only_invitation_acceptance(app: Flask, live_url: str, page: Page) -> None:
    page.goto(live_url + invite(app, "dee@example.org", Role.OBSERVER))
    tab_to(page, "#password")
    page.keyboard.type("four unrelated words together")
    tab_to(page, "#confirm")
    page.keyboard.type("four unrelated words together")
    assert press_enter(page) == 200
    assert page.get_by_role("heading", level=1).inner_text() == "Set up your authenticator app"

    tab_to(page, "#code")
    page.keyboard.type(code_from_typed_key(page))
    assert press_enter(page) == 200
    assert page.get_by_role("heading", level=1).inner_text() == "Save your recovery codes"

    tab_to(page, "a.govuk-button")
    assert press_enter(page) == 200
    assert page.url == live_url + "/dashboard"
    assert page.get_by_role("heading", level=1).inner_text() == "Hello, Ada Example"


def test_sign_in_and_out_without_javascript(app: Flask, live_url: str, new_context: Callable[..., BrowserContext],
                                            make_user: Callable[..., Person]) -> None:
    person = make_user(Role.ADMIN)
    page = new_context(java_script_enabled=False).new_page()
    browser_sign_in(page, live_url, person, app)
    assert page.url == live_url + "/dashboard"
    assert "js-enabled" not in (page.locator("body").get_attribute("class") or "")

    assert press(page, "Sign out").status == 200
    assert page.url == live_url + "/sign-in"
    assert page.get_by_text("You have signed out.").is_visible()
    page.goto(live_url + "/dashboard")
    assert page.url.startswith(live_url + "/sign-in")


def test_council_styling(app: Flask, live_url: str, page: Page) -> None:
    page.goto(live_url + "/sign-in")
    for text in (page.locator("h1"), page.locator("p.govuk-body").first, page.locator("label[for=email]"),
                 page.get_by_role("button", name="Continue")):
        font = text.evaluate("el => getComputedStyle(el).fontFamily").lower()
        assert font.startswith("arial"), f"{font} on {text}"
    header = page.get_by_role("banner")
    assert header.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(11, 12, 12)"
    assert header.locator("svg").count() == 0, "the header must not carry the GOV.UK crown"
    assert "gov.uk" not in header.inner_text().lower()
    assert page.get_by_role("button", name="Continue").evaluate("el => getComputedStyle(el).backgroundColor") != (
        "rgb(239, 239, 239)"
    ), "GOV.UK button styles did not load"

    page.goto(live_url + invite(app, "eve@example.org"))
    page.get_by_label("Create a password", exact=True).fill("four unrelated words together")
    page.get_by_label("Confirm your password", exact=True).fill("four unrelated words together")
    press(page, "Continue")
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 150 and box["width"] == box["height"]
    assert page.locator("#typed-key").evaluate("el => getComputedStyle(el).fontFamily").lower().startswith(
        '"courier new"'
    )
