"""Encrypted fields are bound to their rows: a ciphertext copied or swapped to another row is refused there.

The attacker here can write to the database but does not hold the keyring (DESIGN section 5): each attack swaps
stored values with plain SQL, then uses the portal over HTTP as its people would.
"""

from collections.abc import Callable

import pytest
from conftest import Person, fresh_code, sign_in, submit
from factories import make_panel, make_portfolio
from flask import Flask
from flask.testing import FlaskClient
from helpers_documents import upload
from helpers_keys import swap
from helpers_reviews import base, complete
from sqlalchemy import select, text

from portal.extensions import db
from portal.models import Assessment, AuditEvent, Document, Role
from portal.security import crypto
from portal.security.crypto import FieldIntegrityError, Keyring

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PAGE = "Some information cannot be shown"


def integrity_events(app: Flask) -> list[tuple[str, str]]:
    """(target, column) of every integrity failure in the audit trail."""
    import json

    with app.app_context():
        return [(e.target, json.loads(e.details)["column"]) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "integrity.failure").order_by(AuditEvent.seq))]


def assert_integrity_page(response) -> None:
    html = response.get_data(as_text=True)
    assert response.status_code == 500, html
    assert PAGE in html and "failed its integrity check" in html
    assert "Traceback" not in html and "FieldIntegrityError" not in html


# The authenticator secret ---------------------------------------------------------------------------------


def test_swapped_authenticator_secrets_let_neither_person_sign_in(
        app: Flask, client: FlaskClient, make_user: Callable[..., Person]) -> None:
    lead, member = make_user(Role.ADMIN), make_user(Role.MEMBER)
    swap(app, "users", "totp_secret", lead.id, member.id)  # the member's seed on the Lead's row, and back

    for person, other in ((lead, member), (member, lead)):
        for codes_of in (person, other):  # their own authenticator, and the one whose seed they now hold
            browser = app.test_client()
            assert submit(browser, "/sign-in", {"email": person.email, "password": person.password}
                          ).status_code == 302
            response = submit(browser, "/sign-in/code", {"code": fresh_code(app, codes_of)})
            assert_integrity_page(response)
            assert browser.get("/dashboard").status_code == 302  # not signed in

    events = integrity_events(app)
    assert events and set(events) == {(f"users:{lead.id}", "users.totp_secret"),
                                      (f"users:{member.id}", "users.totp_secret")}
    assert len(events) == 4  # every attempt recorded


def test_the_lead_sees_the_integrity_failure_in_the_audit_trail(
        app: Flask, make_user: Callable[..., Person], admin_client: tuple[FlaskClient, Person]) -> None:
    browser, _ = admin_client
    one, two = make_user(Role.MEMBER), make_user(Role.MEMBER)
    swap(app, "users", "totp_secret", one.id, two.id)
    victim = app.test_client()
    submit(victim, "/sign-in", {"email": one.email, "password": one.password})
    assert_integrity_page(submit(victim, "/sign-in/code", {"code": fresh_code(app, one)}))

    page = browser.get("/admin/audit?action=integrity.failure").get_data(as_text=True)

    assert f"users:{one.id}" in page and "users.totp_secret" in page


def test_the_lead_can_reset_two_factor_sign_in_over_a_swapped_secret(
        app: Flask, make_user: Callable[..., Person], admin_client: tuple[FlaskClient, Person]) -> None:
    browser, _ = admin_client
    one, two = make_user(Role.MEMBER), make_user(Role.MEMBER)
    swap(app, "users", "totp_secret", one.id, two.id)

    response = submit(browser, f"/admin/people/{one.id}/reset-2fa", {})

    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(text("SELECT totp_secret FROM users WHERE id = :id"), {"id": one.id}
                                  ).scalar() is None  # the broken value is gone; a set-up link was emailed
    assert integrity_events(app) == []  # clearing it did not need to read it


def test_a_secret_left_in_place_still_works_beside_a_swapped_one(
        app: Flask, client: FlaskClient, make_user: Callable[..., Person]) -> None:
    one, two, untouched = make_user(), make_user(), make_user()
    swap(app, "users", "totp_secret", one.id, two.id)
    sign_in(app, client, untouched)
    assert client.get("/dashboard").status_code == 200
    assert integrity_events(app) == []


# Document titles --------------------------------------------------------------------------------------------


def test_swapped_document_titles_are_refused(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    browser, _ = admin_client
    portfolio = make_portfolio(app)
    assert upload(browser, portfolio, [("a.pdf", PDF, "pdp")], title="Jo's final report").status_code == 302
    assert upload(browser, portfolio, [("b.pdf", PDF, "pdp")], title="Supervision notes").status_code == 302
    with app.app_context():
        first, second = db.session.scalars(select(Document.id).order_by(Document.id))
    listing = f"/portfolios/{portfolio}/documents"
    assert "Jo&#39;s final report" in browser.get(listing).get_data(as_text=True)

    swap(app, "documents", "title", first, second)

    assert_integrity_page(browser.get(listing))
    assert_integrity_page(browser.get(f"{listing}/{second}"))
    assert (f"documents:{first}", "documents.title") in integrity_events(app) or (
        f"documents:{second}", "documents.title") in integrity_events(app)
    assert {target for target, _ in integrity_events(app)} <= {f"documents:{first}", f"documents:{second}"}


# Assessment answers -----------------------------------------------------------------------------------------


def test_swapped_assessment_answers_are_refused(app: Flask,
                                                signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    one_client, one = signed_in(Role.MEMBER)
    two_client, two = signed_in(Role.MEMBER)
    panel = make_panel(app, [(one.id, "chair"), (two.id, "member")])
    portfolio = panel.portfolio_ids[0]
    complete(one_client, panel, portfolio, submit_it=False, text="One's own view")
    complete(two_client, panel, portfolio, submit_it=False, text="Two's own view")
    with app.app_context():
        ids = dict(db.session.execute(select(Assessment.user_id, Assessment.id)).all())
    assert "One&#39;s own view" in one_client.get(f"{base(panel, portfolio)}/check").get_data(as_text=True)

    swap(app, "assessments", "answers", ids[one.id], ids[two.id])

    for client, person in ((one_client, one), (two_client, two)):
        assert_integrity_page(client.get(f"{base(panel, portfolio)}/check"))
        assert (f"assessments:{ids[person.id]}", "assessments.answers") in integrity_events(app)
    assert one_client.get("/dashboard").status_code == 200  # the rest of the portal still works for them


# The ciphertext format itself --------------------------------------------------------------------------------


def test_a_row_bound_value_decrypts_only_for_its_column_and_row() -> None:
    keyring = Keyring.generate()
    sealed = keyring.encrypt_row_field("users.totp_secret", 7, "SECRET")
    assert sealed.startswith("f2.k1.")
    assert keyring.decrypt_row_field("users.totp_secret", 7, sealed) == "SECRET"
    assert keyring.decrypt_row_field("users.totp_secret", "7", sealed) == "SECRET"  # as SQL reads the id
    for column, row in (("users.totp_secret", 8), ("users.totp_secret", 70), ("documents.title", 7)):
        with pytest.raises(FieldIntegrityError) as refused:
            keyring.decrypt_row_field(column, row, sealed)
        assert refused.value.column == column and refused.value.row == str(row)
    old_format = keyring.encrypt_field("users.totp_secret", "SECRET")
    with pytest.raises(FieldIntegrityError, match="before migration 0006"):
        keyring.decrypt_row_field("users.totp_secret", 7, old_format)
    with pytest.raises(crypto.DecryptionError):
        keyring.decrypt_field("users.totp_secret", sealed)  # and a row-bound value is no f1 value
    with pytest.raises(crypto.KeyringError):
        Keyring.generate().with_new_key().without("k1").decrypt_row_field("users.totp_secret", 7, sealed)


def test_an_encrypted_column_is_never_written_without_its_row(app: Flask) -> None:
    from sqlalchemy import update
    from sqlalchemy.exc import StatementError

    with app.app_context(), pytest.raises(StatementError, match="bound to its row"):
        db.session.execute(update(Document).values(title="no row to bind to"))
