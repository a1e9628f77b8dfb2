"""axe-core on the pages a person meets when stored data fails its integrity check, or the host may not serve.

Both answer with a 5xx status on purpose, which Chromium logs as a console error, so these tests use contexts of
their own and check the console themselves: nothing but those responses may be reported.
"""

from collections.abc import Callable, Iterator

import pytest
from conftest import Person, fresh_code
from flask import Flask
from helpers_keys import swap
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

from browser.steps import TIMEOUT_MS, assert_accessible
from portal.extensions import db
from portal.models import Deployment, Role
from portal.ops import deployment

EXPECTED = "Failed to load resource: the server responded with a status of "


@pytest.fixture
def quiet_page(chromium: Browser) -> Iterator[Callable[[set[int]], Page]]:
    """A page in a fresh context whose console may report only responses with the given statuses."""
    contexts: list[BrowserContext] = []
    problems: list[str] = []

    def factory(statuses: set[int]) -> Page:
        context = chromium.new_context(java_script_enabled=True)
        context.set_default_timeout(TIMEOUT_MS)
        allowed = tuple(f"{EXPECTED}{status}" for status in statuses)

        def note(message: ConsoleMessage) -> None:
            if message.type == "error" and not message.text.startswith(allowed):
                problems.append(message.text)

        context.on("console", note)
        context.on("weberror", lambda error: problems.append(f"uncaught script error: {error.error}"))
        contexts.append(context)
        return context.new_page()

    yield factory
    for context in contexts:
        context.close()
    assert not problems, problems


def test_the_integrity_failure_page_after_signing_in_with_a_swapped_secret(
        app: Flask, live_url: str, quiet_page: Callable[[set[int]], Page], make_user: Callable[..., Person]) -> None:
    person, other = make_user(Role.MEMBER), make_user(Role.MEMBER)
    swap(app, "users", "totp_secret", person.id, other.id)
    page = quiet_page({500})
    page.goto(live_url + "/sign-in")
    page.get_by_label("Email address").fill(person.email)
    page.get_by_label("Password", exact=True).fill(person.password)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/sign-in/code**")
    page.get_by_label("Security code").fill(fresh_code(app, other))
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Sign in").click()

    assert navigation.value.status == 500
    assert page.get_by_role("heading", name="Some information cannot be shown").is_visible()
    assert_accessible(page)


def test_the_service_unavailable_page_of_a_host_that_may_not_serve(app: Flask, live_url: str,
                                                                   quiet_page: Callable[[set[int]], Page]) -> None:
    with app.app_context():
        db.session.get(Deployment, 1).secret_check = "0" * 64  # as if this host's SECRET_KEY were not the deployment's
        db.session.commit()
    deployment.check(app)
    page = quiet_page({503})

    assert page.goto(live_url + "/sign-in").status == 503

    assert page.get_by_role("heading", name="Sorry, the service is unavailable").is_visible()
    assert_accessible(page)
