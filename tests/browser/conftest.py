"""Browser tests: the real app on a live server, driven by Debian's Chromium through Playwright, checked by axe-core.

Every test under tests/browser is marked `browser`. Helpers for other areas' browser tests:
`live_url`, `page` (a fresh browser context per test), `new_context(**options)`, `signed_in_page(Role.X)` ->
(page, person), `browser_sign_in(page, live_url, person, app)`, `press(page, "Button text")` -> the response the
button led to, and `assert_accessible(page)`. Import the plain functions with
`from browser.conftest import assert_accessible, browser_sign_in` (the package keeps this
conftest from shadowing tests/conftest.py, which is also imported as `conftest`).
"""

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import Person, fresh_code
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Locator, Page, Response, sync_playwright
from werkzeug.serving import make_server

from portal.models import Role

HERE = Path(__file__).resolve().parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE = Axe()
TIMEOUT_MS = 15_000
# Error pages answer 400 or 404 on purpose; Chromium logs each such response as a console error.
EXPECTED_CONSOLE = "Failed to load resource: the server responded with a status of 4"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything in this folder `browser`, before `-m` selects by marker."""
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def app_config(app_config: dict) -> dict:
    """The usual test configuration, but served over plain http on loopback like local development."""
    return {**app_config, "DEVELOPMENT": True}


@pytest.fixture
def live_url(app: Flask) -> Iterator[str]:
    """Serve the test app with werkzeug on a free loopback port in a background thread; yield its base URL."""
    # Chromium drops Secure cookies on http://127.0.0.1, so the live server sends them without the flag.
    app.config["SESSION_COOKIE_SECURE"] = False
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, for the whole session. Missing Chromium is a failure, never a skip."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "The browser tests need Debian's Chromium (`chromium` on PATH) and it is not installed. "
            "Install it with `apt-get install -y chromium` (`make test` and .ci/run do this when run as root).",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def new_context(chromium: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """Make browser contexts (e.g. `new_context(java_script_enabled=False)`); each fails its test on page errors."""
    contexts: list[BrowserContext] = []
    problems: list[str] = []

    def factory(**options: Any) -> BrowserContext:
        context = chromium.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        context.on("console", lambda message: _note_console(message, problems))
        context.on("weberror", lambda error: problems.append(f"uncaught script error: {error.error}"))
        contexts.append(context)
        return context

    yield factory
    for context in contexts:
        context.close()
    # Content Security Policy violations and script errors only ever show in the console.
    assert not problems, "the browser reported problems:\n" + "\n".join(problems)


def _note_console(message: ConsoleMessage, problems: list[str]) -> None:
    if message.type == "error" and not message.text.startswith(EXPECTED_CONSOLE):
        problems.append(f"console error on {message.page.url if message.page else '?'}: {message.text}")


@pytest.fixture
def page(new_context: Callable[..., BrowserContext]) -> Page:
    """A page in a fresh browser context: no cookies, JavaScript on."""
    return new_context().new_page()


@pytest.fixture
def signed_in_page(app: Flask, live_url: str, new_context: Callable[..., BrowserContext],
                   make_user: Callable[..., Person]) -> Callable[..., tuple[Page, Person]]:
    """Make a person of a role and return a page in its own context, signed in as them through the forms."""

    def factory(role: Role = Role.MEMBER, **kwargs: Any) -> tuple[Page, Person]:
        person = make_user(role, **kwargs)
        page = new_context().new_page()
        browser_sign_in(page, live_url, person, app)
        return page, person

    return factory


def press(page: Page, button: str | Locator) -> Response:
    """Press a button (by its text, or a locator) with the mouse and return the response of the page it led to."""
    target = page.get_by_role("button", name=button, exact=True) if isinstance(button, str) else button
    with page.expect_navigation() as navigation:
        target.click()
    response = navigation.value
    assert response is not None, f"pressing {button!r} on {page.url} loaded no page"
    return response


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
