"""The reading view in a real browser: axe-core on every page and state, keys between pages, the reader's own
settings, private notes, and reflow at 320 CSS pixels."""

from collections.abc import Callable

from conftest import Person
from factories import make_portfolio, seat
from flask import Flask
from flask.testing import FlaskClient
from helpers_documents import three_page_pdf, upload, word_document
from playwright.sync_api import Page

from browser.steps import assert_accessible, press
from portal.models import Role


def _portfolio_for(app: Flask, signed_in: Callable[..., tuple[FlaskClient, Person]], member: Person) -> tuple[int, int]:
    """A portfolio with a 3-page PDF and a Word document, sampled for a meeting the member sits on."""
    lead_client, _lead = signed_in(Role.ADMIN)
    portfolio_id = make_portfolio(app)
    meeting_id = seat(app, member.id, [portfolio_id])
    response = upload(lead_client, portfolio_id, [("reflection.pdf", three_page_pdf(), "critical_reflection"),
                                                  ("learning.docx", word_document(), "pdp")])
    assert response.status_code == 302
    return portfolio_id, meeting_id


def _open_reading_view(page: Page, live_url: str, portfolio_id: int, title: str) -> None:
    page.goto(f"{live_url}/portfolios/{portfolio_id}/documents")
    page.get_by_role("link", name=title, exact=True).click()
    page.get_by_role("link", name="as text in the portal").first.click()
    page.wait_for_url("**/read**")


def test_a_member_reads_page_by_page_with_the_keyboard(app: Flask, live_url: str, signed_in,
                                                       signed_in_page: Callable[..., tuple[Page, Person]]) -> None:
    page, member = signed_in_page(Role.MEMBER)
    portfolio_id, _meeting = _portfolio_for(app, signed_in, member)
    _open_reading_view(page, live_url, portfolio_id, "Critical reflections")
    assert page.get_by_text("Page 1 of 3", exact=True).is_visible()
    assert page.get_by_text("The first visit to the family went well.").is_visible()
    assert_accessible(page)
    page.keyboard.press("ArrowRight")
    page.wait_for_url("**page=2**")
    assert page.get_by_text("it may be a scanned image").is_visible()
    assert_accessible(page)
    page.keyboard.press("ArrowLeft")
    page.wait_for_url("**page=1**")
    # Without the arrow keys: Tab to the next page's link and follow it with Enter.
    next_link = page.get_by_role("link", name="Next page").first
    for _ in range(40):
        page.keyboard.press("Tab")
        if next_link.evaluate("el => el === document.activeElement"):
            break
    assert next_link.evaluate("el => el === document.activeElement"), "the next page's link is not reachable by Tab"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "page=2" in page.url
    # Typing in the note box does not turn pages.
    page.get_by_label("Add a note on page 2").fill("abc")
    page.get_by_label("Add a note on page 2").press("ArrowRight")
    assert "page=2" in page.url
    # Go to a page by number.
    page.get_by_label("Go to page (1 to 3)").fill("3")
    press(page, "Go to page")
    assert page.get_by_text("Page 3 of 3", exact=True).is_visible()


def test_reading_settings_notes_and_a_word_document_are_accessible(
        app: Flask, live_url: str, signed_in, signed_in_page: Callable[..., tuple[Page, Person]]) -> None:
    page, member = signed_in_page(Role.MEMBER)
    portfolio_id, meeting_id = _portfolio_for(app, signed_in, member)
    _open_reading_view(page, live_url, portfolio_id, "Critical reflections")
    page.get_by_role("link", name="Change the text size, line spacing or background colour").click()
    page.wait_for_url("**/reading/preferences**")
    assert_accessible(page)
    press(page, "Save these settings")  # the defaults, saved as they are
    page.get_by_role("link", name="Change the text size, line spacing or background colour").click()
    page.get_by_label("Very large", exact=True).check()
    page.get_by_label("Double", exact=True).check()
    page.get_by_label("Dark (light text on black)", exact=True).check()
    press(page, "Save these settings")
    assert "/read" in page.url
    reading = page.locator("#reading-text")
    assert "portal-reading--background-dark" in (reading.get_attribute("class") or "")
    assert reading.evaluate("el => parseFloat(getComputedStyle(el).fontSize)") >= 30
    assert_accessible(page)  # contrast of light text on the dark background included
    page.get_by_label("Add a note on page 1").fill("Check the dates against the supervision log")
    press(page, "Save note")
    assert page.get_by_text("Check the dates against the supervision log").is_visible()
    assert_accessible(page)
    page.get_by_label("Add a note on page 1").fill("")
    press(page, "Save note")
    assert page.title().startswith("Error: ")
    assert_accessible(page)
    page.goto(f"{live_url}/reviews/meetings/{meeting_id}/portfolios/{portfolio_id}")
    page.get_by_text("Your notes on this portfolio's documents (1)").click()
    assert page.get_by_text("Check the dates against the supervision log").is_visible()
    assert_accessible(page)
    page.goto(f"{live_url}/portfolios/{portfolio_id}/documents")
    page.get_by_role("link", name="Professional development plans", exact=True).click()
    page.get_by_role("link", name="as text in the portal").first.click()
    page.wait_for_url("**/read**")
    assert page.get_by_role("heading", name="Critical reflection", level=2).is_visible()
    assert page.get_by_role("cell", name="March").is_visible()
    assert_accessible(page)


def test_the_reading_view_reflows_at_320_pixels(app: Flask, live_url: str, signed_in,
                                                signed_in_page: Callable[..., tuple[Page, Person]]) -> None:
    page, member = signed_in_page(Role.MEMBER)
    portfolio_id, _meeting = _portfolio_for(app, signed_in, member)
    page.set_viewport_size({"width": 320, "height": 640})
    _open_reading_view(page, live_url, portfolio_id, "Critical reflections")
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the reading view is {width} px wide in a {inner} px window"
    assert_accessible(page)
