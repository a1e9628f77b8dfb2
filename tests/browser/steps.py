"""The steps browser tests take: plain functions (and the cohort CSV rows the journeys upload), shared by every
browser test so none imports from another test file. The fixtures are in tests/browser/conftest.py.
"""

from axe_playwright_python.sync_playwright import Axe
from conftest import Person, fresh_code, link_in_last_email
from flask import Flask
from playwright.sync_api import Locator, Page, Response

from portal import clock
from portal.admin import services as admin_services
from portal.auth import services as auth_services
from portal.extensions import db
from portal.models import Role, User
from portal.security import totp

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE = Axe()
TIMEOUT_MS = 15_000
# The narrowest viewport WCAG 1.4.10 (reflow) asks pages to work in.
SMALL = {"width": 320, "height": 640}

# A focus indicator is an outline or a box shadow (GOV.UK's yellow bar); radios and checkboxes draw theirs on the
# label, so they are not checked here.
FOCUS_VISIBLE = """el => {
  if (el.matches('input[type=radio], input[type=checkbox]')) return true;
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0
    && style.outlineColor !== 'rgba(0, 0, 0, 0)';
  return outline || style.boxShadow !== 'none';
}"""

# A cohort CSV of three NQSWs and two Assessors, as the journeys upload it.
HEADER = b"nqsw_name,nqsw_email,employer,cohort,service,assessor_name,assessor_email,outcome,outcome_date\n"
ROWS = [
    b"Nia Fictional,nia@example.org,Fictional Council,Academy 2026,children,Ash Assessor,ash@example.org,pass,"
    b"2026-10-01\n",
    b"Olu Fictional,olu@example.org,Fictional Council,Academy 2026,adults,Ash Assessor,ash@example.org,pass,"
    b"2026-10-02\n",
    b"Pat Fictional,pat@example.org,Fictional Trust,Academy 2026,children,Bo Assessor,bo@example.org,extension,"
    b"2026-10-03\n",
]


def press(page: Page, button: str | Locator) -> Response:
    """Press a button (by its text, or a locator) with the mouse and return the response of the page it led to."""
    target = page.get_by_role("button", name=button, exact=True) if isinstance(button, str) else button
    with page.expect_navigation() as navigation:
        target.click()
    response = navigation.value
    assert response is not None, f"pressing {button!r} on {page.url} loaded no page"
    return response


def press_enter(page: Page) -> int:
    """Press Enter on the focused element and return the status of the page it leads to."""
    with page.expect_navigation() as navigation:
        page.keyboard.press("Enter")
    return navigation.value.status


def tab_to(page: Page, target: str | Locator, limit: int = 40) -> None:
    """Press Tab until `target` (a CSS selector or a locator) has the focus, checking each stop on the way shows
    its focus; fail if it never gets the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.locator("*:focus")
        if focused.count() == 0:
            continue
        description = focused.evaluate("el => el.outerHTML.slice(0, 120)")
        assert focused.evaluate(FOCUS_VISIBLE), f"no visible focus indicator on {description}"
        if isinstance(target, str):
            reached = focused.evaluate("(el, s) => el.matches(s)", target)
        else:
            reached = target.evaluate("el => el === document.activeElement")
        if reached:
            return
    raise AssertionError(f"{target} was not reached with {limit} presses of Tab on {page.url}")


def page_widths(page: Page) -> tuple[int, int]:
    """The document's width and the viewport's, in CSS pixels (wider document: the page scrolls sideways)."""
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def browser_sign_in(page: Page, live_url: str, person: Person, app: Flask, path: str = "/sign-in") -> None:
    """Sign in through the real forms (email and password, then a fresh security code) and wait to leave them."""
    page.goto(live_url + path)
    page.get_by_label("Email address").fill(person.email)
    page.get_by_label("Password", exact=True).fill(person.password)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/sign-in/code**")
    page.get_by_label("Security code").fill(fresh_code(app, person))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/sign-in" not in url)


def assert_accessible(page: Page) -> None:
    """Run axe-core (WCAG 2.2 AA) on the page as it is now; fail with a readable list of violations.

    Also holds the portal's own page rules: exactly one h1, and a title starting "Error:" when the page
    shows an error summary.
    """
    results = AXE.run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]})
    violations = results.response["violations"]
    where = f"{page.url} ({page.title()!r})"
    assert not violations, f"axe-core found {len(violations)} violation(s) on {where}:\n" + "\n".join(
        _describe(violation) for violation in violations
    )
    headings = page.locator("h1").count()
    assert headings == 1, f"{where} has {headings} h1 elements; a page needs exactly one"
    if page.locator(".govuk-error-summary").count():
        assert page.title().startswith("Error: "), f"{where} shows errors but its title does not start 'Error: '"


def _describe(violation: dict) -> str:
    lines = [f"- {violation['id']} ({violation.get('impact')}): {violation['help']} [{violation['helpUrl']}]"]
    for node in violation["nodes"]:
        summary = " ".join((node.get("failureSummary") or "").split())
        lines.append(f"    at {', '.join(map(str, node['target']))}: {node['html'][:200]}")
        if summary:
            lines.append(f"      {summary}")
    return "\n".join(lines)


# Accounts -----------------------------------------------------------------------------------------------


def code_from_typed_key(page: Page) -> str:
    """The code an authenticator set up with the key shown on the enrolment page would show now."""
    secret = page.locator("#typed-key").inner_text().replace(" ", "")
    return totp.code_at(secret, clock.now())


def invite(app: Flask, email: str, role: Role = Role.MEMBER) -> str:
    """Invite someone (as an administrator made for the purpose) and return the path of the emailed link."""
    with app.test_request_context():
        admin = User(email="lead@example.org", name="Lead", role=Role.ADMIN.value, active=True,
                     created_at=clock.now())
        db.session.add(admin)
        db.session.commit()
        auth_services.invite(admin, "Ada Example", email, role, None)
    return link_in_last_email(app, email)


def reset_link(app: Flask, person: Person, forgot_password: bool = False) -> str:
    """Reset a person's authenticator (as an administrator made for the purpose); the path of the emailed link."""
    with app.test_request_context():
        lead = User(email="lead@example.org", name="Lead", role=Role.ADMIN.value, active=True, created_at=clock.now())
        db.session.add(lead)
        db.session.commit()
        admin_services.reset_two_factor(lead, db.session.get(User, person.id), forgot_password=forgot_password)
    return link_in_last_email(app, person.email)


# Meetings -----------------------------------------------------------------------------------------------


def draw_two_after_refusing_one(page: Page) -> None:
    """On the draw page: a sample of 1 is refused with an accessible error, then a sample of 2 is drawn."""
    page.get_by_label("Number of portfolios (at least 2)").fill("1")
    assert press(page, "Draw the sample").status == 400
    assert_accessible(page)
    page.get_by_label("Number of portfolios (at least 2)").fill("2")
    press(page, "Draw the sample")
    assert "Re-running the draw gives the same portfolios" in page.content()
    assert_accessible(page)
