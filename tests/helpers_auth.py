"""Helpers for the sign-in tests: time steps, sign-in steps over HTTP, invitations and enrolment, and signed-in
clients of particular people (an employer Lead)."""

import re
import threading
from collections.abc import Callable
from datetime import timedelta

from conftest import Person, csrf_from, link_in_last_email, sign_in, submit
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal import clock
from portal.extensions import db
from portal.models import AccountLink, Role, User
from portal.security import totp

GOOD_PASSWORD = "a quiet river under nine bridges"
# The password step's one failure message (unknown email, wrong password, locked or deactivated, throttled).
SIGN_IN_FAILED = "We could not sign you in with that email address and password"
WRONG_CODE = "That security code is not right or has expired"
RECOVERY_CODE = re.compile(r"<li>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{5})</li>")
TYPED_KEY = re.compile(r'id="typed-key">([^<]+)</p>')
PENDING = re.compile(r'name="pending" type="hidden" value="([^"]+)"')


def step_now() -> int:
    """The TOTP time step of the portal's clock."""
    return int(clock.now().timestamp()) // totp.STEP_SECONDS


def align_to_step() -> None:
    """Move the clock to one second into a fresh time step, so a test has ~29 s before the step changes."""
    seconds = clock.now().timestamp() % totp.STEP_SECONDS
    clock.advance(timedelta(seconds=totp.STEP_SECONDS - seconds + 1))


def code_for_step(secret: str, offset_steps: int) -> str:
    """The code an authenticator shows offset_steps away from now."""
    return totp.code_at(secret, clock.now() + timedelta(seconds=totp.STEP_SECONDS * offset_steps))


def wrong_code(secret: str) -> str:
    """A well-formed code that is not valid in any accepted step."""
    near = {code_for_step(secret, k) for k in (-1, 0, 1)}
    return next(c for c in (f"{n:06d}" for n in range(100000, 999999, 7919)) if c not in near)


def password_step(client: FlaskClient, email: str, password: str, path: str = "/sign-in"):
    """Post the email and password form."""
    return submit(client, path, {"email": email, "password": password}, page="/sign-in")


def code_step(client: FlaskClient, code: str, path: str = "/sign-in/code"):
    """Post the security-code form."""
    return submit(client, path, {"code": code}, page="/sign-in/code")


def sign_out(client: FlaskClient):
    """Press the sign-out button (its CSRF token comes from a signed-in page)."""
    html = client.get("/account").get_data(as_text=True)
    return client.post("/sign-out", data={"csrf_token": csrf_from(html)})


def session_cookie_name(client: FlaskClient) -> str:
    """The session cookie's name in the client's app: __Host-portal_session unless in local http development."""
    return "__Host-portal_session" if client.application.config["SESSION_COOKIE_SECURE"] else "portal_session"


def session_token(client: FlaskClient) -> str | None:
    """The session cookie's value, or None."""
    cookie = client.get_cookie(session_cookie_name(client))
    return cookie.value if cookie else None


def set_cookie(client: FlaskClient, token: str) -> None:
    """Give a client a session cookie by hand (as an attacker replaying it would)."""
    client.set_cookie(session_cookie_name(client), token, domain="localhost")


def invite(app: Flask, admin: FlaskClient, email: str, name: str = "Ada Invitee", role: str = "member") -> str:
    """Invite a person through the admin form; return the path of the link in their email."""
    response = submit(admin, "/admin/people/invite", {"name": name, "email": email, "role": role,
                                                     "organisation": "0"})
    assert response.status_code == 302, response.get_data(as_text=True)
    return link_in_last_email(app, email)


def enrol(app: Flask, client: FlaskClient, link: str, password: str = GOOD_PASSWORD,
          extra: dict | None = None) -> tuple[str, list[str]]:
    """Accept a link: choose a password, read the typed key, confirm a code; return (secret, recovery codes)."""
    response = submit(client, link, {"password": password, "confirm": password, **(extra or {})})
    assert response.status_code == 302, response.get_data(as_text=True)
    html = client.get(link + "/authenticator").get_data(as_text=True)
    secret = TYPED_KEY.search(html).group(1).replace(" ", "")
    response = submit(client, link + "/authenticator", {"code": totp.code_at(secret, clock.now())})
    assert response.status_code == 200, response.get_data(as_text=True)
    codes = RECOVERY_CODE.findall(response.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def reset_setup(app: Flask, client: FlaskClient, link: str, password: str) -> tuple[str, list[str]]:
    """Follow the Lead's reset link: the current password, then a code from the new app; (secret, codes)."""
    response = submit(client, link, {"password": password})
    assert response.status_code == 200, response.get_data(as_text=True)
    secret, pending, csrf = scan_page_fields(response.get_data(as_text=True))
    response = client.post(f"{link}/new-authenticator", data={"pending": pending, "csrf_token": csrf,
                                                               "code": totp.code_at(secret, clock.now())})
    assert response.status_code == 200, response.get_data(as_text=True)
    codes = RECOVERY_CODE.findall(response.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def new_recovery_codes(app: Flask, client: FlaskClient, person: Person) -> list[str]:
    """Replace a signed-in person's recovery codes through the account page; return the new ones."""
    from conftest import fresh_code

    response = submit(client, "/account/recovery-codes", {"password": person.password,
                                                         "code": fresh_code(app, person)})
    assert response.status_code == 200, response.get_data(as_text=True)
    codes = RECOVERY_CODE.findall(response.get_data(as_text=True))
    assert len(codes) == 10
    return codes


def start_new_authenticator(client: FlaskClient, password: str, code: str):
    """Enter the password and a current or recovery code on the new-authenticator step; return the response."""
    return submit(client, "/account/authenticator", {"password": password, "code": code})


def scan_page_fields(html: str) -> tuple[str, str, str]:
    """(new secret from the typed key, the sealed pending value, the CSRF token) of the QR page."""
    pending = PENDING.search(html)
    assert pending, "no pending field on the page"
    return TYPED_KEY.search(html).group(1).replace(" ", ""), pending.group(1), csrf_from(html)


def confirm_new_authenticator(client: FlaskClient, pending: str, csrf: str, code: str):
    """Post a code from the new authenticator with the sealed set-up, as the QR page's form does."""
    return client.post("/account/authenticator/confirm", data={"pending": pending, "code": code,
                                                                "csrf_token": csrf})


def lost_phone_sign_in(app: Flask, person: Person) -> tuple[FlaskClient, list[str]]:
    """Give the person new recovery codes, then sign in on a fresh client with one; return it and the rest."""
    from conftest import sign_in

    setup = app.test_client()
    sign_in(app, setup, person)
    codes = new_recovery_codes(app, setup, person)
    sign_out(setup)
    client = app.test_client()
    assert password_step(client, person.email, person.password).status_code == 302
    assert code_step(client, codes[0]).status_code == 302
    return client, codes[1:]


def user_row(app: Flask, email: str) -> User | None:
    """The person's row, read afresh."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        if user is not None:
            db.session.expunge(user)
        return user


def link_row(app: Flask, email: str) -> AccountLink:
    """The newest link sent to an address."""
    with app.app_context():
        link = db.session.scalar(select(AccountLink).where(AccountLink.email == email)
                                 .order_by(AccountLink.id.desc()))
        db.session.expunge(link)
        return link


def run_together(tasks: list[Callable[[], object]]) -> list[object]:
    """Run callables in threads released at the same moment; return their results in order."""
    barrier = threading.Barrier(len(tasks))
    results: list[object] = [None] * len(tasks)

    def runner(index: int) -> None:
        barrier.wait()
        try:
            results[index] = tasks[index]()
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(len(tasks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def lead_of(app: Flask, make_user: Callable[..., Person], employer_id: int, name: str = "") -> tuple[FlaskClient,
                                                                                                    Person]:
    """A signed-in employer Lead of this employer."""
    person = make_user(Role.LEAD, organisation_id=employer_id, **({"name": name} if name else {}))
    client = app.test_client()
    sign_in(app, client, person)
    return client, person
