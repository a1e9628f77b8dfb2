"""Server-side sign-in sessions: the one place session records are made, read, ended and pruned.

A session is a row in `user_sessions`; the browser's cookie holds a 256-bit token and the row only its hash, so
a copy of the database names no usable session. A session is first password-only (`SessionStage.PASSWORD`),
then, after the second factor, full; each step gets a new token (rotation) and the old row is deleted. A session
ends when the person signs out, after `SESSION_IDLE_MINUTES` without a request (10 minutes while only the password
is in), `SESSION_ABSOLUTE_HOURS` after it began, or when something about the account changes (password, second
factor, role, deactivation), which ends the person's other sessions.

These functions take no request: the cookie is read and written by portal/auth/login.py. They write to the
current transaction; `load` and `prune`, which run outside any service, commit their own deletions.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import joinedload

from portal import clock
from portal.extensions import db, rows_affected
from portal.models import SessionStage, User, UserSession
from portal.security import tokens

PASSWORD_ONLY_IDLE = timedelta(minutes=10)  # a half-signed-in session waits this long for the second factor
LAST_SEEN_WRITE_INTERVAL = timedelta(seconds=60)  # last_seen_at is written at most once a minute
MAX_TOKEN_LENGTH = 100  # a longer cookie is no token of ours (new tokens are 43 characters)

# Built once: every request runs this lookup, and building a statement costs as much as running it.
# The user's organisation is rarely shown, so it is loaded only when a page asks for it.
_BY_TOKEN_HASH = (select(UserSession).options(joinedload(UserSession.user).lazyload(User.organisation))
                  .where(UserSession.id == bindparam("token_hash")))


@dataclass(frozen=True)
class Loaded:
    """What a session token turned out to name."""

    session: UserSession | None  # the live session, or None
    known: bool  # False when the token names no session at all (forged, or ended long ago)


def idle_limit(stage: SessionStage | str) -> timedelta:
    """How long a session of this stage lasts without a request."""
    idle = timedelta(minutes=int(current_app.config["SESSION_IDLE_MINUTES"]))
    return min(idle, PASSWORD_ONLY_IDLE) if stage == SessionStage.PASSWORD else idle


def absolute_limit() -> timedelta:
    """How long any session lasts after it began, however busy."""
    return timedelta(hours=int(current_app.config["SESSION_ABSOLUTE_HOURS"]))


def expired(record: UserSession, now: datetime) -> bool:
    """True once the session has been idle too long or has lasted too long in all."""
    return now - record.last_seen_at > idle_limit(record.stage) or now - record.created_at > absolute_limit()


def ends_at(record: UserSession) -> datetime:
    """When the session will end if no further request comes (the earlier of the two timeouts)."""
    return min(record.last_seen_at + idle_limit(record.stage), record.created_at + absolute_limit())


def begin(user: User, stage: SessionStage, replacing: UserSession | None, ip: str, agent: str) -> str:
    """Create a session with a new token (rotation), deleting the one it replaces; return the token.

    The caller commits (with its audit record) and hands the token to the response's cookie.
    """
    if replacing is not None:
        db.session.execute(delete(UserSession).where(UserSession.id == replacing.id))
    token = tokens.new_token()
    now = clock.now()
    db.session.add(
        UserSession(id=tokens.hash_token(token), user_id=user.id, stage=stage.value, created_at=now,
                    last_seen_at=now, ip=ip, user_agent=agent[:200])
    )
    return token


def load(token: str, touch: bool = True) -> Loaded:
    """The live session a cookie's token names, noting the request (at most once a minute) unless `touch` is off.

    A session that has expired, or whose person may no longer sign in, is deleted (and committed) and reported
    as known but gone, so its cookie is cleared without counting it as forged.
    """
    record = None
    if len(token) <= MAX_TOKEN_LENGTH:
        record = db.session.scalars(_BY_TOKEN_HASH, {"token_hash": tokens.hash_token(token)}).first()
    if record is None:
        return Loaded(None, known=False)
    now = clock.now()
    if expired(record, now) or not record.user.can_sign_in:
        db.session.delete(record)
        db.session.commit()
        return Loaded(None, known=True)
    if touch and now - record.last_seen_at > LAST_SEEN_WRITE_INTERVAL:
        record.last_seen_at = now
        db.session.commit()
    return Loaded(record, known=True)


def keep_alive(record: UserSession) -> None:
    """The person asked to stay signed in: the idle timeout starts again now (the absolute limit stays)."""
    record.last_seen_at = clock.now()
    db.session.commit()


def end(record: UserSession) -> None:
    """Delete a session so its cookie is worthless (the caller audits and commits)."""
    db.session.execute(delete(UserSession).where(UserSession.id == record.id))


def end_others(user: User, keep: UserSession | None = None) -> int:
    """Delete every session of this user except the one given (the caller commits); return how many."""
    statement = delete(UserSession).where(UserSession.user_id == user.id)
    if keep is not None:
        statement = statement.where(UserSession.id != keep.id)
    return rows_affected(db.session.execute(statement))


def active(user: User) -> list[UserSession]:
    """The user's sessions that still work, newest first (expired rows linger until their cookie returns)."""
    now = clock.now()
    sessions = db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.created_at.desc()))
    return [record for record in sessions if not expired(record, now)]


def prune() -> int:
    """Delete the session records that no longer work (their cookies never came back); return how many."""
    now = clock.now()
    gone = [record.id for record in db.session.scalars(select(UserSession)) if expired(record, now)]
    if gone:
        db.session.execute(delete(UserSession).where(UserSession.id.in_(gone)))
        db.session.commit()
    return len(gone)
