"""Server-side sessions: cookie flags, 256-bit rotated ids, sign-out, timeouts and revocation."""

import hashlib
import re
from datetime import timedelta

import pytest
from conftest import fresh_code, sign_in, submit
from helpers_auth import code_step, password_step, session_token, set_cookie, sign_out
from sqlalchemy import select, text

from portal import clock
from portal.extensions import db
from portal.models import Role, UserSession

TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def _session_ids(app, person) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(UserSession.id).where(UserSession.user_id == person.id)))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _signed_out(client) -> bool:
    response = client.get("/dashboard")
    return response.status_code == 302 and response.headers["Location"].startswith("/sign-in")


def test_cookie_flags_and_no_remember_me(app, make_user, client):
    person = make_user()
    response = password_step(client, person.email, person.password)
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("portal_session="))
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "secure" in flags and "samesite=lax" in flags
    assert not any(f.startswith(("expires", "max-age")) for f in flags), "a session cookie must not persist"
    page = client.get("/sign-in/code").get_data(as_text=True) + app.test_client().get("/sign-in").get_data(
        as_text=True)
    assert "remember" not in page.lower() and 'type="checkbox"' not in page


def test_cookie_is_not_secure_only_in_local_development(app_config, make_user):
    app_config["DEVELOPMENT"] = True
    from portal import create_app

    development = create_app(app_config)
    assert development.config["SESSION_COOKIE_SECURE"] is False


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
    assert response.status_code == 400 and "Login failed" in response.get_data(as_text=True)


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
    response = submit(here, "/account/recovery-codes", {"password": person.password})
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
