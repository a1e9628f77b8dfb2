"""Email: an outbox table and delivery backends (file for development, SMTP).

A request only queues. queue() writes the message to the outbox in the sender's own transaction, so it exists
exactly when the change that caused it is committed; the worker (`flask --app portal worker`, see
portal/ops/worker.py) delivers it a few seconds later, and `flask --app portal mail deliver` does one pass by hand.
How slow, or how dead, the mail server is therefore never shows in a page.

Exactly once among workers: before a byte goes to the mail server, one atomic UPDATE claims the message (on
PostgreSQL the row is picked with FOR UPDATE SKIP LOCKED, so workers never wait for each other), counts the attempt
and leases it for CLAIM_LEASE; a second worker cannot claim it while the lease runs. At least once at the SMTP
boundary: a message is marked sent only after the server accepted it, so a worker that dies between the server's
answer and that mark leaves the message to fall due again when its lease ends, and it is sent a second time
rather than lost. A failed delivery stays in the outbox with a growing wait before the next try.

Bodies carry links, never personal data or document content.
"""

import os
import smtplib
import ssl
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from flask import current_app, has_request_context, render_template, url_for
from sqlalchemy import delete, select, update

from portal import clock
from portal.extensions import db, rows_affected
from portal.models import OutboxMessage

# A claimed message is not due again for this long: far longer than a delivery can take (every SMTP step times
# out after SMTP_TIMEOUT_SECONDS), so only a worker that died mid-send lets it fall due while it is being sent.
CLAIM_LEASE = timedelta(minutes=5)

# Refusals about one message (its recipient, sender or content): the server itself works, so the pass goes on.
_MESSAGE_REFUSED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


def queue(recipient: str, subject: str, template: str, **context: object) -> None:
    """Add a message to the outbox in the current transaction; the worker delivers it once that commits.

    Nothing is sent during the request, so how long the mail server takes cannot slow a page or tell anyone
    anything (password help answers alike for known and unknown emails).
    """
    body = render_template(f"emails/{template}.txt", **context)
    db.session.add(
        OutboxMessage(recipient=recipient, subject=subject, body=body, created_at=clock.now(),
                      next_attempt_at=clock.now())
    )


def external_url(endpoint: str, **values: Any) -> str:
    """The full address of a page, for links in emails (the BASE_URL setting, not the request's host).

    Works outside a request too (a scheduled job in the worker), where only the path is built from the URL map.
    """
    base: str = current_app.config["BASE_URL"].rstrip("/")
    if has_request_context():
        return base + url_for(endpoint, **values)
    return base + current_app.url_map.bind("localhost").build(endpoint, values)


@dataclass(frozen=True)
class Claimed:
    """A message one worker has claimed: what it needs to send it, read before any network traffic."""

    id: int
    recipient: str
    subject: str
    body: str
    attempts: int


def _message(item: Claimed) -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = item.recipient
    message["Subject"] = item.subject
    message["Message-ID"] = make_msgid(domain="moderation-portal")
    message.set_content(item.body)
    return message


def _deliver_file(message: EmailMessage, item: Claimed) -> None:
    folder = Path(current_app.config["OUTBOX_DIR"])
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"{item.id:08d}.eml"
    partial = folder / f".{item.id:08d}.eml.partial"
    # Created 0600 from the start: the links in these files are as good as passwords until used. Written under a
    # hidden name and renamed into place, so whoever reads the outbox never sees a half-written message.
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(bytes(message))
    partial.chmod(0o600)  # in case the file already existed with wider permissions
    os.replace(partial, path)


def _deliver_smtp(message: EmailMessage, item: Claimed) -> None:
    config = current_app.config
    timeout = float(config["SMTP_TIMEOUT_SECONDS"])
    with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=timeout) as smtp:
        if config["SMTP_STARTTLS"]:
            smtp.starttls(context=ssl.create_default_context())
        if config["SMTP_USERNAME"]:
            smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
        smtp.send_message(message)


BACKENDS = {"file": _deliver_file, "smtp": _deliver_smtp}


def claim_next(max_attempts: int) -> Claimed | None:
    """Claim the oldest due message for this worker and commit the claim; None when nothing is due.

    One statement picks and claims the row, so two workers can never both claim it: on PostgreSQL the row is
    locked as it is picked and rows other workers are claiming are skipped; SQLite runs one writer at a time.
    """
    now = clock.now()
    due = (
        select(OutboxMessage.id)
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.next_attempt_at <= now)
        .where(OutboxMessage.attempts < max_attempts)
        .order_by(OutboxMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    row = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == due)
        # The lease: if this worker dies mid-send, the message falls due again and is not lost.
        .values(attempts=OutboxMessage.attempts + 1, next_attempt_at=now + CLAIM_LEASE)
        .returning(OutboxMessage.id, OutboxMessage.recipient, OutboxMessage.subject, OutboxMessage.body,
                   OutboxMessage.attempts)
        .execution_options(synchronize_session=False)
    ).first()
    db.session.commit()  # no transaction stays open while the mail server is talked to
    return Claimed(*row) if row is not None else None


def _finish(item_id: int, **values: object) -> None:
    db.session.execute(update(OutboxMessage).where(OutboxMessage.id == item_id).values(**values)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def deliver_due(limit: int = 100, stop_on_failure: bool = False) -> tuple[int, int]:
    """Deliver up to `limit` messages that are due, one claim at a time; return (sent, failed).

    A failure leaves the message in the outbox to be tried again after 2, 4, 8 ... minutes, up to
    MAIL_MAX_ATTEMPTS tries. With stop_on_failure the pass ends at the first failure that is not about one message
    alone (the server cannot be reached, does not answer or refuses the login), so a dead server costs one timeout
    a pass rather than one for every message waiting.
    """
    backend = BACKENDS[current_app.config["MAIL_BACKEND"]]
    max_attempts = int(current_app.config["MAIL_MAX_ATTEMPTS"])
    sent = failed = 0
    while sent + failed < limit:
        item = claim_next(max_attempts)
        if item is None:
            break
        try:
            backend(_message(item), item)
        except (OSError, smtplib.SMTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            _finish(item.id, last_error=error, next_attempt_at=clock.now() + timedelta(minutes=2**item.attempts))
            failed += 1
            current_app.logger.warning("mail delivery failed for outbox message %s: %s", item.id, error)
            if stop_on_failure and not isinstance(exc, _MESSAGE_REFUSED):
                break
            continue
        _finish(item.id, sent_at=clock.now(), last_error="")
        sent += 1
    return sent, failed


def prune_sent(keep_days: int) -> int:
    """Delete messages sent more than keep_days ago (their links have long expired); return how many."""
    removed = rows_affected(db.session.execute(
        delete(OutboxMessage).where(OutboxMessage.sent_at.is_not(None),
                                    OutboxMessage.sent_at < clock.now() - timedelta(days=keep_days))
        .execution_options(synchronize_session=False)
    ))
    db.session.commit()
    return removed
