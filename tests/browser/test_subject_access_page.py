"""The subject access page (issue 17 item 6): reached from a person's page, axe-core on it, and its button
downloads the ZIP by keyboard."""

import io
import json
import zipfile
from collections.abc import Callable

from conftest import Person
from factories import make_registered_portfolio
from flask import Flask
from playwright.sync_api import Page

from browser.steps import assert_accessible
from portal.extensions import db
from portal.models import Portfolio, Role

SignedInPage = Callable[..., tuple[Page, Person]]


def test_the_lead_reaches_the_export_from_a_registry_entry_and_downloads_it(
        app: Flask, live_url: str, signed_in_page: SignedInPage) -> None:
    page, _ = signed_in_page(Role.ADMIN)
    portfolio_id = make_registered_portfolio(app, 1)
    with app.app_context():
        nqsw_id = db.session.get_one(Portfolio, portfolio_id).nqsw_id

    page.goto(f"{live_url}/cohort/nqsws/{nqsw_id}/edit")
    with page.expect_navigation():
        page.get_by_role("link", name="Export everything held about this person").click()
    assert page.url.endswith(f"/cohort/nqsws/{nqsw_id}/subject-access")
    assert page.get_by_role("heading", level=1).inner_text() == "Export everything held about Nqsw Person 1"
    assert_accessible(page)

    button = page.get_by_role("button", name="Download the export")
    button.focus()
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename.startswith("subject-access-export-")
    with open(download.value.path(), "rb") as handle, zipfile.ZipFile(io.BytesIO(handle.read())) as archive:
        person = json.loads(archive.read("person.json"))
        assert [entry["id"] for entry in person["nqsw_entries"]] == [nqsw_id]
        assert "manifest.json" in archive.namelist()
    assert page.url.endswith(f"/cohort/nqsws/{nqsw_id}/subject-access")  # the page stays, for another download


def test_the_export_page_from_a_persons_page_is_accessible(app: Flask, live_url: str,
                                                             signed_in_page: SignedInPage,
                                                             make_user: Callable[..., Person]) -> None:
    page, _ = signed_in_page(Role.ADMIN)
    member = make_user(Role.MEMBER, name="Member Alpha")
    page.goto(f"{live_url}/admin/people/{member.id}")
    with page.expect_navigation():
        page.get_by_role("link", name="Export everything held about this person").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Export everything held about Member Alpha"
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("link", name="Cancel").click()
    assert page.url.endswith(f"/admin/people/{member.id}")
