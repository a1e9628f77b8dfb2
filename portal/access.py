"""The deny-by-default gate: who is signed in, and who may use each endpoint.

Every view declares its audience with one of the decorators below. The gate runs before every request:
an endpoint that declares nothing is a 404 for everyone, a half-signed-in session (password only)
reaches nothing but the security-code page, and a role mismatch is a 404 so existence is not revealed.
"""

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import unquote

from flask import Flask, Response, abort, current_app, g, redirect, request, url_for
from sqlalchemy import Select, bindparam, delete, select
from sqlalchemy.orm import joinedload

from portal import clock
from portal.auth import cookies, throttle
from portal.extensions import db
from portal.models import (
    Meeting,
    MeetingMember,
    Nqsw,
    PanelRole,
    Portfolio,
    Role,
    SampledPortfolio,
    SessionStage,
    User,
    UserSession,
)
from portal.security import tokens

PUBLIC = "public"
PENDING = "pending"  # reachable with a password-only session as well as signed-out
SIGNED_IN = "signed_in"
ACCESS_ATTR = "portal_access"
LAST_SEEN_WRITE_INTERVAL = timedelta(seconds=60)

View = TypeVar("View", bound=Callable[..., Any])
log = logging.getLogger("portal.access")

# Built once: every request runs this lookup, and building a statement costs as much as running it.
# The user's organisation is rarely shown, so it is loaded only when a page asks for it.
_SESSION_BY_TOKEN_HASH = (select(UserSession).options(joinedload(UserSession.user).lazyload(User.organisation))
                          .where(UserSession.id == bindparam("token_hash")))


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
    """The person with a full two-factor session, or None."""
    return g.get("user")


def require_user() -> User:
    """The signed-in person; only called from views the gate has already let through."""
    user = g.get("user")
    if user is None:
        abort(404)
    return user


def _session_expired(record: UserSession, now: datetime) -> bool:
    config = current_app.config
    idle = timedelta(minutes=int(config["SESSION_IDLE_MINUTES"]))
    absolute = timedelta(hours=int(config["SESSION_ABSOLUTE_HOURS"]))
    if record.stage == SessionStage.PASSWORD:
        idle = min(idle, timedelta(minutes=10))
    return now - record.last_seen_at > idle or now - record.created_at > absolute


def load_session() -> None:
    """Before each request: find the server-side session named by the cookie and its user.

    A session cookie that names no session (forged, or ended long ago) and a state cookie whose signature fails
    are logged without their value and counted against the address; an address with too many such failures
    (or failed sign-ins) is refused with 429 for a while.
    """
    g.user = None
    g.pending_user = None
    g.auth_session = None
    bad = ["state"] if request.environ.get(cookies.TAMPERED_STATE) else []
    token = request.cookies.get(cookies.name(cookies.SESSION))
    record = None
    if token:
        if len(token) <= 100:
            record = db.session.scalars(_SESSION_BY_TOKEN_HASH, {"token_hash": tokens.hash_token(token)}).first()
        if record is None:
            g.clear_session_cookie = True
            bad.append("session")
    if bad:
        _count_bad_cookies(bad)
    if record is None:
        return
    now = clock.now()
    if _session_expired(record, now) or not record.user.can_sign_in:
        db.session.delete(record)
        db.session.commit()
        g.clear_session_cookie = True
        return
    if now - record.last_seen_at > LAST_SEEN_WRITE_INTERVAL:
        record.last_seen_at = now
        db.session.commit()
    g.auth_session = record
    if record.stage == SessionStage.FULL:
        g.user = record.user
    else:
        g.pending_user = record.user


def _count_bad_cookies(kinds: list[str]) -> None:
    """Log and count forged or tampered cookies (never their values); refuse an address that sends too many."""
    ip = request.remote_addr or ""
    where = request.endpoint or "an unknown path"  # the endpoint, not the path: a path may hold a link's token
    if throttle.address_locked_until(ip) is not None:
        log.warning("refused a request with a bad %s cookie from %s to %s: too many from this address",
                    " and ".join(kinds), ip, where)
        abort(429)
    for kind in kinds:
        throttle.note_bad_cookie(kind, ip)
        log.warning("bad %s cookie from %s to %s (%s); counted, value not logged", kind, ip, where,
                    "signature does not match" if kind == "state" else "names no session")
    db.session.commit()


def gate() -> Response | None:
    """Before each request: allow it, redirect to the right sign-in step, or 404."""
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
    user = g.user
    if user is None:
        if g.pending_user is not None:
            return redirect(url_for("auth.security_code"))
        return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
    if rule == SIGNED_IN or user.role in rule:
        return None
    abort(404)


def begin_session(token: str) -> None:
    """Ask for the session cookie to be set on this response (a new token each sign-in step)."""
    g.new_session_token = token


def end_session() -> None:
    """Ask for the session cookie to be removed on this response."""
    g.clear_session_cookie = True


def apply_session_cookie(response: Response) -> Response:
    """After each request: set or clear the session cookie as the request asked."""
    config = current_app.config
    if token := g.get("new_session_token"):
        response.set_cookie(
            cookies.name(cookies.SESSION),
            token,
            httponly=True,
            secure=config["SESSION_COOKIE_SECURE"],
            samesite="Lax",
            path="/",
        )
    elif g.get("clear_session_cookie"):
        response.delete_cookie(cookies.name(cookies.SESSION), path="/", secure=config["SESSION_COOKIE_SECURE"],
                               httponly=True, samesite="Lax")
    return response


def end_other_sessions(user: User, keep: UserSession | None = None) -> int:
    """Delete every session of this user except the one given (the caller commits); return how many."""
    statement = delete(UserSession).where(UserSession.user_id == user.id)
    if keep is not None:
        statement = statement.where(UserSession.id != keep.id)
    return db.session.execute(statement).rowcount


def active_sessions(user: User) -> list[UserSession]:
    """The user's sessions that still work, newest first (expired rows linger until their cookie returns)."""
    now = clock.now()
    sessions = db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.created_at.desc()))
    return [record for record in sessions if not _session_expired(record, now)]


def prune_expired_sessions() -> int:
    """Delete the session records that no longer work (their cookies never came back); return how many."""
    now = clock.now()
    expired = [record.id for record in db.session.scalars(select(UserSession)) if _session_expired(record, now)]
    if expired:
        db.session.execute(delete(UserSession).where(UserSession.id.in_(expired)))
        db.session.commit()
    return len(expired)


def install(app: Flask) -> None:
    """Register the gate and mark Flask's own static endpoint as public."""
    cookies.install(app)
    app.before_request(load_session)
    app.before_request(gate)
    app.after_request(apply_session_cookie)
    if "static" in app.view_functions:
        public(app.view_functions["static"])


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


# Object visibility (DESIGN section 3) -----------------------------------------------------------------


def panel_access_open(meeting: Meeting) -> bool:
    """A meeting's panel may read its sample from the draw until the access window after publication closes."""
    return meeting.access_closes_at is None or clock.now() <= meeting.access_closes_at


def visible_portfolio_ids(user: User) -> Select[tuple[int]]:
    """A query of the ids of portfolios the person may see (for use in loaders and listings): those of the
    employers they manage (User.employer_scope: every employer's for the administrator, their own for an employer
    Lead), and for the panel those sampled for a meeting they sit on while its access window is open."""
    if user.is_lead:
        return (select(Portfolio.id).join(Nqsw, Nqsw.id == Portfolio.nqsw_id)
                .where(Portfolio.purged_at.is_(None), user.employer_scope(Nqsw.employer_id)))
    now = clock.now()
    return (
        select(SampledPortfolio.portfolio_id)
        .join(Meeting, Meeting.id == SampledPortfolio.meeting_id)
        .join(MeetingMember, MeetingMember.meeting_id == Meeting.id)
        .join(Portfolio, Portfolio.id == SampledPortfolio.portfolio_id)
        .where(MeetingMember.user_id == user.id)
        .where(MeetingMember.panel_role.in_((PanelRole.CHAIR.value, PanelRole.MEMBER.value)))
        .where(Portfolio.purged_at.is_(None))
        .where(Meeting.access_closes_at.is_(None) | (Meeting.access_closes_at >= now))
    )


def visible_among(user: User, portfolio_ids: Iterable[int]) -> set[int]:
    """Which of these portfolios the person may see now, in one query however many are asked about."""
    ids = list(portfolio_ids)
    if not ids:
        return set()
    return set(db.session.scalars(visible_portfolio_ids(user).where(Portfolio.id.in_(ids))))


def portfolio_or_404(user: User, portfolio_id: int) -> Portfolio:
    """Load a portfolio the person may see, or answer 404 (existence is not revealed)."""
    portfolio = db.session.scalar(select(Portfolio).where(Portfolio.id == portfolio_id,
                                                          Portfolio.id.in_(visible_portfolio_ids(user))))
    if portfolio is None:
        abort(404)
    return portfolio
