"""The portal's two cookies: their names, the signed state cookie, and what a forged or tampered one costs.

- the session cookie holds the 256-bit token of a server-side session (portal/auth/login.py sets and reads it);
- the state cookie is Flask's signed cookie, holding only the CSRF token and one-off notices.

Wherever cookies are `Secure` (everywhere but local http development) both names carry the `__Host-` prefix:
a browser then accepts the cookie only from this exact host over HTTPS, with `Path=/` and no `Domain`, so a
neighbouring subdomain or a plain-http page cannot plant a session or state cookie of its own. The portal reads
only the prefixed name there, so a cookie planted under the plain name is ignored.
"""

import logging

from flask import Flask, Request, current_app
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature, SignatureExpired

SESSION = "portal_session"
STATE = "portal_state"
HOST_PREFIX = "__Host-"
TAMPERED_STATE = "portal.tampered_state_cookie"  # request.environ flag set while the state cookie is opened

log = logging.getLogger("portal.cookies")


def name(base: str, app: Flask | None = None) -> str:
    """The cookie's name in this app: prefixed with __Host- whenever cookies are Secure."""
    config = (app or current_app).config
    return HOST_PREFIX + base if config["SESSION_COOKIE_SECURE"] else base


class StateCookieInterface(SecureCookieSessionInterface):
    """Flask's signed cookie under the portal's name, noting (never logging) a cookie whose signature fails.

    Flask's own interface quietly starts an empty session when the signature is wrong; this one does the same,
    and also marks the request so the gate can log, count and throttle it (portal/access.py).
    """

    def get_cookie_name(self, app: Flask) -> str:
        """`__Host-portal_state` over HTTPS, `portal_state` in local http development."""
        return name(STATE, app)

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Open the signed cookie; a bad signature gives an empty session and marks the request."""
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        try:
            return self.session_class(
                serializer.loads(value, max_age=int(app.permanent_session_lifetime.total_seconds())))
        except SignatureExpired:
            return self.session_class()  # genuine but old: nothing was forged
        except BadSignature:
            request.environ[TAMPERED_STATE] = True
            return self.session_class()


def install(app: Flask) -> None:
    """Use the portal's state cookie (name, checks) for Flask's session."""
    app.session_interface = StateCookieInterface()
