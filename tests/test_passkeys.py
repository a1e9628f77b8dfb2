"""Passkeys and security keys over HTTP, answered by a software authenticator (tests/soft_authenticator.py):
enrolment, adding, signing in as the second factor and on its own, removing, and every refusal."""

import json
from datetime import timedelta

from conftest import csrf_from, fresh_code, outbox, sign_in, submit
from helpers_auth import GOOD_PASSWORD, invite, password_step, sign_out
from soft_authenticator import SoftAuthenticator, options_in
from sqlalchemy import func, select

from portal import clock
from portal.extensions import db
from portal.models import AuditEvent, Passkey, User, UserSession


def _actions(app, user_id: int | None = None) -> list[str]:
    with app.app_context():
        query = select(AuditEvent.action).order_by(AuditEvent.seq)
        if user_id is not None:
            query = query.where(AuditEvent.actor_id == user_id)
        return list(db.session.scalars(query))


def _passkeys(app, user_id: int) -> list[Passkey]:
    with app.app_context():
        rows = list(db.session.scalars(select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def add_passkey(app, client, person, key: SoftAuthenticator, name: str = "Blue key"):
    """Add a passkey through the account page: the password and a code, then the key's answer."""
    response = submit(client, "/account/passkeys/add", {"password": person.password, "code": fresh_code(app, person)})
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    pending = html.split('name="pending" type="hidden" value="')[1].split('"')[0]
    return client.post("/account/passkeys/add/new", data={
        "csrf_token": csrf_from(html), "pending": pending, "name": name, "credential": key.create(options_in(html))})


def passkey_step(client, key: SoftAuthenticator, path: str = "/sign-in/passkey/key", **answer: object):
    """Answer the passkey page's challenge with the key, as the page's script would."""
    html = client.get(path).get_data(as_text=True)
    return client.post(path, data={"csrf_token": csrf_from(html), "credential": key.get(options_in(html), **answer)})


def sign_in_with_code(app, client, person) -> None:
    """Sign in with the password and an authenticator code (a person with a passkey is offered it first)."""
    assert password_step(client, person.email, person.password).status_code == 302
    assert submit(client, "/sign-in/code?use=code", {"code": fresh_code(app, person)}).status_code == 302


def person_with_key(app, make_user, client, key: SoftAuthenticator | None = None):
    """A person (with an authenticator app) who has added a passkey, signed out again."""
    person = make_user()
    sign_in(app, client, person)
    key = key or SoftAuthenticator()
    assert add_passkey(app, client, person, key).status_code == 302
    sign_out(client)
    return person, key


def test_a_person_adds_a_passkey_from_the_account_page_and_it_is_listed_and_emailed(app, make_user, client):
    person = make_user()
    sign_in(app, client, person)
    assert "You have not added a passkey" in client.get("/account").get_data(as_text=True)
    key = SoftAuthenticator()
    response = add_passkey(app, client, person, key, name="  Blue   key ")
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    [stored] = _passkeys(app, person.id)
    assert (stored.name, stored.credential_id, stored.sign_count, stored.user_verified) == ("Blue key", key.id, 0, True)
    page = client.get("/account").get_data(as_text=True)
    assert "Blue key" in page and "Never" in page
    assert "passkey.added" in _actions(app, person.id)
    mail = outbox(app)[-1]
    assert mail.subject == "A passkey was added to your moderation portal account"
    assert "Blue key" not in mail.body and "https://portal.test/account" in mail.body  # a link only


def test_adding_needs_the_password_and_a_second_factor(app, make_user, client):
    person = make_user()
    sign_in(app, client, person)
    response = submit(client, "/account/passkeys/add", {"password": "wrong password here", "code": "123456"})
    assert response.status_code == 400 and "The password is not right" in response.get_data(as_text=True)
    response = submit(client, "/account/passkeys/add", {"password": person.password, "code": ""})
    assert response.status_code == 400
    assert "Enter a security code or a recovery code, or use a passkey" in response.get_data(as_text=True)
    # Step 2 without the sealed permission of step 1 (a stolen session alone) adds nothing.
    html = client.get("/account/passkeys/add").get_data(as_text=True)
    response = client.post("/account/passkeys/add/new", data={"csrf_token": csrf_from(html), "pending": "forged",
                                                               "name": "Evil", "credential": "{}"})
    assert response.status_code == 400 and "Setting up took too long" in response.get_data(as_text=True)
    assert _passkeys(app, person.id) == []
    assert "passkey.add_refused" in _actions(app, person.id)


def test_a_passkey_is_the_second_factor_after_the_password(app, make_user, client):
    person, key = person_with_key(app, make_user, client)
    response = password_step(client, person.email, person.password)
    assert response.headers["Location"] == "/sign-in/code"
    # A person with a passkey is offered it first; codes are a link away.
    assert client.get("/sign-in/code").headers["Location"] == "/sign-in/passkey/key"
    assert "Enter a security code" in client.get("/sign-in/passkey/key").get_data(as_text=True)
    assert client.get("/sign-in/code?use=code").status_code == 200
    response = passkey_step(client, key)
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    assert client.get("/account").status_code == 200
    [stored] = _passkeys(app, person.id)
    assert stored.sign_count == 1 and stored.last_used_at is not None and stored.last_used_at <= clock.now()
    assert _actions(app, person.id)[-2:] == ["passkey.used", "sign_in.succeeded"]
    assert outbox(app)[-1].subject == "Your passkey was used to sign in to the moderation portal"


def test_the_passkey_step_rotates_the_session_token(app, make_user, client):
    from helpers_auth import session_token

    person, key = person_with_key(app, make_user, client)
    password_step(client, person.email, person.password)
    before = session_token(client)
    passkey_step(client, key)
    assert session_token(client) not in (None, before)


def test_without_the_password_step_the_passkey_step_is_not_reachable(app, make_user, client):
    person_with_key(app, make_user, client)
    assert client.get("/sign-in/passkey/key").headers["Location"] == "/sign-in"


def test_another_persons_passkey_is_refused_as_the_second_factor(app, make_user, client):
    _, key = person_with_key(app, make_user, client)
    other, _ = person_with_key(app, make_user, app.test_client())
    password_step(client, other.email, other.password)
    response = passkey_step(client, key)
    assert response.status_code == 400
    assert "not one you have added to this account" in response.get_data(as_text=True)
    assert client.get("/account").status_code == 302


def test_a_challenge_is_single_use(app, make_user, client):
    person, key = person_with_key(app, make_user, client)
    password_step(client, person.email, person.password)
    html = client.get("/sign-in/passkey/key").get_data(as_text=True)
    with client.session_transaction() as state:
        handle = state["passkey_handle"]
    answer = key.get(options_in(html))
    assert client.post("/sign-in/passkey/key", data={"csrf_token": csrf_from(html), "credential": answer}
                       ).status_code == 302
    sign_out(client)
    password_step(client, person.email, person.password)
    html = client.get("/sign-in/passkey/key").get_data(as_text=True)
    with client.session_transaction() as state:
        state["passkey_handle"] = handle  # the used challenge's handle, put back as a replaying client would
    again = client.post("/sign-in/passkey/key", data={"csrf_token": csrf_from(html), "credential": answer})
    assert again.status_code == 400 and "took too long, or the page was used already" in again.get_data(as_text=True)
    assert client.get("/account").status_code == 302


def test_a_challenge_expires_after_five_minutes(app, make_user, client):
    person, key = person_with_key(app, make_user, client)
    password_step(client, person.email, person.password)
    html = client.get("/sign-in/passkey/key").get_data(as_text=True)
    clock.advance(timedelta(minutes=5, seconds=1))
    response = client.post("/sign-in/passkey/key", data={"csrf_token": csrf_from(html),
                                                          "credential": key.get(options_in(html))})
    # The password-only session itself lasts 10 minutes, so the refusal is the challenge's.
    assert response.status_code == 400 and "took too long" in response.get_data(as_text=True)


def test_a_challenge_is_bound_to_its_session(app, make_user, client):
    person, key = person_with_key(app, make_user, client)
    password_step(client, person.email, person.password)
    html = client.get("/sign-in/passkey/key").get_data(as_text=True)
    options = options_in(html)
    # Another browser (an attacker who got the person to answer their challenge) cannot use the answer.
    thief = app.test_client()
    password_step(thief, person.email, person.password)
    thief_html = thief.get("/sign-in/passkey/key").get_data(as_text=True)
    response = thief.post("/sign-in/passkey/key", data={"csrf_token": csrf_from(thief_html),
                                                         "credential": key.get(options)})
    assert response.status_code == 400 and thief.get("/account").status_code == 302


def test_an_answer_for_another_origin_is_refused_and_audited(app, make_user, client):
    person, key = person_with_key(app, make_user, client)
    password_step(client, person.email, person.password)
    response = passkey_step(client, key, origin="https://portal.test.evil.example")
    assert response.status_code == 400
    assert "could not be used" in response.get_data(as_text=True)
    with app.app_context():
        failed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sign_in.failed")).all()
    assert json.loads(failed[-1].details)["reason"] == "invalid"
    assert outbox(app)[-1].subject == "A passkey could not be used on your moderation portal account"


def test_a_cloned_authenticator_is_refused_audited_and_emailed(app, make_user, client):
    person, key = person_with_key(app, make_user, client)
    password_step(client, person.email, person.password)
    assert passkey_step(client, key).status_code == 302  # counter 1
    sign_out(client)
    password_step(client, person.email, person.password)
    assert passkey_step(client, key, counter=5).status_code == 302
    sign_out(client)
    password_step(client, person.email, person.password)
    response = passkey_step(client, key, counter=3)  # a copy of the key, behind the original's counter
    assert response.status_code == 400 and "may have been copied" in response.get_data(as_text=True)
    assert "passkey.clone_suspected" in _actions(app, person.id)
    assert [m.subject for m in outbox(app)].count("A passkey could not be used on your moderation portal account") == 1
    assert "may have been copied" in outbox(app)[-1].body
    assert _passkeys(app, person.id)[0].sign_count == 5


def test_an_authenticator_without_a_counter_is_accepted_every_time(app, make_user, client):
    person, key = person_with_key(app, make_user, client, SoftAuthenticator(step=0))
    for _ in range(2):
        password_step(client, person.email, person.password)
        assert passkey_step(client, key).status_code == 302
        sign_out(client)


def test_passkey_failures_count_towards_the_throttle(app, make_user, client):
    person, key = person_with_key(app, make_user, client)
    password_step(client, person.email, person.password)
    for _ in range(5):
        assert passkey_step(client, key, origin="https://evil.example").status_code == 400
    response = passkey_step(client, key)  # even the right key, while the account is locked
    assert response.status_code == 400 and "Too many attempts" in response.get_data(as_text=True)


def test_a_passkey_that_verifies_the_person_signs_in_on_its_own(app, make_user, client):
    person, key = person_with_key(app, make_user, client)
    page = client.get("/sign-in").get_data(as_text=True)
    assert 'href="/sign-in/passkey"' in page
    response = passkey_step(client, key, path="/sign-in/passkey")
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    assert client.get("/account").status_code == 200
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sign_in.succeeded")).all()
        sessions = db.session.scalars(select(UserSession).where(UserSession.user_id == person.id)).all()
    assert json.loads(events[-1].details)["method"] == "passkey_alone"
    assert [s.stage for s in sessions] == ["full"]


def test_a_security_key_without_verification_is_only_a_second_factor(app, make_user, client):
    person, key = person_with_key(app, make_user, client, SoftAuthenticator(verifies=False))
    response = passkey_step(client, key, path="/sign-in/passkey")
    assert response.status_code == 400
    assert "cannot confirm it is you on its own" in response.get_data(as_text=True)
    assert client.get("/account").status_code == 302
    password_step(client, person.email, person.password)
    assert passkey_step(client, key).status_code == 302
    assert client.get("/account").status_code == 200


def test_an_unknown_passkey_signs_in_no_one(app, client):
    response = passkey_step(client, SoftAuthenticator(), path="/sign-in/passkey")
    assert response.status_code == 400 and "not one this portal knows" in response.get_data(as_text=True)
    assert "sign_in.failed" in _actions(app)


def test_a_deactivated_persons_passkey_signs_in_no_one(app, make_user, client):
    person, key = person_with_key(app, make_user, client)
    with app.app_context():
        db.session.get(User, person.id).active = False
        db.session.commit()
    assert passkey_step(client, key, path="/sign-in/passkey").status_code == 400
    assert client.get("/account").status_code == 302


def test_an_invitee_enrols_with_a_passkey_instead_of_an_app(app, admin_client, client):
    admin, _ = admin_client
    link = invite(app, admin, "kim@example.org")
    response = submit(client, link, {"password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD})
    assert response.headers["Location"].endswith(link + "/authenticator")
    choice = client.get(link + "/authenticator").get_data(as_text=True)  # both ways on the one page
    assert f'href="{link}/passkey"' in choice and 'id="typed-key"' in choice
    assert ">Or use a passkey or security key</h2>" in choice  # found by moving through the headings
    key = SoftAuthenticator()
    html = client.get(link + "/passkey").get_data(as_text=True)
    response = client.post(link + "/passkey", data={"csrf_token": csrf_from(html), "name": "My laptop",
                                                    "credential": key.create(options_in(html))})
    assert response.status_code == 200 and "Save your recovery codes" in response.get_data(as_text=True)
    assert client.get("/account").status_code == 200
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "kim@example.org"))
        assert user.enrolled_at is not None and user.totp_secret is None
        user_id = user.id
    assert [p.name for p in _passkeys(app, user_id)] == ["My laptop"]
    assert client.get(link + "/passkey").status_code == 404  # the link is used
    # Next time: the password, then the passkey (there is no app to ask for).
    sign_out(client)
    password_step(client, "kim@example.org", GOOD_PASSWORD)
    assert "Enter a recovery code" in client.get("/sign-in/passkey/key").get_data(as_text=True)
    assert passkey_step(client, key).status_code == 302


def test_enrolment_refuses_a_wrong_answer_and_changes_nothing(app, admin_client, client):
    admin, _ = admin_client
    link = invite(app, admin, "lou@example.org")
    submit(client, link, {"password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD})
    html = client.get(link + "/passkey").get_data(as_text=True)
    answer = SoftAuthenticator().create(options_in(html), origin="https://evil.example")
    response = client.post(link + "/passkey", data={"csrf_token": csrf_from(html), "name": "Key",
                                                    "credential": answer})
    assert response.status_code == 400 and "could not be used" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "lou@example.org")).enrolled_at is None
    assert "passkey.add_failed" in _actions(app)


def test_removing_needs_the_password_and_a_second_factor_and_ends_other_sessions(app, make_user, client):
    person, key = person_with_key(app, make_user, client)
    sign_in_with_code(app, client, person)
    other = app.test_client()
    sign_in_with_code(app, other, person)
    [stored] = _passkeys(app, person.id)
    path = f"/account/passkeys/{stored.id}/remove"
    response = submit(client, path, {"password": "not my password at all", "code": fresh_code(app, person)})
    assert response.status_code == 400 and len(_passkeys(app, person.id)) == 1
    # The passkey itself as the second factor.
    html = client.get(path).get_data(as_text=True)
    response = client.post(path, data={"csrf_token": csrf_from(html), "password": person.password, "code": "",
                                       "credential": key.get(options_in(html))})
    assert response.status_code == 302 and _passkeys(app, person.id) == []
    assert other.get("/account").status_code == 302 and client.get("/account").status_code == 200
    assert "passkey.removed" in _actions(app, person.id)
    assert outbox(app)[-1].subject == "A passkey was removed from your moderation portal account"


def test_another_persons_passkey_cannot_be_removed(app, make_user, client):
    person_with_key(app, make_user, client)
    intruder = make_user()
    sign_in(app, client, intruder)
    with app.app_context():
        passkey_id = db.session.scalar(select(Passkey.id))
    assert client.get(f"/account/passkeys/{passkey_id}/remove").status_code == 404
    response = client.post(f"/account/passkeys/{passkey_id}/remove", data={"password": intruder.password})
    assert response.status_code in (400, 404)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Passkey)) == 1


def test_the_last_way_to_sign_in_cannot_be_removed(app, admin_client, client):
    admin, _ = admin_client
    link = invite(app, admin, "max@example.org")
    submit(client, link, {"password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD})
    html = client.get(link + "/passkey").get_data(as_text=True)
    key = SoftAuthenticator()
    response = client.post(link + "/passkey", data={"csrf_token": csrf_from(html), "name": "Only key",
                                                    "credential": key.create(options_in(html))})
    codes = response.get_data(as_text=True)
    with app.app_context():
        passkey_id = db.session.scalar(select(Passkey.id))
    path = f"/account/passkeys/{passkey_id}/remove"
    page = client.get(path).get_data(as_text=True)
    assert "You cannot remove this passkey" in page and 'name="password"' not in page
    recovery = codes.split("<li>")[1].split("</li>")[0]
    response = client.post(path, data={"csrf_token": csrf_from(page), "password": GOOD_PASSWORD, "code": recovery})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Passkey)) == 1


def test_the_leads_reset_removes_passkeys(app, admin_client, make_user, client):
    person, key = person_with_key(app, make_user, client)
    admin, _ = admin_client
    response = submit(admin, f"/admin/people/{person.id}/reset-2fa", {})
    assert response.status_code in (200, 302), response.status_code
    assert _passkeys(app, person.id) == []
    assert passkey_step(client, key, path="/sign-in/passkey").status_code == 400
    assert client.get("/account").status_code == 302


def test_after_the_leads_reset_a_person_can_set_up_a_passkey_instead_of_an_app(app, admin_client, make_user,
                                                                                   client):
    from conftest import link_in_last_email
    from helpers_auth import PENDING

    person = make_user()
    admin, _ = admin_client
    submit(admin, f"/admin/people/{person.id}/reset-2fa", {})
    link = link_in_last_email(app, person.email)
    scan = submit(client, link, {"password": person.password})
    html = scan.get_data(as_text=True)
    assert "Set up a passkey or security key instead" in html
    pending = PENDING.search(html).group(1)
    # A forged set-up (the password step skipped) goes back to the password step.
    forged = client.post(f"{link}/reset-passkey", data={"csrf_token": csrf_from(html), "pending": "forged",
                                                        "start": "1"})
    assert forged.status_code == 302 and forged.headers["Location"] == link
    page = client.post(f"{link}/reset-passkey", data={"csrf_token": csrf_from(html), "pending": pending,
                                                      "start": "1"})
    assert page.status_code == 200 and "govuk-error-summary" not in page.get_data(as_text=True)
    page_html = page.get_data(as_text=True)
    answer = SoftAuthenticator().create(options_in(page_html))
    done = client.post(f"{link}/reset-passkey", data={"csrf_token": csrf_from(page_html), "pending": pending,
                                                      "name": "New key", "credential": answer})
    assert done.status_code == 200 and "Save your recovery codes" in done.get_data(as_text=True)
    assert client.get("/account").status_code == 200
    assert [p.name for p in _passkeys(app, person.id)] == ["New key"]
    with app.app_context():
        assert db.session.get(User, person.id).totp_secret is None
    assert client.post(f"{link}/reset-passkey", data={"csrf_token": csrf_from(page_html), "pending": pending,
                                                      "start": "1"}).status_code == 404  # the link is used


def test_a_passkey_name_is_shown_as_text_never_as_markup(app, make_user, client):
    person = make_user()
    sign_in(app, client, person)
    name = '<img src=x onerror="alert(1)">'
    assert add_passkey(app, client, person, SoftAuthenticator(), name=name).status_code == 302
    page = client.get("/account").get_data(as_text=True)
    assert "<img src=x" not in page and "&lt;img src=x onerror=" in page
