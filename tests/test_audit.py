"""The audit trail: events for every security action, a verifiable chain, and the administrator's search."""

import csv
import html
import io
import json
import re
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from conftest import PG_URL, Person, fresh_code, link_in_last_email, submit
from flask import Flask
from flask.testing import FlaskClient
from helpers_security import half_signed_in
from sqlalchemy import Connection, func, select, text

from portal import audit, clock
from portal.extensions import db
from portal.models import AuditEvent, Role, User
from portal.ops import jobs
from portal.security import crypto


def _actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def _verify(app: Flask) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    return result.exit_code, result.output + (result.stderr if hasattr(result, "stderr") else "")


def test_security_actions_are_all_recorded(app: Flask, admin_client: tuple[FlaskClient, Person],
                                           make_user: Callable[..., Person]) -> None:
    browser, admin = admin_client
    member = make_user(Role.MEMBER)
    # A failure, then a lockout.
    for _ in range(int(app.config["THROTTLE_ACCOUNT_FAILURES"]) + 1):
        submit(app.test_client(), "/sign-in", {"email": member.email, "password": "not the password at all"})
    # An invitation, a change to a person, a role change and a 2FA reset.
    submit(browser, "/admin/people/invite", {"name": "Nia New", "email": "nia@example.org", "role": "nqsw",
                                              "organisation": "0"})
    submit(browser, f"/admin/people/{member.id}/role", {"role": "observer"}, page=f"/admin/people/{member.id}")
    submit(browser, f"/admin/people/{member.id}/deactivate", {})
    submit(browser, f"/admin/people/{member.id}/reactivate", {})
    submit(browser, f"/admin/people/{member.id}/reset-2fa", {})
    actions = _actions(app)
    for expected in ("sign_in.password_accepted", "sign_in.succeeded", "sign_in.failed", "sign_in.throttled",
                     "invitation.sent", "permission.role_changed", "person.deactivated", "person.reactivated",
                     "2fa.reset_by_admin"):
        assert expected in actions, expected
    with app.app_context():
        failed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sign_in.failed")).all()
        assert {e.target for e in failed} == {f"user:{member.id}"}
        changed = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "permission.role_changed"))
        assert changed.actor_id == admin.id and '"after":"observer"' in changed.details
    assert _verify(app)[0] == 0


def test_a_second_factor_failure_and_enrolment_are_recorded(app: Flask, admin_client: tuple[FlaskClient, Person],
                                                            make_user: Callable[..., Person]) -> None:
    person = make_user(Role.OBSERVER)
    half = half_signed_in(app, person)
    submit(half, "/sign-in/code", {"code": "000000" if fresh_code(app, person) != "000000" else "111111"})
    browser, _ = admin_client
    submit(browser, "/admin/people/invite", {"name": "Eli Enrol", "email": "eli@example.org", "role": "member",
                                              "organisation": "0"})
    path = link_in_last_email(app, "eli@example.org")
    newcomer = app.test_client()
    submit(newcomer, path, {"password": "seven green lanterns drift", "confirm": "seven green lanterns drift"})
    with app.app_context():
        secret = db.session.scalar(select(User.totp_secret).where(User.email == "eli@example.org"))
    from portal.security import totp

    submit(newcomer, f"{path}/authenticator", {"code": totp.code_at(secret, clock.now())})
    actions = _actions(app)
    assert "enrolment.password_set" in actions and "2fa.enrolled" in actions
    with app.app_context():
        code_failure = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "sign_in.failed"))
        assert code_failure is not None and '"step":"code"' in code_failure.details


def _record_events(app: Flask, count: int) -> None:
    with app.app_context():
        for number in range(count):
            audit.record(None, "test.event", f"thing:{number}", note=f"=cmd|' /C calc'!A{number}")
        db.session.commit()


def test_verify_reports_intact_then_the_edited_row(app: Flask) -> None:
    _record_events(app, 6)
    code, output = _verify(app)
    assert code == 0 and "intact" in output and "6 events" in output
    with app.app_context():
        db.session.execute(text("UPDATE audit_events SET details = '{\"note\":\"harmless\"}' WHERE seq = 4"))
        db.session.commit()
    code, output = _verify(app)
    assert code != 0
    assert "event 4" in output and "edited" in output


def test_verify_reports_a_deleted_middle_row(app: Flask) -> None:
    _record_events(app, 6)
    with app.app_context():
        db.session.execute(text("DELETE FROM audit_events WHERE seq = 3"))
        db.session.commit()
    code, output = _verify(app)
    assert code != 0 and "event 3" in output and "deleted" in output


def test_verify_reports_a_deleted_last_row(app: Flask) -> None:
    _record_events(app, 5)
    with app.app_context():
        db.session.execute(text("DELETE FROM audit_events WHERE seq = 5"))
        db.session.commit()
    code, output = _verify(app)
    assert code != 0 and "event 5" in output


def test_verify_reports_a_row_rehashed_without_the_key(app: Flask) -> None:
    _record_events(app, 4)
    with app.app_context():
        # An attacker who edits a row and recomputes a plain SHA-256 cannot forge the keyed hash.
        db.session.execute(text("UPDATE audit_events SET actor_id = NULL, action = 'test.other', "
                                "hash = '" + "ab" * 32 + "' WHERE seq = 2"))
        db.session.commit()
    code, output = _verify(app)
    assert code != 0 and "event 2" in output


@pytest.mark.parametrize("update_returning", [True, False], ids=["update-returning", "update-then-select"])
def test_concurrent_writers_keep_one_unbroken_chain(app: Flask, monkeypatch: pytest.MonkeyPatch,
                                                    update_returning: bool) -> None:
    with app.app_context():  # both ways of advancing the head: returning the row, or an older SQLite without it
        monkeypatch.setattr(db.engine.dialect, "update_returning", update_returning)
    threads = [threading.Thread(target=_record_events, args=(app, 5)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 30
        audit.chain_pending()  # on PostgreSQL the last commits may have left their events to the next appender
        seqs = list(db.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
    assert seqs == list(range(1, 31))
    code, output = _verify(app)
    assert code == 0, output


def test_a_transaction_still_open_after_recording_holds_up_no_other_writer(app: Flask) -> None:
    """The head row is taken only at commit: a request that records an event and then keeps working (as a
    download does while it reads) does not make every other audited request wait for it."""
    recorded, release, errors = threading.Event(), threading.Event(), []

    def slow_writer() -> None:
        try:
            with app.app_context():
                audit.record(None, "test.slow", "thing:slow")
                db.session.execute(select(func.count()).select_from(User))  # more of the request's work
                recorded.set()
                release.wait(30)
                db.session.commit()
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
            recorded.set()

    slow = threading.Thread(target=slow_writer)
    slow.start()
    assert recorded.wait(30)
    quick = threading.Thread(target=_record_events, args=(app, 3))
    quick.start()
    quick.join(10)  # with the head locked at record time this waits until the slow writer commits
    finished_first = not quick.is_alive()
    release.set()
    slow.join(30)
    quick.join(30)
    assert finished_first and not errors
    assert _actions(app) == ["test.event"] * 3 + ["test.slow"]  # chained in commit order
    code, output = _verify(app)
    assert code == 0, output


def test_events_join_the_chain_only_with_their_transaction_in_the_order_recorded(app: Flask) -> None:
    with app.app_context():
        audit.record(None, "test.rolled_back", "thing:0")
        db.session.rollback()
        for number in range(3):
            audit.record(None, f"test.step{number}", f"thing:{number}")
        db.session.commit()
        audit.record(None, "test.failed", "thing:9")
        db.session.execute(text("SELECT 1"))
        db.session.close()  # a request that ends without committing
    assert _actions(app) == ["test.step0", "test.step1", "test.step2"]
    code, output = _verify(app)
    assert code == 0 and "3 events" in output, output


def test_verify_reports_two_events_swapped(app: Flask) -> None:
    _record_events(app, 5)
    with app.app_context():
        for old, new in ((2, -1), (3, 2), (-1, 3)):
            db.session.execute(text("UPDATE audit_events SET seq = :new WHERE seq = :old"), {"old": old, "new": new})
        db.session.commit()
    code, output = _verify(app)
    assert code != 0 and "event 2" in output and "does not follow the previous event" in output


# The administrator's audit page -------------------------------------------------------------------


def test_audit_page_filters_by_person_action_and_date(app: Flask, admin_client: tuple[FlaskClient, Person],
                                                      make_user: Callable[..., Person]) -> None:
    browser, admin = admin_client
    alice = make_user(Role.MEMBER, name="Alice Auditee")
    bob = make_user(Role.MEMBER, name="Bob Bystander")
    submit(app.test_client(), "/sign-in", {"email": alice.email, "password": "wrong password entirely"})
    clock.advance(timedelta(days=3))
    submit(app.test_client(), "/sign-in", {"email": bob.email, "password": "wrong password entirely"})
    browser = _resign(app, browser, admin)

    page = browser.get(f"/admin/audit?person_id={alice.id}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"user:{alice.id}" in body and f"user:{bob.id}" not in body

    page = browser.get("/admin/audit?action=sign_in.failed").get_data(as_text=True)
    assert f"user:{alice.id}" in page and f"user:{bob.id}" in page and ">sign_in.password_accepted</td>" not in page

    today = clock.now()
    query = {"action": "sign_in.failed", "date_from": [str(today.day), str(today.month), str(today.year)]}
    page = browser.get("/admin/audit", query_string=query).get_data(as_text=True)
    assert f"user:{bob.id}" in page and f"user:{alice.id}" not in page
    earlier = today - timedelta(days=1)
    query = {"action": "sign_in.failed", "date_to": [str(earlier.day), str(earlier.month), str(earlier.year)]}
    page = browser.get("/admin/audit", query_string=query).get_data(as_text=True)
    assert f"user:{alice.id}" in page and f"user:{bob.id}" not in page


def _resign(app: Flask, browser: FlaskClient, admin: Person) -> FlaskClient:
    """After moving the clock on, the old session has timed out: sign in again."""
    from conftest import sign_in

    fresh = app.test_client()
    sign_in(app, fresh, admin)
    return fresh


def test_audit_page_refuses_a_bad_date_with_an_error_and_no_crash(admin_client: tuple[FlaskClient, Person]) -> None:
    browser, _ = admin_client
    for query in ("date_from=31&date_from=2&date_from=2026", "date_from=5", "date_from=a&date_from=b&date_from=c"
                  "&date_from=d", "person_id=abc", "person=" + "x" * 101):
        response = browser.get("/admin/audit?" + query)
        assert response.status_code == 400, query
        assert "govuk-error-summary" in response.get_data(as_text=True), query
    assert browser.get("/admin/audit.csv?date_from=5").status_code == 400


def test_csv_export_has_a_header_and_neutralises_formulas(app: Flask,
                                                          admin_client: tuple[FlaskClient, Person]) -> None:
    browser, _ = admin_client
    with app.app_context():
        audit.record(None, "test.formula", "=HYPERLINK(\"http://evil.example\")", note="x")
        audit.record(None, "test.formula", "+SUM(A1:A9)")
        audit.record(None, "test.formula", "@import")
        audit.record(None, "test.formula", "-2+3")
        db.session.commit()
    response = browser.get("/admin/audit.csv?action=test.formula")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["seq", "time_utc", "actor_id", "actor_email", "action", "target", "details", "ip", "hash"]
    targets = [row[5] for row in rows[1:]]
    assert len(targets) == 4
    assert all(t.startswith("'") for t in targets), targets
    assert not any(cell[:1] in "=+-@" for row in rows[1:] for cell in row if cell)
    assert "audit.exported" in _actions(app)  # the export itself is on the record


def test_the_audit_trail_is_404_for_everyone_but_the_administrator(
        signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    for role in (Role.MEMBER, Role.OBSERVER, Role.ASSESSOR, Role.NQSW):
        browser, _ = signed_in(role)
        assert browser.get("/admin/audit").status_code == 404
        assert browser.get("/admin/audit.csv").status_code == 404


def test_unfiltered_audit_page_lists_events_in_table_cells(admin_client: tuple[FlaskClient, Person]) -> None:
    browser, _ = admin_client
    page = browser.get("/admin/audit").get_data(as_text=True)
    assert ">sign_in.password_accepted</td>" in page  # the form the filter test looks for


# Details are encrypted at rest ----------------------------------------------------------------------


def _raw_details(app: Flask) -> dict[int, str]:
    """The details column as stored, by seq, read with plain SQL (no decryption)."""
    with app.app_context():
        return dict(db.session.execute(text("SELECT seq, details FROM audit_events")).all())


def _ref(app: Flask, seq: int) -> str:
    """The event's ref: what its details are encrypted bound to."""
    with app.app_context():
        return str(db.session.scalar(select(AuditEvent.ref).where(AuditEvent.seq == seq)))


def _set_raw_details(app: Flask, seq: int, stored: str) -> None:
    with app.app_context():
        db.session.execute(text("UPDATE audit_events SET details = :stored WHERE seq = :seq"),
                           {"stored": stored, "seq": seq})
        db.session.commit()


def test_details_are_encrypted_in_the_database_and_shown_on_the_audit_page(
        app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    browser, _ = admin_client
    invited = submit(browser, "/admin/people/invite", {"name": "Priya Private", "email": "priya.private@example.org",
                                                       "role": "member", "organisation": "0"})
    assert invited.status_code == 302
    stored = _raw_details(app)
    assert stored and all(value.startswith("f2.") for value in stored.values()), stored
    assert not any("priya.private" in value or "member" in value for value in stored.values())
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "invitation.sent"))
        assert event.details == '{"email":"priya.private@example.org","role":"member"}'
    page = browser.get("/admin/audit?action=invitation.sent").get_data(as_text=True)
    assert ">email: priya.private@example.org; role: member</td>" in page
    rows = list(csv.reader(io.StringIO(browser.get("/admin/audit.csv?action=invitation.sent").get_data(as_text=True))))
    assert rows[1][6] == '{"email":"priya.private@example.org","role":"member"}'
    assert _verify(app)[0] == 0


def test_verify_reports_an_edited_ciphertext_and_the_page_still_shows_the_rest(
        app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    browser, _ = admin_client
    _record_events(app, 3)
    seq = max(_raw_details(app))  # the last of the three test events
    stored = _raw_details(app)[seq]
    flipped = stored[:-5] + ("A" if stored[-5] != "A" else "B") + stored[-4:]
    _set_raw_details(app, seq, flipped)

    code, output = _verify(app)

    assert code != 0
    assert f"event {seq}" in output and "edited: its details do not decrypt" in output
    page = browser.get("/admin/audit?action=test.event")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "these details do not decrypt" in html and html.count("these details do not decrypt") == 1
    assert "note: =cmd|" in html  # the other events' details still read
    with app.app_context():
        assert audit.verify()[1].seq == seq


def test_verify_reports_a_ciphertext_copied_from_another_event(app: Flask) -> None:
    _record_events(app, 4)
    stored = _raw_details(app)
    _set_raw_details(app, 3, stored[2])  # event 2's details, encrypted bound to event 2: they do not decrypt here

    code, output = _verify(app)

    assert code != 0 and "event 3" in output and "edited: its details do not decrypt" in output


def test_verify_reports_details_that_decrypt_but_are_not_the_events_own(app: Flask) -> None:
    _record_events(app, 4)
    with app.app_context():  # only someone holding the keyring can make these: the chain's HMAC still catches them
        keyring = crypto.installed()
        other = keyring.decrypt_row_field("audit_events.details", _ref(app, 2), _raw_details(app)[2])
        _set_raw_details(app, 3, keyring.encrypt_row_field("audit_events.details", _ref(app, 3), other))

    code, output = _verify(app)

    assert code != 0 and "event 3" in output and "edited: its contents do not match its hash" in output


def test_a_ciphertext_moved_from_another_column_does_not_decrypt(app: Flask) -> None:
    _record_events(app, 2)
    with app.app_context():  # the same row identity, another column
        foreign = crypto.installed().encrypt_row_field("sample_draws.reason", _ref(app, 2), '{"note":"x"}')
    _set_raw_details(app, 2, foreign)
    code, output = _verify(app)
    assert code != 0 and "event 2" in output and "do not decrypt" in output


def _verify_with(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["audit", "verify", *args])
    return result.exit_code, result.output


def _anchor_from(output: str) -> str:
    return output.split("anchor for the next check: ", 1)[1].split()[0]


def test_an_anchor_catches_deleted_latest_events_with_the_head_wound_back(app: Flask) -> None:
    _record_events(app, 6)
    code, output = _verify_with(app)
    assert code == 0
    anchor = _anchor_from(output)
    assert anchor.startswith("6:")
    with app.app_context():  # delete the last two events and wind the head back to match what is left
        event_4 = db.session.scalar(select(AuditEvent).where(AuditEvent.seq == 4))
        db.session.execute(text("DELETE FROM audit_events WHERE seq > 4"))
        db.session.execute(text("UPDATE audit_head SET seq = 4, hash = :h WHERE id = 1"), {"h": event_4.hash})
        db.session.commit()

    assert _verify_with(app)[0] == 0  # without an anchor the chain cannot tell
    code, output = _verify_with(app, "--anchor", anchor)
    assert code == 1 and "event 5" in output and "ends before event 6, which the anchor recorded" in output


def test_an_anchor_catches_a_rewritten_chain_and_passes_an_honest_one(app: Flask) -> None:
    _record_events(app, 3)
    anchor = _anchor_from(_verify_with(app)[1])
    _record_events(app, 2)  # the trail grows after the anchor was taken: that is fine
    code, output = _verify_with(app, "--anchor", anchor)
    assert code == 0 and "5 events verified, including the anchor at event 3" in output
    assert _anchor_from(output).startswith("5:")
    seq = anchor.split(":")[0]
    code, output = _verify_with(app, "--anchor", f"{seq}:{'0' * 64}")  # a chain rebuilt with other hashes
    assert code == 1 and "event 3" in output and "replaced" in output


@pytest.mark.parametrize("anchor", ["6", "x:" + "a" * 64, "0:" + "a" * 64, "3:abc", "3:" + "G" * 64])
def test_a_malformed_anchor_is_refused_clearly(app: Flask, anchor: str) -> None:
    _record_events(app, 2)
    code, output = _verify_with(app, "--anchor", anchor)
    assert code == 2 and "SEQ:HASH (64 hex digits)" in output


def test_the_person_filter_finds_anyone_by_name_or_email_however_many_people_there_are(
        app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    browser, _ = admin_client
    with app.app_context():  # more people than any list of choices would hold; the one sought sorts last
        db.session.add_all(User(name=f"Person {n:04d}", email=f"person{n:04d}@example.org", role=Role.MEMBER.value,
                                active=True, created_at=clock.now()) for n in range(600))
        db.session.commit()
        zoe = User(name="Zoe Zephyr", email="zoe@example.org", role=Role.MEMBER.value, active=True,
                   created_at=clock.now())
        ann = User(name="Ann Other", email="xzoe@example.org", role=Role.MEMBER.value, active=True,
                   created_at=clock.now())
        db.session.add_all([zoe, ann])
        db.session.flush()
        audit.record(zoe, "test.zoe_did", "")
        audit.record(None, "test.about_ann", f"user:{ann.id}")
        db.session.commit()
        zoe_id, ann_id = zoe.id, ann.id
    by_name = browser.get("/admin/audit?person=zephyr")
    assert by_name.status_code == 200
    body = by_name.get_data(as_text=True)
    assert ">test.zoe_did</td>" in body and ">test.about_ann</td>" not in body
    both = browser.get("/admin/audit?person=zoe@").get_data(as_text=True)  # part of two addresses: both
    assert ">test.zoe_did</td>" in both and ">test.about_ann</td>" in both
    exact = browser.get("/admin/audit?person=ZOE@example.org").get_data(as_text=True)  # a whole address: one
    assert ">test.zoe_did</td>" in exact and ">test.about_ann</td>" not in exact
    assert ">test.about_ann</td>" in browser.get(f"/admin/audit?person_id={ann_id}").get_data(as_text=True)
    nobody = browser.get("/admin/audit?person=nobody-at-all")
    assert nobody.status_code == 200 and "No events match your search." in nobody.get_data(as_text=True)
    csv = browser.get("/admin/audit.csv?person=zephyr").get_data(as_text=True)
    assert "test.zoe_did" in csv and "test.about_ann" not in csv
    assert zoe_id != ann_id


def test_the_audit_trail_pages_back_and_forth_without_losing_or_repeating_an_event(
        app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    browser, _ = admin_client
    with app.app_context():
        for n in range(120):
            audit.record(None, "test.paged", f"item:{n:03d}")
        db.session.commit()

    def targets(page: str) -> list[str]:
        return re.findall(r"item:(\d{3})", page)

    def link(page: str, rel: str) -> str | None:
        found = re.search(rf'href="([^"]+)" rel="{rel}"', page)
        return html.unescape(found.group(1)) if found else None

    page = browser.get("/admin/audit?action=test.paged").get_data(as_text=True)
    seen = [targets(page)]
    assert link(page, "prev") is None
    while (older := link(page, "next")) is not None:
        assert "action=test.paged" in older
        page = browser.get(older).get_data(as_text=True)
        seen.append(targets(page))
    assert [len(items) for items in seen] == [50, 50, 20]
    flat = [item for items in seen for item in items]
    assert flat == [f"{n:03d}" for n in range(119, -1, -1)]  # newest first, each once
    newer = link(page, "prev")
    assert newer is not None
    back = browser.get(newer).get_data(as_text=True)
    assert targets(back) == seen[1] and link(back, "prev") is not None and link(back, "next") is not None
    first = browser.get(link(back, "prev")).get_data(as_text=True)
    assert targets(first) == seen[0] and link(first, "prev") is None


# The appender (PostgreSQL: a transaction that cannot have the appenders' turn at once commits unchained) ------


def _hold_the_head(app: Flask) -> Connection:
    """Another appender at work: a connection holding the appenders' turn and the head row until it is rolled
    back."""
    with app.app_context():
        holder = db.engine.connect()
    holder.begin()
    holder.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": audit.APPENDER_LOCK})
    assert holder.execute(text("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE")).first() is not None
    return holder


def _unchained(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.seq.is_(None)).order_by(AuditEvent.id)))
        db.session.expunge_all()
        return events


if PG_URL:  # SQLite's writers chain their events in their own transaction: nothing is ever left unchained there
    def test_events_wait_sealed_while_another_appender_works_and_nobody_queues_for_the_head(app: Flask) -> None:
        _record_events(app, 2)
        holder = _hold_the_head(app)
        try:
            writer = threading.Thread(target=_record_events, args=(app, 3))
            writer.start()
            writer.join(10)  # with the head taken inside each commit this waits until the holder lets go
            finished_while_held = not writer.is_alive()
            waiting = _unchained(app)
        finally:
            holder.rollback()
            holder.close()
        writer.join(30)
        assert finished_while_held
        assert [(e.action, e.target, e.prev_hash) for e in waiting] == [
            ("test.event", f"thing:{n}", None) for n in range(3)]
        assert all(len(e.hash) == 64 and len(e.ref) == 32 for e in waiting)
        with app.app_context():
            assert audit.chain_pending() == 3
        assert _unchained(app) == []
        with app.app_context():
            seqs = list(db.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.id)))
        assert seqs == [1, 2, 3, 4, 5]  # chained in the order they were written
        code, output = _verify(app)
        assert code == 0 and "5 events" in output, output

    def test_an_event_altered_before_it_is_chained_is_refused_and_reported(app: Flask) -> None:
        _record_events(app, 1)
        holder = _hold_the_head(app)
        try:
            _record_events(app, 3)
            first, second, third = _unchained(app)
            with app.app_context():
                db.session.execute(text("UPDATE audit_events SET target = 'thing:innocent' WHERE id = :id"),
                                   {"id": second.id})
                db.session.commit()
        finally:
            holder.rollback()
            holder.close()
        with app.app_context():
            assert audit.chain_pending() == 2  # the others are chained; the altered one is not
        assert [e.id for e in _unchained(app)] == [second.id]
        code, output = _verify(app)
        assert code != 0 and f"an unchained event (row id {second.id})" in output
        assert "edited before it was chained: its contents do not match its seal" in output
        with app.app_context():
            chained = list(db.session.scalars(select(AuditEvent.id).where(AuditEvent.seq.is_not(None))
                                              .order_by(AuditEvent.seq)))
        assert chained[-2:] == [first.id, third.id]

    def test_details_swapped_between_unchained_events_are_reported(app: Flask) -> None:
        _record_events(app, 1)
        holder = _hold_the_head(app)
        try:
            _record_events(app, 2)
            first, second = _unchained(app)
            with app.app_context():
                stored = dict(db.session.execute(text("SELECT id, details FROM audit_events")).all())
                for mine, theirs in ((first.id, second.id), (second.id, first.id)):
                    db.session.execute(text("UPDATE audit_events SET details = :d WHERE id = :id"),
                                       {"d": stored[theirs], "id": mine})
                db.session.commit()
        finally:
            holder.rollback()
            holder.close()
        code, output = _verify(app)
        assert code != 0 and f"an unchained event (row id {first.id})" in output and "do not decrypt" in output
        assert len(_unchained(app)) == 2

    def test_concurrent_writers_and_appenders_drop_and_reorder_nothing(app: Flask) -> None:
        """Eight writers commit their events one at a time while appenders run after every commit and a ninth
        thread appends in a loop: every event is chained exactly once, and each writer's events keep the order
        that writer wrote them in."""
        done = threading.Event()

        def writer(number: int) -> None:
            with app.app_context():
                for step in range(15):
                    audit.record(None, "test.concurrent", f"writer:{number}", step=step)
                    db.session.commit()

        def appender() -> None:
            with app.app_context():
                while not done.is_set():
                    audit.chain_pending()

        looping = threading.Thread(target=appender)
        looping.start()
        writers = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join(60)
        done.set()
        looping.join(30)
        with app.app_context():
            audit.chain_pending()
            events = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
            assert [e.seq for e in events] == list(range(1, 121))
            assert len({e.ref for e in events}) == 120
            for number in range(8):
                steps = [json.loads(e.details)["step"] for e in events if e.target == f"writer:{number}"]
                assert steps == list(range(15)), number
        code, output = _verify(app)
        assert code == 0 and "120 events" in output, output

    def test_the_audit_trail_chains_what_is_waiting_before_it_shows_the_trail(
            app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
        browser, _ = admin_client
        holder = _hold_the_head(app)
        try:
            with app.app_context():
                audit.record(None, "test.waiting", "thing:waiting")
                db.session.commit()
        finally:
            holder.rollback()
            holder.close()
        assert [e.action for e in _unchained(app)] == ["test.waiting"]
        page = browser.get("/admin/audit?action=test.waiting")
        assert page.status_code == 200 and "thing:waiting" in page.get_data(as_text=True)
        assert _unchained(app) == []

    def test_the_worker_job_chains_what_is_waiting(app: Flask) -> None:
        _record_events(app, 1)
        holder = _hold_the_head(app)
        try:
            _record_events(app, 2)
        finally:
            holder.rollback()
            holder.close()
        with app.app_context():
            job = jobs.find("audit-chain")
            assert job is not None
            outcome = job.work("")
        assert outcome.summary == "chained 2 audit events that were waiting"
        assert _unchained(app) == []
        assert _verify(app)[0] == 0
