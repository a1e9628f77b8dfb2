"""The request side of sessions, through Flask-Login: the session cookie in, `current_user` out.

Flask-Login's `LoginManager` loads the person with one request loader over the portal's own server-side
session (portal/auth/sessions.py): the `portal_session` cookie names a `user_sessions` row, and the person is
`current_user` once both factors are in. Nothing else can sign anyone in: Flask's signed state cookie never
holds a user id (the portal never calls `login_user`, and the user loader refuses every id), and there is no
remember-me cookie, ever: a `remember_token` cookie is ignored, never read, set or refreshed.

Beside `current_user`, each request learns `g.auth_session` (the session, or None) and `g.pending_user` (the
person while only the password is in; `current_user` is then anonymous). A cookie that names no session is
marked (`g.bad_session_cookie`) for the gate to log, count and throttle. After each request the cookie is set
(a new token at each sign-in step) or cleared as the request asked.
"""

from typing import Any
from urllib.parse import unquote

from flask import Flask, Request, current_app, flash, g, request, url_for
from flask_login import AnonymousUserMixin, LoginManager, current_user, user_accessed
from markupsafe import Markup
from werkzeug.wrappers import Response

from portal import clock
from portal.auth import cookies, keeping, sessions
from portal.extensions import current_flask_app
from portal.models import SessionStage, User

FORM_MIMETYPE = "application/x-www-form-urlencoded"  # what the kept forms (assessments, minutes) send


class SessionLoginManager(LoginManager):
    """Flask-Login that knows only the server-side session.

    Flask-Login's own loading looks first for a user id in Flask's session and then for a remember-me cookie,
    and only without one of those asks the request loader; so a planted `remember_token` cookie would skip the
    portal's session. Here the request loader is the only way in, and no remember-me cookie is ever written.
    """

    def load_for_request(self) -> None:
        """Before each request: ask the request loader, and only it, who is signed in."""
        user_accessed.send(current_flask_app())
        self._update_request_context_with_user(self._load_user_from_request(request))

    def _load_user(self) -> None:
        self.load_for_request()

    def _update_remember_cookie(self, response: Response) -> Response:
        return response  # no remember-me cookie, ever (and Flask's session is not touched to look for one)


login_manager = SessionLoginManager()
login_manager.session_protection = None  # the session is server-side and rotated at each sign-in step


@login_manager.user_loader
def _no_user_from_flask_session(_user_id: str) -> None:
    """A user id in Flask's client-side session signs no one in (the portal never puts one there)."""
    return None


NOT_ACTIVITY = frozenset({"auth.session_time_left", "static"})  # requests that do not reset the idle timeout


@login_manager.request_loader
def load_from_session_cookie(req: Request) -> User | None:
    """The person whose full two-factor session the cookie names; note the session on `g` either way."""
    g.auth_session = None
    g.pending_user = None
    g.bad_session_cookie = False
    g.new_session_token = None
    g.clear_session_cookie = False
    token = req.cookies.get(cookies.name(cookies.SESSION))
    if not token:
        return None
    # Asking how long is left must not itself keep the session alive, nor may the files a browser fetches on its
    # own (the favicon, a stylesheet): only the person's own requests are activity.
    loaded = sessions.load(token, touch=req.endpoint not in NOT_ACTIVITY)
    if loaded.session is None:
        g.clear_session_cookie = True
        g.bad_session_cookie = not loaded.known
        return None
    g.auth_session = loaded.session
    if loaded.session.stage != SessionStage.FULL:
        g.pending_user = loaded.session.user
        return None
    return loaded.session.user


def signed_in_user() -> User | None:
    """The person with a full two-factor session (Flask-Login's `current_user`), or None."""
    user: Any = current_user._get_current_object()
    return user if isinstance(user, User) else None


def seconds_left() -> int:
    """How many seconds the current session has before it ends, if no further request comes (0 without one)."""
    record = g.get("auth_session")
    if record is None:
        return 0
    return max(0, int((sessions.ends_at(record) - clock.now()).total_seconds()))


def keep_unsaved_form() -> str | None:
    """A form sent after the session ended: keep what was typed if the form allows it; return where to go next.

    Called by the gate before it sends someone to sign in. Returns the *Unsaved work* page for after signing
    in when the form was kept, otherwise None (and nothing is stored).
    """
    # Only ordinary forms are kept: an upload's multipart body is never parsed here (it may be a gigabyte).
    ordinary = request.method == "POST" and request.mimetype == FORM_MIMETYPE
    sealed = request.form.get(keeping.KEEP_FIELD) if ordinary else None
    if not sealed:
        return None
    kept = keeping.keep(sealed, request.path, list(request.form.items(multi=True)))
    if kept is None:
        return None
    flash("You were signed out, so what you typed has not been saved yet. It has been kept: sign in again to "
          "save it.", "important")
    return url_for("auth.unsaved_work")


def forget_saved_form(response: Response) -> Response:
    """After a kept form is sent again and accepted (a redirect, not an error page), delete the kept copy."""
    # Only an ordinary form that was accepted: an upload's body has been streamed away (and must never be parsed
    # here), and parsing a refused body could only raise again.
    if request.method != "POST" or response.status_code >= 400 or request.mimetype != FORM_MIMETYPE:
        return response
    kept_id = request.form.get(keeping.KEPT_FIELD, "")
    user = signed_in_user() if kept_id.isdigit() else None
    if user is not None:
        keeping.saved(user, int(kept_id))
    return response


def keep_typing(action: str, title: str) -> Markup:
    """For templates: the sealed hidden field that keeps this form's typing if it is sent after the session ended.

    `action` is where the form is sent, `title` what the person would call it ("Your answers to Part 1").
    """
    user = signed_in_user()
    if user is None:
        return Markup("")
    sealed = keeping.seal(user, action, request.path, title)
    return Markup('<input type="hidden" name="{}" value="{}">').format(keeping.KEEP_FIELD, sealed)


def timeout_warning() -> dict[str, int] | None:
    """For the page template: when the timeout warning should appear, or None when no one is signed in."""
    if signed_in_user() is None:
        return None
    return {"seconds_left": seconds_left(), "warn_seconds": int(current_app.config["SESSION_WARNING_SECONDS"])}


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
    """Use the portal's cookies and Flask-Login (which also gives templates `current_user`); write the cookie.

    Call before the gate is registered: the person is loaded before the gate asks who they are.
    """
    cookies.install(app)
    login_manager.anonymous_user = AnonymousUserMixin
    login_manager.init_app(app)
    # Loaded afresh at the start of every request, never taken from whatever `g` held before (Flask-Login loads
    # lazily and keeps the answer in `g`, which a request can share with an unfinished stream before it).
    app.before_request(login_manager.load_for_request)
    app.after_request(apply_cookie)
    app.after_request(forget_saved_form)
    app.add_template_global(keep_typing)
    app.add_template_global(timeout_warning)
