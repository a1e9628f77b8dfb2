"""Reflow (WCAG 1.4.10): at 320 CSS pixels no page scrolls sideways; a wide table scrolls inside its own box.

Every page with a table is opened in Chromium with a 320 px wide viewport, filled with the data of a portal
part-way through its second cycle (helpers_pages.build_journey), and fails if the document is wider than the
viewport. axe-core checks each page at that width too (a scrolling box must take focus, so keyboards reach it).
The app runs in this process, so the test records every template it renders (Flask's template_rendered signal) and
fails if a template holding a table is reached by no page it visited: a new page with a table must join the list.
"""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Person
from flask import Flask, template_rendered
from helpers_pages import LONG_WORD, Journey, build_journey
from jinja2 import Template
from playwright.sync_api import BrowserContext, Page

from browser.steps import HEADER, ROWS, SMALL, assert_accessible, browser_sign_in, page_widths, press
from portal.models import Role

TABLE = re.compile(r"scroll_box|<table|govukTable")
REFERENCE = re.compile(r"""{%-?\s*(?:extends|include|import|from)\s+["']([^"']+)["']""")
# Templates with a table that another test in this file checks at 320 px (the preview needs a file uploaded).
CHECKED_ELSEWHERE = {"portfolios/import_preview.html": "test_the_csv_preview_fits_the_screen"}


def _table_pages(j: Journey) -> list[str]:
    """The Lead's pages that hold a table, each with rows in it."""
    pid, did = j.portfolio_ids[0], j.document_ids[0]
    return [
        "/admin/audit", "/admin/emails", "/admin/organisations", "/admin/people", f"/admin/people/{j.chair.id}",
        "/account", "/cohort", "/cohort/nqsws", "/cohort/assessors", "/portfolios", f"/portfolios/{pid}",
        f"/portfolios/{pid}/documents", f"/portfolios/{pid}/documents/{did}", f"/portfolios/{pid}/documents/readiness",
        f"/documents/readiness?portfolio={pid}&portfolio={j.portfolio_ids[1]}", "/meetings",
        f"/meetings/{j.meeting_id}/members",
        f"/meetings/{j.meeting_id}/sample/draws/{j.draw_ids[0]}", "/reports", "/themes", f"/themes/{j.theme_id}",
        "/reviews/templates",
        f"/reviews/meetings/{j.meeting_id}/record", f"/reviews/meetings/{j.meeting_id}/record/portfolios/{pid}",
        f"/meetings/{j.meeting_id}/minutes", f"/meetings/{j.meeting_id}/minutes/edit",
        f"/meetings/{j.earlier_id}/minutes", f"/meetings/{j.earlier_id}/report",
        f"/meetings/{j.earlier_id}/feedback-release", "/admin/partnership",
    ]


def _employer_lead_pages(j: Journey) -> list[str]:
    """The employer's Lead's own pages with a table: their people's feedback, and the report on their portfolios."""
    return ["/employer/feedback", f"/employer/reports/{j.earlier_id}"]


def _templates_with_a_table(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*.html") if TABLE.search(path.read_text())}


def _reached(folder: Path, rendered: set[str]) -> set[str]:
    """The templates rendered, and every template they extend, include or import, and so on."""
    reached, todo = set(), list(rendered)
    while todo:
        name = todo.pop()
        if name in reached or not (folder / name).is_file():  # GOV.UK Frontend's own macros are not ours
            continue
        reached.add(name)
        todo.extend(REFERENCE.findall((folder / name).read_text()))
    return reached


def _assert_every_table_template_reached(folder: Path, rendered: set[str]) -> None:
    with_a_table = _templates_with_a_table(folder)
    assert set(CHECKED_ELSEWHERE) <= with_a_table, "CHECKED_ELSEWHERE names a template without a table"
    missed = with_a_table - _reached(folder, rendered) - set(CHECKED_ELSEWHERE)
    assert not missed, f"no page this test visits at 320 px renders {sorted(missed)}: add a page that shows it"


def test_the_check_for_unvisited_templates_can_fail(app: Flask) -> None:
    folder = Path(app.template_folder or "")
    everything = _templates_with_a_table(folder)
    assert "admin/partnership.html" in everything and "reports/_blocks.html" in everything
    reached = _reached(folder, {"reports/minutes.html"})
    assert {"reports/_blocks.html", "_tables.html", "base.html"} <= reached  # imported and extended
    try:
        _assert_every_table_template_reached(folder, everything - {"admin/partnership.html"})
    except AssertionError as error:
        assert "admin/partnership.html" in str(error)
    else:
        raise AssertionError("a template with a table that no page rendered went unnoticed")


def _assert_reflows(page: Page, url: str) -> None:
    scroll_width, viewport = page_widths(page)
    assert scroll_width <= viewport, f"{url} is {scroll_width} px wide in a {viewport} px viewport"


def _signed_in(app: Flask, live_url: str, new_context: Callable[..., BrowserContext], person: Person,
               viewport: dict) -> Page:
    page = new_context(viewport=viewport).new_page()
    browser_sign_in(page, live_url, person, app)
    return page


def test_every_page_with_a_table_reflows_at_320_pixels(app: Flask, live_url: str, make_user,
                                                        new_context: Callable[..., BrowserContext]) -> None:
    journey = build_journey(app, make_user)
    assert journey.employer_lead is not None
    page = _signed_in(app, live_url, new_context, journey.lead, SMALL)
    observer = _signed_in(app, live_url, new_context, journey.observer, SMALL)
    employer_lead = _signed_in(app, live_url, new_context, journey.employer_lead, SMALL)
    rendered: set[str] = set()

    def note(sender: Flask, template: Template, **extra: object) -> None:
        rendered.add(template.name or "")

    template_rendered.connect(note, app)  # from here on, every page rendered is one this test checks
    for path in _table_pages(journey):
        response = page.goto(live_url + path)
        assert response is not None and response.status == 200, path
        assert page.locator("main table tbody tr").count() > 0, f"{path} shows no table rows"
        _assert_reflows(page, path)
        assert_accessible(page)
    # The meeting record's tables are wider than the screen: each scrolls in its own box, which takes focus.
    page.goto(f"{live_url}/reviews/meetings/{journey.meeting_id}/record")
    box = page.locator(".app-table-container").first
    assert box.evaluate("el => el.scrollWidth > el.clientWidth"), "the record's first table should need scrolling"
    box.focus()
    assert page.evaluate("document.activeElement.getAttribute('role')") == "region"
    page.keyboard.press("ArrowRight")
    for _ in range(50):  # the browser may scroll smoothly; the page's CSP rules out wait_for_function's eval
        if box.evaluate("el => el.scrollLeft") > 0:
            break
        page.wait_for_timeout(50)
    assert box.evaluate("el => el.scrollLeft") > 0, "the arrow key should scroll the focused table"
    # A long web address in the minutes wraps rather than widening the page.
    page.goto(f"{live_url}/meetings/{journey.meeting_id}/minutes")
    assert LONG_WORD in page.content()
    _assert_reflows(page, "minutes with a long web address")

    observer.goto(f"{live_url}/dashboard")
    assert observer.locator("main table tbody tr").count() > 0  # the open actions
    _assert_reflows(observer, "/dashboard (observer)")
    assert_accessible(observer)

    for path in _employer_lead_pages(journey):
        response = employer_lead.goto(live_url + path)
        assert response is not None and response.status == 200, path
        assert employer_lead.locator("main table tbody tr").count() > 0, f"{path} shows no table rows"
        _assert_reflows(employer_lead, f"{path} (employer's Lead)")
        assert_accessible(employer_lead)
    template_rendered.disconnect(note, app)
    _assert_every_table_template_reached(Path(app.template_folder or ""), rendered)


@pytest.mark.parametrize("viewport", [SMALL, {"width": 1280, "height": 800}], ids=["320px", "1280px"])
def test_the_csv_preview_fits_the_screen(app: Flask, live_url: str, make_user, viewport: dict,
                                         new_context: Callable[..., BrowserContext]) -> None:
    lead = make_user(Role.ADMIN)
    page = _signed_in(app, live_url, new_context, lead, viewport)
    page.goto(f"{live_url}/cohort/import")
    # Real registries have long names, addresses and organisations: a row like that widens every column.
    long_row = (b"Oluwaseun Adeyemi-Richardson,oluwaseun.adeyemi-richardson@northshire-childrens-services.example.org,"
                b"Northshire County Council Children's Services (North Locality),Academy 2026 (September intake),"
                b"children,Alexandra Montgomery-Fitzwilliam,"
                b"alexandra.montgomery-fitzwilliam@southvale-community-health-trust.example.org,pass,2026-10-01\n")
    page.set_input_files("input[type=file]", files=[{"name": "cohort.csv", "mimeType": "text/csv",
                                                     "buffer": HEADER + b"".join(ROWS) + long_row}])
    assert press(page, "Check the file").status == 200
    assert page.locator("main table tbody tr").count() == len(ROWS) + 1
    _assert_reflows(page, f"/cohort/import preview at {viewport['width']} px")
    assert_accessible(page)
