"""The documents pages in a real browser: accessible, and uploading works with and without JavaScript."""

from collections.abc import Callable

from conftest import Person
from factories import make_portfolio, seat
from flask import Flask
from helpers_documents import HTML, PDF
from playwright.sync_api import BrowserContext, Page

from browser.steps import assert_accessible, browser_sign_in, press
from portal.models import Role


def _choose(page: Page, row: int, name: str, content: bytes, evidence: str) -> None:
    page.select_option(f"#evidence_type-{row}", evidence)
    page.set_input_files(f"#file-{row}", files=[{"name": name, "mimeType": "application/octet-stream",
                                                  "buffer": content}])


def _open_new_agreement(page: Page, live_url: str, pid: int) -> None:
    """Upload one PDF with JavaScript on, then open its document page."""
    page.goto(f"{live_url}/portfolios/{pid}/documents/upload")
    _choose(page, 0, "Agreement.pdf", PDF, "agreement")
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("1 document uploaded").wait_for()
    page.get_by_role("link", name="Support and assessment agreement", exact=True).click()
    page.wait_for_url("**/documents/*")


def test_upload_with_javascript_shows_progress_and_lands_on_the_list(
        app: Flask, live_url: str, signed_in_page: Callable[..., tuple[Page, Person]]) -> None:
    page, _ = signed_in_page(Role.ADMIN)
    pid = make_portfolio(app)
    page.goto(f"{live_url}/portfolios/{pid}/documents/upload")
    assert_accessible(page)
    _choose(page, 0, "Final report.pdf", PDF, "final_report")
    _choose(page, 1, "Supervision.txt", b"Supervision notes\n", "supervision")
    with page.expect_response(lambda r: r.request.resource_type == "xhr" and r.url.endswith("/upload")):
        page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("2 documents uploaded").wait_for()
    assert page.url == f"{live_url}/portfolios/{pid}/documents"
    assert page.get_by_role("link", name="Open Final assessment report (PDF, 77 bytes) in a new tab").get_attribute(
        "target") == "_blank"
    assert_accessible(page)


def test_refused_upload_with_javascript_shows_the_error_page(
        app: Flask, live_url: str, signed_in_page: Callable[..., tuple[Page, Person]]) -> None:
    page, _ = signed_in_page(Role.ADMIN)
    pid = make_portfolio(app)
    page.goto(f"{live_url}/portfolios/{pid}/documents/upload")
    _choose(page, 0, "report.pdf", HTML, "final_report")
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("There is a problem").wait_for()
    assert "is not a file the portal accepts" in page.content()
    assert_accessible(page)


def test_upload_without_javascript(app: Flask, live_url: str, make_user: Callable[..., Person],
                                   new_context: Callable[..., BrowserContext]) -> None:
    person = make_user(Role.ADMIN)
    page = new_context(java_script_enabled=False).new_page()
    browser_sign_in(page, live_url, person, app)
    pid = make_portfolio(app)
    page.goto(f"{live_url}/portfolios/{pid}/documents/upload")
    _choose(page, 0, "Agreement.pdf", PDF, "agreement")
    response = press(page, "Upload")
    assert response.url == f"{live_url}/portfolios/{pid}/documents"
    assert "1 document uploaded" in page.content()


def test_document_history_and_readiness_pages_are_accessible(
        app: Flask, live_url: str, signed_in_page: Callable[..., tuple[Page, Person]]) -> None:
    page, _ = signed_in_page(Role.ADMIN)
    member_page, member = signed_in_page(Role.MEMBER, name="Mo Member")
    pid = make_portfolio(app)
    seat(app, member.id, [pid])
    _open_new_agreement(page, live_url, pid)
    assert_accessible(page)
    page.get_by_role("button", name="Upload a new version").click()
    page.wait_for_url("**/replace")
    assert_accessible(page)
    member_page.goto(f"{live_url}/portfolios/{pid}/documents")
    assert "Not read yet" in member_page.content()
    assert_accessible(member_page)
    page.goto(f"{live_url}/portfolios/{pid}/documents/readiness")
    assert "Mo Member" in page.content()
    assert_accessible(page)
    page.goto(f"{live_url}/documents/readiness")
    assert_accessible(page)


def test_delete_confirmation_is_accessible_in_its_normal_and_error_states(
        app: Flask, live_url: str, signed_in_page: Callable[..., tuple[Page, Person]]) -> None:
    page, _ = signed_in_page(Role.ADMIN)
    pid = make_portfolio(app)
    _open_new_agreement(page, live_url, pid)
    page.get_by_role("button", name="Delete document").click()
    page.wait_for_url("**/delete")
    assert_accessible(page)
    assert press(page, "Delete document").status == 400
    assert page.locator(".govuk-error-summary").is_visible()
    assert_accessible(page)
    page.get_by_label("Why are you deleting this document?").fill("Uploaded to the wrong portfolio")
    assert press(page, "Delete document").url == f"{live_url}/portfolios/{pid}/documents"
    assert "has been deleted" in page.content() and "This portfolio has no documents yet." in page.content()
    assert_accessible(page)


def test_the_upload_progress_bar_shows_a_percentage(app: Flask, live_url: str,
                                                    signed_in_page: Callable[..., tuple[Page, Person]]) -> None:
    """With the upload slowed to a crawl (Chromium's network throttling), the percentage shows as it climbs, and
    axe-core finds nothing wrong with the page while it shows."""
    page, _ = signed_in_page(Role.ADMIN)
    pid = make_portfolio(app)
    page.goto(f"{live_url}/portfolios/{pid}/documents/upload")
    shown = page.locator("#file-0 ~ [data-upload-percent]")
    assert shown.is_hidden()  # nothing to show before an upload (and nothing at all without JavaScript)
    big_pdf = PDF[:-6] + b" " * 600_000 + PDF[-6:]  # some 6 seconds at the throttled speed
    _choose(page, 0, "Final report.pdf", big_pdf, "final_report")
    throttle = page.context.new_cdp_session(page)
    throttle.send("Network.enable")
    throttle.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                        "uploadThroughput": 100_000})
    page.get_by_role("button", name="Upload", exact=True).click()
    shown.wait_for(state="visible")
    read = "() => { const e = document.querySelector('#file-0 ~ [data-upload-percent]'); " \
           "return e && !e.hidden && e.offsetParent !== null ? e.textContent : null; }"
    assert_accessible(page)  # axe-core on the page while the percentage shows
    assert page.evaluate(read) is not None, "the upload ended before axe-core finished: slow it further"
    seen = set()
    for _ in range(400):
        text = page.evaluate(read)
        if text is None:
            break  # the page was replaced by the list the server answered with
        seen.add(text)
        page.wait_for_timeout(25)
    assert seen and all(text.endswith("%") and 0 <= int(text[:-1]) <= 100 for text in seen), seen
    assert any(0 < int(text[:-1]) < 100 for text in seen), f"no percentage on the way: {seen}"
    page.get_by_text("1 document uploaded").wait_for()


def test_the_leads_notice_of_files_the_panel_sees_as_uploaded_is_accessible(
        app: Flask, live_url: str, signed_in_page: Callable[..., tuple[Page, Person]]) -> None:
    from helpers_documents import DOC
    from helpers_metadata import pdf

    page, _ = signed_in_page(Role.ADMIN)
    pid = make_portfolio(app)
    page.goto(f"{live_url}/portfolios/{pid}/documents/upload")
    _choose(page, 0, "Old review.doc", DOC, "review_3_month")
    _choose(page, 1, "Reflection.pdf", pdf(), "critical_reflection")
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("2 documents uploaded").wait_for()
    banner = page.get_by_role("region", name="Check before the panel reads")
    assert "The panel will see this file as uploaded" in banner.inner_text()
    assert "3-month review: The file as uploaded" in banner.inner_text()
    assert_accessible(page)
    page.get_by_role("link", name="3-month review", exact=True).click()
    page.wait_for_url("**/documents/*")
    assert "What the panel gets" in page.content() and "cannot be cleaned" in page.content()
    assert_accessible(page)
    page.goto(f"{live_url}/portfolios/{pid}/documents")
    page.get_by_role("link", name="Critical reflections", exact=True).click()
    page.wait_for_url("**/documents/*")
    assert "A copy without the names hidden in the file" in page.content()
    assert_accessible(page)
