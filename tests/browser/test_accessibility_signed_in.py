"""axe-core on every signed-in page of the foundation, in its normal, error and empty states."""

from collections.abc import Callable

import pytest
from conftest import Person, fresh_code
from flask import Flask
from playwright.sync_api import Page

from browser.steps import assert_accessible, press
from portal.models import Role

SignedInPage = Callable[..., tuple[Page, Person]]


@pytest.mark.parametrize("role", list(Role))
def test_dashboard_for_each_role(signed_in_page: SignedInPage, role: Role) -> None:
    page, person = signed_in_page(role)
    assert page.url.endswith("/dashboard")
    assert page.get_by_role("heading", level=1).inner_text() == f"Hello, {person.name}"
    assert_accessible(page)


def test_account_pages(app: Flask, live_url: str, signed_in_page: SignedInPage) -> None:
    page, person = signed_in_page(Role.MEMBER)
    page.goto(live_url + "/account")
    assert page.get_by_role("table").first.is_visible()
    assert_accessible(page)

    page.goto(live_url + "/account/password")
    assert_accessible(page)
    page.get_by_label("Current password").fill("wrong current password")
    page.get_by_label("New password", exact=True).fill("another long passphrase here")
    page.get_by_label("Confirm your new password").fill("another long passphrase here")
    page.get_by_label("Security code").fill(fresh_code(app, person))
    assert press(page, "Change password").status == 400
    assert page.locator(".govuk-error-summary").is_visible()
    assert_accessible(page)

    page.goto(live_url + "/account/recovery-codes")
    assert_accessible(page)
    assert press(page, "Create new recovery codes").status == 400
    assert_accessible(page)
    page.get_by_label("Password", exact=True).fill(person.password)
    page.get_by_label("Security code or recovery code").fill(fresh_code(app, person))
    assert press(page, "Create new recovery codes").status == 200
    assert page.locator(".portal-recovery-codes li").count() == 10
    assert_accessible(page)


def test_people_pages(app: Flask, live_url: str, signed_in_page: SignedInPage,
                      make_user: Callable[..., Person]) -> None:
    page, _ = signed_in_page(Role.ADMIN)
    other = make_user(Role.ASSESSOR, name="Brenda Example")
    page.goto(live_url + "/admin/people/invite")
    assert_accessible(page)
    assert press(page, "Send invitation").status == 400
    assert_accessible(page)
    page.get_by_label("Full name").fill("Cai Example")
    page.get_by_label("Email address").fill("cai@example.org")
    page.get_by_label("Panel member").check()
    assert press(page, "Send invitation").status == 200
    assert page.url.endswith("/admin/people")
    assert page.get_by_role("link", name="Brenda Example").is_visible()
    assert page.get_by_role("button", name="Resend").is_visible()
    assert_accessible(page)

    page.get_by_label("Name or email").fill("nobody matches this")
    assert press(page, "Search").status == 200
    assert page.get_by_text("No people match your search.").is_visible()
    assert_accessible(page)

    page.goto(f"{live_url}/admin/people/{other.id}")
    assert page.get_by_role("heading", name="Brenda Example").is_visible()
    assert_accessible(page)
    for action in ("deactivate", "reset-2fa"):
        assert page.goto(f"{live_url}/admin/people/{other.id}/{action}").status == 200
        assert_accessible(page)
    page.goto(f"{live_url}/admin/people/{other.id}/deactivate")
    assert press(page, "Deactivate").status == 200
    assert_accessible(page)
    assert page.goto(f"{live_url}/admin/people/{other.id}/reactivate").status == 200
    assert_accessible(page)


def test_organisation_pages(live_url: str, signed_in_page: SignedInPage) -> None:
    page, _ = signed_in_page(Role.ADMIN)
    page.goto(live_url + "/admin/organisations")
    assert page.get_by_text("No organisations yet").is_visible()
    assert_accessible(page)
    assert press(page, "Add organisation").status == 400
    assert_accessible(page)
    page.get_by_label("Name", exact=True).fill("Northtown Borough Council")
    page.get_by_role("group", name="Kind").get_by_role("radio").first.check()
    assert press(page, "Add organisation").status == 200
    assert page.get_by_role("cell", name="Northtown Borough Council").is_visible()
    assert_accessible(page)


def test_audit_trail_pages(live_url: str, signed_in_page: SignedInPage) -> None:
    page, _ = signed_in_page(Role.ADMIN)
    page.goto(live_url + "/admin/audit")
    assert page.get_by_role("cell", name="sign_in.succeeded").first.is_visible()
    assert_accessible(page)

    assert page.goto(live_url + "/admin/audit?date_from=1&date_from=1&date_from=2099").status == 200
    assert page.get_by_text("No events match your search.").is_visible()
    assert_accessible(page)

    assert page.goto(live_url + "/admin/audit?date_from=45&date_from=13&date_from=2026").status == 400
    assert page.locator(".govuk-error-summary").is_visible()
    assert_accessible(page)
