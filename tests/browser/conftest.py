"""Browser tests: the real app on a live server, driven by Debian's Chromium through Playwright, checked by axe-core.

Every test under tests/browser is marked `browser`. Helpers for other areas' browser tests:
the fixtures `live_url`, `page` (a fresh browser context per test), `new_context(**options)` and
`signed_in_page(Role.X)` -> (page, person). The steps a test takes (sign in, press a button, check a page with
axe-core, set up an authenticator, invite someone, ...) are plain functions in tests/browser/steps.py:
`from browser.steps import assert_accessible, press` (the package keeps this conftest from shadowing
tests/conftest.py, which is also imported as `conftest`). No test imports from another test file.
"""

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Person
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright
from werkzeug.serving import make_server

from browser.steps import TIMEOUT_MS, browser_sign_in
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
