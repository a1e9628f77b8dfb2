"""Passkeys and security keys (WebAuthn): adding, using and removing them. Each verb audits and commits once.

The ceremony checks themselves are in portal/security/passkeys.py (py_webauthn). Here: where the challenges live
(single use, short-lived, bound to a handle in the browser's signed state cookie and to the server-side session
when there is one), the signature counter, throttling, the audit trail and the emails (a link only).
"""

import enum
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import delete, func, select, update

from portal import audit, clock, mail
from portal.auth import services, sessions, throttle
from portal.auth.services import Outcome
from portal.extensions import db, rows_affected
from portal.models import AccountLink, AuditEvent, Passkey, PasskeyChallenge, SessionStage, User, UserSession
from portal.security import crypto, passwords, tokens
from portal.security import passkeys as webauthn

MAX_PASSKEYS = 10
UNKNOWN_PASSKEY_KEY = "passkey:unknown"  # throttle key of answers naming no credential (not hex: never an email's)
FAILURE_EMAIL_INTERVAL = timedelta(hours=1)

NOT_USED = ("Your passkey or security key could not be used. Try again. If it keeps happening, use another way "
            "to sign in.")
EXPIRED = "That took too long, or the page was used already. Try again."
NOT_YOURS = ("That passkey or security key is not one you have added to this account. Use one you added, or another "
             "way to sign in.")
UNKNOWN = ("That passkey is not one this portal knows. Sign in with your email address and password instead. If you "
           "removed this passkey, also remove it from your device.")
NEEDS_VERIFICATION = ("That security key cannot confirm it is you on its own, because it has no PIN or fingerprint. "
                      "Sign in with your email address and password, then use the key.")
CLONED = ("This passkey or security key was refused because it may have been copied. Use another way to sign in, "
          "remove it from your account, and tell your ASYE Lead.")
LAST_FACTOR = ("You cannot remove your only passkey or security key: you would have no way to sign in. Add another "
               "one, or set up an authenticator app, first.")


class Purpose(enum.StrEnum):
    """What a challenge is for; an answer is accepted only for the purpose its challenge was made for."""

    REGISTER = "register"  # adding a passkey (at enrolment or from the account page)
    SECOND_FACTOR = "second_factor"  # after the password
    PASSWORDLESS = "passwordless"  # "Sign in with a passkey", both factors at once
    CONFIRM = "confirm"  # a signed-in person confirming it is them before a change


def relying_party() -> webauthn.RelyingParty:
    """The relying party from configuration: PASSKEY_RP_ID and PASSKEY_ORIGIN, by default BASE_URL's host and origin.

    Browsers refuse an IP address as a relying-party id, so a BASE_URL on 127.0.0.1 (local development) means
    localhost: passkeys there work at http://localhost:PORT.
    """
    config = current_app.config
    base = urlsplit(config["BASE_URL"])
    host = "localhost" if base.hostname in ("127.0.0.1", "::1") else (base.hostname or "localhost")
    default_origin = f"{base.scheme}://{host}" + (f":{base.port}" if base.port else "")
    return webauthn.RelyingParty(id=config.get("PASSKEY_RP_ID") or host, name=config["ORGANISATION_NAME"],
                                 origin=(config.get("PASSKEY_ORIGIN") or default_origin).rstrip("/"))


def passkeys_of(user: User) -> list[Passkey]:
    """The person's passkeys and security keys, oldest first."""
    return list(db.session.scalars(select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.id)))


def count_of(user: User) -> int:
    """How many passkeys and security keys the person has."""
    return db.session.scalar(select(func.count()).select_from(Passkey).where(Passkey.user_id == user.id)) or 0


def passkey_of(user: User, passkey_id: int) -> Passkey | None:
    """One of the person's own passkeys, or None (the view answers 404: another person's is never revealed)."""
    return db.session.scalar(select(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user.id))


def _credentials(user: User) -> list[tuple[str, str]]:
    return [(p.credential_id, p.transports) for p in passkeys_of(user)]


# Challenges -------------------------------------------------------------------------------------------


def begin(purpose: Purpose, user: User | None, session: UserSession | None) -> tuple[str, str]:
    """Start a ceremony: store a fresh challenge and return (handle for the state cookie, options for the browser).

    Challenges older than their lifetime are deleted here, whether answered or not.
    """
    now = clock.now()
    db.session.execute(delete(PasskeyChallenge).where(
        PasskeyChallenge.created_at < now - timedelta(seconds=webauthn.CHALLENGE_SECONDS)))
    handle = tokens.new_token()
    challenge = webauthn.new_challenge()
    db.session.add(PasskeyChallenge(id=tokens.hash_token(handle), purpose=purpose.value, challenge=challenge,
                                    user_id=user.id if user else None, session_id=session.id if session else None,
                                    created_at=now))
    rp = relying_party()
    if purpose == Purpose.REGISTER:
        assert user is not None
        options = webauthn.registration_options(rp, challenge, _user_handle(user), user.email, user.name,
                                                _credentials(user))
    elif purpose == Purpose.PASSWORDLESS:
        options = webauthn.authentication_options(rp, challenge, [])
    else:
        assert user is not None
        options = webauthn.authentication_options(rp, challenge, _credentials(user))
    db.session.commit()
    return handle, options


def _take_challenge(handle: str, purpose: Purpose, user: User | None, session: UserSession | None) -> bytes | None:
    """The challenge a handle names, used up now (only one request can take it), or None.

    None when the handle names no challenge, it was made for another purpose, person or session, or it is older
    than its lifetime.
    """
    if not handle:
        return None
    row = db.session.get(PasskeyChallenge, tokens.hash_token(handle))
    if row is None:
        return None
    taken = rows_affected(db.session.execute(delete(PasskeyChallenge).where(PasskeyChallenge.id == row.id)
                                             .execution_options(synchronize_session=False))) == 1
    db.session.expunge(row)
    fresh = clock.now() - clock.as_utc(row.created_at) <= timedelta(seconds=webauthn.CHALLENGE_SECONDS)
    matches = (row.purpose == purpose.value and row.user_id == (user.id if user else None)
               and row.session_id == (session.id if session else None))
    return row.challenge if taken and fresh and matches else None


def _user_handle(user: User) -> str:
    """The person's user id for authenticators: the one their passkeys already have, or one derived from theirs.

    Stable, so a passkey set up again on the same device replaces the old one there instead of sitting beside it;
    a keyed hash (under SECRET_KEY), so it says nothing about the person to anyone else.
    """
    existing = db.session.scalar(select(Passkey.user_handle).where(Passkey.user_id == user.id).limit(1))
    if existing:
        return existing
    digest = tokens.keyed_hash(current_app.config["SECRET_KEY"].encode(), f"passkey user handle:{user.id}")
    return webauthn.user_handle_from(bytes.fromhex(digest))


def _clean_name(name: str) -> str:
    return " ".join((name or "").split())[:60] or "Passkey"


def _notify(user: User, subject: str, event: str) -> None:
    """Email the person what happened: a link to their account page, never the passkey's name or anything else."""
    mail.queue(user.email, subject, "passkey_notice", event=event, account_url=mail.external_url("auth.account"))


def _register(user: User, challenge: bytes | None, response_json: str, name: str) -> Passkey | str:
    """Verify a registration answer and add the passkey (no commit); or return the reason it was refused."""
    if challenge is None:
        return "challenge"
    try:
        credential = webauthn.verify_registration(relying_party(), challenge, response_json)
    except webauthn.CeremonyFailed as failure:
        return f"invalid: {failure}"[:200]
    if db.session.scalar(select(Passkey.id).where(Passkey.credential_id == credential.credential_id)) is not None:
        return "already_added"
    passkey = Passkey(user_id=user.id, credential_id=credential.credential_id, public_key=credential.public_key,
                      sign_count=credential.sign_count, user_handle=_user_handle(user), name=_clean_name(name),
                      transports=",".join(credential.transports)[:200], user_verified=credential.user_verified,
                      backed_up=credential.backed_up, created_at=clock.now())
    db.session.add(passkey)
    db.session.flush()
    return passkey


def _registration_refusal(reason: str) -> str:
    if reason == "challenge":
        return EXPIRED
    if reason == "already_added":
        return "That passkey or security key is already added to an account. Use a different one."
    return NOT_USED


# Enrolment (the invitation journey) ---------------------------------------------------------------------


def enrol_with_passkey(link: AccountLink, handle: str, response_json: str, name: str, ip: str, agent: str,
                       current: UserSession | None) -> Outcome:
    """Step 2 of an invitation with a passkey instead of an authenticator app: the account is ready, with recovery
    codes, and the person is signed in."""
    user = link.user
    assert user is not None
    added = _register(user, _take_challenge(handle, Purpose.REGISTER, user, None), response_json, name)
    if isinstance(added, str):
        audit.record(user, "passkey.add_failed", f"user:{user.id}", reason=added, at="enrolment")
        db.session.commit()
        return Outcome(False, _registration_refusal(added), field="credential")
    user.active = True
    # The app offered at step 2 was never confirmed: this person signs in with the passkey.
    return _set_up_with(user, link, added, current, ip, agent, "enrolment")


def _set_up_with(user: User, link: AccountLink, added: Passkey, current: UserSession | None, ip: str, agent: str,
                 method: str) -> Outcome:
    """Finish an enrolment or a Lead's reset done with a passkey: no authenticator app, the link used, other
    sessions ended, new recovery codes, a full session begun; audited, emailed and committed once."""
    now = clock.now()
    user.totp_secret, user.totp_last_step, user.enrolled_at = None, None, now
    link.used_at = now
    sessions.end_others(user)
    codes = services._new_recovery_codes(user)
    token = sessions.begin(user, SessionStage.FULL, current, ip, agent)
    audit.record(user, "passkey.added", f"passkey:{added.id}", name=added.name, user_verified=added.user_verified)
    audit.record(user, "2fa.enrolled", f"user:{user.id}", link=link.purpose, method="passkey")
    audit.record(user, "sign_in.succeeded", f"user:{user.id}", method=method)
    _notify(user, "A passkey was added to your moderation portal account", "added")
    db.session.commit()
    return Outcome(True, token=token, user=user, recovery_codes=codes)


def reset_setup_open(link: AccountLink, sealed: str) -> bool:
    """True while the Lead's reset link's set-up (started with the person's password) is this link's and fresh."""
    return services._open_sealed(services._reset_binding(link), sealed) is not None


def reset_with_passkey(link: AccountLink, sealed: str, handle: str, response_json: str, name: str, ip: str,
                       agent: str, current: UserSession | None) -> Outcome:
    """The Lead's reset, with a passkey or security key instead of a new app (the password was given at step 1).

    The sealed set-up from step 1 proves the password was given on this link within 15 minutes.
    """
    user = link.user
    assert user is not None
    if not reset_setup_open(link, sealed):
        return Outcome(False, services.RESET_SETUP_EXPIRED, field="password")
    added = _register(user, _take_challenge(handle, Purpose.REGISTER, user, None), response_json, name)
    if isinstance(added, str):
        audit.record(user, "passkey.add_failed", f"user:{user.id}", reason=added, at="reset")
        db.session.commit()
        return Outcome(False, _registration_refusal(added), field="credential")
    return _set_up_with(user, link, added, current, ip, agent, "reset")


# Confirming it is you (account changes) -------------------------------------------------------------------


def _confirm(user: User, session: UserSession, password: str, raw_code: str, handle: str, response_json: str,
             refused_action: str) -> Outcome | None:
    """The password and a second factor again: a code, an unused recovery code, or one of the person's passkeys.

    Throttled and audited like sign-in. Returns the refusal, or None when both are right.
    """
    if not response_json:
        return services._confirm_both_factors(user, session, password, raw_code, refused_action)
    key = throttle.account_key(user.email)
    if throttle.locked_until(key, session.ip) is not None:
        return Outcome(False, services.TOO_MANY)
    if not passwords.verify_password(user.password_hash, password)[0]:
        return services._failed_attempt(user, key, session.ip, refused_action, "The password is not right.",
                                        step="password")
    challenge = _take_challenge(handle, Purpose.CONFIRM, user, session)
    checked = _check_assertion(user, challenge, response_json, require_verification=False)
    if isinstance(checked, str):
        refusal = _refuse_use(user, key, session.ip, checked, refused_action)
        refusal.field = "code"
        return refusal
    return None


def confirm_passkey_options(user: User, session: UserSession) -> tuple[str, str] | None:
    """(handle, options) to confirm it is you with one of your passkeys, or None if you have none."""
    return begin(Purpose.CONFIRM, user, session) if count_of(user) else None


# Adding and removing from the account page ----------------------------------------------------------------


ADD_BINDING = "add passkey v1"
ADD_MINUTES = 15


def _add_binding(user: User, session: UserSession) -> str:
    return f"{ADD_BINDING}:{user.id}:{session.id}"


def start_adding(user: User, session: UserSession, password: str, raw_code: str, handle: str,
                 response_json: str) -> Outcome:
    """Step 1 of adding a passkey: the password and a second factor. Returns a sealed permission for step 2.

    A stolen session alone (or with the password) must not add an attacker's passkey, which could then sign in
    on its own. The permission is bound to this person and session and lasts 15 minutes; nothing is stored.
    """
    refusal = _confirm(user, session, password, raw_code, handle, response_json, "passkey.add_refused")
    if refusal is not None:
        return refusal
    if count_of(user) >= MAX_PASSKEYS:
        return Outcome(False, f"You already have {MAX_PASSKEYS} passkeys and security keys. Remove one first.")
    sealed = crypto.installed().encrypt_field(_add_binding(user, session), str(int(clock.now().timestamp())))
    audit.record(user, "passkey.add_started", f"user:{user.id}")
    db.session.commit()
    return Outcome(True, user=user, pending=sealed)


def may_add(user: User, session: UserSession, sealed: str) -> bool:
    """True while a sealed permission from step 1 is this person's and session's and less than 15 minutes old."""
    try:
        issued = int(crypto.installed().decrypt_field(_add_binding(user, session), sealed))
    except (crypto.DecryptionError, crypto.KeyringError, ValueError):
        return False
    return 0 <= clock.now().timestamp() - issued <= ADD_MINUTES * 60


def add_passkey(user: User, session: UserSession, sealed: str, handle: str, response_json: str, name: str) -> Outcome:
    """Step 2: the new passkey's answer is verified and it is added; the person is emailed."""
    if not may_add(user, session, sealed):
        return Outcome(False, services.SETUP_EXPIRED)
    added = _register(user, _take_challenge(handle, Purpose.REGISTER, user, session), response_json, name)
    if isinstance(added, str):
        audit.record(user, "passkey.add_failed", f"user:{user.id}", reason=added, at="account")
        db.session.commit()
        return Outcome(False, _registration_refusal(added), field="credential")
    audit.record(user, "passkey.added", f"passkey:{added.id}", name=added.name, user_verified=added.user_verified)
    _notify(user, "A passkey was added to your moderation portal account", "added")
    db.session.commit()
    return Outcome(True, user=user)


def remove_passkey(user: User, session: UserSession, passkey: Passkey, password: str, raw_code: str, handle: str,
                   response_json: str) -> Outcome:
    """Remove one passkey after the password and a second factor; never the person's last way to sign in.

    Other sessions end: one may have been started with the passkey being removed (a lost security key).
    """
    if count_of(user) <= 1 and not _has_authenticator_app(user):
        return Outcome(False, LAST_FACTOR, field="password")
    refusal = _confirm(user, session, password, raw_code, handle, response_json, "passkey.remove_refused")
    if refusal is not None:
        return refusal
    name = passkey.name
    db.session.execute(delete(Passkey).where(Passkey.id == passkey.id, Passkey.user_id == user.id))
    sessions.end_others(user, keep=session)
    audit.record(user, "passkey.removed", f"passkey:{passkey.id}", name=name)
    _notify(user, "A passkey was removed from your moderation portal account", "removed")
    db.session.commit()
    return Outcome(True, user=user)


def _has_authenticator_app(user: User) -> bool:
    return bool(db.session.scalar(select(User.totp_secret.is_not(None)).where(User.id == user.id)))


def has_authenticator_app(user: User) -> bool:
    """True when the person has an authenticator app set up (their secret is not loaded or decrypted)."""
    return _has_authenticator_app(user)


def remove_all(user: User) -> int:
    """Delete every passkey and pending challenge of the person (the Lead's reset; the caller audits and commits)."""
    db.session.execute(delete(PasskeyChallenge).where(PasskeyChallenge.user_id == user.id))
    return rows_affected(db.session.execute(delete(Passkey).where(Passkey.user_id == user.id)))


# Signing in ------------------------------------------------------------------------------------------------


def _check_assertion(user: User | None, challenge: bytes | None, response_json: str,
                     require_verification: bool) -> Passkey | str:
    """Verify an answer to navigator.credentials.get(); update its counter and last use (no commit).

    Returns the passkey, or the reason it was refused: challenge, unknown, not_yours, invalid, no_verification,
    cloned.
    """
    if challenge is None:
        return "challenge"
    try:
        credential_id = webauthn.credential_id_of(response_json)
    except webauthn.CeremonyFailed:
        return "invalid"
    passkey = db.session.scalar(select(Passkey).where(Passkey.credential_id == credential_id))
    if passkey is None:
        return "unknown"
    if user is not None and passkey.user_id != user.id:
        return "not_yours"
    try:
        assertion = webauthn.verify_authentication(relying_party(), challenge, response_json, passkey.public_key,
                                                   require_user_verification=False)
    except webauthn.CeremonyFailed:
        return "invalid"
    if webauthn.counter_goes_back(passkey.sign_count, assertion.sign_count):
        return "cloned"
    if require_verification and not assertion.user_verified:
        return "no_verification"
    # Compare-and-set: of two answers with the same counter only one moves it forward.
    moved = rows_affected(db.session.execute(
        update(Passkey).where(Passkey.id == passkey.id)
        .where((Passkey.sign_count < assertion.sign_count) | ((Passkey.sign_count == 0) & (assertion.sign_count == 0)))
        .values(sign_count=assertion.sign_count, last_used_at=clock.now(), backed_up=assertion.backed_up)
        .execution_options(synchronize_session=False)
    )) == 1
    if not moved:
        return "cloned"
    db.session.refresh(passkey)
    return passkey


REFUSALS = {"challenge": EXPIRED, "unknown": UNKNOWN, "not_yours": NOT_YOURS, "invalid": NOT_USED,
            "no_verification": NEEDS_VERIFICATION, "cloned": CLONED}


def _refuse_use(user: User | None, key: str, ip: str, reason: str, action: str) -> Outcome:
    """Count, audit and (for a known person, at most hourly; always for a cloned key) email a refused passkey."""
    throttle.note_attempt(key, ip, succeeded=False)
    target = f"user:{user.id}" if user else ""
    if reason == "cloned":
        audit.record(user, "passkey.clone_suspected", target)
    if user is not None:
        recent = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "passkey.failure_emailed", AuditEvent.target == target,
                AuditEvent.at > clock.now() - FAILURE_EMAIL_INTERVAL)
        )
        if reason == "cloned" or not recent:
            # A link only, at most once an hour for ordinary failures (so failures cannot flood an inbox).
            _notify(user, "A passkey could not be used on your moderation portal account",
                    "cloned" if reason == "cloned" else "failed")
            audit.record(user, "passkey.failure_emailed", target)
    audit.record(user, action, target, step="passkey", reason=reason)
    db.session.commit()
    return Outcome(False, REFUSALS[reason], field="credential")


def sign_in_second_factor(pending: UserSession, handle: str, response_json: str, ip: str, agent: str) -> Outcome:
    """After the password: one of the person's passkeys or security keys turns the session into a full one."""
    user = pending.user
    key = throttle.account_key(user.email)
    if throttle.locked_until(key, ip) is not None:
        audit.record(user, "sign_in.throttled", f"user:{user.id}")
        db.session.commit()
        return Outcome(False, services.TOO_MANY, field="credential")
    checked = _check_assertion(user, _take_challenge(handle, Purpose.SECOND_FACTOR, user, pending), response_json,
                               require_verification=False)
    if isinstance(checked, str):
        return _refuse_use(user, key, ip, checked, "sign_in.failed")
    return _signed_in(user, checked, key, ip, agent, pending, "passkey")


def sign_in_passwordless(handle: str, response_json: str, ip: str, agent: str, current: UserSession | None) -> Outcome:
    """"Sign in with a passkey": a passkey that verified the person (PIN, fingerprint, face) is both factors."""
    if throttle.address_locked_until(ip) is not None:
        audit.record(None, "sign_in.throttled", "", step="passkey")
        db.session.commit()
        return Outcome(False, services.TOO_MANY, field="credential")
    challenge = _take_challenge(handle, Purpose.PASSWORDLESS, None, None)
    try:
        credential_id = webauthn.credential_id_of(response_json) if challenge is not None else ""
    except webauthn.CeremonyFailed:
        credential_id = ""
    owner = db.session.scalar(select(User).join(Passkey, Passkey.user_id == User.id)
                              .where(Passkey.credential_id == credential_id)) if credential_id else None
    if owner is None or not owner.can_sign_in:
        reason = "challenge" if challenge is None else ("invalid" if not credential_id else "unknown")
        return _refuse_use(None, UNKNOWN_PASSKEY_KEY, ip, reason, "sign_in.failed")
    key = throttle.account_key(owner.email)
    if throttle.locked_until(key, ip) is not None:
        audit.record(owner, "sign_in.throttled", f"user:{owner.id}", step="passkey")
        db.session.commit()
        return Outcome(False, services.TOO_MANY, field="credential")
    checked = _check_assertion(owner, challenge, response_json, require_verification=True)
    if isinstance(checked, str):
        return _refuse_use(owner, key, ip, checked, "sign_in.failed")
    return _signed_in(owner, checked, key, ip, agent, current, "passkey_alone")


def _signed_in(user: User, passkey: Passkey, key: str, ip: str, agent: str, replacing: UserSession | None,
               method: str) -> Outcome:
    throttle.note_attempt(key, ip, succeeded=True)
    token = sessions.begin(user, SessionStage.FULL, replacing, ip, agent)
    audit.record(user, "passkey.used", f"passkey:{passkey.id}", name=passkey.name, counter=passkey.sign_count)
    audit.record(user, "sign_in.succeeded", f"user:{user.id}", method=method)
    _notify(user, "Your passkey was used to sign in to the moderation portal", "used")
    db.session.commit()
    return Outcome(True, token=token, user=user)
