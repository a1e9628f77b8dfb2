"""Partnership journeys in Chromium, each page checked by axe-core (WCAG 2.2 AA): a provider's Lead imports and
uploads and cannot reach the council's portfolio; the Chair draws across employers; a member sees codes only;
the administrator's partnership page; after release each Lead's own ledger and report, and the national export."""

import re
from collections.abc import Callable
from datetime import date

from conftest import Person
from factories import make_meeting, make_registered_portfolio
from flask import Flask
from helpers_cohort import HEADER
from helpers_documents import PDF
from helpers_pages import build_journey
from helpers_reports import build_meeting
from playwright.sync_api import BrowserContext, Page
from sqlalchemy import select

from browser.steps import assert_accessible, browser_sign_in, press
from portal.admin import partnership
from portal.extensions import db
from portal.models import Nqsw, Organisation, Portfolio, Role

SignedInPage = Callable[..., tuple[Page, Person]]
COUNCIL, PROVIDER, VOLUNTARY = "Northshire Council", "Riverside Care", "Hillside Family Support"


def _employers(app: Flask) -> dict[str, int]:
    with app.app_context():
        made = {name: partnership.new_employer(name) for name in (COUNCIL, PROVIDER, VOLUNTARY)}
        db.session.commit()
        return {name: employer.id for name, employer in made.items()}


def test_a_providers_lead_imports_uploads_and_cannot_reach_the_councils_portfolios(
        app: Flask, live_url: str, signed_in_page: SignedInPage) -> None:
    ids = _employers(app)
    council_portfolio = make_registered_portfolio(app, 1, employer=COUNCIL)
    page, _ = signed_in_page(Role.LEAD, organisation_id=ids[PROVIDER], name="Rita Riverside")
    assert "Riverside Care" in page.content()  # the dashboard names their own employer
    assert_accessible(page)

    page.goto(live_url + "/cohort/import")
    assert_accessible(page)
    wrong = HEADER + f"Olu Other,olu@example.org,{COUNCIL},Riverside 2026,adults,,,,,,\n"
    page.set_input_files("input[type=file]", files=[{"name": "cohort.csv", "mimeType": "text/csv",
                                                     "buffer": wrong.encode()}])
    assert press(page, "Check the file").status == 400
    assert "is not your employer" in page.content()
    assert_accessible(page)
    page.goto(live_url + "/cohort/import")
    own = HEADER + (f"Ria Own,ria@example.org,{PROVIDER},Riverside 2026,adults,Asa Own,asa@example.org,,pass,"
                    "2026-06-01,no\n")
    page.set_input_files("input[type=file]", files=[{"name": "cohort.csv", "mimeType": "text/csv",
                                                     "buffer": own.encode()}])
    assert press(page, "Check the file").status == 200
    assert_accessible(page)
    press(page, "Import these rows")
    assert "Imported 1 NQSW and their portfolio" in page.content()
    assert "Nqsw Person 1" not in page.content()  # the council's NQSW is not listed
    assert_accessible(page)

    with app.app_context():
        mine = db.session.scalar(select(Portfolio.id).join(Nqsw).where(Nqsw.email == "ria@example.org"))
    page.goto(f"{live_url}/portfolios/{mine}/documents/upload")
    page.select_option("#evidence_type-0", "agreement")
    page.set_input_files("#file-0", files=[{"name": "Agreement.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("1 document uploaded").wait_for()
    assert_accessible(page)

    for path in (f"/portfolios/{council_portfolio}", f"/portfolios/{council_portfolio}/documents",
                 f"/cohort/portfolios/{council_portfolio}/edit"):
        response = page.goto(live_url + path)
        assert response is not None and response.status == 404, path
        assert "Nqsw Person" not in page.content()
    assert_accessible(page)


def test_the_chair_draws_across_employers_and_a_member_sees_codes_only(
        app: Flask, live_url: str, signed_in_page: SignedInPage) -> None:
    _employers(app)
    for n, employer in enumerate([COUNCIL] * 8 + [PROVIDER] * 2 + [VOLUNTARY] * 2, start=1):
        make_registered_portfolio(app, n, employer=employer, outcome_date=date(2026, 6, 1))
    chair, chair_person = signed_in_page(Role.MEMBER, name="Chidi Chair")
    member, member_person = signed_in_page(Role.MEMBER, name="Mina Member")
    mid = make_meeting(app, seats={chair_person.id: "chair", member_person.id: "member"})

    chair.goto(f"{live_url}/meetings/{mid}/sample")
    with chair.expect_navigation():
        chair.get_by_role("link", name="Fill in the guidance's sample").click()
    assert chair.get_by_label("Percentage (rounded up, and at least 2 portfolios)").input_value() == "10"
    assert_accessible(chair)
    press(chair, "Draw the sample")
    assert "Re-running the draw gives the same portfolios" in chair.content()
    for code in ("E1", "E2", "E3"):
        assert f"Employer {code}" in chair.content()
    assert_accessible(chair)

    member.goto(f"{live_url}/meetings/{mid}")
    label = re.compile(r"^Portfolio [A-Z]\d+$")
    links = member.get_by_role("link", name=label)
    assert links.count() == 3
    codes = set()
    for index in range(links.count()):
        member.goto(f"{live_url}/meetings/{mid}")
        with member.expect_navigation():
            member.get_by_role("link", name=label).nth(index).click()
        text = member.content()
        assert not any(name in text for name in (COUNCIL, PROVIDER, VOLUNTARY, "Nqsw Person", "Assessor Person"))
        codes |= {code for code in ("E1", "E2", "E3") if f"Employer {code}" in text}
        assert_accessible(member)
    assert codes == {"E1", "E2", "E3"}


def test_the_partnership_page_and_a_leads_people_pages(app: Flask, live_url: str,
                                                       signed_in_page: SignedInPage) -> None:
    ids = _employers(app)
    admin, _ = signed_in_page(Role.ADMIN)
    admin.goto(live_url + "/admin/partnership")
    assert "E1" in admin.content() and PROVIDER in admin.content()
    assert_accessible(admin)
    with admin.expect_navigation():
        admin.get_by_role("link", name=f"Invite a Lead for {PROVIDER}").click()
    admin.get_by_label("Full name").fill("Rita Riverside")
    admin.get_by_label("Email address").fill("rita@example.org")
    assert press(admin, "Send invitation").status == 200
    assert "Invitation sent to rita@example.org" in admin.content()
    admin.goto(live_url + "/admin/people/invite")
    admin.get_by_label("Full name").fill("Nobody")
    admin.get_by_label("Email address").fill("nobody@example.org")
    admin.get_by_label("Employer Lead").check()
    assert press(admin, "Send invitation").status == 400
    assert "Choose the employer this Lead works for" in admin.content()
    assert_accessible(admin)

    lead, _ = signed_in_page(Role.LEAD, organisation_id=ids[VOLUNTARY])
    for path in ("/admin/people", "/admin/people/invite", "/cohort", "/cohort/nqsws", "/portfolios"):
        lead.goto(live_url + path)
        assert_accessible(lead)


def test_after_release_each_lead_sees_their_own_ledger_and_downloads_their_own_report(
        app: Flask, live_url: str, new_context: Callable[..., BrowserContext],
        make_user: Callable[..., Person]) -> None:
    journey = build_journey(app, make_user)
    assert journey.employer_lead is not None
    with app.app_context():
        nqsw_name = db.session.get(Nqsw, journey.nqsw_record_id).name
        other_employer = db.session.scalar(select(Nqsw.employer_id).join(Portfolio, Portfolio.nqsw_id == Nqsw.id)
                                           .where(Portfolio.id == journey.portfolio_ids[0]))
    page = new_context().new_page()
    browser_sign_in(page, live_url, journey.employer_lead, app)
    with page.expect_navigation():
        page.get_by_role("link", name="Feedback and reports").first.click()
    assert nqsw_name in page.content() and "Overdue" in page.content()
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("link", name=re.compile(r"^Report of Summer panel")).click()
    assert "Your employer" in page.content() and "Feedback to the NQSW" in page.content()
    assert_accessible(page)
    with page.expect_download() as download:
        page.get_by_role("link", name="report as PDF").click()
    assert download.value.suggested_filename.endswith(".pdf")

    other_lead = make_user(Role.LEAD, name="Omar Other", organisation_id=other_employer)
    other = new_context().new_page()
    browser_sign_in(other, live_url, other_lead, app)
    other.goto(live_url + "/employer/feedback")
    assert nqsw_name not in other.content() and "No feedback has been released to your people yet" in other.content()
    assert_accessible(other)
    response = other.goto(f"{live_url}/employer/reports/{journey.earlier_id}")
    assert response is not None and response.status == 404

    admin = new_context().new_page()
    browser_sign_in(admin, live_url, journey.lead, app)
    admin.goto(f"{live_url}/meetings/{journey.earlier_id}/national-export")
    assert_accessible(admin)
    with admin.expect_download() as download:
        admin.get_by_role("button", name="Download the export").click()
    assert download.value.suggested_filename.endswith(".zip")


def test_the_lead_writes_the_reports_sections_and_an_employers_lead_reads_their_themes(
        app: Flask, live_url: str, signed_in_page: SignedInPage) -> None:
    """Issue 13 item 4's rest: the report's own sections and themes and actions owned by an employer."""
    ids = _employers(app)
    chair, chair_person = signed_in_page(Role.MEMBER, name="Chidi Chair")
    mid = build_meeting(app, chair_person.id).meeting_id
    chair.goto(f"{live_url}/meetings/{mid}/minutes/edit")
    chair.get_by_label("Theme", exact=True).fill("Protected time")
    chair.get_by_label("Employer it concerns").select_option(label=f"Employer {_code(app, ids[PROVIDER])}")
    press(chair, "Add theme")
    assert_accessible(chair)
    chair.goto(f"{live_url}/meetings/{mid}/minutes")
    press(chair, "Approve the minutes")
    press(chair, "Publish the minutes")

    admin, _ = signed_in_page(Role.ADMIN)
    admin.goto(f"{live_url}/meetings/{mid}/report")
    admin.get_by_role("link", name="Write the report's own sections").click()
    assert_accessible(admin)
    admin.get_by_label("Withdrawals").fill("One NQSW withdrew in month 4; outcome deferred to the next cohort.")
    press(admin, "Save the report's sections")
    assert "One NQSW withdrew in month 4" in admin.locator("main").inner_text()
    admin.goto(f"{live_url}/themes")
    admin.get_by_label("Show themes and actions for").select_option(label=f"{PROVIDER} ({_code(app, ids[PROVIDER])})")
    press(admin, "Show")
    assert "Protected time" in admin.locator("main").inner_text()
    assert_accessible(admin)

    lead, _ = signed_in_page(Role.LEAD, organisation_id=ids[PROVIDER])
    lead.goto(f"{live_url}/dashboard")
    lead.get_by_role("link", name="Your employer's themes and actions").click()
    assert "Protected time" in lead.locator("main").inner_text()
    assert_accessible(lead)
    other, _ = signed_in_page(Role.LEAD, organisation_id=ids[VOLUNTARY])
    other.goto(f"{live_url}/themes")
    assert "Protected time" not in other.locator("main").inner_text()


def _code(app: Flask, employer_id: int) -> str:
    with app.app_context():
        return db.session.scalar(select(Organisation.code).where(Organisation.id == employer_id)) or ""
