"""Invitations, enrolment and the first-run link, driven through the real forms."""

import hashlib
import re
from datetime import timedelta

import pytest
from conftest import csrf_from, link_in_last_email, outbox, submit
from helpers_auth import (
    GOOD_PASSWORD,
    PENDING,
    TYPED_KEY,
    enrol,
    invite,
    link_row,
    reset_setup,
    session_token,
    user_row,
    wrong_code,
)
from sqlalchemy import func, select, text

from portal import clock
from portal.auth import services
from portal.extensions import db
from portal.models import AccountLink, Base, User
from portal.security import passwords, totp

EMAIL = "ada.lovelace@example.org"


def test_invitation_email_carries_only_a_link_and_only_a_hash_is_stored(app, admin_client):
    admin, _ = admin_client
    link = invite(app, admin, EMAIL, name="Ada Lovelace")
    body = outbox(app)[-1].body
    words = re.sub(r"https://\S+", "", body)  # the link's random token could hold any three letters
    assert "Ada" not in words and "Lovelace" not in words
    assert body.count("https://") == 1
    token = link.rsplit("/", 1)[1]
    assert len(token) == 43
    with app.app_context():
        dump = " ".join(str(v) for row in db.session.execute(text("SELECT * FROM account_links")) for v in row)
    assert token not in dump
    assert hashlib.sha256(token.encode()).hexdigest() in dump


@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [
        ("short pass1", None, "Password must be 12 characters or more"),
        ("x" * 60 + "y" * 69, None, "Password must be 128 characters or fewer"),
        ("Password123456!", None, "Password is too common"),
        (f"my {EMAIL} secret", None, "Password must not contain your email address"),
        ("ada.lovelace river banks", None, "Password must not contain your email address"),
        (GOOD_PASSWORD, GOOD_PASSWORD + "!", "The passwords do not match"),
    ],
)
def test_password_policy_refuses_with_a_clear_error_and_changes_nothing(app, admin_client, client, password,
                                                                          confirm, message):
    admin, _ = admin_client
    link = invite(app, admin, EMAIL)
    response = submit(client, link, {"password": password, "confirm": confirm or password})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html and "govuk-error-summary" in html
    assert user_row(app, EMAIL) is None
    assert link_row(app, EMAIL).used_at is None


def test_exactly_128_and_12_characters_are_allowed(app, admin_client, client):
    admin, _ = admin_client
    assert passwords.policy_problems("w" * 40 + "q" * 40 + "z" * 48, EMAIL) == []
    link = invite(app, admin, EMAIL)
    response = submit(client, link, {"password": "tulip meadow", "confirm": "tulip meadow"})
    assert response.status_code == 302


def test_invitee_enrols_sees_codes_once_and_is_signed_in(app, admin_client, client):
    admin, _ = admin_client
    link = invite(app, admin, EMAIL)
    assert client.get(link).status_code == 200
    response = submit(client, link, {"password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD})
    assert response.headers["Location"].endswith(link + "/authenticator")
    html = client.get(link + "/authenticator").get_data(as_text=True)
    assert "<svg" in html and "portal-qr" in html and "<img" not in html
    secret = TYPED_KEY.search(html).group(1).replace(" ", "")
    with app.app_context():
        stored = db.session.scalar(select(User).where(User.email == EMAIL))
        assert stored.totp_secret == secret and stored.enrolled_at is None
    # Nothing is reachable before the code is confirmed.
    assert client.get("/dashboard").status_code == 302

    response = submit(client, link + "/authenticator", {"code": wrong_code(secret)})
    assert response.status_code == 400
    assert "The security code is not right" in response.get_data(as_text=True)
    assert user_row(app, EMAIL).enrolled_at is None
    assert client.get("/dashboard").status_code == 302

    response = submit(client, link + "/authenticator", {"code": totp.code_at(secret, clock.now())})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    from helpers_auth import RECOVERY_CODE

    codes = RECOVERY_CODE.findall(page)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/dashboard").status_code == 200
    user = user_row(app, EMAIL)
    assert user.enrolled_at is not None and user.password_hash.startswith("$argon2id$")
    # The codes are never shown again, and the link is spent.
    for path in (link, link + "/authenticator", "/account", "/account/recovery-codes"):
        again = client.get(path).get_data(as_text=True)
        assert not any(code in again for code in codes)
    assert link_row(app, EMAIL).used_at is not None


def test_used_link_gets_a_clear_page(app, admin_client, client):
    admin, _ = admin_client
    link = invite(app, admin, EMAIL)
    enrol(app, client, link)
    for path in (link, link + "/authenticator"):
        response = app.test_client().get(path)
        assert response.status_code == 404
        assert "This link has already been used" in response.get_data(as_text=True)
    # Posting to a spent link changes nothing.
    before = user_row(app, EMAIL).password_hash
    other = app.test_client()
    token = csrf_from(other.get("/sign-in").get_data(as_text=True))
    response = other.post(link, data={"password": "another long phrase", "confirm": "another long phrase",
                                      "csrf_token": token})
    assert response.status_code == 404
    assert user_row(app, EMAIL).password_hash == before


def test_expired_link_gets_a_clear_page_and_404(app, admin_client, client):
    admin, _ = admin_client
    link = invite(app, admin, EMAIL)
    clock.advance(timedelta(hours=71, minutes=59))
    assert client.get(link).status_code == 200
    clock.advance(timedelta(hours=1, minutes=2))
    response = client.get(link)
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "This link has expired" in html and "Ask your ASYE Lead to send you a new link" in html
    assert user_row(app, EMAIL) is None


def test_unknown_link_is_a_clear_404(client):
    response = client.get("/invite/" + "A" * 43)
    assert response.status_code == 404
    assert "This link is not valid" in response.get_data(as_text=True)


def test_resend_revokes_the_old_link(app, admin_client, client):
    admin, _ = admin_client
    old = invite(app, admin, EMAIL)
    link_id = link_row(app, EMAIL).id
    response = submit(admin, f"/admin/invitations/{link_id}/resend", {}, page="/admin/people")
    assert response.status_code == 302
    new = [m for m in outbox(app) if m.recipient == EMAIL][-1].body
    new_link = new.split("https://portal.test", 1)[1].split()[0]
    assert new_link != old and "Ada" not in new
    response = client.get(old)
    assert response.status_code == 404
    assert "replaced by a newer one" in response.get_data(as_text=True)
    enrol(app, client, new_link)
    assert client.get("/dashboard").status_code == 200


def test_first_run_link_creates_the_first_admin_then_stops(app, client):
    with app.test_request_context():
        token = services.first_admin_link()
    assert token
    link = f"/invite/{token}"
    assert "Create your administrator account" in client.get(link).get_data(as_text=True)
    enrol(app, client, link, extra={"name": "Grace Hopper", "email": "grace@example.org"})
    user = user_row(app, "grace@example.org")
    assert user.role == "admin" and user.name == "Grace Hopper"
    assert client.get("/admin/people").status_code == 200
    with app.test_request_context():
        assert services.first_admin_link() is None
    result = app.test_cli_runner().invoke(args=["first-run-link"])
    assert "An administrator exists" in result.output and "/invite/" not in result.output


def test_first_run_cli_prints_a_working_link_and_a_new_one_revokes_the_old(app, client):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["first-run-link"]).output
    second = runner.invoke(args=["first-run-link"]).output
    path_1 = first.split("https://portal.test", 1)[1].split()[0]
    path_2 = second.split("https://portal.test", 1)[1].split()[0]
    assert client.get(path_1).status_code == 404
    assert client.get(path_2).status_code == 200


def test_abandoned_first_run_does_not_block_a_new_first_run_link(app, client):
    """Someone who chose a password but never confirmed a code is not an administrator yet."""
    with app.test_request_context():
        token = services.first_admin_link()
    response = submit(client, f"/invite/{token}", {"name": "Grace Hopper", "email": "grace@example.org",
                                                   "password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD})
    assert response.status_code == 302
    with app.test_request_context():
        again = services.first_admin_link()
    assert again is not None
    enrol(app, app.test_client(), f"/invite/{again}",
          extra={"name": "Grace Hopper", "email": "grace@example.org"})
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1
        assert db.session.scalar(select(func.count()).select_from(AccountLink)
                                 .where(AccountLink.used_at.is_(None), AccountLink.revoked_at.is_(None))) == 0


def test_a_database_dump_holds_no_secret(app, admin_client, client):
    admin, _ = admin_client
    link = invite(app, admin, EMAIL)
    secret, codes = enrol(app, client, link)
    assert submit(app.test_client(), "/password-help", {"email": EMAIL}).status_code == 200
    help_link = [m for m in outbox(app) if m.recipient == EMAIL][-1].body.split("https://portal.test", 1)[1]
    tokens = [link.rsplit("/", 1)[1], help_link.split()[0].rsplit("/", 1)[1],
              session_token(client)]
    with app.app_context():
        dump = "\n".join(
            str(value)
            for table in Base.metadata.sorted_tables
            for row in db.session.execute(text(f'SELECT * FROM "{table.name}"'))
            for value in row
        )
        raw_secret = db.session.execute(text("SELECT totp_secret FROM users WHERE email = :e"), {"e": EMAIL}).scalar()
    assert raw_secret.startswith("f2.")
    needles = [secret, secret.lower(), totp.format_secret(secret), *tokens]
    for code in codes:
        needles += [code, code.replace("-", ""), code.upper()]
    assert "ada.lovelace@example.org" in dump, "the dump must really hold the tables"
    leaked = [needle for needle in needles if needle in dump]
    assert leaked == []


def test_admin_reset_link_keeps_the_password_and_sets_up_only_a_new_authenticator(app, admin_client, signed_in):
    admin, _ = admin_client
    client, person = signed_in()
    assert submit(admin, f"/admin/people/{person.id}/reset-2fa", {}).status_code == 302
    link = link_in_last_email(app, person.email)
    email = outbox(app)[-1].body
    assert "reset" in email and "You keep your password" in email and "choose a new password" not in email
    # Skipping step 1 of a reset link leads back to it rather than failing.
    response = client.get(link + "/authenticator")
    assert response.status_code == 302 and response.headers["Location"].endswith(link)
    page = " ".join(app.test_client().get(link).get_data(as_text=True).split())
    assert "Set up a new authenticator app" in page and "You keep your password" in page
    assert "Create a password" not in page and "setting up the account for" not in page
    assert 'name="confirm"' not in page and 'autocomplete="new-password"' not in page
    before = user_row(app, person.email).password_hash

    # Someone with only the email cannot choose a password, or set up an authenticator, from the link.
    intruder = app.test_client()
    for data in ({"password": "an attacker's new password", "confirm": "an attacker's new password"},
                 {"password": "not their password at all"}):
        response = submit(intruder, link, data)
        assert response.status_code == 400 and "That password is not right" in response.get_data(as_text=True)
        assert 'name="pending"' not in response.get_data(as_text=True)
    assert _stored(app, person.email) == (before, None, False)

    new_secret, _ = reset_setup(app, app.test_client(), link, person.password)
    assert new_secret != person.secret
    assert _stored(app, person.email) == (before, new_secret, True)
    fresh = app.test_client()
    assert submit(fresh, "/sign-in", {"email": person.email, "password": person.password}).status_code == 302
    clock.advance(timedelta(seconds=30))
    assert submit(fresh, "/sign-in/code", {"code": totp.code_at(person.secret, clock.now())}).status_code == 400
    assert submit(fresh, "/sign-in/code", {"code": totp.code_at(new_secret, clock.now())}).status_code == 302
    assert app.test_client().get(link).status_code == 404  # the link worked once


def _stored(app, email: str) -> tuple[str | None, str | None, bool]:
    """(password hash, TOTP secret, set up?) as stored now."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        return user.password_hash, user.totp_secret, user.enrolled_at is not None


def test_a_reset_set_up_is_bound_to_its_link_and_expires(app, admin_client, make_user):
    admin, _ = admin_client
    person = make_user()
    assert submit(admin, f"/admin/people/{person.id}/reset-2fa", {}).status_code == 302
    link = link_in_last_email(app, person.email)
    client = app.test_client()
    response = submit(client, link, {"password": person.password})
    secret, pending, csrf = TYPED_KEY.search(response.get_data(as_text=True)).group(1).replace(" ", ""), \
        PENDING.search(response.get_data(as_text=True)).group(1), csrf_from(response.get_data(as_text=True))
    wrong = client.post(f"{link}/new-authenticator", data={"pending": pending, "csrf_token": csrf,
                                                            "code": wrong_code(secret)})
    assert wrong.status_code == 400 and "That security code is not right" in wrong.get_data(as_text=True)
    assert _stored(app, person.email)[1:] == (None, False), "nothing is stored before a right code"
    tampered = pending[:-4] + ("AAAA" if not pending.endswith("AAAA") else "BBBB")
    refused = client.post(f"{link}/new-authenticator", data={"pending": tampered, "csrf_token": csrf,
                                                              "code": totp.code_at(secret, clock.now())})
    assert refused.status_code == 400 and "Enter your password to start again" in refused.get_data(as_text=True)
    clock.advance(timedelta(minutes=16))
    late = client.post(f"{link}/new-authenticator", data={"pending": pending, "csrf_token": csrf,
                                                           "code": totp.code_at(secret, clock.now())})
    assert late.status_code == 400 and "Setting up took too long" in late.get_data(as_text=True)
    assert user_row(app, person.email).enrolled_at is None


def test_a_second_invitation_cannot_take_over_an_existing_account(app, admin_client, client):
    admin, _ = admin_client
    first = invite(app, admin, EMAIL)
    second = invite(app, admin, EMAIL)
    enrol(app, client, first)
    before = user_row(app, EMAIL).password_hash
    response = submit(app.test_client(), second, {"password": "another long phrase", "confirm": "another long phrase"})
    assert response.status_code == 400
    assert "An account with this email address already exists" in response.get_data(as_text=True)
    assert user_row(app, EMAIL).password_hash == before
