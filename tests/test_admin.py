"""The ASYE Lead's administration of people and organisations, over HTTP."""

import re
from collections.abc import Callable

from conftest import Person, csrf_from, link_in_last_email, outbox, sign_in, submit
from flask import Flask
from flask.testing import FlaskClient
from helpers_auth import SIGN_IN_FAILED, reset_setup
from helpers_queries import count_queries
from helpers_security import snapshot
from sqlalchemy import func, select, update
from sqlalchemy.orm import undefer

from portal import clock
from portal.extensions import db
from portal.models import (
    AccountLink,
    AuditEvent,
    Organisation,
    OutboxMessage,
    RecoveryCode,
    Role,
    User,
    UserSession,
)
from portal.security import totp


def _events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _sessions(app: Flask, person: Person) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(UserSession).where(
            UserSession.user_id == person.id)) or 0


def _user(app: Flask, person: Person) -> User:
    with app.app_context():
        user = db.session.get(User, person.id, options=[undefer(User.totp_secret)])
        db.session.expunge(user)
        return user


def _names_listed(html: str, *people: Person) -> list[str]:
    return [p.name for p in people if p.name in html]


def test_people_list_searches_by_name_email_role_and_status(
        app: Flask, admin_client: tuple[FlaskClient, Person], make_user: Callable[..., Person]) -> None:
    browser, _ = admin_client
    ann = make_user(Role.MEMBER, name="Ann Arbour", email="ann.arbour@uni.example")
    ben = make_user(Role.ASSESSOR, name="Ben Birch", email="ben@council.example")
    cat = make_user(Role.NQSW, name="Cat 100% Cedar", email="cat@council.example", active=False)
    everyone = (ann, ben, cat)
    assert _names_listed(browser.get("/admin/people").get_data(as_text=True), *everyone) == [p.name for p in everyone]
    assert _names_listed(browser.get("/admin/people?q=arbour").get_data(as_text=True), *everyone) == [ann.name]
    assert _names_listed(browser.get("/admin/people?q=COUNCIL.example").get_data(as_text=True),
                         *everyone) == [ben.name, cat.name]
    assert _names_listed(browser.get("/admin/people?role=assessor").get_data(as_text=True), *everyone) == [ben.name]
    assert _names_listed(browser.get("/admin/people?status=deactivated").get_data(as_text=True),
                         *everyone) == [cat.name]
    assert _names_listed(browser.get("/admin/people?status=active").get_data(as_text=True),
                         *everyone) == [ann.name, ben.name]
    # A typed % is a character to find, not a wildcard that matches everyone.
    assert _names_listed(browser.get("/admin/people?q=%25").get_data(as_text=True), *everyone) == [cat.name]
    assert _names_listed(browser.get("/admin/people?q=_").get_data(as_text=True), *everyone) == []
    page = browser.get("/admin/people?q=nobody-like-this")
    assert page.status_code == 200 and "No people match your search" in page.get_data(as_text=True)


def test_pending_invitations_show_their_expiry_and_can_be_resent(
        app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    browser, _ = admin_client
    submit(browser, "/admin/people/invite", {"name": "Ravi Resend", "email": "ravi@example.org", "role": "assessor",
                                              "organisation": "0"})
    first_link = link_in_last_email(app, "ravi@example.org")
    page = browser.get("/admin/people").get_data(as_text=True)
    assert "ravi@example.org" in page and "Expires" in page
    with app.app_context():
        link_id = db.session.scalar(select(AccountLink.id).where(AccountLink.email == "ravi@example.org"))
    response = browser.post(f"/admin/invitations/{link_id}/resend", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    second_link = link_in_last_email(app, "ravi@example.org")
    assert second_link != first_link
    assert len([m for m in outbox(app) if m.recipient == "ravi@example.org"]) == 2
    assert app.test_client().get(first_link).status_code == 404  # the old link no longer works
    assert app.test_client().get(second_link).status_code == 200
    assert len(_events(app, "invitation.resent")) == 1
    # The replaced link cannot be resent again.
    assert browser.post(f"/admin/invitations/{link_id}/resend", data={"csrf_token": csrf_from(page)}
                        ).status_code == 404
    clock.advance(__import__("datetime").timedelta(hours=73))
    fresh = app.test_client()
    sign_in(app, fresh, _admin_person(app))
    assert "Expired" in fresh.get("/admin/people").get_data(as_text=True)


def _admin_person(app: Flask) -> Person:
    from conftest import PASSWORD

    with app.app_context():
        user = db.session.scalar(select(User).where(User.role == Role.ADMIN.value))
        return Person(user.id, user.email, user.name, user.role, PASSWORD, user.totp_secret)


def test_deactivate_needs_confirmation_ends_sessions_and_is_audited(
        app: Flask, admin_client: tuple[FlaskClient, Person], signed_in: Callable[..., tuple[FlaskClient, Person]]
) -> None:
    browser, admin = admin_client
    member_browser, member = signed_in(Role.MEMBER)
    assert _sessions(app, member) == 1
    page = browser.get(f"/admin/people/{member.id}/deactivate")
    assert page.status_code == 200
    assert f"Deactivate {member.name}?" in page.get_data(as_text=True)
    assert _user(app, member).active  # the GET only asked
    response = browser.post(f"/admin/people/{member.id}/deactivate",
                            data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302
    assert not _user(app, member).active
    assert _sessions(app, member) == 0
    assert member_browser.get("/dashboard").status_code == 302  # signed out at once
    refused = submit(app.test_client(), "/sign-in", {"email": member.email, "password": member.password})
    assert refused.status_code == 400
    [event] = _events(app, "person.deactivated")
    assert event.actor_id == admin.id and event.target == f"user:{member.id}"
    assert "Deactivated" in browser.get(f"/admin/people/{member.id}").get_data(as_text=True)

    response = submit(browser, f"/admin/people/{member.id}/reactivate", {})
    assert response.status_code == 302 and _user(app, member).active
    assert len(_events(app, "person.reactivated")) == 1
    sign_in(app, app.test_client(), member)


def test_the_administrator_cannot_deactivate_or_reset_themselves(
        app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    browser, admin = admin_client
    before = snapshot(app)
    for action in ("deactivate", "reset-2fa"):
        response = submit(browser, f"/admin/people/{admin.id}/{action}", {})
        assert response.status_code == 302
        assert "You cannot do that to your own account" in browser.get(response.headers["Location"]).get_data(
            as_text=True)
    response = submit(browser, f"/admin/people/{admin.id}/role", {"role": "member"}, page=f"/admin/people/{admin.id}")
    assert response.status_code == 400 and "You cannot change your own role" in response.get_data(as_text=True)
    assert snapshot(app) == before
    assert browser.get("/admin/people").status_code == 200


def test_reset_two_factor_blocks_sign_in_until_re_enrolment_through_the_emailed_link(
        app: Flask, admin_client: tuple[FlaskClient, Person], signed_in: Callable[..., tuple[FlaskClient, Person]]
) -> None:
    browser, admin = admin_client
    lost_phone, person = signed_in(Role.OBSERVER)
    with app.app_context():
        db.session.add(RecoveryCode(user_id=person.id, key_id="k1", code_hash="0" * 64))
        db.session.commit()
    page = browser.get(f"/admin/people/{person.id}/reset-2fa")
    assert page.status_code == 200 and _user(app, person).enrolled_at is not None
    response = browser.post(f"/admin/people/{person.id}/reset-2fa",
                            data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302
    assert lost_phone.get("/dashboard").status_code == 302
    assert _sessions(app, person) == 0
    user = _user(app, person)
    assert user.totp_secret is None and user.enrolled_at is None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(RecoveryCode)) == 0
    [event] = _events(app, "2fa.reset_by_admin")
    assert event.actor_id == admin.id and event.target == f"user:{person.id}"
    # The old password alone, or with the old authenticator, no longer signs in.
    refused = submit(app.test_client(), "/sign-in", {"email": person.email, "password": person.password})
    assert refused.status_code == 400 and SIGN_IN_FAILED in refused.get_data(as_text=True)
    # The emailed link sets it up again, with no personal data in the email.
    [message] = [m for m in outbox(app) if m.recipient == person.email]
    assert person.name not in message.body
    path = link_in_last_email(app, person.email)
    newcomer = app.test_client()
    page = newcomer.get(path).get_data(as_text=True)
    assert "You keep your\n  password" in page or "You keep your password" in page
    assert "Create a password" not in page and 'name="confirm"' not in page
    before = _user(app, person).password_hash
    secret, _ = reset_setup(app, newcomer, path, person.password)
    assert newcomer.get("/dashboard").status_code == 200
    assert secret != person.secret and _user(app, person).password_hash == before
    renewed = Person(person.id, person.email, person.name, person.role, person.password, secret)
    clock.advance(__import__("datetime").timedelta(seconds=31))
    sign_in(app, app.test_client(), renewed)
    assert app.test_client().get(path).status_code == 404  # the link worked once


def test_a_reset_for_someone_who_also_forgot_their_password_lets_them_choose_a_new_one(
        app: Flask, admin_client: tuple[FlaskClient, Person], make_user: Callable[..., Person]) -> None:
    browser, _ = admin_client
    person = make_user(Role.MEMBER)
    page = browser.get(f"/admin/people/{person.id}/reset-2fa").get_data(as_text=True)
    assert "They have also forgotten their password" in page
    response = browser.post(f"/admin/people/{person.id}/reset-2fa",
                            data={"csrf_token": csrf_from(page), "forgot_password": "y"}, follow_redirects=True)
    assert "choose a new password and set up a new authenticator app" in response.get_data(as_text=True)
    [event] = _events(app, "2fa.reset_by_admin")
    assert '"new_password":true' in event.details
    [message] = [m for m in outbox(app) if m.recipient == person.email]
    assert "You will choose a new password" in message.body and "You keep your password" not in message.body
    path = link_in_last_email(app, person.email)
    newcomer = app.test_client()
    page = newcomer.get(path).get_data(as_text=True)
    assert "Choose a new password" in page and "Your ASYE Lead has reset how you sign in" in page
    new_password = "quiet orchard lantern 2026"
    assert submit(newcomer, path, {"password": new_password, "confirm": new_password}).status_code == 302
    with app.app_context():
        secret = db.session.get(User, person.id).totp_secret
    assert submit(newcomer, f"{path}/authenticator", {"code": totp.code_at(secret, clock.now())}).status_code == 200
    assert newcomer.get("/dashboard").status_code == 200
    clock.advance(__import__("datetime").timedelta(seconds=31))
    sign_in(app, app.test_client(), Person(person.id, person.email, person.name, person.role, new_password, secret))
    # Without the tick, the reset keeps the password (the default).
    other = make_user(Role.MEMBER)
    submit(browser, f"/admin/people/{other.id}/reset-2fa", {})
    assert "You keep your password" in [m for m in outbox(app) if m.recipient == other.email][-1].body
    assert '"new_password":false' in _events(app, "2fa.reset_by_admin")[-1].details


def test_change_role_is_audited_as_a_permission_change_and_takes_effect_at_once(
        app: Flask, admin_client: tuple[FlaskClient, Person], signed_in: Callable[..., tuple[FlaskClient, Person]]
) -> None:
    browser, admin = admin_client
    old_browser, person = signed_in(Role.MEMBER)
    response = submit(browser, f"/admin/people/{person.id}/role", {"role": "admin"}, page=f"/admin/people/{person.id}")
    assert response.status_code == 302
    assert _user(app, person).role == "admin"
    [event] = _events(app, "permission.role_changed")
    assert event.actor_id == admin.id and '"before":"member"' in event.details and '"after":"admin"' in event.details
    assert old_browser.get("/admin/people").status_code == 302  # the old session ended: sign in again
    promoted = app.test_client()
    sign_in(app, promoted, person)
    assert promoted.get("/admin/people").status_code == 200


def test_bad_input_changes_nothing(app: Flask, admin_client: tuple[FlaskClient, Person],
                                   make_user: Callable[..., Person]) -> None:
    browser, _ = admin_client
    person = make_user(Role.MEMBER)
    before = snapshot(app)
    cases = [
        (f"/admin/people/{person.id}/role", {"role": "superuser"}, f"/admin/people/{person.id}"),
        (f"/admin/people/{person.id}/role", {}, f"/admin/people/{person.id}"),
        ("/admin/people/invite", {"name": "", "email": "x@example.org", "role": "member", "organisation": "0"}, None),
        ("/admin/people/invite", {"name": "X", "email": "not-an-email", "role": "member", "organisation": "0"}, None),
        ("/admin/people/invite", {"name": "X", "email": "x@example.org", "role": "emperor", "organisation": "0"},
         None),
        ("/admin/people/invite", {"name": "X", "email": "x@example.org", "role": "member", "organisation": "999"},
         None),
        ("/admin/people/invite", {"name": "Y" * 201, "email": "y@example.org", "role": "member",
                                  "organisation": "0"}, None),
        ("/admin/people/invite", {"name": "Dup", "email": person.email.upper(), "role": "member",
                                  "organisation": "0"}, None),
        ("/admin/organisations", {"name": "", "kind": "employer"}, None),
        ("/admin/organisations", {"name": "Somewhere", "kind": "castle"}, None),
    ]
    for path, data, page in cases:
        response = submit(browser, path, data, page=page)
        assert response.status_code == 400, (path, data, response.status_code)
        assert "govuk-error-summary" in response.get_data(as_text=True), (path, data)
    assert snapshot(app) == before
    assert outbox(app) == []


def test_add_organisation_and_refuse_a_duplicate(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    browser, _ = admin_client
    response = submit(browser, "/admin/organisations", {"name": "  Riverside Carers Forum ", "kind": "community"})
    assert response.status_code == 302
    assert "Riverside Carers Forum" in browser.get("/admin/organisations").get_data(as_text=True)
    assert len(_events(app, "organisation.added")) == 1
    before = snapshot(app)
    response = submit(browser, "/admin/organisations", {"name": "riverside carers forum", "kind": "employer"})
    assert response.status_code == 400
    assert "An organisation with this name already exists" in response.get_data(as_text=True)
    assert snapshot(app) == before
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Organisation)) == 1


def test_invitation_sends_one_email_and_records_the_organisation(
        app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    browser, admin = admin_client
    submit(browser, "/admin/organisations", {"name": "Eastfield Council", "kind": "employer"})
    with app.app_context():
        org_id = db.session.scalar(select(Organisation.id))
    response = submit(browser, "/admin/people/invite", {"name": "Gus Guest", "email": "Gus@Example.org",
                                                         "role": "assessor", "organisation": str(org_id)})
    assert response.status_code == 302
    with app.app_context():
        link = db.session.scalar(select(AccountLink).where(AccountLink.email == "gus@example.org"))
        assert link.organisation_id == org_id and link.role == "assessor" and link.created_by_id == admin.id
    assert [m.recipient for m in outbox(app)] == ["gus@example.org"]
    assert len(_events(app, "invitation.sent")) == 1


def test_deactivation_cannot_be_undone_through_an_emailed_link(
        app: Flask, admin_client: tuple[FlaskClient, Person], make_user: Callable[..., Person]) -> None:
    browser, _ = admin_client
    person = make_user(Role.MEMBER)
    submit(browser, f"/admin/people/{person.id}/reset-2fa", {})
    reset_link = link_in_last_email(app, person.email)
    submit(browser, f"/admin/people/{person.id}/deactivate", {})
    response = app.test_client().get(reset_link)
    assert response.status_code == 404  # the reset link was revoked with the deactivation
    before = snapshot(app)
    response = submit(browser, f"/admin/people/{person.id}/reset-2fa", {})
    assert response.status_code == 302
    assert "Reactivate them first" in browser.get(response.headers["Location"]).get_data(as_text=True)
    assert snapshot(app) == before
    assert not _user(app, person).active


def test_a_person_page_shows_their_pending_set_up_link_and_sends_a_new_one(
        app: Flask, admin_client: tuple[FlaskClient, Person], make_user: Callable[..., Person]) -> None:
    browser, _ = admin_client
    person = make_user(Role.ASSESSOR)
    assert "Set-up link" not in browser.get(f"/admin/people/{person.id}").get_data(as_text=True)
    submit(browser, f"/admin/people/{person.id}/reset-2fa", {})
    first = link_in_last_email(app, person.email)
    page = browser.get(f"/admin/people/{person.id}").get_data(as_text=True)
    assert "Set-up link" in page and "It expires on" in page
    with app.app_context():
        link_id = db.session.scalar(select(AccountLink.id).where(AccountLink.user_id == person.id,
                                                                 AccountLink.revoked_at.is_(None)))
    response = browser.post(f"/admin/invitations/{link_id}/resend", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    second = link_in_last_email(app, person.email)
    assert second != first
    assert app.test_client().get(first).status_code == 404
    assert app.test_client().get(second).status_code == 200


def test_resending_an_invitation_is_limited_to_three_links_an_hour(
        app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    browser, _ = admin_client
    email = "rita@example.org"
    submit(browser, "/admin/people/invite", {"name": "Rita Resend", "email": email, "role": "member",
                                              "organisation": "0"})

    def resend():
        page = browser.get("/admin/people").get_data(as_text=True)
        with app.app_context():
            link_id = db.session.scalar(select(AccountLink.id).where(AccountLink.email == email,
                                                                     AccountLink.revoked_at.is_(None)))
        return browser.post(f"/admin/invitations/{link_id}/resend", data={"csrf_token": csrf_from(page)},
                            follow_redirects=True)

    for _ in range(2):
        clock.advance(__import__("datetime").timedelta(minutes=5))
        assert "A new link has been sent" in resend().get_data(as_text=True)
    last_link = link_in_last_email(app, email)
    refused = resend()
    page = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "You cannot send rita@example.org another link yet" in page
    allowed_at = clock.format_datetime(clock.now() - __import__("datetime").timedelta(minutes=10)
                                       + __import__("datetime").timedelta(hours=1))
    assert f"You can send another after {allowed_at}" in page
    before = page.split("You cannot send")[0]
    banner = before[before.rindex('class="govuk-notification-banner'):]
    assert "govuk-notification-banner--success" not in banner, "a refusal is not shown as a success"
    assert len([m for m in outbox(app) if m.recipient == email]) == 3
    assert app.test_client().get(last_link).status_code == 200, "the refused resend changes nothing"
    assert len(_events(app, "invitation.resend_limited")) == 1
    # An hour after the first link, one more may go.
    for _ in range(2):  # in two steps, so the Lead's session does not time out
        clock.advance(__import__("datetime").timedelta(minutes=25, seconds=30))
        assert browser.get("/dashboard").status_code == 200
    assert "A new link has been sent" in resend().get_data(as_text=True)
    assert len([m for m in outbox(app) if m.recipient == email]) == 4


def test_admin_pages_use_a_bounded_number_of_queries(
        app: Flask, admin_client: tuple[FlaskClient, Person],
        signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    client, _ = admin_client
    watched: list[Person] = []

    def grow(first: int, last: int) -> None:
        """People of their own organisations who each sign in (audited as themselves), and invitations."""
        for n in range(first, last):
            assert submit(client, "/admin/organisations", {"name": f"Org {n}", "kind": "employer"}).status_code == 302
            with app.app_context():
                org = db.session.scalar(select(Organisation.id).where(Organisation.name == f"Org {n}"))
            _, person = signed_in(Role.MEMBER)
            watched.append(person)
            with app.app_context():
                db.session.get(User, person.id).organisation_id = org
                db.session.commit()
            assert submit(client, "/admin/people/invite", {"name": f"Invitee {n}", "email": f"invitee{n}@example.org",
                                                          "role": "member", "organisation": str(org)}
                          ).status_code == 302
            assert submit(client, f"/admin/people/{watched[0].id}/role", {"role": "observer"},
                          page=f"/admin/people/{watched[0].id}").status_code in (200, 302)
        with app.app_context():  # every email so far failed once, so the emails page lists them all
            db.session.execute(update(OutboxMessage).values(attempts=1))
            db.session.commit()

    grow(1, 3)
    paths = ("/admin/people", "/admin/audit", f"/admin/people/{watched[0].id}", "/admin/emails",
             "/admin/organisations")
    small = [count_queries(app, client, path) for path in paths]
    grow(3, 12)
    assert client.get("/admin/audit").get_data(as_text=True).count("govuk-table__row") >= 10
    assert [count_queries(app, client, path) for path in paths] == small


def test_people_are_listed_a_page_at_a_time_and_never_cut(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    with app.app_context():
        db.session.add_all(User(name=f"Paged Person {n:03d}", email=f"paged{n:03d}@example.org",
                                role=Role.MEMBER.value, active=True, created_at=clock.now()) for n in range(120))
        db.session.commit()
    first = client.get("/admin/people?q=paged").get_data(as_text=True)
    assert "120 people, showing 1 to 50" in first
    assert 'aria-label="Pages of people"' in first and "page=3" in first
    names: list[str] = []
    for page in (1, 2, 3):
        body = client.get(f"/admin/people?q=paged&page={page}").get_data(as_text=True)
        names += re.findall(r">Paged Person (\d{3})<", body)
    assert names == [f"{n:03d}" for n in range(120)]  # by name, each once, none cut
    last = client.get("/admin/people?q=paged&page=3").get_data(as_text=True)
    assert "120 people, showing 101 to 120" in last and 'rel="next"' not in last
    beyond = client.get("/admin/people?q=paged&page=99").get_data(as_text=True)  # past the end: the last page
    assert "showing 101 to 120" in beyond
    assert "invitee" not in client.get("/admin/people?q=paged&role=member&page=2").get_data(as_text=True).lower()
