"""Document names in a real browser: the panel sees neutral names, and the pages stay accessible."""

from collections.abc import Callable

from conftest import Person
from factories import make_portfolio, seat
from flask import Flask
from helpers_documents import office_zip
from playwright.sync_api import Page

from browser.steps import assert_accessible
from portal.extensions import db
from portal.models import Portfolio, Role


def test_an_untitled_file_named_after_the_nqsw_reaches_the_panel_under_a_neutral_name(
        app: Flask, live_url: str, signed_in_page: Callable[..., tuple[Page, Person]]) -> None:
    page, _ = signed_in_page(Role.ADMIN)
    member_page, member = signed_in_page(Role.MEMBER)
    pid = make_portfolio(app, "Jane Smith")
    with app.app_context():
        db.session.get(Portfolio, pid).pseudonym = "B1"
        db.session.commit()
    seat(app, member.id, [pid])
    page.goto(f"{live_url}/portfolios/{pid}/documents/upload")
    assert "do not name the NQSW" in page.get_by_text("Panel members see the title").first.inner_text()
    assert_accessible(page)
    page.select_option("#evidence_type-0", "review_6_month")
    page.set_input_files("#file-0", files=[{"name": "Jane Smith 6-month review.docx",
                                            "mimeType": "application/octet-stream", "buffer": office_zip("docx")}])
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("1 document uploaded").wait_for()
    page.get_by_role("link", name="6-month review", exact=True).click()
    page.wait_for_url("**/documents/*")
    assert page.get_by_role("link", name="Download Jane Smith 6-month review.docx (Word document, ").count() == 1
    member_page.goto(page.url)
    neutral = "Portfolio B1 - 6-month review - version 1.docx"
    link = member_page.get_by_role("link", name=f"Download {neutral} (Word document, ")
    assert link.count() == 1
    assert "Jane" not in member_page.locator("main").inner_text()
    assert_accessible(member_page)
    with member_page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == neutral


def test_the_lead_is_shown_which_names_the_text_carries_on_which_pages(
        app: Flask, live_url: str, signed_in_page: Callable[..., tuple[Page, Person]]) -> None:
    from fpdf import FPDF

    page, _ = signed_in_page(Role.ADMIN)
    member_page, member = signed_in_page(Role.MEMBER)
    pid = make_portfolio(app, "Jane Smith")
    with app.app_context():
        db.session.get(Portfolio, pid).pseudonym = "B2"
        db.session.commit()
    meeting_id = seat(app, member.id, [pid])
    document = FPDF()
    document.set_font("helvetica", size=12)
    for text in ("My first year.", "Supervision notes, signed Jane Smith."):
        document.add_page()
        document.multi_cell(0, 8, text)
    page.goto(f"{live_url}/portfolios/{pid}/documents/upload")
    page.select_option("#evidence_type-0", "critical_reflection")
    page.set_input_files("#file-0", files=[{"name": "reflection.pdf", "mimeType": "application/pdf",
                                            "buffer": bytes(document.output())}])
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("1 document uploaded").wait_for()
    banner = page.get_by_role("region", name="Names in the text")
    assert "Jane Smith (the NQSW) on page 2" in banner.inner_text()
    assert_accessible(page)
    banner.get_by_role("link", name="Critical reflections").click()
    page.wait_for_url("**/documents/*")
    assert "Jane Smith (the NQSW) on page 2" in page.get_by_role("region", name="Names in the text").inner_text()
    assert page.get_by_role("link", name="upload the redacted file as a new version").count() == 1
    assert_accessible(page)
    page.set_viewport_size({"width": 320, "height": 640})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"the document page is {width} px wide at 320 px"
    page.goto(f"{live_url}/reviews/meetings/{meeting_id}/record")
    assert "The only sampled document still names someone in its text" in page.locator("main").inner_text()
    assert_accessible(page)
    member_page.goto(f"{live_url}/portfolios/{pid}/documents")
    assert "Names in the text" not in member_page.locator("main").inner_text()
