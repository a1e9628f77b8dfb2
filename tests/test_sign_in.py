"""Sign-in: one generic failure, argon2id, the half-signed-in state, `next`, and the security code."""

import re
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from conftest import outbox, sign_in
from helpers_auth import (
    SIGN_IN_FAILED,
    WRONG_CODE,
    align_to_step,
    code_for_step,
    code_step,
    new_recovery_codes,
    password_step,
    run_together,
    sign_out,
    user_row,
)
from sqlalchemy import func, select, update

from portal import access, clock
from portal.auth import services
from portal.extensions import db
from portal.models import AuditEvent, RecoveryCode, Role, User
from portal.security import passwords, totp

DIGIT_ZEROS = {"full-width": 0xFF10, "arabic-indic": 0x0660}
CSRF_VALUE = re.compile(r'(name="csrf_token" (?:type="hidden" )?value=")[^"]+')


def _neutral(html: str, email: str) -> str:
    return CSRF_VALUE.sub(r"\1", html).replace(email, "EMAIL")


def test_unknown_email_and_wrong_password_look_the_same(app, make_user):
    person = make_user()
    wrong = password_step(app.test_client(), person.email, "not the right password at all")
    unknown = password_step(app.test_client(), "nobody@example.org", "not the right password at all")
    assert wrong.status_code == unknown.status_code == 400
    assert SIGN_IN_FAILED in wrong.get_data(as_text=True)
    assert _neutral(wrong.get_data(as_text=True), person.email) == _neutral(
        unknown.get_data(as_text=True), "nobody@example.org")
    assert wrong.headers.get("Set-Cookie") is None or "portal_session" not in wrong.headers["Set-Cookie"]


def test_every_password_step_failure_is_one_plain_message_with_a_next_step(app, make_user):
    """Unknown email, wrong password, deactivated, not set up and throttled all get the very same page."""
    wrong, deactivated, throttled = make_user(), make_user(active=False), make_user()
    with app.app_context():
        unfinished = make_user()
        db.session.execute(update(User).where(User.id == unfinished.id).values(enrolled_at=None))
        db.session.commit()
    for _ in range(5):
        password_step(app.test_client(), throttled.email, "not the right password at all")
    pages = {
        "unknown": ("nobody@example.org", password_step(app.test_client(), "nobody@example.org", "some password 1")),
        "wrong": (wrong.email, password_step(app.test_client(), wrong.email, "not the right password at all")),
        "deactivated": (deactivated.email, password_step(app.test_client(), deactivated.email,
                                                         deactivated.password)),
        "not set up": (unfinished.email, password_step(app.test_client(), unfinished.email, unfinished.password)),
        "throttled": (throttled.email, password_step(app.test_client(), throttled.email, throttled.password)),
    }
    neutral = {name: _neutral(response.get_data(as_text=True), email) for name, (email, response) in pages.items()}
    assert {response.status_code for _, response in pages.values()} == {400}
    assert len(set(neutral.values())) == 1, [name for name in neutral if neutral[name] != neutral["wrong"]]
    body = neutral["wrong"]
    assert SIGN_IN_FAILED in body and "forgotten my password" in body and "contact your ASYE Lead" in body
    assert "Login failed" not in body and "Too many" not in body


def test_inactive_or_unenrolled_account_gets_the_same_failure(app, make_user):
    person = make_user(active=False)
    response = password_step(app.test_client(), person.email, person.password)
    assert response.status_code == 400 and SIGN_IN_FAILED in response.get_data(as_text=True)


def test_passwords_are_stored_as_argon2id(app, make_user):
    person = make_user()
    assert user_row(app, person.email).password_hash.startswith("$argon2id$")


def test_hash_is_upgraded_when_parameters_rise(app, make_user, client):
    person = make_user()
    before = user_row(app, person.email).password_hash
    assert "m=8192,t=1" in before
    passwords.configure(2, 16384, 1)
    try:
        sign_in(app, client, person)
    finally:
        passwords.configure(*app.config["ARGON2_PARAMETERS"])
    after = user_row(app, person.email).password_hash
    assert after != before and after.startswith("$argon2id$") and "m=16384,t=2" in after
    assert passwords.verify_password(after, person.password)[0]


def _gated_paths(app) -> list[str]:
    paths = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if "GET" not in rule.methods or access.declared_rule(view) in (access.PUBLIC, access.PENDING):
            continue
        values = {arg: 1 if rule._converters[arg].__class__.__name__ == "IntegerConverter" else "x"
                  for arg in rule.arguments}
        with app.test_request_context():
            from flask import url_for

            paths.append(url_for(rule.endpoint, **values))
    return paths


def test_half_signed_in_session_reaches_only_the_code_page(app, make_user, client):
    person = make_user(Role.ADMIN)
    assert password_step(client, person.email, person.password).status_code == 302
    paths = _gated_paths(app)
    assert "/dashboard" in paths and "/account" in paths and "/admin/people" in paths
    for path in paths:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"] == "/sign-in/code", path
    assert client.get("/sign-in/code").status_code == 200


def test_next_is_carried_through_sign_in_when_local(app, make_user, client):
    person = make_user()
    response = client.get("/account")
    assert response.headers["Location"] == "/sign-in?next=/account"
    response = password_step(client, person.email, person.password, path="/sign-in?next=/account")
    assert response.headers["Location"] == "/sign-in/code?next=/account"
    response = code_step(client, totp.code_at(person.secret, clock.now()), path="/sign-in/code?next=/account")
    assert response.headers["Location"] == "/account"


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "https://evil.example/",
                                    "javascript:alert(1)", "/%0d%0aSet-Cookie:x"])
def test_next_is_dropped_unless_local(app, make_user, client, target):
    person = make_user()
    response = password_step(client, person.email, person.password, path="/sign-in?next=" + target)
    assert "evil" not in response.headers["Location"]
    response = code_step(client, totp.code_at(person.secret, clock.now()),
                         path=response.headers["Location"] + "?next=" + target)
    assert response.headers["Location"] == "/dashboard"


# Security codes ---------------------------------------------------------------------------------------


def _code_attempt(app, person, code: str):
    client = app.test_client()
    assert password_step(client, person.email, person.password).status_code == 302
    return client, code_step(client, code)


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_codes_one_step_either_side_are_accepted(app, make_user, offset):
    align_to_step()
    person = make_user()
    client, response = _code_attempt(app, person, code_for_step(person.secret, offset))
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    assert client.get("/dashboard").status_code == 200


@pytest.mark.parametrize("offset", [-2, 2])
def test_codes_two_steps_away_are_refused(app, make_user, offset):
    align_to_step()
    person = make_user()
    code = code_for_step(person.secret, offset)
    if code in {code_for_step(person.secret, k) for k in (-1, 0, 1)}:
        pytest.fail("coincidence: pick another moment")
    client, response = _code_attempt(app, person, code)
    assert response.status_code == 400 and WRONG_CODE in response.get_data(as_text=True)
    assert client.get("/dashboard").headers["Location"] == "/sign-in/code"


def test_a_code_is_never_accepted_twice(app, make_user):
    align_to_step()
    person = make_user()
    code = totp.code_at(person.secret, clock.now())
    client, response = _code_attempt(app, person, code)
    assert response.status_code == 302
    assert sign_out(client).status_code == 302
    _, again = _code_attempt(app, person, code)
    assert again.status_code == 400
    assert "That security code has already been used. Wait for your authenticator app to show a new code" in (
        again.get_data(as_text=True))
    # An older step than the last accepted one is refused as well.
    _, older = _code_attempt(app, person, code_for_step(person.secret, -1))
    assert older.status_code == 400 and WRONG_CODE in older.get_data(as_text=True)


def _events(app, action: str) -> list:
    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                         .order_by(AuditEvent.seq)))
        db.session.expunge_all()
        return events


def test_a_replayed_code_is_audited_and_the_person_emailed_a_link_never_the_code(app, make_user):
    align_to_step()
    person = make_user()
    code = totp.code_at(person.secret, clock.now())
    client, response = _code_attempt(app, person, code)
    assert response.status_code == 302
    mails_before = len(outbox(app))
    attacker, replay = _code_attempt(app, person, code)  # someone who saw the code and knows the password
    assert replay.status_code == 400 and attacker.get("/dashboard").status_code == 302
    [event] = _events(app, "2fa.code_replayed")
    assert event.target == f"user:{person.id}" and '"kind":"security code"' in event.details
    [notice] = outbox(app)[mails_before:]
    assert notice.recipient == person.email and "already been used" in notice.body
    assert "https://portal.test/account" in notice.body and code not in notice.body + notice.subject
    assert [e.details for e in _events(app, "sign_in.failed")][-1].count("replayed") == 1
    # Another replay within the hour is audited again, without a second email.
    _code_attempt(app, person, code)
    assert len(_events(app, "2fa.code_replayed")) == 2 and len(outbox(app)) == mails_before + 1
    # The genuine session is untouched.
    assert client.get("/dashboard").status_code == 200


def test_codes_with_spaces_are_accepted(app, make_user):
    align_to_step()
    person = make_user()
    code = totp.code_at(person.secret, clock.now())
    _, response = _code_attempt(app, person, f" {code[:3]} {code[3:]} ")
    assert response.status_code == 302


def test_leading_zeros_are_kept(app, make_user):
    person = make_user()
    align_to_step()
    for _ in range(2000):
        code = totp.code_at(person.secret, clock.now())
        if code.startswith("0"):
            break
        clock.advance(timedelta(seconds=totp.STEP_SECONDS))
    assert code.startswith("0")
    _, stripped = _code_attempt(app, person, code.lstrip("0"))
    assert stripped.status_code == 400
    _, response = _code_attempt(app, person, code)
    assert response.status_code == 302


@pytest.mark.parametrize("code", ["abcdef", "12345x", "full-width", "12.345", "-123456", "<script>", "arabic-indic",
                                  "1" * 40, "'; drop table users; --", "\x00123456"])
def test_non_digit_codes_are_refused_cleanly(app, make_user, code):
    align_to_step()
    person = make_user()
    real = totp.code_at(person.secret, clock.now())
    if code.startswith("\x00"):
        code = "\x00" + real
    elif code in DIGIT_ZEROS:  # the right code, typed in another script's digits
        code = "".join(chr(DIGIT_ZEROS[code] + int(d)) for d in real)
    client, response = _code_attempt(app, person, code)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert any(message in body for message in services.CODE_MESSAGES.values()), body
    assert client.get("/dashboard").status_code == 302


@pytest.mark.parametrize("email", ["a\x00b@example.org", "x" * 300])
def test_strange_emails_fail_cleanly(app, client, email):
    response = password_step(client, email, "whatever password here")
    assert response.status_code == 400


def test_two_concurrent_sign_ins_with_one_code_only_one_succeeds(app, make_user):
    align_to_step()
    person = make_user()
    clients = [app.test_client() for _ in range(2)]
    pages = []
    for client in clients:
        assert password_step(client, person.email, person.password).status_code == 302
        pages.append(client.get("/sign-in/code").get_data(as_text=True))
    code = totp.code_at(person.secret, clock.now())
    from conftest import csrf_from

    tasks = [lambda c=c, p=p: c.post("/sign-in/code", data={"code": code, "csrf_token": csrf_from(p)})
             for c, p in zip(clients, pages, strict=True)]
    results = run_together(tasks)
    statuses = sorted(getattr(r, "status_code", repr(r)) for r in results)
    assert statuses == [302, 400], statuses
    assert sum(c.get("/dashboard").status_code == 200 for c in clients) == 1


# Recovery codes ---------------------------------------------------------------------------------------


def _recovery_count(app, person) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(RecoveryCode).where(
            RecoveryCode.user_id == person.id, RecoveryCode.used_at.is_(None)))


def test_a_recovery_code_works_once_and_emails_a_notice(app, signed_in):
    client, person = signed_in()
    codes = new_recovery_codes(app, client, person)
    sign_out(client)
    assert _recovery_count(app, person) == 10
    mails_before = len(outbox(app))

    fresh, response = _code_attempt(app, person, codes[3].upper().replace("-", " "))
    assert response.status_code == 302
    assert fresh.get("/dashboard").status_code == 200
    assert _recovery_count(app, person) == 9
    notices = outbox(app)[mails_before:]
    assert [m.recipient for m in notices] == [person.email]
    assert "recovery code" in notices[0].subject.lower() and "9 left" in notices[0].body
    assert codes[3] not in notices[0].body
    assert "9 unused" in fresh.get("/account").get_data(as_text=True)

    _, again = _code_attempt(app, person, codes[3])
    assert again.status_code == 400
    assert ("That recovery code has already been used: use another one, or ask your ASYE Lead to reset your "
            "sign-in") in again.get_data(as_text=True)
    assert _recovery_count(app, person) == 9
    [replay] = _events(app, "2fa.code_replayed")
    assert '"kind":"recovery code"' in replay.details
    assert codes[3] not in outbox(app)[-1].body and "already been used" in outbox(app)[-1].body
    _, unknown = _code_attempt(app, person, "abcd-efgh-jkmnp")
    assert unknown.status_code == 400 and "That is not one of your recovery codes" in unknown.get_data(as_text=True)
    _, short = _code_attempt(app, person, "12345")
    assert short.status_code == 400 and "A security code is 6 digits" in short.get_data(as_text=True)


def test_unknown_email_costs_one_verification_at_the_same_parameters(app, make_user, monkeypatch):
    person = make_user()
    seen: list[str] = []
    real_verify = PasswordHasher.verify

    def spy(self: PasswordHasher, stored: str, password: str) -> bool:
        seen.append(stored.split("$")[3])
        return real_verify(self, stored, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    password_step(app.test_client(), person.email, "not the right password at all")
    password_step(app.test_client(), "nobody@example.org", "not the right password at all")
    assert len(seen) == 2 and seen[0] == seen[1] == "m=8192,t=1,p=1"


def test_the_security_code_box_takes_a_recovery_code_easily(app, make_user, client):
    person = make_user()
    assert password_step(client, person.email, person.password).status_code == 302
    html = client.get("/sign-in/code").get_data(as_text=True)
    box = re.search(r"<input[^>]*name=\"code\"[^>]*>", html).group(0)
    assert 'inputmode="numeric"' not in box, "a number pad cannot type a recovery code's letters"
    assert 'autocomplete="one-time-code"' in box and 'spellcheck="false"' in box
    hint = re.search(r'<div id="code-hint"[^>]*>([^<]+)</div>', html).group(1)
    assert "recovery code" in hint
