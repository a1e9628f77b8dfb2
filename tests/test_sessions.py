"""Server-side sessions: cookie flags, 256-bit rotated ids, sign-out, timeouts and revocation."""

import ast
import hashlib
import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import csrf_from, fresh_code, sign_in, submit
from flask_login import LoginManager
from helpers_auth import SIGN_IN_FAILED, code_step, password_step, session_token, set_cookie, sign_out
from sqlalchemy import delete, select, text

from portal import clock
from portal.extensions import db
from portal.models import Role, SignInAttempt, UserSession
from portal.security.tokens import hash_token as tokens_hash

TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def _session_ids(app, person) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(UserSession.id).where(UserSession.user_id == person.id)))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _signed_out(client) -> bool:
    response = client.get("/dashboard")
    return response.status_code == 302 and response.headers["Location"].startswith("/sign-in")


def _set_cookie_header(response, name: str) -> list[str] | None:
    """The attributes (lower-cased) of the Set-Cookie header for a cookie name, or None if it is not set."""
    header = next((h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")), None)
    return None if header is None else [part.strip().lower() for part in header.split(";")]


def test_cookie_flags_and_no_remember_me(app, make_user, client):
    person = make_user()
    response = password_step(client, person.email, person.password)
    flags = _set_cookie_header(response, "__Host-portal_session")
    assert flags is not None
    assert "httponly" in flags and "secure" in flags and "samesite=lax" in flags
    assert not any(f.startswith(("expires", "max-age")) for f in flags), "a session cookie must not persist"
    page = client.get("/sign-in/code").get_data(as_text=True) + app.test_client().get("/sign-in").get_data(
        as_text=True)
    assert "remember" not in page.lower() and 'type="checkbox"' not in page


def test_over_https_both_cookies_carry_the_host_prefix(app, make_user, client):
    person = make_user()
    form_page = client.get("/sign-in")
    signed_in = submit(client, "/sign-in", {"email": person.email, "password": person.password})
    state = _set_cookie_header(form_page, "__Host-portal_state")
    session = _set_cookie_header(signed_in, "__Host-portal_session")
    for flags in (state, session):
        # What a browser requires of a __Host- cookie: Secure, Path=/ and no Domain.
        assert flags is not None and "secure" in flags and "path=/" in flags
        assert not any(flag.startswith("domain") for flag in flags)
    headers = form_page.headers.getlist("Set-Cookie") + signed_in.headers.getlist("Set-Cookie")
    assert not any(h.startswith(("portal_session=", "portal_state=")) for h in headers)
    # Signing out deletes the prefixed cookie (a __Host- cookie can only be removed with the same attributes).
    cleared = client.post("/sign-out", data={"csrf_token": csrf_from(client.get("/sign-in/code").get_data(
        as_text=True))})
    flags = _set_cookie_header(cleared, "__Host-portal_session")
    assert flags is not None and "secure" in flags and "path=/" in flags and any(
        f.startswith("expires=thu, 01 jan 1970") for f in flags)


def test_a_cookie_planted_under_the_plain_name_is_ignored_over_https(app, make_user, client):
    person = make_user()
    sign_in(app, client, person)
    token = session_token(client)
    assert client.get("/dashboard").status_code == 200
    # A neighbouring subdomain or a plain-http page can set `portal_session`, never `__Host-portal_session`.
    planted = app.test_client()
    planted.set_cookie("portal_session", token, domain="localhost")
    assert _signed_out(planted)


def test_local_http_development_keeps_the_plain_names_without_secure(app, app_config, make_user):
    from portal import create_app

    development = create_app({**app_config, "DEVELOPMENT": True})
    assert development.config["SESSION_COOKIE_SECURE"] is False
    person = make_user()
    browser = development.test_client()
    form_page = browser.get("/sign-in")
    assert form_page.request.url.startswith("http://")
    signed_in = submit(browser, "/sign-in", {"email": person.email, "password": person.password})
    for response, name in ((form_page, "portal_state"), (signed_in, "portal_session")):
        flags = _set_cookie_header(response, name)
        assert flags is not None and "secure" not in flags and "httponly" in flags, name
    assert browser.get("/sign-in/code").status_code == 200


# Forged and tampered cookies --------------------------------------------------------------------------


def _bad_cookie_rows(app, kind: str) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(SignInAttempt.ip).where(SignInAttempt.account_key == f"cookie:{kind}")))


def test_a_forged_session_cookie_is_logged_without_its_value_counted_and_cleared(app, client, caplog):
    caplog.set_level(logging.WARNING, logger="portal.access")
    forged = "Zm9yZ2VkLXNlc3Npb24tdG9rZW4tZm9yLXRoZS10ZXN0cw"
    set_cookie(client, forged)
    response = client.get("/dashboard")
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in")
    assert _bad_cookie_rows(app, "session") == ["127.0.0.1"]
    lines = [r.getMessage() for r in caplog.records if r.name == "portal.access"]
    assert any("bad session cookie from 127.0.0.1" in line for line in lines), lines
    assert forged not in caplog.text and tokens_hash(forged) not in caplog.text
    assert session_token(client) is None, "the forged cookie is removed"
    # An over-long value is a forgery too.
    set_cookie(client, "x" * 500)
    client.get("/sign-in")
    assert len(_bad_cookie_rows(app, "session")) == 2


def test_a_tampered_state_cookie_is_logged_without_its_value_and_counted(app, client, caplog):
    caplog.set_level(logging.WARNING, logger="portal.access")
    client.get("/sign-in")
    genuine = client.get_cookie("__Host-portal_state").value
    client.get("/sign-in")
    assert _bad_cookie_rows(app, "state") == [], "a genuine cookie is not counted"
    tampered = genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB")
    client.set_cookie("__Host-portal_state", tampered, domain="localhost")
    assert client.get("/sign-in").status_code == 200
    assert _bad_cookie_rows(app, "state") == ["127.0.0.1"]
    assert any("bad state cookie" in r.getMessage() for r in caplog.records if r.name == "portal.access")
    assert tampered not in caplog.text and genuine not in caplog.text


def test_many_bad_cookies_from_one_address_are_throttled_across_worker_processes(app, app_config, client):
    from portal import create_app

    limit = app.config["THROTTLE_ADDRESS_FAILURES"]
    other = create_app(app_config)  # a second worker process: the count lives in the database
    other.test_client_class = type(client)
    for attempt in range(limit):
        browser = (app if attempt % 2 else other).test_client()
        set_cookie(browser, f"forged-{attempt:04d}-" + "q" * 30)
        assert browser.get("/sign-in").status_code == 200, attempt
    assert len(_bad_cookie_rows(app, "session")) == limit
    for flask_app in (app, other):
        browser = flask_app.test_client()
        set_cookie(browser, "one-more-forged-cookie-" + "r" * 20)
        refused = browser.get("/sign-in")
        assert refused.status_code == 429 and "Too many attempts" in refused.get_data(as_text=True)
        assert session_token(browser) is None
    # Another address, and the same address without a bad cookie, are not refused.
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    set_cookie(elsewhere, "forged-from-elsewhere-" + "s" * 20)
    assert elsewhere.get("/sign-in").status_code == 200
    assert app.test_client().get("/sign-in").status_code == 200
    # The lock is the address's sign-in lock: it lifts after the window.
    clock.advance(timedelta(seconds=app.config["THROTTLE_ADDRESS_WINDOW_SECONDS"] + 1))
    browser = app.test_client()
    set_cookie(browser, "forged-after-the-window-" + "t" * 20)
    assert browser.get("/sign-in").status_code == 200


def test_a_refused_address_is_told_when_to_try_again_in_retry_after_and_in_words(app, client):
    window = app.config["THROTTLE_ADDRESS_WINDOW_SECONDS"]
    for attempt in range(app.config["THROTTLE_ADDRESS_FAILURES"]):
        set_cookie(client, f"forged-{attempt:04d}-" + "q" * 30)
        assert client.get("/sign-in").status_code == 200, attempt
    clock.advance(timedelta(seconds=20))  # the lock lifts a window after the first failure, 20 seconds ago
    set_cookie(client, "one-more-forged-cookie-" + "r" * 20)
    refused = client.get("/sign-in")
    assert refused.status_code == 429
    retry_after = refused.headers.get("Retry-After", "")
    assert retry_after.isdigit(), f"Retry-After is a whole number of seconds, not {retry_after!r}"
    seconds = int(retry_after)
    assert window - 20 - 5 <= seconds <= window - 20, (seconds, window)
    page = " ".join(refused.get_data(as_text=True).split())
    assert "You can try again in 1 minute." in page and "Wait a few minutes" not in page
    # The header is the truth: a moment before it is up the address is still refused, once it is up it is not.
    clock.advance(timedelta(seconds=seconds - 3))
    set_cookie(client, "still-too-soon-" + "s" * 20)
    assert client.get("/sign-in").status_code == 429
    clock.advance(timedelta(seconds=4))
    set_cookie(client, "after-the-retry-after-" + "t" * 20)
    assert client.get("/sign-in").status_code == 200


def test_token_is_256_bits_and_only_its_hash_is_stored(app, make_user, client):
    person = make_user()
    sign_in(app, client, person)
    token = session_token(client)
    assert TOKEN.fullmatch(token)
    assert _session_ids(app, person) == {_hash(token)}
    with app.app_context():
        dump = repr(db.session.execute(text("SELECT * FROM user_sessions")).all())
    assert token not in dump


def test_id_rotates_at_each_step(app, make_user, client):
    person = make_user()
    assert password_step(client, person.email, person.password).status_code == 302
    first = session_token(client)
    assert password_step(client, person.email, person.password).status_code == 302
    second = session_token(client)
    assert first != second and _session_ids(app, person) == {_hash(second)}
    assert code_step(client, fresh_code(app, person)).status_code == 302
    third = session_token(client)
    assert third not in (first, second) and _session_ids(app, person) == {_hash(third)}
    replay = app.test_client()
    set_cookie(replay, second)
    assert _signed_out(replay)


def test_sign_out_deletes_the_record_and_the_old_cookie_is_worthless(app, make_user, client):
    person = make_user()
    sign_in(app, client, person)
    token = session_token(client)
    response = sign_out(client)
    assert response.status_code == 302 and response.headers["Location"] == "/sign-in"
    assert _session_ids(app, person) == set()
    assert session_token(client) is None
    replay = app.test_client()
    set_cookie(replay, token)
    assert _signed_out(replay)
    assert replay.get("/account").status_code == 302


def test_sign_out_needs_a_post_with_csrf(app, make_user, client):
    person = make_user()
    sign_in(app, client, person)
    assert client.get("/sign-out").status_code in (404, 405)
    assert client.post("/sign-out").status_code == 400
    assert client.get("/dashboard").status_code == 200


def test_idle_timeout(app, make_user, client):
    person = make_user()
    sign_in(app, client, person)
    clock.advance(timedelta(minutes=29))
    assert client.get("/dashboard").status_code == 200
    clock.advance(timedelta(minutes=31))
    assert _signed_out(client)
    assert _session_ids(app, person) == set()


def test_absolute_timeout_despite_activity(app, make_user, client):
    person = make_user()
    sign_in(app, client, person)
    for _ in range(35):  # 11 h 40 min of activity every 20 minutes
        clock.advance(timedelta(minutes=20))
        assert client.get("/dashboard").status_code == 200
    clock.advance(timedelta(minutes=21))
    assert _signed_out(client)


def test_half_signed_in_sessions_expire_sooner(app, make_user, client):
    person = make_user()
    assert password_step(client, person.email, person.password).status_code == 302
    clock.advance(timedelta(minutes=11))
    assert client.get("/sign-in/code").status_code == 302


def test_idle_timeout_is_configurable(app, make_user, client):
    app.config["SESSION_IDLE_MINUTES"] = 5
    person = make_user()
    sign_in(app, client, person)
    clock.advance(timedelta(minutes=4))
    assert client.get("/dashboard").status_code == 200
    clock.advance(timedelta(minutes=6))
    assert _signed_out(client)


def test_absolute_timeout_is_configurable(app, make_user, client):
    app.config["SESSION_ABSOLUTE_HOURS"] = 1
    person = make_user()
    sign_in(app, client, person)
    for _ in range(14):  # 56 minutes of activity
        clock.advance(timedelta(minutes=4))
        assert client.get("/dashboard").status_code == 200
    clock.advance(timedelta(minutes=5))
    assert _signed_out(client)


def test_password_change_ends_other_sessions_but_keeps_this_one(app, make_user):
    person = make_user()
    here, there = app.test_client(), app.test_client()
    sign_in(app, here, person)
    sign_in(app, there, person)
    new = "seven purple lanterns glowing"
    response = submit(here, "/account/password", {"current": person.password, "password": new, "confirm": new,
                                                  "code": fresh_code(app, person)})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert here.get("/dashboard").status_code == 200
    assert _signed_out(there)
    assert len(_session_ids(app, person)) == 1


@pytest.mark.parametrize("action", ["reset-2fa", "deactivate"])
def test_admin_reset_and_deactivation_end_sessions(app, admin_client, signed_in, action):
    admin, _ = admin_client
    client, person = signed_in(Role.MEMBER)
    second = app.test_client()
    sign_in(app, second, person)
    response = submit(admin, f"/admin/people/{person.id}/{action}", {})
    assert response.status_code == 302
    assert _signed_out(client) and _signed_out(second)
    assert _session_ids(app, person) == set()
    # And they cannot simply sign in again.
    response = password_step(app.test_client(), person.email, person.password)
    assert response.status_code == 400 and SIGN_IN_FAILED in response.get_data(as_text=True)


def _others_button_csrf(client) -> str:
    from conftest import csrf_from

    html = client.get("/account").get_data(as_text=True)
    assert "Sign out other sessions" in html
    return csrf_from(html)


def test_sign_out_other_sessions_from_the_account_page(app, make_user):
    from portal.models import AuditEvent

    person = make_user()
    here, there, third = app.test_client(), app.test_client(), app.test_client()
    for client in (here, there, third):
        sign_in(app, client, person)
    assert here.get("/account/sessions/sign-out-others").status_code in (404, 405)
    assert here.post("/account/sessions/sign-out-others").status_code == 400, "CSRF is required"
    assert len(_session_ids(app, person)) == 3
    response = here.post("/account/sessions/sign-out-others", data={"csrf_token": _others_button_csrf(here)})
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    page = here.get("/account").get_data(as_text=True)
    assert "You have signed out everywhere else." in page and "Sign out other sessions" not in page
    assert _signed_out(there) and _signed_out(third)
    assert here.get("/dashboard").status_code == 200
    assert _session_ids(app, person) == {_hash(session_token(here))}
    with app.app_context():
        actions = list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == person.id)))
    assert actions.count("session.others_signed_out") == 1


def test_signing_out_others_when_there_are_none_changes_nothing(app, make_user, client):
    from conftest import csrf_from

    from portal.models import AuditEvent

    person = make_user()
    sign_in(app, client, person)
    csrf = csrf_from(client.get("/account").get_data(as_text=True))
    response = client.post("/account/sessions/sign-out-others", data={"csrf_token": csrf})
    assert response.status_code == 302
    assert "You were not signed in anywhere else." in client.get("/account").get_data(as_text=True)
    with app.app_context():
        actions = set(db.session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == person.id)))
    assert "session.others_signed_out" not in actions


def test_account_page_lists_only_live_sessions(app, make_user):
    person = make_user()
    old, new = app.test_client(), app.test_client()
    old.environ_base["HTTP_USER_AGENT"] = "LongGoneBrowser/1.0"
    new.environ_base["HTTP_USER_AGENT"] = "CurrentBrowser/2.0"
    sign_in(app, old, person)
    clock.advance(timedelta(minutes=31))
    sign_in(app, new, person)
    assert len(_session_ids(app, person)) == 2, "the idle session's row is still there until its cookie returns"
    html = new.get("/account").get_data(as_text=True)
    assert "CurrentBrowser/2.0" in html and "LongGoneBrowser/1.0" not in html
    assert "Sign out other sessions" not in html


def test_new_recovery_codes_end_other_sessions(app, make_user):
    person = make_user()
    here, there = app.test_client(), app.test_client()
    sign_in(app, here, person)
    sign_in(app, there, person)
    response = submit(here, "/account/recovery-codes", {"password": person.password,
                                                       "code": fresh_code(app, person)})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert _signed_out(there)
    assert here.get("/dashboard").status_code == 200


def test_sessions_prune_removes_only_expired_records(app, make_user, client):
    idle, busy = make_user(), make_user()
    sign_in(app, client, idle)
    other = app.test_client()
    clock.advance(timedelta(minutes=20))
    sign_in(app, other, busy)
    clock.advance(timedelta(minutes=15))  # idle: 35 minutes without a request; busy: 15
    result = app.test_cli_runner().invoke(args=["sessions", "prune"])
    assert result.exit_code == 0 and "removed 1 expired sessions" in result.output
    assert _session_ids(app, idle) == set() and len(_session_ids(app, busy)) == 1
    assert other.get("/dashboard").status_code == 200
    assert "removed 0 expired sessions" in app.test_cli_runner().invoke(args=["sessions", "prune"]).output


# Flask-Login over the server-side session -----------------------------------------------------------------


def _state_cookie(client) -> dict:
    """What the client's signed state cookie (Flask's session) holds."""
    app = client.application
    name = "__Host-portal_state" if app.config["SESSION_COOKIE_SECURE"] else "portal_state"
    cookie = client.get_cookie(name)
    return {} if cookie is None else app.session_interface.get_signing_serializer(app).loads(cookie.value)


def test_flask_login_knows_the_person_only_from_a_full_server_side_session(app, make_user, client):
    from flask import g
    from flask_login import current_user

    person = make_user()
    assert isinstance(app.login_manager, LoginManager)
    with client:
        client.get("/sign-in")
        assert current_user.is_anonymous and not current_user.is_authenticated
    password_step(client, person.email, person.password)
    with client:
        client.get("/sign-in/code")
        assert current_user.is_anonymous, "a password-only session is not signed in"
        assert g.pending_user.id == person.id and g.auth_session is not None
    code_step(client, fresh_code(app, person))
    with client:
        assert client.get("/account").status_code == 200
        assert current_user.is_authenticated and current_user.id == person.id
        assert current_user.get_id() == str(person.id) and current_user.is_active
        assert g.auth_session.id == tokens_hash(session_token(client))
    # Ending the session's row (as revocation does) signs the person out on their next request.
    with app.app_context():
        db.session.execute(delete(UserSession).where(UserSession.user_id == person.id))
        db.session.commit()
    with client:
        assert _signed_out(client) and current_user.is_anonymous


def test_no_remember_me_cookie_is_ever_written_or_read(app, make_user, signed_in):
    from flask_login.utils import encode_cookie

    browser, person = signed_in()
    headers = [browser.post("/sign-out", data={"csrf_token": csrf_from(browser.get("/account").get_data(
        as_text=True))})]
    stranger = app.test_client()
    with app.test_request_context():
        remembered = encode_cookie(str(person.id))  # a well-signed Flask-Login remember-me cookie for them
    stranger.set_cookie("remember_token", remembered, domain="localhost")
    assert _signed_out(stranger), "a remember-me cookie signs no one in"
    # Nor does it hide a real session from Flask-Login (stock Flask-Login reads it instead of the request loader).
    member, _ = signed_in()
    member.set_cookie("remember_token", remembered, domain="localhost")
    headers.append(member.get("/dashboard"))
    assert headers[-1].status_code == 200
    for response in headers:
        assert not any(h.startswith("remember_token=") for h in response.headers.getlist("Set-Cookie"))
    assert not {"_user_id", "_fresh", "_id", "_remember"} & set(_state_cookie(member))


def test_a_user_id_in_flasks_state_cookie_signs_no_one_in(app, make_user):
    person = make_user()
    browser = app.test_client()
    browser.get("/sign-in")
    state = {**_state_cookie(browser), "_user_id": str(person.id), "_fresh": True}
    with app.app_context():
        forged = app.session_interface.get_signing_serializer(app).dumps(state)  # signed with the real key
    browser.set_cookie("__Host-portal_state", forged, domain="localhost")
    assert _signed_out(browser)


# One home for session records ----------------------------------------------------------------------------

PORTAL = Path(__file__).resolve().parent.parent / "portal"
SESSIONS_MODULE = PORTAL / "auth" / "sessions.py"


def _session_row_writes(tree: ast.AST) -> list[int]:
    """Lines that make a UserSession or run an insert, update or delete against its table."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        called = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        names_table = any(isinstance(arg, ast.Name) and arg.id == "UserSession" for arg in node.args)
        if called == "UserSession" or (called in {"insert", "update", "delete"} and names_table):
            lines.append(node.lineno)
    return lines


def test_session_rows_are_written_only_by_the_sessions_module():
    writers = {}
    for path in PORTAL.rglob("*.py"):
        lines = _session_row_writes(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            writers[str(path.relative_to(PORTAL))] = lines
    assert set(writers) == {"auth/sessions.py"}, writers


def test_no_service_imports_the_gate():
    importers = []
    for path in PORTAL.rglob("services.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = {node.module or ""} | {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                names = {alias.name for alias in node.names}
            else:
                continue
            if "portal.access" in names:
                importers.append(str(path.relative_to(PORTAL)))
    assert importers == []
