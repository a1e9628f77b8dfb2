"""axe-core on the cohort, portfolio and meeting pages in their normal, error and empty states."""

from collections.abc import Callable

from conftest import Person
from factories import add_document_row, make_meeting, make_registered_portfolio
from flask import Flask
from playwright.sync_api import Page

from browser.steps import assert_accessible, draw_two_after_refusing_one, press
from portal.models import Role

SignedInPage = Callable[..., tuple[Page, Person]]
CSV_HEADER = b"nqsw_name,nqsw_email,employer,cohort,service\n"


def test_registry_and_meeting_pages_for_the_lead(app: Flask, live_url: str, signed_in_page: SignedInPage) -> None:
    page, admin = signed_in_page(Role.ADMIN)
    page.goto(live_url + "/portfolios")  # empty state
    assert_accessible(page)
    for n in range(1, 6):
        make_registered_portfolio(app, n)
    add_document_row(app, 1, admin.id, "pdp")
    mid = make_meeting(app, seats={admin.id: "chair"})
    for path in ("/cohort", "/cohort/nqsws", "/cohort/assessors", "/cohort/nqsws/new", "/cohort/portfolios/1/edit",
                 "/cohort/import", "/portfolios", "/portfolios/1", "/meetings", "/meetings/new", "/meetings/templates",
                 f"/meetings/{mid}", f"/meetings/{mid}/members", f"/meetings/{mid}/edit"):
        page.goto(live_url + path)
        assert_accessible(page)

    page.goto(live_url + "/cohort/nqsws/new")
    assert press(page, "Save").status == 400
    assert_accessible(page)

    page.goto(live_url + f"/meetings/{mid}/sample")
    assert_accessible(page)
    draw_two_after_refusing_one(page)
    page.goto(live_url + f"/meetings/{mid}")
    assert_accessible(page)


def test_csv_import_preview_and_confirm(app: Flask, live_url: str, signed_in_page: SignedInPage) -> None:
    page, _ = signed_in_page(Role.ADMIN)
    page.goto(live_url + "/cohort/import")
    page.set_input_files("input[type=file]", files=[{"name": "bad.csv", "mimeType": "text/csv",
                                                     "buffer": CSV_HEADER + b"Ada,ada@example.org,E,C,children\n"
                                                               b"Ben,not-an-email,E,C,dentistry\n"}])
    assert press(page, "Check the file").status == 400
    assert "Line 3:" in page.content()
    assert_accessible(page)
    page.goto(live_url + "/cohort/import")
    page.set_input_files("input[type=file]", files=[{"name": "good.csv", "mimeType": "text/csv",
                                                     "buffer": CSV_HEADER + b"Ada,ada@example.org,E,C,children\n"}])
    assert press(page, "Check the file").status == 200
    assert_accessible(page)
    press(page, "Import these rows")
    assert "Imported 1 NQSW and their portfolio" in page.content()


def test_a_member_sees_labels_only(app: Flask, live_url: str, signed_in_page: SignedInPage) -> None:
    page, person = signed_in_page(Role.MEMBER)
    page.goto(live_url + "/meetings")  # empty state
    assert_accessible(page)
    for n in range(1, 4):
        make_registered_portfolio(app, n)
    mid = make_meeting(app, seats={person.id: "chair"})
    page.goto(live_url + f"/meetings/{mid}/sample")
    page.get_by_label("Number of portfolios (at least 2)").fill("2")
    press(page, "Draw the sample")
    page.goto(live_url + f"/meetings/{mid}")
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("link", name="Portfolio ").first.click()
    assert "Nqsw Person" not in page.content() and "Assessor Person" not in page.content()
    assert_accessible(page)
