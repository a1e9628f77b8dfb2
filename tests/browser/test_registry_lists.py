"""axe-core and 320 px on the Lead's long lists a page at a time: portfolios searched by name and paged, and the
readiness page's choice of portfolios."""

from collections.abc import Callable

from conftest import Person
from flask import Flask
from playwright.sync_api import Page

from browser.steps import assert_accessible
from portal import clock
from portal.extensions import db
from portal.models import Nqsw, Organisation, Portfolio, Role

SignedInPage = Callable[..., tuple[Page, Person]]


def test_portfolios_a_page_at_a_time_searched_by_name(app: Flask, live_url: str,
                                                      signed_in_page: SignedInPage) -> None:
    page, _ = signed_in_page(Role.ADMIN)
    with app.app_context():
        employer = Organisation(name="Paged Council", kind="employer")
        db.session.add_all(Portfolio(nqsw=Nqsw(name=f"Listed Person {n:03d}", email=f"listed{n:03d}@example.org",
                                               employer=employer), created_at=clock.now()) for n in range(70))
        db.session.commit()
    page.goto(live_url + "/portfolios")
    page.get_by_label("Name").fill("listed")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**q=listed**")
    assert "70 portfolios, showing 1 to 50" in page.locator("main").inner_text()
    navigation = page.get_by_role("navigation", name="Pages of portfolios")
    assert navigation.is_visible()
    assert_accessible(page)
    navigation.get_by_role("link", name="Next").click()
    page.wait_for_url("**page=2**")
    assert "70 portfolios, showing 51 to 70" in page.locator("main").inner_text()
    assert page.get_by_role("link", name="Listed Person 069").is_visible()
    assert_accessible(page)
    page.set_viewport_size({"width": 320, "height": 640})
    assert_accessible(page)

    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(live_url + "/documents/readiness")
    page.get_by_label("Find a portfolio").fill("person 042")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**q=person**")
    assert "1 portfolio." in page.locator("main").inner_text()
    assert_accessible(page)
    page.get_by_label("Listed Person 042").check()
    page.get_by_role("button", name="Show who has read what").click()
    page.wait_for_url("**portfolio=**")
    assert page.get_by_role("heading", level=1).is_visible()
    page.goto(live_url + "/documents/readiness?page=2")
    assert "70 portfolios, showing 51 to 70" in page.locator("main").inner_text()
    page.set_viewport_size({"width": 320, "height": 640})
    assert_accessible(page)


def test_a_long_registry_is_named_by_email_address_on_the_portfolio_form(app: Flask, live_url: str,
                                                                         signed_in_page: SignedInPage) -> None:
    from portal.models import Assessor
    from portal.portfolios.services import REGISTRY_CHOICES_MAX

    page, _ = signed_in_page(Role.ADMIN)
    with app.app_context():
        employer = Organisation(name="Large Council", kind="employer")
        db.session.add_all(Nqsw(name=f"Many Person {n:03d}", email=f"many{n:03d}@example.org", employer=employer)
                           for n in range(REGISTRY_CHOICES_MAX + 1))
        db.session.add_all(Assessor(name=f"Many Assessor {n:03d}", email=f"many.assessor{n:03d}@example.org",
                                    organisation=employer) for n in range(REGISTRY_CHOICES_MAX + 1))
        db.session.commit()
    page.goto(live_url + "/cohort/portfolios/new")
    assert page.locator("main select").count() == 0
    page.get_by_label("The NQSW's email address").fill("nobody@example.org")
    page.get_by_label("The Assessor's email address").fill("many.assessor004@example.org")
    page.get_by_role("button", name="Save").click()
    summary = page.locator(".govuk-error-summary")
    summary.wait_for()
    assert "No NQSW in your registry has this email address" in summary.inner_text()
    assert_accessible(page)  # the error summary, the field's message and an "Error:" title
    summary.get_by_role("link").first.click()
    assert page.evaluate("document.activeElement.name") == "nqsw_email"  # the summary leads to the field
    page.get_by_label("The NQSW's email address").fill("Many004@example.org")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/portfolios/*")
    assert "The portfolio has been saved" in page.locator("main").inner_text()
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto(live_url + "/cohort/portfolios/new")
    assert_accessible(page)
    # Comparing more portfolios than one page holds is refused with the reason, on an accessible page.
    many = "&".join(f"portfolio={n}" for n in range(1, 60))
    page.goto(live_url + f"/documents/readiness?{many}")
    assert "Choose at most 50 portfolios to compare at once" in page.locator(".govuk-error-summary").inner_text()
    assert_accessible(page)
