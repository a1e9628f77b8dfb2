"""Error pages that never show a stack trace and still carry every security header.

An unexpected error's page shows a short incident reference, and the log line with the stack trace carries the
same reference, so a person can report it and an administrator can find the trace from what they were told.
"""

import secrets
from typing import TypeVar

from flask import Flask, abort, current_app, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal import wording
from portal.extensions import db

Found = TypeVar("Found")

TITLES = {
    400: "There was a problem with your request",
    403: "You cannot do that",
    404: "Page not found",
    405: "Page not found",
    413: "The file is too large",
    429: "Too many attempts",
    500: "Sorry, there is a problem with the service",
}


# No 0/O, 1/I/L or U: a reference read out over the phone should not be misheard.
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"


def or_404(found: Found | None) -> Found:
    """What a loader found, or a 404 when it found nothing: loaders return None for anything the person may not
    see (portal.visibility), and every view answers the same 404, so existence is never revealed."""
    if found is None:
        abort(404)
    return found


def incident_reference() -> str:
    """A short random reference such as 7KQX-M2PD (40 bits: unique enough to find one log line)."""
    letters = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
    return f"{letters[:4]}-{letters[4:]}"


def _http_error(error: HTTPException) -> tuple[str, int, dict[str, str]]:
    code = error.code or 500
    if code == 405:
        code = 404  # do not reveal that a path exists for another method
    headers: dict[str, str] = {}
    retry_after = getattr(error, "retry_after", None)  # werkzeug's 429 and 503 carry it when the refuser knows
    wait = None
    if isinstance(retry_after, int) and retry_after > 0:
        headers["Retry-After"] = str(retry_after)
        wait = wording.wait(retry_after)
    return render_template("errors/error.html", code=code, title=TITLES.get(code, TITLES[400]), wait=wait,
                           description=error.description if code in (400, 413) else None), code, headers


def _csrf_error(error: CSRFError) -> tuple[str, int]:
    return render_template(
        "errors/error.html",
        code=400,
        title="Your form expired",
        description=f"{error.description} For your security the form timed out or was sent from somewhere else. "
        "Go back, reload the page and try again.",
    ), 400


def _server_error(error: Exception) -> tuple[str, int]:
    db.session.rollback()
    original = getattr(error, "original_exception", None) or error
    reference = incident_reference()
    current_app.logger.error("unhandled error, incident %s: %s", reference, type(original).__name__,
                             exc_info=original)
    return render_template("errors/error.html", code=500, title=TITLES[500], description=None,
                           reference=reference), 500


def install(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _server_error)
    app.register_error_handler(Exception, _server_error)
