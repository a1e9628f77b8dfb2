"""Email: an outbox table and delivery backends (file for development, SMTP).

Messages are written to the outbox in the sender's transaction and delivered after the request, so a
failed delivery stays in the outbox with a retry time and is never lost. Bodies carry links, never
personal data or document content.
"""

import os
import smtplib
import ssl
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from flask import Response, current_app, g, render_template, url_for
from sqlalchemy import select, update

from portal import clock
from portal.extensions import db
from portal.models import OutboxMessage


def queue(recipient: str, subject: str, template: str, after_response: bool = False, **context: object) -> None:
    """Add a message to the outbox in the current transaction; it is delivered after the request.

    With after_response, delivery waits until the response has been sent, so how long the mail server
    takes cannot tell the person anything (password help must answer alike for known and unknown emails).
    """
    body = render_template(f"emails/{template}.txt", **context)
    db.session.add(
        OutboxMessage(recipient=recipient, subject=subject, body=body, created_at=clock.now(),
                      next_attempt_at=clock.now())
    )
    if after_response:
        g.mail_after_response = True
    else:
        g.mail_queued = True


def external_url(endpoint: str, **values: object) -> str:
    """The full address of a page, for links in emails (the BASE_URL setting, not the request's host)."""
    return current_app.config["BASE_URL"].rstrip("/") + url_for(endpoint, **values)


def request_delivery() -> None:
    """Ask for the outbox to be delivered after this request (for a retry that queued nothing new)."""
    g.mail_queued = True


def _message(item: OutboxMessage) -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = item.recipient
    message["Subject"] = item.subject
    message["Message-ID"] = make_msgid(domain="moderation-portal")
    message.set_content(item.body)
    return message


def _deliver_file(message: EmailMessage, item: OutboxMessage) -> None:
    folder = Path(current_app.config["OUTBOX_DIR"])
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"{item.id:08d}.eml"
    # Created 0600 from the start: the links in these files are as good as passwords until used.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(bytes(message))
    path.chmod(0o600)  # in case the file already existed with wider permissions


def _deliver_smtp(message: EmailMessage, item: OutboxMessage) -> None:
    config = current_app.config
    with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=10) as smtp:
        if config["SMTP_STARTTLS"]:
            smtp.starttls(context=ssl.create_default_context())
        if config["SMTP_USERNAME"]:
            smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
        smtp.send_message(message)


BACKENDS = {"file": _deliver_file, "smtp": _deliver_smtp}
AFTER_REQUEST_LIMIT = 20
CLAIM_LEASE = timedelta(minutes=5)


def _claim(item_id: int, max_attempts: int) -> OutboxMessage | None:
    """Take one due message for this worker (compare-and-set), so two deliverers never send it twice."""
    now = clock.now()
    claimed = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == item_id, OutboxMessage.sent_at.is_(None), OutboxMessage.next_attempt_at <= now)
        .where(OutboxMessage.attempts < max_attempts)
        # The lease: if this worker dies mid-send, the message falls due again and is not lost.
        .values(attempts=OutboxMessage.attempts + 1, next_attempt_at=now + CLAIM_LEASE)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return db.session.get(OutboxMessage, item_id) if claimed.rowcount == 1 else None


def deliver_due(limit: int = 100, stop_on_failure: bool = False) -> tuple[int, int]:
    """Try every message that is due; return (sent, failed). Failures back off and are retried later."""
    backend = BACKENDS[current_app.config["MAIL_BACKEND"]]
    max_attempts = int(current_app.config["MAIL_MAX_ATTEMPTS"])
    due = db.session.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.next_attempt_at <= clock.now())
        .where(OutboxMessage.attempts < max_attempts)
        .order_by(OutboxMessage.id)
        .limit(limit)
    ).all()
    sent = failed = 0
    for item_id in due:
        item = _claim(item_id, max_attempts)
        if item is None:
            continue  # another worker took it
        try:
            backend(_message(item), item)
        except (OSError, smtplib.SMTPException) as exc:
            item.last_error = f"{type(exc).__name__}: {exc}"[:500]
            item.next_attempt_at = clock.now() + timedelta(minutes=2**item.attempts)
            failed += 1
            current_app.logger.warning("mail delivery failed for outbox message %s: %s", item.id, item.last_error)
            db.session.commit()
            if stop_on_failure:
                break
            continue
        item.sent_at = clock.now()
        item.last_error = ""
        sent += 1
        db.session.commit()
    return sent, failed


def _deliver_quietly() -> None:
    """Deliver what is due without letting a failure reach anyone: the outbox keeps it for `mail deliver`."""
    try:
        # Someone may be waiting: if the mail server is down, leave the rest for `mail deliver`.
        deliver_due(limit=AFTER_REQUEST_LIMIT, stop_on_failure=True)
    except Exception:
        current_app.logger.exception("mail delivery after a request failed")
        db.session.rollback()


def deliver_once_sent(response: Response) -> Response:
    """After-request hook: deliver messages queued with after_response once the response has gone out."""
    if g.pop("mail_after_response", False):
        app = current_app._get_current_object()  # type: ignore[attr-defined]

        def deliver() -> None:
            with app.app_context():
                _deliver_quietly()

        response.call_on_close(deliver)
    return response


def deliver_after_request(_exc: BaseException | None = None) -> None:
    """Teardown hook: deliver what this request queued."""
    if g.pop("mail_queued", False):
        _deliver_quietly()
