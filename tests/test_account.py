"""The account page (password change, recovery codes, recent sign-ins) and password help by email."""

import re
from datetime import timedelta

import pytest
from conftest import csrf_from, fresh_code, link_in_last_email, outbox, sign_in, submit
from helpers_auth import (
    RECOVERY_CODE,
    code_step,
    confirm_new_authenticator,
    enrol,
    link_row,
    lost_phone_sign_in,
    new_recovery_codes,
    password_step,
    scan_page_fields,
    sign_out,
    start_new_authenticator,
    user_row,
    wrong_code,
)

from portal import clock
from portal.security import totp

NEW = "seven purple lanterns glowing"

START_AGAIN = "Enter your password and a code to start again"


def _change(client, app, person, current: str, code: str, new: str = NEW, confirm: str | None = None):
    return submit(client, "/account/password", {"current": current, "password": new, "confirm": confirm or new,
                                                "code": code})


def _can_sign_in(app, person, password: str) -> bool:
    client = app.test_client()
    if password_step(client, person.email, password).status_code != 302:
        return False
    return code_step(client, fresh_code(app, person)).status_code == 302


# Changing the password --------------------------------------------------------------------------------


@pytest.mark.parametrize("wrong", ["password", "code"])
def test_change_password_needs_the_current_password_and_a_code(app, signed_in, wrong):
    client, person = signed_in()
    before = user_row(app, person.email).password_hash
    mails = len(outbox(app))
    current = "not my password at all" if wrong == "password" else person.password
    code = wrong_code(person.secret) if wrong == "code" else fresh_code(app, person)
    response = _change(client, app, person, current, code)
    assert response.status_code == 400
    assert "Your current password or security code is not right" in response.get_data(as_text=True)
    assert user_row(app, person.email).password_hash == before
    assert len(outbox(app)) == mails
    assert client.get("/dashboard").status_code == 200


def test_change_password_applies_the_policy(app, signed_in):
    client, person = signed_in()
    before = user_row(app, person.email).password_hash
    response = _change(client, app, person, person.password, fresh_code(app, person), new=f"x {person.email} y")
    assert response.status_code == 400
    assert "must not contain your email address" in response.get_data(as_text=True)
    assert user_row(app, person.email).password_hash == before


def test_change_password_works_and_emails_a_notice(app, signed_in):
    client, person = signed_in()
    response = _change(client, app, person, person.password, fresh_code(app, person))
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    notice = outbox(app)[-1]
    assert notice.recipient == person.email and "password was changed" in notice.subject
    assert NEW not in notice.body
    assert not _can_sign_in(app, person, person.password)
    assert _can_sign_in(app, person, NEW)


def test_wrong_current_passwords_on_the_account_page_are_throttled(app, signed_in):
    client, person = signed_in()
    for _ in range(5):
        assert _change(client, app, person, "not my password at all", "000000").status_code == 400
    response = _change(client, app, person, person.password, fresh_code(app, person))
    assert response.status_code == 400 and "Too many attempts" in response.get_data(as_text=True)
    assert not _can_sign_in(app, person, NEW)


# Recovery codes ---------------------------------------------------------------------------------------


def test_regenerating_recovery_codes_needs_a_code_and_retires_the_old_ones(app, signed_in):
    client, person = signed_in()
    old = new_recovery_codes(app, client, person)
    response = submit(client, "/account/recovery-codes", {"password": person.password,
                                                         "code": wrong_code(person.secret)})
    assert response.status_code == 400 and "That security code is not right" in response.get_data(as_text=True)
    # An unused recovery code is a second factor too (it is used up, and all the others are replaced anyway).
    response = submit(client, "/account/recovery-codes", {"password": person.password, "code": old[0]})
    assert response.status_code == 200, response.get_data(as_text=True)
    spent = RECOVERY_CODE.findall(response.get_data(as_text=True))
    new = new_recovery_codes(app, client, person)
    assert not set(new) & set(old) and not set(new) & set(spent)
    sign_out(client)
    other = app.test_client()
    assert password_step(other, person.email, person.password).status_code == 302
    assert code_step(other, old[1]).status_code == 400
    assert code_step(other, new[1]).status_code == 302


def test_a_password_and_a_session_alone_make_no_recovery_codes(app, signed_in):
    """A stolen session plus the password must not yield a second factor (and with it a new authenticator)."""
    client, person = signed_in()
    before = _recovery_hashes(app, person)
    for data, message in (({"password": person.password}, "Enter a security code or a recovery code"),
                          ({"password": person.password, "code": ""}, "Enter a security code or a recovery code"),
                          ({"password": "not my password at all", "code": fresh_code(app, person)},
                           "The password is not right")):
        response = submit(client, "/account/recovery-codes", data)
        assert response.status_code == 400 and message in response.get_data(as_text=True), data
        assert not RECOVERY_CODE.findall(response.get_data(as_text=True))
    assert _recovery_hashes(app, person) == before


def _recovery_hashes(app, person) -> set[str]:
    from portal.extensions import db
    from portal.models import RecoveryCode

    with app.app_context():
        return set(db.session.scalars(db.select(RecoveryCode.code_hash).where(RecoveryCode.user_id == person.id)))


# The account page -------------------------------------------------------------------------------------


def test_account_page_lists_sign_ins_failures_and_sessions(app, make_user):
    person = make_user()
    assert password_step(app.test_client(), person.email, "not my password at all").status_code == 400
    laptop, phone = app.test_client(), app.test_client()
    laptop.environ_base["HTTP_USER_AGENT"] = "LaptopBrowser/1.0"
    phone.environ_base["HTTP_USER_AGENT"] = "PhoneBrowser/2.0"
    sign_in(app, laptop, person)
    sign_in(app, phone, person)
    html = laptop.get("/account").get_data(as_text=True)
    assert "Failed attempt" in html and html.count("Signed in") >= 2
    assert "LaptopBrowser/1.0" in html and "PhoneBrowser/2.0" in html and "This device" in html


def test_account_page_shows_only_my_own_sign_ins(app, make_user):
    me, someone = make_user(), make_user()
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = "MyBrowser/1.0"
    other = app.test_client()
    other.environ_base["HTTP_USER_AGENT"] = "TheirBrowser/1.0"
    sign_in(app, other, someone)
    sign_in(app, client, me)
    html = client.get("/account").get_data(as_text=True)
    assert "TheirBrowser" not in html and someone.email not in html


# Password help ----------------------------------------------------------------------------------------


def test_password_help_looks_the_same_for_known_and_unknown_emails(app, make_user):
    person = make_user()
    known = submit(app.test_client(), "/password-help", {"email": person.email})
    unknown = submit(app.test_client(), "/password-help", {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert known.get_data() == unknown.get_data()
    emails = outbox(app)
    assert [m.recipient for m in emails] == [person.email]
    assert person.name not in emails[0].body and "/password-help/" in emails[0].body


def test_password_help_with_a_control_character_is_a_clean_400(app, client):
    assert submit(client, "/password-help", {"email": "a\x00b@example.org"}).status_code == 400


def _reset(app, client, link: str, code: str, password: str = NEW):
    return submit(client, link, {"password": password, "confirm": password, "code": code})


def test_reset_needs_a_code_works_once_and_ends_sessions(app, make_user):
    person = make_user()
    elsewhere = app.test_client()
    sign_in(app, elsewhere, person)
    client = app.test_client()
    submit(client, "/password-help", {"email": person.email})
    link = link_in_last_email(app, person.email)
    before = user_row(app, person.email).password_hash
    response = _reset(app, client, link, wrong_code(person.secret))
    assert response.status_code == 400 and "That security code is not right or has expired" in response.get_data(
        as_text=True)
    assert user_row(app, person.email).password_hash == before
    response = _reset(app, client, link, fresh_code(app, person))
    assert response.status_code == 302 and response.headers["Location"] == "/sign-in"
    assert elsewhere.get("/dashboard").status_code == 302
    assert _can_sign_in(app, person, NEW) and not _can_sign_in(app, person, person.password)
    again = client.get(link)
    assert again.status_code == 404 and "already been used" in again.get_data(as_text=True)


def test_reset_with_a_recovery_code(app, signed_in):
    client, person = signed_in()
    codes = new_recovery_codes(app, client, person)
    submit(app.test_client(), "/password-help", {"email": person.email})
    link = link_in_last_email(app, person.email)
    assert _reset(app, app.test_client(), link, codes[0]).status_code == 302
    assert _can_sign_in(app, person, NEW)


def test_reset_link_expires_after_an_hour(app, make_user, client):
    person = make_user()
    submit(client, "/password-help", {"email": person.email})
    link = link_in_last_email(app, person.email)
    clock.advance(timedelta(minutes=59))
    assert client.get(link).status_code == 200
    clock.advance(timedelta(minutes=2))
    response = client.get(link)
    assert response.status_code == 404 and "This link has expired" in response.get_data(as_text=True)


def test_at_most_three_reset_links_an_hour(app, make_user, client):
    person = make_user()
    for _ in range(4):
        assert submit(client, "/password-help", {"email": person.email}).status_code == 200
        clock.advance(timedelta(minutes=5))
    assert len([m for m in outbox(app) if m.recipient == person.email]) == 3
    clock.advance(timedelta(minutes=50))
    submit(client, "/password-help", {"email": person.email})
    assert len([m for m in outbox(app) if m.recipient == person.email]) == 4


def test_a_reset_link_cannot_enrol_or_a_signup_link_reset(app, make_user, client):
    person = make_user()
    submit(client, "/password-help", {"email": person.email})
    link = link_in_last_email(app, person.email)
    token = link.rsplit("/", 1)[1]
    assert client.get(f"/invite/{token}").status_code == 404
    assert client.get(f"/invite/{token}/authenticator").status_code == 404


def test_guessing_codes_on_the_recovery_codes_page_is_throttled(app, signed_in):
    client, person = signed_in()
    for _ in range(5):
        assert submit(client, "/account/recovery-codes", {"password": person.password,
                                                          "code": wrong_code(person.secret)}).status_code == 400
    response = submit(client, "/account/recovery-codes", {"password": person.password,
                                                         "code": fresh_code(app, person)})
    assert response.status_code == 400 and "Too many attempts" in response.get_data(as_text=True)


def test_account_changes_are_audited(app, signed_in):
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import AuditEvent

    client, person = signed_in()
    new_recovery_codes(app, client, person)
    assert _change(client, app, person, person.password, fresh_code(app, person)).status_code == 302
    assert _change(client, app, person, "not my password at all", "000000").status_code == 400
    with app.app_context():
        actions = set(db.session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == person.id)))
    assert {"sign_in.password_accepted", "sign_in.succeeded", "2fa.recovery_codes_regenerated",
            "password.changed", "password.change_failed"} <= actions


# A lost phone: new recovery codes with the password, and a new authenticator -------------------------


def _actions(app, person) -> list[str]:
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import AuditEvent

    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == person.id)
                                       .order_by(AuditEvent.seq)))


def _secret(app, person) -> str:
    from portal.extensions import db
    from portal.models import User

    with app.app_context():
        return db.session.get(User, person.id).totp_secret


def _signed_out(client) -> bool:
    response = client.get("/dashboard")
    return response.status_code == 302 and response.headers["Location"].startswith("/sign-in")


def test_after_a_recovery_code_sign_in_new_codes_need_the_password_and_another_recovery_code(app, make_user):
    person = make_user()
    client, old = lost_phone_sign_in(app, person)
    notice = outbox(app)[-1]
    assert "recovery code was just used" in notice.body and "your password" in notice.body
    assert "/account" in notice.body and person.name not in notice.body
    before = user_row(app, person.email)
    response = submit(client, "/account/recovery-codes", {"password": "not my password at all", "code": old[0]})
    assert response.status_code == 400 and "The password is not right" in response.get_data(as_text=True)
    response = submit(client, "/account/recovery-codes", {"password": person.password})
    assert response.status_code == 400
    assert "Enter a security code or a recovery code" in response.get_data(as_text=True)
    assert code_step_works(app, person, old[0]), "a refusal must change nothing"
    response = submit(client, "/account/recovery-codes", {"password": person.password, "code": old[0]})
    assert response.status_code == 400
    assert "That recovery code has already been used" in response.get_data(as_text=True)
    response = submit(client, "/account/recovery-codes", {"password": person.password, "code": old[1]})
    assert response.status_code == 200, response.get_data(as_text=True)
    new = RECOVERY_CODE.findall(response.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    assert not code_step_works(app, person, old[2])
    assert code_step_works(app, person, new[0])
    assert user_row(app, person.email).password_hash == before.password_hash
    notice = [m for m in outbox(app) if "New recovery codes" in m.subject][-1]
    assert notice.recipient == person.email and not any(code in notice.body for code in new)
    assert "2fa.recovery_codes_regenerated" in _actions(app, person)


def code_step_works(app, person, code: str) -> bool:
    """Whether a fresh sign-in with the password and this code gets in."""
    other = app.test_client()
    assert password_step(other, person.email, person.password).status_code == 302
    return code_step(other, code).status_code == 302


def test_wrong_passwords_on_the_recovery_codes_page_are_throttled(app, signed_in):
    client, person = signed_in()
    for _ in range(5):
        assert submit(client, "/account/recovery-codes", {"password": "not my password at all",
                                                          "code": "123456"}).status_code == 400
    response = submit(client, "/account/recovery-codes", {"password": person.password,
                                                         "code": fresh_code(app, person)})
    assert response.status_code == 400 and "Too many attempts" in response.get_data(as_text=True)


def test_new_authenticator_after_a_lost_phone(app, make_user):
    person = make_user()
    client, old_codes = lost_phone_sign_in(app, person)
    elsewhere = app.test_client()
    sign_in(app, elsewhere, person)
    assert "Set up a new one" in client.get("/account").get_data(as_text=True)
    assert client.get("/account/authenticator").status_code == 200
    response = start_new_authenticator(client, "not my password at all", old_codes[0])
    assert response.status_code == 400 and "The password is not right" in response.get_data(as_text=True)

    response = start_new_authenticator(client, person.password, old_codes[0])
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<svg" in html and "portal-qr" in html
    secret, pending, csrf = scan_page_fields(html)
    assert secret != person.secret and secret not in pending
    assert _secret(app, person) == person.secret, "nothing changes before the code"

    response = confirm_new_authenticator(client, pending, csrf, wrong_code(secret))
    assert response.status_code == 400 and "The security code is not right" in response.get_data(as_text=True)
    response = confirm_new_authenticator(client, pending, csrf, totp.code_at(person.secret, clock.now()))
    assert response.status_code == 400, "a code from the old app must not confirm the new one"
    assert _secret(app, person) == person.secret

    response = confirm_new_authenticator(client, pending, csrf, totp.code_at(secret, clock.now()))
    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    assert "Your new authenticator app is set up" in page
    new_codes = RECOVERY_CODE.findall(page)
    assert len(new_codes) == 10
    assert _secret(app, person) == secret

    # The old secret stops at once; the new one works; old recovery codes are gone; other sessions ended.
    clock.advance(timedelta(seconds=30))
    assert not code_step_works(app, person, totp.code_at(person.secret, clock.now()))
    assert code_step_works(app, person, totp.code_at(secret, clock.now()))
    assert not code_step_works(app, person, old_codes[0])
    assert code_step_works(app, person, new_codes[0])
    assert _signed_out(elsewhere)
    assert client.get("/dashboard").status_code == 200

    notice = [m for m in outbox(app) if "authenticator app was changed" in m.subject][-1]
    assert notice.recipient == person.email and person.name not in notice.body
    assert secret not in notice.body and not any(code in notice.body for code in new_codes)
    assert {"2fa.change_refused", "2fa.change_started", "2fa.changed"} <= set(_actions(app, person))

    # The sealed set-up cannot be used again once the change is made.
    response = confirm_new_authenticator(client, pending, csrf, totp.code_at(secret, clock.now()))
    assert response.status_code == 400 and START_AGAIN in response.get_data(as_text=True)


def test_a_new_authenticator_set_up_is_bound_to_its_session_and_expires(app, make_user):
    person = make_user()
    client, other = app.test_client(), app.test_client()
    sign_in(app, client, person)
    sign_in(app, other, person)
    secret, pending, _ = scan_page_fields(start_new_authenticator(client, person.password, fresh_code(app, person))
                                          .get_data(as_text=True))
    csrf = csrf_from(other.get("/account").get_data(as_text=True))
    response = confirm_new_authenticator(other, pending, csrf, totp.code_at(secret, clock.now()))
    assert response.status_code == 400 and START_AGAIN in response.get_data(as_text=True)
    tampered = pending[:-4] + ("AAAA" if not pending.endswith("AAAA") else "BBBB")
    csrf = csrf_from(client.get("/account").get_data(as_text=True))
    assert confirm_new_authenticator(client, tampered, csrf, totp.code_at(secret, clock.now())).status_code == 400
    assert confirm_new_authenticator(client, "x.unknown.AAAA", csrf, "123456").status_code == 400
    clock.advance(timedelta(minutes=16))
    client.get("/dashboard")
    response = confirm_new_authenticator(client, pending, csrf, totp.code_at(secret, clock.now()))
    assert response.status_code == 400 and START_AGAIN in response.get_data(as_text=True)
    assert _secret(app, person) == person.secret


def test_wrong_passwords_on_the_new_authenticator_page_are_throttled(app, signed_in):
    client, person = signed_in()
    for _ in range(5):
        assert start_new_authenticator(client, "not my password at all", "123456").status_code == 400
    response = start_new_authenticator(client, person.password, fresh_code(app, person))
    assert response.status_code == 400 and "Too many attempts" in response.get_data(as_text=True)


def test_a_new_authenticator_needs_the_password_and_a_current_or_unused_recovery_code(app, make_user):
    """A stolen session plus the password is not enough to replace someone's authenticator."""
    person = make_user()
    client, codes = lost_phone_sign_in(app, person)  # signed in with a recovery code; codes are the unused ones
    used = codes.pop(0)
    assert code_step_works(app, person, used)  # and now it is used too
    refusals = [
        ({"password": person.password}, "Enter a security code or a recovery code"),
        ({"password": person.password, "code": wrong_code(person.secret)}, "That security code is not right"),
        ({"password": person.password, "code": used}, "That recovery code has already been used: use another one, "
                                                      "or ask your ASYE Lead to reset your sign-in"),
        ({"password": person.password, "code": "abcd-efgh-jkmnp"}, "That is not one of your recovery codes"),
        ({"password": "not my password at all", "code": codes[0]}, "The password is not right"),
    ]
    for data, message in refusals:
        response = submit(client, "/account/authenticator", data)
        assert response.status_code == 400 and message in response.get_data(as_text=True), data
        assert 'name="pending"' not in response.get_data(as_text=True), "no new secret without both factors"
    assert "2fa.code_replayed" in _actions(app, person)
    # A code from the current app works, and so does an unused recovery code (used up by it).
    assert start_new_authenticator(client, person.password, fresh_code(app, person)).status_code == 200
    assert start_new_authenticator(client, person.password, codes[0]).status_code == 200
    assert not code_step_works(app, person, codes[0])
    page = " ".join(client.get("/account/authenticator").get_data(as_text=True).split())
    assert "If you have no codes left" in page and "ask your ASYE Lead to reset your sign-in" in page


# Password help for an account whose set-up link lapsed ------------------------------------------------


def _feedback_account(app, email: str, role: str = "nqsw", active: bool = True) -> None:
    """An account as the feedback release makes it: no password yet, and an emailed set-up link."""
    from portal.auth import services
    from portal.extensions import db
    from portal.models import LinkPurpose, User

    with app.test_request_context():
        lead = User(email=f"lead-{email}", name="Lead", role="admin", active=True, created_at=clock.now())
        user = User(email=email, name="Nia Example", role=role, active=active, created_at=clock.now())
        db.session.add_all([lead, user])
        db.session.flush()
        services.new_link(LinkPurpose.INVITATION, timedelta(hours=72), name=user.name, email=email, role=role,
                          user_id=user.id, created_by_id=lead.id)
        db.session.commit()


@pytest.mark.parametrize("role", ["nqsw", "assessor"])
def test_password_help_sends_a_fresh_set_up_link_when_the_invitation_lapsed(app, role):
    email = f"{role}.example@example.org"
    _feedback_account(app, email, role)
    clock.advance(timedelta(hours=73))
    client = app.test_client()
    sent = submit(client, "/password-help", {"email": email})
    unknown = submit(app.test_client(), "/password-help", {"email": "nobody@example.org"})
    assert sent.status_code == unknown.status_code == 200 and sent.get_data() == unknown.get_data()
    message = outbox(app)[-1]
    assert message.recipient == email and "Set up" in message.subject
    assert "Nia" not in re.sub(r"https://\S+", "", message.body)  # (the link's random token could hold "Nia")
    assert message.body.count("https://") == 1 and "/invite/" in message.body
    link = link_in_last_email(app, email)
    enrol(app, client, link)
    assert client.get("/dashboard").status_code == 200
    assert user_row(app, email).enrolled_at is not None
    assert "password_help.setup_link_sent" in _actions(app, user_row(app, email))


def test_a_fresh_set_up_link_expires_in_an_hour_replaces_the_old_one_and_is_limited(app):
    email = "nqsw.example@example.org"
    _feedback_account(app, email)
    first = app.test_client()
    submit(first, "/password-help", {"email": email})
    old = link_in_last_email(app, email)
    submit(first, "/password-help", {"email": email})
    response = first.get(old)
    assert response.status_code == 404 and "replaced by a newer one" in response.get_data(as_text=True)
    submit(first, "/password-help", {"email": email})
    submit(first, "/password-help", {"email": email})
    assert len([m for m in outbox(app) if m.recipient == email]) == 3
    link = link_in_last_email(app, email)
    clock.advance(timedelta(minutes=61))
    response = app.test_client().get(link)
    assert response.status_code == 404 and "This link has expired" in response.get_data(as_text=True)


def test_password_help_sends_nothing_to_a_deactivated_account_not_set_up(app):
    email = "nqsw.example@example.org"
    _feedback_account(app, email, active=False)
    sent = submit(app.test_client(), "/password-help", {"email": email})
    assert sent.status_code == 200
    assert [m.recipient for m in outbox(app)] == []


def test_password_help_after_the_leads_reset_sends_a_fresh_reset_link(app, admin_client, make_user):
    admin, _ = admin_client
    person = make_user()
    assert submit(admin, f"/admin/people/{person.id}/reset-2fa", {}).status_code == 302
    expired = link_in_last_email(app, person.email)
    clock.advance(timedelta(hours=73))
    submit(app.test_client(), "/password-help", {"email": person.email})
    assert len([m for m in outbox(app) if m.recipient == person.email]) == 2
    link = link_in_last_email(app, person.email)
    assert link.startswith("/invite/") and link != expired
    assert link_row(app, person.email).purpose == "reset"
    assert app.test_client().get(link).status_code == 200
