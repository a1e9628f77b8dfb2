"""Web hardening over HTTP: CSRF, no change on GET, local redirects only, headers, error pages and logs."""

import base64
import logging
import os
from collections.abc import Callable
from urllib.parse import quote

import pytest
from conftest import KEYRING, Person, csrf_from, fresh_code, link_in_last_email, outbox, sign_in, submit
from flask import Flask
from flask.testing import FlaskClient
from helpers_security import VOLATILE_TABLES, build_path, snapshot

from portal import access, create_app
from portal.admin import services as admin_services
from portal.extensions import db
from portal.models import Role, User


def _post_rules(app: Flask) -> list:
    return [r for r in app.url_map.iter_rules() if "POST" in r.methods]


@pytest.fixture
def world(app: Flask, admin_client: tuple[FlaskClient, Person], make_user: Callable[..., Person]) -> dict:
    """An administrator, a member and a pending invitation, so POSTs have real objects to act on."""
    browser, admin = admin_client
    member = make_user(Role.MEMBER)
    submit(browser, "/admin/people/invite", {"name": "Ivy Invitee", "email": "ivy@example.org", "role": "member",
                                              "organisation": "0"})
    with app.app_context():
        link_id = admin_services.pending_links(db.session.get(User, admin.id))[0].id
    return {"browser": browser, "admin": admin, "member": member,
            "known": {"user_id": member.id, "link_id": link_id}}


def test_every_post_endpoint_refuses_a_missing_or_wrong_csrf_token(app: Flask, world: dict) -> None:
    browser = world["browser"]
    rules = _post_rules(app)
    assert {"admin.deactivate", "admin.invite", "auth.sign_out"} <= {r.endpoint for r in rules}
    before = snapshot(app)
    for rule in rules:
        path = build_path(app, rule, world["known"])
        data = {"name": "Changed", "email": "x@example.org", "role": "admin", "kind": "employer",
                "password": world["admin"].password, "code": "123456"}
        for token in (None, "forged-token", "IjAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwIg.aaaa.bbbb"):
            sent = dict(data) if token is None else {**data, "csrf_token": token}
            response = browser.post(path, data=sent)
            # With a made-up id a view may answer 404 (no such object) before reading the streamed body.
            allowed = (400,) if set(rule.arguments) <= set(world["known"]) else (400, 404)
            assert response.status_code in allowed, (path, token, response.status_code)
    assert snapshot(app) == before
    # The same admin with a real token can act: the refusals above were the token's doing.
    assert browser.get("/dashboard").status_code == 200
    response = submit(browser, f"/admin/people/{world['member'].id}/deactivate", {})
    assert response.status_code == 302
    assert snapshot(app) != before


def test_a_token_from_another_session_is_refused(app: Flask, world: dict,
                                                 signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    other, _ = signed_in(Role.ADMIN)
    foreign_token = csrf_from(other.get("/admin/people").get_data(as_text=True))
    before = snapshot(app)
    response = world["browser"].post(f"/admin/people/{world['member'].id}/deactivate",
                                      data={"csrf_token": foreign_token})
    assert response.status_code == 400
    assert snapshot(app) == before


def test_get_never_changes_anything(app: Flask, world: dict) -> None:
    browser = world["browser"]
    before = snapshot(app, skip=VOLATILE_TABLES)
    post_only = [r for r in _post_rules(app) if "GET" not in r.methods]
    assert post_only
    for rule in post_only:
        path = build_path(app, rule, world["known"])
        response = browser.get(path + "?role=admin&csrf_token=x")
        assert response.status_code == 404, path
    # Pages that take a form by POST ignore the same fields sent in a query string.
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and rule.endpoint != "static" and rule.endpoint != "auth.sign_out":
            path = build_path(app, rule, world["known"])
            browser.get(path, query_string={"name": "Changed", "role": "admin", "kind": "employer",
                                            "email": "evil@example.org"})
    assert snapshot(app, skip=VOLATILE_TABLES) == before
    assert browser.get("/dashboard").status_code == 200  # still signed in: GET /sign-out is no sign-out


EVIL_TARGETS = ["//evil.example", "/\\evil.example", "https://evil.example", "javascript:alert(1)",
                "/%2F%2Fevil.example", "/%5Cevil.example", "http:evil.example"]


@pytest.mark.parametrize("safe", ["/%:", "/:"], ids=["as-typed", "encoded-again"])
@pytest.mark.parametrize("target", EVIL_TARGETS)
def test_next_never_leaves_the_site(app: Flask, client: FlaskClient, make_user: Callable[..., Person],
                                    target: str, safe: str) -> None:
    person = make_user(Role.MEMBER)
    # As typed, /%2F%2F reaches the portal as ///; encoded again, it arrives as the literal text /%2F%2F.
    path = "/sign-in?next=" + quote(target, safe=safe)
    response = submit(client, path, {"email": person.email, "password": person.password})
    assert response.status_code == 302
    code_page = response.headers["Location"]
    assert "evil" not in code_page and "javascript" not in code_page
    response = submit(client, code_page, {"code": fresh_code(app, person)})
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"


def test_next_takes_a_local_path_after_sign_in(app: Flask, client: FlaskClient,
                                               make_user: Callable[..., Person]) -> None:
    person = make_user(Role.ADMIN)
    first = client.get("/admin/people?q=ann")
    assert first.status_code == 302
    response = submit(client, first.headers["Location"], {"email": person.email, "password": person.password})
    response = submit(client, response.headers["Location"], {"code": fresh_code(app, person)})
    assert response.headers["Location"] == "/admin/people?q=ann"


# Headers ----------------------------------------------------------------------------------------------


def _assert_security_headers(response, path: str, authenticated: bool, https: bool = True) -> None:
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    directives = {part.strip().split(" ")[0]: part.strip() for part in csp.split(";") if part.strip()}
    assert directives.get("object-src") == "object-src 'none'", path
    assert directives.get("base-uri") == "base-uri 'none'", path
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", path
    script_src = directives.get("script-src", directives.get("default-src", ""))
    assert script_src and "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, path
    assert headers.get("X-Content-Type-Options") == "nosniff", path
    assert headers.get("Referrer-Policy") in ("same-origin", "no-referrer", "strict-origin-when-cross-origin"), path
    if authenticated:
        assert "no-store" in headers.get("Cache-Control", ""), path
    if https:
        assert headers.get("Strict-Transport-Security", "").startswith("max-age="), path
    else:
        assert "Strict-Transport-Security" not in headers, path


@pytest.fixture
def failing_app(app_config: dict, app: Flask) -> Flask:
    """A second app instance with a public route that raises, to produce a real 500."""
    other = create_app(app_config)
    other.test_client_class = app.test_client_class

    @other.route("/boom")
    @access.public
    def boom() -> str:
        raise RuntimeError("secret-internal-detail /srv/portal/db.py line 42")

    return other


def test_headers_on_every_kind_of_response(app: Flask, admin_client: tuple[FlaskClient, Person],
                                           failing_app: Flask) -> None:
    browser, person = admin_client
    anonymous = app.test_client()
    cases = [
        (anonymous, "/sign-in", 200, False), (anonymous, "/health", 200, False),
        (anonymous, "/no-such-page", 404, False), (anonymous, "/dashboard", 302, False),
        (browser, "/dashboard", 200, True), (browser, "/admin/people", 200, True),
        (browser, "/admin/audit.csv", 200, True), (browser, "/no-such-page", 404, True),
        (browser, f"/admin/people/{person.id}/role", 404, True),  # GET to a POST-only route
        (failing_app.test_client(), "/boom", 500, False),
    ]
    for who, path, status, _signed_in in cases:
        response = who.get(path)
        assert response.status_code == status, path
        _assert_security_headers(response, path, True)
    forbidden = browser.post("/admin/people/invite", data={})
    assert forbidden.status_code == 400
    _assert_security_headers(forbidden, "csrf", True)
    plain = app.test_client().get("/sign-in", base_url="http://localhost")
    _assert_security_headers(plain, "http", False, https=False)


def test_every_authenticated_response_varies_by_cookie(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    from factories import make_portfolio
    from helpers_documents import PDF, only_document, upload

    browser, _ = admin_client
    portfolio = make_portfolio(app)
    assert upload(browser, portfolio, [("Report.pdf", PDF, "final_report")]).status_code == 302
    document, version = only_document(app)
    base = f"/portfolios/{portfolio}/documents/{document}/versions/{version}"
    for path, status in ((f"{base}/view", 200), (f"{base}/download", 200), ("/admin/audit.csv", 200),
                         ("/dashboard", 200), ("/account", 200), ("/no-such-page", 404)):
        response = browser.get(path)
        response.get_data()  # a streamed download must finish before the next request
        assert response.status_code == status, path
        assert "cookie" in {value.strip().lower() for value in response.headers.get("Vary", "").split(",")}, path
    inline = browser.get(f"{base}/view")
    assert inline.headers["Content-Disposition"].startswith("inline") and inline.data == PDF


def test_static_files_carry_the_headers(app: Flask, client: FlaskClient) -> None:
    static = app.static_folder
    assert static
    files = sorted(os.path.relpath(os.path.join(d, f), static) for d, _, names in os.walk(static) for f in names)
    assert files, "the static folder is empty"
    response = client.get(f"/static/{files[0]}")
    assert response.status_code == 200
    _assert_security_headers(response, files[0], False)
    missing = client.get("/static/does-not-exist.css")
    assert missing.status_code == 404
    _assert_security_headers(missing, "missing static", False)


def test_an_error_page_shows_an_incident_reference_that_the_logged_stack_trace_carries(
        failing_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    import re

    caplog.set_level(logging.ERROR)
    references = []
    for _ in range(2):
        response = failing_app.test_client().get("/boom")
        assert response.status_code == 500
        match = re.search(r'class="portal-incident-reference">([A-Z0-9]{4}-[A-Z0-9]{4})<', response.get_data(
            as_text=True))
        assert match, response.get_data(as_text=True)
        references.append(match.group(1))
    assert references[0] != references[1], "each incident has its own reference"
    for reference in references:
        logged = [r for r in caplog.records if reference in r.getMessage()]
        assert len(logged) == 1, reference
        assert logged[0].exc_info is not None and "secret-internal-detail" in caplog.text
        assert "Traceback" not in response.get_data(as_text=True)


def test_error_pages_show_no_stack_trace(failing_app: Flask, monkeypatch: pytest.MonkeyPatch,
                                         admin_client: tuple[FlaskClient, Person]) -> None:
    response = failing_app.test_client().get("/boom")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Sorry, there is a problem with the service" in body
    for leak in ("Traceback", "secret-internal-detail", "RuntimeError", "db.py", "line 42"):
        assert leak not in body
    # A failing service behind a real admin page gives the same plain page.
    browser, _ = admin_client

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("SELECT password_hash FROM users")

    monkeypatch.setattr(admin_services, "people", broken)
    response = browser.get("/admin/people")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "password_hash" not in body and "ValueError" not in body and "Traceback" not in body
    _assert_security_headers(response, "500", True)
    missing = browser.get("/admin/nothing-here")
    assert missing.status_code == 404 and "Traceback" not in missing.get_data(as_text=True)


# Logs -------------------------------------------------------------------------------------------------


def test_logs_carry_no_password_code_token_or_key(app: Flask, admin_client: tuple[FlaskClient, Person],
                                                  client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    import re

    from portal.extensions import db
    from portal.models import User
    from portal.security import totp

    browser, _ = admin_client
    caplog.set_level(logging.DEBUG)
    password = "violet marmalade harbour 77"
    submit(browser, "/admin/people/invite", {"name": "Lena Logcheck", "email": "lena@example.org",
                                              "role": "member", "organisation": "0"})
    path = link_in_last_email(app, "lena@example.org")
    token = path.rsplit("/", 1)[1]
    response = submit(client, path, {"password": password, "confirm": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        secret = db.session.scalar(db.select(User.totp_secret).where(User.email == "lena@example.org"))
    code = totp.code_at(secret, __import__("portal").clock.now())
    response = submit(client, f"{path}/authenticator", {"code": code})
    assert response.status_code == 200
    recovery = re.findall(r"\b[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{5}\b", response.get_data(as_text=True))
    assert len(recovery) == 10
    client.post("/sign-out", data={"csrf_token": csrf_from(client.get("/dashboard").get_data(as_text=True))})
    fresh = app.test_client()
    wrong = submit(fresh, "/sign-in", {"email": "lena@example.org", "password": "wrong " + password})
    assert wrong.status_code == 400
    person = Person(0, "lena@example.org", "Lena Logcheck", "member", password, secret)
    with app.app_context():
        person.id = db.session.scalar(db.select(User.id).where(User.email == "lena@example.org"))
    sign_in(app, fresh, person)
    assert fresh.get("/dashboard").status_code == 200
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    key = KEYRING.kek(KEYRING.active_id)
    secrets = [password, "wrong " + password, token, secret, code, *recovery, key.hex(),
               base64.urlsafe_b64encode(key).decode().rstrip("=")]
    actions = " ".join(r.getMessage() for r in caplog.records if r.name == "portal.audit")
    for action in ("invitation.sent", "2fa.enrolled", "sign_in.failed", "sign_in.succeeded"):
        assert action in actions, "the journey must be logged, or the check below would prove nothing"
    for value in secrets:
        assert value not in logged, value


def test_access_log_filter_redacts_link_tokens(app: Flask) -> None:
    token = "Abc_-123" * 6
    werkzeug_logger = logging.getLogger("werkzeug")
    assert werkzeug_logger.filters, "the portal installs a filter on the werkzeug logger"
    for path in (f"/invite/{token}", f"/invite/{token}/authenticator", f"/password-help/{token}"):
        record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '"%s" %s %s',
                                   (f"GET {path} HTTP/1.1", "200", "-"), None)
        assert all(f.filter(record) if hasattr(f, "filter") else f(record) for f in werkzeug_logger.filters)
        message = record.getMessage()
        assert token not in message
        assert "[token]" in message
    harmless = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '"%s" %s %s',
                                 ("GET /admin/people HTTP/1.1", "200", "-"), None)
    for f in werkzeug_logger.filters:
        f.filter(harmless) if hasattr(f, "filter") else f(harmless)
    assert harmless.getMessage() == '"GET /admin/people HTTP/1.1" 200 -'


def test_the_outbox_holds_the_link_but_the_log_does_not(app: Flask, admin_client: tuple[FlaskClient, Person],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    browser, _ = admin_client
    caplog.set_level(logging.DEBUG)
    submit(browser, "/admin/people/invite", {"name": "Omar Outbox", "email": "omar@example.org",
                                              "role": "observer", "organisation": "0"})
    token = link_in_last_email(app, "omar@example.org").rsplit("/", 1)[1]
    assert len(outbox(app)) == 1
    assert token not in caplog.text


def test_every_route_taking_a_token_has_it_redacted_from_the_access_log(app: Flask) -> None:
    token = "Zx9_-" * 9
    rules = [r for r in app.url_map.iter_rules() if any("token" in a for a in r.arguments)]
    assert len(rules) >= 3, "the invitation and password-help routes take a token"
    for rule in rules:
        path = build_path(app, rule, {a: token for a in rule.arguments if "token" in a})
        record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '"%s" %s %s',
                                   (f"GET {path} HTTP/1.1", "200", "-"), None)
        for f in logging.getLogger("werkzeug").filters:
            f.filter(record) if hasattr(f, "filter") else f(record)
        assert token not in record.getMessage(), rule.rule
