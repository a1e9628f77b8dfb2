"""Error pages that never show a stack trace and still carry every security header."""

from flask import Flask, current_app, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.extensions import db

TITLES = {
    400: "There was a problem with your request",
    403: "You cannot do that",
    404: "Page not found",
    405: "Page not found",
    413: "The file is too large",
    429: "Too many attempts",
    500: "Sorry, there is a problem with the service",
}


def _http_error(error: HTTPException) -> tuple[str, int]:
    code = error.code or 500
    if code == 405:
        code = 404  # do not reveal that a path exists for another method
    return render_template("errors/error.html", code=code, title=TITLES.get(code, TITLES[400]),
                           description=error.description if code in (400, 413) else None), code


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
    current_app.logger.error("unhandled error: %s", type(original).__name__, exc_info=original)
    return render_template("errors/error.html", code=500, title=TITLES[500], description=None), 500


def install(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _server_error)
    app.register_error_handler(Exception, _server_error)
