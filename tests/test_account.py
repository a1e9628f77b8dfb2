"""The account page (password change, recovery codes, recent sign-ins) and password help by email."""

from datetime import timedelta

import pytest
from conftest import fresh_code, link_in_last_email, outbox, sign_in, submit
from helpers_auth import code_step, new_recovery_codes, password_step, sign_out, user_row, wrong_code

from portal import clock

NEW = "seven purple lanterns glowing"


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
    response = submit(client, "/account/recovery-codes", {"code": wrong_code(person.secret)})
    assert response.status_code == 400 and "The security code is not right" in response.get_data(as_text=True)
    response = submit(client, "/account/recovery-codes", {"code": old[0]})
    assert response.status_code == 400, "a recovery code must not replace the recovery codes"
    new = new_recovery_codes(app, client, person)
    assert not set(new) & set(old)
    sign_out(client)
    other = app.test_client()
    assert password_step(other, person.email, person.password).status_code == 302
    assert code_step(other, old[1]).status_code == 400
    assert code_step(other, new[1]).status_code == 302


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
    assert response.status_code == 400 and "The security code is not right" in response.get_data(as_text=True)
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
        assert submit(client, "/account/recovery-codes", {"code": wrong_code(person.secret)}).status_code == 400
    response = submit(client, "/account/recovery-codes", {"code": fresh_code(app, person)})
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
