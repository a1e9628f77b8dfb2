"""Mail over a real SMTP server on loopback: requests only queue, the worker delivers; links only, failures kept
and retried, files private."""

import email
import os
import re
import stat
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from conftest import Person, csrf_from, outbox, submit
from flask import Flask
from flask.testing import FlaskClient
from helpers_mail import Collector, body_of, deliver, free_port, queue_mail

from portal import clock
from portal.extensions import db
from portal.models import OutboxMessage, Role


@pytest.fixture
def smtp_port() -> int:
    """A loopback port with nothing listening yet."""
    return free_port()


@pytest.fixture
def app_config(app_config: dict, smtp_port: int) -> dict:
    """Deliver by SMTP to the loopback server."""
    return {**app_config, "MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_port}


def _start(port: int) -> tuple[Controller, Collector]:
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, collector


@pytest.fixture
def smtp_server(smtp_port: int) -> Iterator[Collector]:
    """A real SMTP server on loopback for the length of a test."""
    controller, collector = _start(smtp_port)
    yield collector
    controller.stop()


def _invite(browser: FlaskClient, name: str, address: str, organisation: str = "0") -> None:
    response = submit(browser, "/admin/people/invite", {"name": name, "email": address, "role": "member",
                                                         "organisation": organisation})
    assert response.status_code == 302, response.get_data(as_text=True)


def test_an_invitation_arrives_with_the_link_and_no_personal_data(
        app: Flask, smtp_server: Collector, admin_client: tuple[FlaskClient, Person]) -> None:
    browser, admin = admin_client
    submit(browser, "/admin/organisations", {"name": "Northshire University", "kind": "university"})
    with app.app_context():
        from portal.admin import services

        organisation = str(services.organisations()[0].id)
    _invite(browser, "Priya Panelmember", "priya@example.org", organisation)
    assert smtp_server.messages == [] and outbox(app)[0].sent_at is None  # the request only queued it
    assert deliver(app) == (1, 0)
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["To"] == "priya@example.org"
    whole = message.as_string() + body_of(message)
    body = body_of(message)
    assert "https://portal.test/invite/" in body
    for personal in ("Priya", "Panelmember", "Northshire", admin.name, admin.email):
        assert personal not in whole, personal
    stored = outbox(app)[0]
    assert stored.sent_at is not None and stored.attempts == 1 and stored.last_error == ""


def test_a_failed_delivery_is_kept_and_sent_later_by_the_command(
        app: Flask, smtp_port: int, admin_client: tuple[FlaskClient, Person]) -> None:
    browser, _ = admin_client
    _invite(browser, "Dan Delayed", "dan@example.org")
    assert deliver(app) == (0, 1)  # nothing listens on the port yet
    [message] = outbox(app)
    assert message.sent_at is None
    assert message.attempts == 1
    assert message.last_error
    assert clock.as_utc(message.next_attempt_at) > clock.now()
    # Not due yet: the command leaves it alone even with the server up.
    controller, collector = _start(smtp_port)
    try:
        result = app.test_cli_runner().invoke(args=["mail", "deliver"])
        assert result.exit_code == 0, result.output
        assert "sent 0" in result.output and collector.messages == []
        clock.advance(timedelta(minutes=5))
        result = app.test_cli_runner().invoke(args=["mail", "deliver"])
        assert result.exit_code == 0, result.output
        assert "sent 1" in result.output
    finally:
        controller.stop()
    assert len(collector.messages) == 1
    assert "https://portal.test/invite/" in body_of(collector.messages[0])
    [message] = outbox(app)
    assert message.sent_at is not None and message.attempts == 2


def test_failures_back_off_and_stop_after_the_limit(app: Flask) -> None:
    with app.app_context():
        from portal import mail

        mail.queue("kim@example.org", "Subject", "invitation", link_url="https://portal.test/x", hours=72)
        db.session.commit()
        waits = []
        for _ in range(int(app.config["MAIL_MAX_ATTEMPTS"])):
            sent, failed = mail.deliver_due()
            assert (sent, failed) == (0, 1)
            message = db.session.scalar(db.select(OutboxMessage))
            waits.append(clock.as_utc(message.next_attempt_at) - clock.now())
            clock.advance(waits[-1] + timedelta(seconds=1))
        assert waits == sorted(waits) and waits[0] < waits[-1]
        assert mail.deliver_due() == (0, 0)  # given up: kept for the administrator, not retried forever
        message = db.session.scalar(db.select(OutboxMessage))
        assert message.sent_at is None and message.attempts == int(app.config["MAIL_MAX_ATTEMPTS"])


def test_the_administrator_sees_undelivered_emails_and_retries_them(
        app: Flask, smtp_port: int, admin_client: tuple[FlaskClient, Person],
        signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    browser, _ = admin_client
    _invite(browser, "Rae Retry", "rae@example.org")
    assert deliver(app) == (0, 1)
    people = browser.get("/admin/people").get_data(as_text=True)
    assert "1 email could not be delivered" in people
    page = browser.get("/admin/emails")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "rae@example.org" in html and "ConnectionRefusedError" in html
    [message] = outbox(app)
    member, _ = signed_in(Role.MEMBER)
    assert member.get("/admin/emails").status_code == 404
    token = csrf_from(member.get("/account/password").get_data(as_text=True))
    assert member.post(f"/admin/emails/{message.id}/retry", data={"csrf_token": token}).status_code == 404
    controller, collector = _start(smtp_port)
    try:
        response = browser.post(f"/admin/emails/{message.id}/retry", data={"csrf_token": csrf_from(html)})
        assert response.status_code == 302
        assert collector.messages == []  # the request only asked for it
        waiting = browser.get("/admin/emails").get_data(as_text=True)
        assert "rae@example.org" in waiting and "Being sent again" in waiting  # still listed until it is sent
        assert deliver(app) == (1, 0)
    finally:
        controller.stop()
    assert len(collector.messages) == 1
    assert outbox(app)[0].sent_at is not None
    assert "Every email has been delivered" in browser.get("/admin/emails").get_data(as_text=True)
    assert browser.post(f"/admin/emails/{message.id}/retry", data={"csrf_token": csrf_from(html)}
                        ).status_code == 404  # sent messages cannot be sent twice


def test_the_file_backend_writes_private_eml_files(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    app.config["MAIL_BACKEND"] = "file"
    old_umask = os.umask(0o022)
    try:
        browser, _ = admin_client
        _invite(browser, "Fay File", "fay@example.org")
        assert deliver(app) == (1, 0)
    finally:
        os.umask(old_umask)
    folder = app.config["OUTBOX_DIR"]
    files = [name for name in os.listdir(folder) if name.endswith(".eml")]
    assert len(files) == 1
    path = os.path.join(folder, files[0])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder).st_mode) & 0o077 == 0
    with open(path, "rb") as handle:
        message = email.message_from_bytes(handle.read())
    assert message["To"] == "fay@example.org"
    assert "https://portal.test/invite/" in body_of(message)
    # Not in the headers or the text (the link's token and the Message-ID are random: they could hold "Fay").
    assert "Fay" not in re.sub(r"https://\S+|Message-ID: .*", "", message.as_string())


def test_a_worker_pass_tries_a_dead_server_once_not_for_every_message(app: Flask) -> None:
    queue_mail(app, 6)
    assert deliver(app) == (0, 1)  # the first failure ends the pass: the server is down, not one message
    attempts = [m.attempts for m in outbox(app)]
    assert attempts.count(1) == 1 and attempts.count(0) == 5
    result = app.test_cli_runner().invoke(args=["mail", "deliver"])
    assert "failed 5" in result.output  # the one-shot command tries all that are due


def test_a_refused_recipient_does_not_stop_the_pass(app: Flask, smtp_port: int) -> None:
    class RefuseFirst(Collector):
        async def handle_RCPT(self, server: object, session: object, envelope: object, address: str,
                              options: list) -> str:
            if address == "person0@example.org":
                return "550 No such user here"
            envelope.rcpt_tos.append(address)  # type: ignore[attr-defined]
            return "250 OK"

    collector = RefuseFirst()
    controller = Controller(collector, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        queue_mail(app, 3)
        assert deliver(app) == (2, 1)  # the refusal is about one message, so the others still go
    finally:
        controller.stop()
    assert sorted(m["To"] for m in collector.messages) == ["person1@example.org", "person2@example.org"]
    refused = outbox(app)[0]
    assert refused.sent_at is None and "SMTPRecipientsRefused" in refused.last_error


def test_concurrent_deliverers_send_each_message_once(app: Flask, smtp_server: Collector) -> None:
    import threading

    from portal import mail

    queue_mail(app, 12)

    def deliver() -> None:
        with app.app_context():
            mail.deliver_due()

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()  # each delivery returned only after the server had accepted the message
    assert sorted(m["To"] for m in smtp_server.messages) == sorted(f"person{n}@example.org" for n in range(12))
    assert all(m.attempts == 1 and m.sent_at is not None for m in outbox(app))


def test_a_worker_that_dies_mid_send_loses_nothing(app: Flask, smtp_server: Collector) -> None:
    from portal import mail
    queue_mail(app, 1)
    with app.app_context():
        assert mail.claim_next(8) is not None  # claimed, then the worker died before sending
        assert mail.deliver_due() == (0, 0)  # leased to the dead worker for now
        clock.advance(mail.CLAIM_LEASE + timedelta(seconds=1))
        assert mail.deliver_due() == (1, 0)
    assert len(smtp_server.messages) == 1


def test_password_help_is_never_sent_by_the_request(
    app: Flask, client: FlaskClient, make_user: Callable[..., Person], smtp_server: Collector
) -> None:
    person = make_user(Role.MEMBER)
    page = client.get("/password-help").get_data(as_text=True)
    response = client.post("/password-help", data={"email": person.email, "csrf_token": csrf_from(page)})
    assert response.status_code == 200
    response.close()
    # The mail server's speed cannot show in the answer: the request only queued the message.
    assert smtp_server.messages == []
    assert [m.recipient for m in outbox(app)] == [person.email]
    assert deliver(app) == (1, 0)
    assert len(smtp_server.messages) == 1
    assert "/password-help/" in body_of(smtp_server.messages[0])


def test_links_in_mail_can_be_built_outside_a_request(app: Flask) -> None:
    """A scheduled job in the worker has no request; its emails' links still use BASE_URL."""
    from portal import mail

    with app.app_context():
        assert mail.external_url("auth.accept_link", token="abc") == "https://portal.test/invite/abc"
        assert mail.external_url("meetings.meeting", meeting_id=7) == "https://portal.test/meetings/7"
