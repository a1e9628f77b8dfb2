"""axe-core on the form-based assessment template editor (list, wording, add and remove a question) in their
normal and error states, and a change made with JavaScript off."""

from collections.abc import Callable

from conftest import Person
from playwright.sync_api import BrowserContext, Page

from browser.steps import assert_accessible, browser_sign_in, press
from portal.models import Role

SignedInPage = Callable[..., tuple[Page, Person]]


def test_template_editor_pages(live_url: str, signed_in_page: SignedInPage) -> None:
    lead, _admin = signed_in_page(Role.ADMIN)
    lead.goto(live_url + "/reviews/templates")
    assert_accessible(lead)

    lead.goto(live_url + "/reviews/templates/wording")
    assert_accessible(lead)
    lead.locator("#s2-q3-label").fill("")
    assert press(lead, "Publish version 1").status == 400
    assert_accessible(lead)
    assert lead.get_by_role("link", name="Enter the label of question 3 in \u201cPart 2: the decision\u201d").count()

    lead.goto(live_url + "/reviews/templates/sections/part3/questions/new")
    assert_accessible(lead)
    lead.get_by_label("Options (for a choice only)").fill("Yes\nyes")
    lead.get_by_label("A choice from a list of options").check()
    assert press(lead, "Add the question and publish version 1").status == 400
    assert_accessible(lead)
    lead.get_by_label("Question", exact=True).fill("Was the portfolio easy to find your way around?")
    lead.get_by_label("Options (for a choice only)").fill("Yes\nNo\nPartly")
    lead.get_by_label("Yes", exact=True).check()
    assert press(lead, "Add the question and publish version 1").status == 200
    assert_accessible(lead)  # the list, with the success banner

    lead.get_by_role("link", name="Remove Was the portfolio easy to find your way around?").click()
    assert_accessible(lead)
    assert press(lead, "Remove the question and publish version 2").status == 200
    lead.goto(live_url + "/reviews/templates/questions/accurate/remove")
    assert_accessible(lead)  # the refusal


def test_the_wording_changes_without_javascript(app, live_url: str, new_context: Callable[..., BrowserContext],
                                                make_user) -> None:
    lead = new_context(java_script_enabled=False).new_page()
    browser_sign_in(lead, live_url, make_user(Role.ADMIN), app)
    lead.goto(live_url + "/reviews/templates")
    lead.get_by_role("button", name="Change the wording").click()
    lead.locator("#s2-q1-label").fill("Is the Internal Panel's decision accurate?")
    assert press(lead, "Publish version 1").status == 200
    assert "Version 1 of the assessment template is published" in lead.content()
    lead.goto(live_url + "/reviews/templates")
    assert "Is the Internal Panel's decision accurate?" in lead.locator("main").inner_text()
