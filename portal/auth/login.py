"""The request side of sessions: the session cookie in, the signed-in person out, the cookie set or cleared.

Before each request the cookie's token is looked up (portal/auth/sessions.py) and the request learns who is
signed in: `g.auth_session` (the session, or None), `g.user` (the person, once both factors are in) and
`g.pending_user` (the person while only the password is in). A cookie that names no session is marked
(`g.bad_session_cookie`) for the gate to log, count and throttle. After each request the cookie is set (a new
token at each sign-in step) or cleared as the request asked.
"""

from urllib.parse import unquote

from flask import Flask, current_app, g, request
from werkzeug.wrappers import Response

from portal.auth import cookies, sessions
from portal.models import SessionStage


def load_session() -> None:
    """Before each request: find the server-side session named by the cookie and its user."""
    g.user = None
    g.pending_user = None
    g.auth_session = None
    g.bad_session_cookie = False
    token = request.cookies.get(cookies.name(cookies.SESSION))
    if not token:
        return
    loaded = sessions.load(token)
    if loaded.session is None:
        g.clear_session_cookie = True
        g.bad_session_cookie = not loaded.known
        return
    g.auth_session = loaded.session
    if loaded.session.stage == SessionStage.FULL:
        g.user = loaded.session.user
    else:
        g.pending_user = loaded.session.user


def set_cookie(token: str) -> None:
    """Ask for the session cookie to be set on this response (a new token each sign-in step)."""
    g.new_session_token = token


def clear_cookie() -> None:
    """Ask for the session cookie to be removed on this response."""
    g.clear_session_cookie = True


def apply_cookie(response: Response) -> Response:
    """After each request: set or clear the session cookie as the request asked."""
    secure = bool(current_app.config["SESSION_COOKIE_SECURE"])
    if token := g.get("new_session_token"):
        response.set_cookie(cookies.name(cookies.SESSION), token, httponly=True, secure=secure, samesite="Lax",
                            path="/")
    elif g.get("clear_session_cookie"):
        response.delete_cookie(cookies.name(cookies.SESSION), path="/", secure=secure, httponly=True,
                               samesite="Lax")
    return response


def local_redirect_target(target: str | None) -> str | None:
    """Return target only if it is a path on this site (never //host, /\\host, a scheme or a control char)."""
    if not target:
        return None
    # Check the decoded form too: some proxies and browsers decode %2F and %5C before following a redirect.
    for candidate in (target, unquote(target)):
        if not candidate.startswith("/") or candidate.startswith(("//", "/\\")):
            return None
        if any(ch == "\\" or ord(ch) < 32 or ord(ch) == 127 for ch in candidate):
            return None
    return target


def install(app: Flask) -> None:
    """Use the portal's cookies, load the session before each request and write its cookie after."""
    cookies.install(app)
    app.before_request(load_session)
    app.after_request(apply_cookie)
