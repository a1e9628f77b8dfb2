"""Sign-in throttling, counted in the database so every worker process sees the same numbers.

Forged or unknown session cookies and tampered state cookies are counted here too, as failures of their address
(under a fixed key of their own, never an account's): an address guessing cookies is throttled exactly like one
guessing passwords, and shares that address's limits.
"""

import hashlib
import math
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from portal import clock
from portal.extensions import db, rows_affected
from portal.models import SignInAttempt


def account_key(email: str) -> str:
    """Key attempts by the typed email (known or not), so throttling reveals nothing about accounts."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def locked_until(key: str, ip: str) -> datetime | None:
    """Return when this account or address may try again, or None if it may try now."""
    config = current_app.config
    now = clock.now()
    account = _account_lock(key, now, config)
    address = _address_lock(ip, now, config)
    locks = [moment for moment in (account, address) if moment is not None and moment > now]
    return max(locks) if locks else None


def _account_lock(key: str, now: datetime, config: dict) -> datetime | None:
    burst = int(config["THROTTLE_ACCOUNT_FAILURES"])
    window = timedelta(seconds=int(config["THROTTLE_ACCOUNT_WINDOW_SECONDS"]))
    daily = int(config["THROTTLE_ACCOUNT_DAILY"])
    last_success = db.session.scalar(
        select(func.max(SignInAttempt.at)).where(SignInAttempt.account_key == key, SignInAttempt.succeeded)
    )
    since = now - timedelta(days=1)
    if last_success is not None:
        since = max(since, clock.as_utc(last_success))
    failures = [
        clock.as_utc(at)
        for at in db.session.scalars(
            select(SignInAttempt.at)
            .where(SignInAttempt.account_key == key, ~SignInAttempt.succeeded, SignInAttempt.at > since)
            .order_by(SignInAttempt.at.desc())
            .limit(daily)
        )
    ]
    if len(failures) >= daily:
        return failures[-1] + timedelta(days=1)
    if len(failures) >= burst and failures[0] - failures[burst - 1] <= window:
        in_last_hour = sum(1 for at in failures if at > now - timedelta(hours=1))
        # Each failure beyond the burst doubles the wait, up to the configured ceiling.
        delay: timedelta = window * 2 ** max(0, in_last_hour - burst)
        ceiling = timedelta(seconds=int(config["THROTTLE_MAX_DELAY_SECONDS"]))
        return failures[0] + min(delay, ceiling)
    return None


def _address_lock(ip: str, now: datetime, config: dict) -> datetime | None:
    if not ip:
        return None
    burst = int(config["THROTTLE_ADDRESS_FAILURES"])
    window = timedelta(seconds=int(config["THROTTLE_ADDRESS_WINDOW_SECONDS"]))
    daily = int(config["THROTTLE_ADDRESS_DAILY"])
    recent = [
        clock.as_utc(at)
        for at in db.session.scalars(
            select(SignInAttempt.at)
            .where(SignInAttempt.ip == ip, ~SignInAttempt.succeeded, SignInAttempt.at > now - window)
            .order_by(SignInAttempt.at)
            .limit(burst)
        )
    ]
    if len(recent) >= burst:
        return recent[0] + window
    day_count = db.session.scalar(
        select(func.count()).where(
            SignInAttempt.ip == ip, ~SignInAttempt.succeeded, SignInAttempt.at > now - timedelta(days=1)
        )
    )
    if day_count and day_count >= daily:
        return now + timedelta(hours=1)
    return None


BAD_COOKIE_KEYS = {"session": "cookie:session", "state": "cookie:state"}  # not hex, so never an email's hash


def address_locked_until(ip: str) -> datetime | None:
    """Return when this address may try again, or None if it may try now (its account limits aside)."""
    now = clock.now()
    lock = _address_lock(ip, now, current_app.config)
    return lock if lock is not None and lock > now else None


def seconds_until(moment: datetime) -> int:
    """Whole seconds from now until a lock lifts, rounded up and at least 1: what a Retry-After header says."""
    return max(1, math.ceil((moment - clock.now()).total_seconds()))


def note_bad_cookie(kind: str, ip: str) -> None:
    """Count a forged, unknown or tampered cookie ("session" or "state") against its address (caller commits)."""
    note_attempt(BAD_COOKIE_KEYS[kind], ip, succeeded=False)


def note_attempt(key: str, ip: str, succeeded: bool) -> None:
    """Record an attempt in the current transaction (the caller commits)."""
    db.session.add(SignInAttempt(account_key=key, ip=ip, at=clock.now(), succeeded=succeeded))


# The longest look back the checks above take (the daily limits): older attempts no longer count for anything.
LONGEST_WINDOW = timedelta(days=1)


def prune_attempts() -> int:
    """Delete attempts older than any throttling window reads (they hold IP addresses); return how many."""
    removed = rows_affected(db.session.execute(
        delete(SignInAttempt).where(SignInAttempt.at < clock.now() - LONGEST_WINDOW)
        .execution_options(synchronize_session=False)
    ))
    db.session.commit()
    return removed
