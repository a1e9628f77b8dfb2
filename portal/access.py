"""The deny-by-default gate: who may use each endpoint.

Every view declares its audience with one of the decorators below. The gate runs before every request and
asks Flask-Login who is signed in (which reads the session cookie: portal/auth/login.py). An endpoint that
declares nothing is a 404 for everyone, a half-signed-in session (password only) reaches nothing but the
security-code page, and a role mismatch is a 404 so existence is not revealed. Forged session cookies and
tampered state cookies are logged (never their values), counted against the address, and an address that
sends too many is refused with 429 and a Retry-After header saying when its lock lifts.
"""

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, abort, current_app, g, redirect, request, url_for
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response

from portal.auth import cookies, login, throttle
from portal.extensions import db
from portal.models import Role, User

PUBLIC = "public"
PENDING = "pending"  # reachable with a password-only session as well as signed-out
SIGNED_IN = "signed_in"
ACCESS_ATTR = "portal_access"

View = TypeVar("View", bound=Callable[..., Any])
log = logging.getLogger("portal.access")


def _declare(view: View, rule: str | frozenset[str]) -> View:
    setattr(view, ACCESS_ATTR, rule)
    return view


def public(view: View) -> View:
    """Anyone may use this endpoint, signed in or not."""
    return _declare(view, PUBLIC)


def pending_code(view: View) -> View:
    """Reachable while the password has been accepted and the security code is still to come."""
    return _declare(view, PENDING)


def signed_in(view: View) -> View:
    """Any person with a full two-factor session."""
    return _declare(view, SIGNED_IN)


def roles(*names: Role) -> Callable[[View], View]:
    """Only people with one of these roles and a full two-factor session."""

    def decorate(view: View) -> View:
        return _declare(view, frozenset(names))

    return decorate


def declared_rule(view: Callable[..., Any]) -> str | frozenset[str] | None:
    """Return what a view declared, or None."""
    return getattr(view, ACCESS_ATTR, None)


def current_user() -> User | None:
    """The person with a full two-factor session (Flask-Login's `current_user`), or None."""
    return login.signed_in_user()


def require_user() -> User:
    """The signed-in person; only called from views the gate has already let through."""
    user = login.signed_in_user()
    if user is None:
        abort(404)
    return user


def _count_bad_cookies(kinds: list[str]) -> None:
    """Log and count forged or tampered cookies (never their values); refuse an address that sends too many."""
    ip = request.remote_addr or ""
    where = request.endpoint or "an unknown path"  # the endpoint, not the path: a path may hold a link's token
    locked = throttle.address_locked_until(ip)
    if locked is not None:
        log.warning("refused a request with a bad %s cookie from %s to %s: too many from this address",
                    " and ".join(kinds), ip, where)
        raise TooManyRequests(retry_after=throttle.seconds_until(locked))  # the page and Retry-After say when
    for kind in kinds:
        throttle.note_bad_cookie(kind, ip)
        log.warning("bad %s cookie from %s to %s (%s); counted, value not logged", kind, ip, where,
                    "signature does not match" if kind == "state" else "names no session")
    db.session.commit()


def gate() -> Response | None:
    """Before each request: refuse bad cookies, then allow it, redirect to the right sign-in step, or 404."""
    user = login.signed_in_user()
    bad = ["state"] if request.environ.get(cookies.TAMPERED_STATE) else []
    if g.get("bad_session_cookie"):
        bad.append("session")
    if bad:
        _count_bad_cookies(bad)
    if request.endpoint is None:
        return None  # no route matched: Flask answers 404 itself
    view = current_app.view_functions.get(request.endpoint)
    rule = declared_rule(view) if view else None
    if rule is None:
        abort(404)
    if rule == PUBLIC:
        return None
    if rule == PENDING:
        return None
    if user is None:
        kept = login.keep_unsaved_form()  # a form sent after the session ended: what was typed is not lost
        if g.pending_user is not None:
            return redirect(url_for("auth.security_code", next=kept) if kept else url_for("auth.security_code"))
        return redirect(url_for("auth.sign_in", next=kept or request.full_path.rstrip("?")))
    if rule == SIGNED_IN or user.role in rule:
        return None
    abort(404)


def install(app: Flask) -> None:
    """Load sessions with Flask-Login, run the gate before each request; mark Flask's static files public."""
    login.install(app)
    app.before_request(gate)
    if "static" in app.view_functions:
        public(app.view_functions["static"])


