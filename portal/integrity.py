"""A stored field that fails its integrity check: recorded in the audit trail and explained, never a stack trace.

Encrypted fields are bound to their table, column and row (portal/models/base.py), so a value altered in the
database, or copied there from another row, raises crypto.FieldIntegrityError when it is read. Whatever page was
reading it, the person sees a page that says what happened, and the event goes to the audit trail for the Lead.
"""

import logging

from flask import Flask, render_template, request

from portal import access, audit
from portal.extensions import db
from portal.models import User
from portal.security import crypto

log = logging.getLogger("portal.integrity")
ACTION = "integrity.failure"


def record_failure(actor: User | None, error: crypto.FieldIntegrityError, where: str) -> None:
    """Audit a field that failed its integrity check (in a transaction of its own) and log it."""
    db.session.rollback()
    log.error("integrity failure: %s (while serving %s)", error, where)
    audit.record(actor, ACTION, f"{error.table}:{error.row}", column=error.column, where=where)
    db.session.commit()


def _failed_field(error: crypto.FieldIntegrityError) -> tuple[str, int]:
    try:
        record_failure(access.current_user(), error, request.path)
    except Exception:  # the page must still be shown; the log has the reason the record could not be written
        db.session.rollback()
        log.exception("the integrity failure above could not be recorded in the audit trail")
    return render_template("errors/integrity_failure.html"), 500


def install(app: Flask) -> None:
    """Register the handler."""
    app.register_error_handler(crypto.FieldIntegrityError, _failed_field)
