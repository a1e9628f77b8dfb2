"""Sign-in, enrolment, emailed links and account changes. Each verb audits and commits once."""

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, select, update

from portal import audit, clock, mail
from portal.auth import sessions, throttle
from portal.extensions import db, rows_affected
from portal.models import (
    AccountLink,
    AuditEvent,
    LinkPurpose,
    RecoveryCode,
    Role,
    SessionStage,
    User,
    UserSession,
)
from portal.security import crypto, passwords, tokens, totp

RECOVERY_CODE_COUNT = 10
RECOVERY_PURPOSE = "portal recovery codes v1"
PENDING_AUTHENTICATOR = "pending authenticator v1"
PENDING_AUTHENTICATOR_MINUTES = 15
RESET_AUTHENTICATOR = "reset authenticator v1"
RESET_WRONG_PASSWORD = ("That password is not right. Enter the password you use to sign in to the portal. If you "
                        "have forgotten it, contact your ASYE Lead.")
RESET_SETUP_EXPIRED = "Setting up took too long. Enter your password to start again."
SETUP_LINKS = (LinkPurpose.INVITATION.value, LinkPurpose.RESET.value, LinkPurpose.FULL_RESET.value)
SETUP_EXPIRED = ("Setting up took too long, or was already finished. Enter your password and a code to start "
                 "again.")
# The password step's only failure message: the same for an unknown email, a wrong password, an account that is
# locked, deactivated or not set up, and too many attempts, so it tells an attacker nothing; it says what to do.
FAILED = ("We could not sign you in with that email address and password. Check them, wait a few minutes and try "
          "again. If you have forgotten your password, use \u2018I have forgotten my password\u2019 below. If you "
          "still cannot sign in, contact your ASYE Lead.")
TOO_MANY = "Too many attempts. Wait a few minutes, then try again."
REPLAY_EMAIL_INTERVAL = timedelta(hours=1)
LINKS_PER_HOUR = 3  # emailed links a person can be sent in an hour: from password help, and from the Lead


class CodeCheck(enum.StrEnum):
    """What a typed security code or recovery code turned out to be."""

    CODE = "code"  # a fresh security code, now used
    RECOVERY = "recovery"  # an unused recovery code, now used
    WRONG = "wrong"  # six digits, but not a code the app shows now (wrong, or expired)
    REPLAYED = "replayed"  # a security code that was already accepted
    NOT_SIX_DIGITS = "not_six_digits"
    RECOVERY_USED = "recovery_used"  # one of the person's recovery codes, already used
    NOT_RECOVERY = "not_recovery"  # letters too, but not one of the person's recovery codes

    @property
    def ok(self) -> bool:
        """True when the code was accepted (and is now used up)."""
        return self in (CodeCheck.CODE, CodeCheck.RECOVERY)


# Said only once the password is proven (or the person is signed in), so telling which problem it was is safe.
CODE_MESSAGES = {
    CodeCheck.WRONG: "That security code is not right or has expired. Check the time on your phone is right, then "
                     "enter the 6-digit code your authenticator app shows now.",
    CodeCheck.REPLAYED: "That security code has already been used. Wait for your authenticator app to show a new "
                        "code, then enter it.",
    CodeCheck.NOT_SIX_DIGITS: "A security code is 6 digits. Enter the code your authenticator app shows now, or one "
                              "of your recovery codes.",
    CodeCheck.RECOVERY_USED: "That recovery code has already been used: use another one, or ask your ASYE Lead to "
                             "reset your sign-in",
    CodeCheck.NOT_RECOVERY: "That is not one of your recovery codes. Check you typed it correctly, or enter the "
                            "6-digit code your authenticator app shows now.",
}


class LinkProblem(Exception):
    """An emailed link cannot be used; the message says why in plain words."""


class ResendLimited(Exception):
    """The Lead has sent this person as many links as are allowed in an hour; another may go at `allowed_at`."""

    def __init__(self, email: str, allowed_at: datetime) -> None:
        super().__init__(email)
        self.email = email
        self.allowed_at = allowed_at


@dataclass
class Outcome:
    """The result of a sign-in step."""

    ok: bool
    message: str = ""
    token: str = ""
    user: User | None = None
    recovery_codes: list[str] = field(default_factory=list)
    pending: str = ""  # a new authenticator's secret, sealed for the page that shows it
    field: str = "password"  # the form field a refusal belongs to


def _failed_attempt(user: User | None, key: str, ip: str, action: str, message: str, **details: str) -> Outcome:
    """Count a failed attempt against the sign-in throttle, audit it and commit; return the refusal."""
    throttle.note_attempt(key, ip, succeeded=False)
    audit.record(user, action, f"user:{user.id}" if user else "", **details)
    db.session.commit()
    return Outcome(False, message)


# Sessions ---------------------------------------------------------------------------------------------


def sign_out(session: UserSession | None, user: User | None) -> None:
    """Delete the session record so its cookie is worthless."""
    if session is None:
        return
    sessions.end(session)
    if user is not None:
        audit.record(user, "sign_out")
    db.session.commit()


def sign_out_other_sessions(user: User, session: UserSession) -> int:
    """End every session of the person but this one; return how many ended (0 changes nothing)."""
    others = sessions.end_others(user, keep=session)
    if others == 0:
        return 0
    audit.record(user, "session.others_signed_out", f"user:{user.id}", sessions=others)
    db.session.commit()
    return others


# Sign-in ----------------------------------------------------------------------------------------------


def sign_in_password(email: str, password: str, ip: str, agent: str, current: UserSession | None) -> Outcome:
    """First factor: check the password under throttling; on success start a password-only session."""
    key = throttle.account_key(email)
    if throttle.locked_until(key, ip) is not None:
        audit.record(None, "sign_in.throttled", "", email_key=key[:12])
        db.session.commit()
        return Outcome(False, FAILED)  # the same words as a wrong password: throttling must not confirm a guess
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    matches, needs_rehash = passwords.verify_password(user.password_hash if user else None, password)
    if not matches or user is None or not user.can_sign_in:
        return _failed_attempt(user, key, ip, "sign_in.failed", FAILED, step="password")
    if needs_rehash:
        user.password_hash = passwords.hash_password(password)
    token = sessions.begin(user, SessionStage.PASSWORD, current, ip, agent)
    audit.record(user, "sign_in.password_accepted", f"user:{user.id}")
    db.session.commit()
    return Outcome(True, token=token, user=user)


def _consume_code(user: User, raw_code: str) -> CodeCheck:
    """Accept a fresh security code or an unused recovery code, using it up; otherwise say what was wrong.

    A security code or recovery code that was already accepted is a replay: it is audited, and the person is
    emailed (a link only, at most once an hour). The caller counts the failure and commits.
    """
    compact = re.sub(r"[\s-]+", "", raw_code or "")
    if user.totp_secret and compact.isascii() and compact.isdigit():
        if totp.normalise_code(raw_code) is None:
            return CodeCheck.NOT_SIX_DIGITS
        step = totp.matching_step(user.totp_secret, raw_code, clock.now())
        if step is None or (user.totp_last_step is not None and step < user.totp_last_step):
            return CodeCheck.WRONG
        # Compare-and-set: of two requests with the same code only one can move the step forward.
        moved = db.session.execute(
            update(User)
            .where(User.id == user.id)
            .where((User.totp_last_step.is_(None)) | (User.totp_last_step < step))
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        )
        if rows_affected(moved) == 1:
            return CodeCheck.CODE
        _report_replay(user, "security code")
        return CodeCheck.REPLAYED
    code = tokens.normalise_recovery_code(raw_code)
    if len(code) != 13:
        return CodeCheck.NOT_RECOVERY
    keyring = crypto.installed()
    rows = db.session.execute(
        select(RecoveryCode.id, RecoveryCode.key_id, RecoveryCode.code_hash, RecoveryCode.used_at)
        .where(RecoveryCode.user_id == user.id)
    ).all()
    match = next(
        (row for row in rows
         if tokens.equal(tokens.keyed_hash(keyring.derive(RECOVERY_PURPOSE, row.key_id)[1], code), row.code_hash)),
        None,
    )
    if match is None:
        return CodeCheck.NOT_RECOVERY
    used = match.used_at is None and rows_affected(db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.id == match.id, RecoveryCode.used_at.is_(None))
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )) == 1
    if used:
        return CodeCheck.RECOVERY
    _report_replay(user, "recovery code")
    return CodeCheck.RECOVERY_USED


def _report_replay(user: User, kind: str) -> None:
    """Audit a code that was used before; email the person a link (never the code), at most once an hour."""
    target = f"user:{user.id}"
    recent = db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "2fa.code_replayed", AuditEvent.target == target,
            AuditEvent.at > clock.now() - REPLAY_EMAIL_INTERVAL)
    )
    audit.record(user, "2fa.code_replayed", target, kind=kind, emailed=not recent)
    if not recent:
        mail.queue(user.email, "A used code was entered for your moderation portal account", "code_replayed",
                   account_url=mail.external_url("auth.account"), kind=kind)


def sign_in_code(pending: UserSession, raw_code: str, ip: str, agent: str) -> Outcome:
    """Second factor: a security code or recovery code turns a password-only session into a full one."""
    user = pending.user
    key = throttle.account_key(user.email)
    if throttle.locked_until(key, ip) is not None:
        audit.record(user, "sign_in.throttled", f"user:{user.id}")
        db.session.commit()
        return Outcome(False, TOO_MANY)
    used = _consume_code(user, raw_code)
    if not used.ok:
        return _failed_attempt(user, key, ip, "sign_in.failed", CODE_MESSAGES[used], step="code", reason=used.value)
    throttle.note_attempt(key, ip, succeeded=True)
    token = sessions.begin(user, SessionStage.FULL, pending, ip, agent)
    audit.record(user, "sign_in.succeeded", f"user:{user.id}", method=used.value)
    if used == CodeCheck.RECOVERY:
        remaining = unused_recovery_codes(user)
        audit.record(user, "2fa.recovery_code_used", f"user:{user.id}", remaining=remaining)
        mail.queue(user.email, "A recovery code was used to sign in", "recovery_code_used",
                   account_url=mail.external_url("auth.account"), remaining=remaining)
    db.session.commit()
    return Outcome(True, token=token, user=user)


# Recovery codes ---------------------------------------------------------------------------------------


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [tokens.new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    kid, key = crypto.installed().derive(RECOVERY_PURPOSE)
    for code in codes:
        digest = tokens.keyed_hash(key, tokens.normalise_recovery_code(code))
        db.session.add(RecoveryCode(user_id=user.id, key_id=kid, code_hash=digest))
    return codes


def unused_recovery_codes(user: User) -> int:
    """How many recovery codes the person has left."""
    return db.session.scalar(
        select(func.count()).select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ) or 0


def _confirm_both_factors(user: User, session: UserSession, password: str, raw_code: str,
                          refused_action: str) -> Outcome | None:
    """For a signed-in person changing their second factor: the password and a second factor again.

    The second factor is a code from the current authenticator or an unused recovery code (which is used up).
    Refusals are throttled, counted and audited like sign-in, so a stolen session is no way round the limits.
    Returns the refusal, or None when both are right.
    """
    key = throttle.account_key(user.email)
    if throttle.locked_until(key, session.ip) is not None:
        return Outcome(False, TOO_MANY)
    if not passwords.verify_password(user.password_hash, password)[0]:
        return _failed_attempt(user, key, session.ip, refused_action, "The password is not right.", step="password")
    checked = _consume_code(user, raw_code)
    if not checked.ok:
        refusal = _failed_attempt(user, key, session.ip, refused_action, CODE_MESSAGES[checked], step="code",
                                  reason=checked.value)
        refusal.field = "code"
        return refusal
    return None


def regenerate_recovery_codes(user: User, session: UserSession, password: str, raw_code: str) -> Outcome:
    """Replace every recovery code after the password and a current security code or an unused recovery code.

    Both, as for a new authenticator: recovery codes are a second factor, so a password and a live session alone
    (a stolen session) must not make new ones. Someone with neither a code nor a recovery code left asks the Lead.
    """
    refusal = _confirm_both_factors(user, session, password, raw_code, "2fa.recovery_codes_refused")
    if refusal is not None:
        return refusal
    codes = _new_recovery_codes(user)
    # Whoever held the old codes may have signed in with one: their sessions must not outlive the codes.
    sessions.end_others(user, keep=session)
    audit.record(user, "2fa.recovery_codes_regenerated", f"user:{user.id}")
    mail.queue(user.email, "New recovery codes were created for your account", "recovery_codes_changed",
               account_url=mail.external_url("auth.account"))
    db.session.commit()
    return Outcome(True, user=user, recovery_codes=codes)


# A new authenticator from the account page (lost or replaced phone) -------------------------------------


def _pending_binding(user: User, session: UserSession) -> str:
    # The sealed secret is bound to this person, this session and the secret it replaces, so it cannot be
    # used by anyone else, from another session, or again once the change has been made.
    return f"{PENDING_AUTHENTICATOR}:{user.id}:{session.id}:{tokens.hash_token(user.totp_secret or '')}"


def _seal_new_secret(binding: str) -> str:
    """A fresh authenticator secret with the time it was made, sealed to a binding; nothing is stored."""
    return crypto.installed().encrypt_field(binding, f"{int(clock.now().timestamp())}:{totp.new_secret()}")


def _open_sealed(binding: str, sealed: str) -> str | None:
    """The secret inside a sealed set-up, or None if it was sealed to another binding, altered or is not fresh."""
    try:
        issued, _, secret = crypto.installed().decrypt_field(binding, sealed).partition(":")
        age = clock.now().timestamp() - int(issued)
    except (crypto.DecryptionError, crypto.KeyringError, ValueError):
        return None
    return secret if 0 <= age <= PENDING_AUTHENTICATOR_MINUTES * 60 else None


def _open_pending(user: User, session: UserSession, sealed: str) -> str | None:
    """The new secret inside a sealed set-up, or None if it is not this person's, this session's or fresh."""
    return _open_sealed(_pending_binding(user, session), sealed)


def start_authenticator_change(user: User, session: UserSession, password: str, raw_code: str) -> Outcome:
    """After the password and a current code or an unused recovery code, make a new secret.

    The secret is sealed into the page, not stored, until a code from the new app confirms it. Someone who has
    neither a code nor a recovery code left asks the Lead to reset their sign-in.
    """
    refusal = _confirm_both_factors(user, session, password, raw_code, "2fa.change_refused")
    if refusal is not None:
        return refusal
    sealed = _seal_new_secret(_pending_binding(user, session))
    audit.record(user, "2fa.change_started", f"user:{user.id}")
    db.session.commit()
    return Outcome(True, user=user, pending=sealed)


def pending_authenticator(user: User, session: UserSession, sealed: str) -> dict[str, str] | None:
    """The QR code and typed key of a set-up under way, or None if it has expired or is not valid."""
    secret = _open_pending(user, session, sealed)
    return None if secret is None else _authenticator_details(user, secret)


def confirm_authenticator_change(user: User, session: UserSession, sealed: str, raw_code: str) -> Outcome:
    """A code from the new authenticator replaces the old one at once, with new recovery codes and no other sessions."""
    secret = _open_pending(user, session, sealed)
    if secret is None:
        return Outcome(False, SETUP_EXPIRED)
    step = totp.accepted_step(secret, raw_code, None, clock.now())
    if step is None:
        audit.record(user, "2fa.change_refused", f"user:{user.id}", step="code")
        db.session.commit()
        return Outcome(False, "The security code is not right. Check the time on your phone and enter the "
                              "6-digit code your new app shows now.")
    user.totp_secret = secret
    user.totp_last_step = step
    user.enrolled_at = clock.now()
    codes = _new_recovery_codes(user)
    sessions.end_others(user, keep=session)
    audit.record(user, "2fa.changed", f"user:{user.id}")
    mail.queue(user.email, "Your moderation portal authenticator app was changed", "authenticator_changed",
               account_url=mail.external_url("auth.account"))
    db.session.commit()
    return Outcome(True, user=user, recovery_codes=codes)


# Emailed links ----------------------------------------------------------------------------------------


def new_link(purpose: LinkPurpose, lifetime: timedelta, **fields: object) -> tuple[AccountLink, str]:
    """Create a single-use link in the current transaction; return it and its token (stored only hashed)."""
    token = tokens.new_token()
    now = clock.now()
    link = AccountLink(token_hash=tokens.hash_token(token), purpose=purpose.value, created_at=now,
                       expires_at=now + lifetime, **fields)
    db.session.add(link)
    return link, token


def invitation_hours() -> int:
    """How many hours an invitation or set-up link works for (INVITATION_HOURS setting)."""
    return int(current_app.config["INVITATION_HOURS"])


def find_link(token: str, purposes: tuple[LinkPurpose, ...]) -> AccountLink:
    """Return the usable link for a token, or raise LinkProblem saying plainly why it cannot be used."""
    link = db.session.scalar(select(AccountLink).where(AccountLink.token_hash == tokens.hash_token(token)))
    if link is None or link.purpose not in purposes:
        raise LinkProblem("This link is not valid. Check you copied the whole link from the email.")
    if link.used_at is not None:
        raise LinkProblem("This link has already been used. Each link works once.")
    if link.revoked_at is not None:
        raise LinkProblem("This link has been replaced by a newer one. Use the link in the latest email.")
    if clock.now() > link.expires_at:
        raise LinkProblem("This link has expired.")
    return link


def first_admin_link() -> str | None:
    """Return a new one-time link to create the first administrator, or None once one exists."""
    admins = select(User.id).where(User.role == Role.ADMIN.value)
    if db.session.scalar(admins.where(User.enrolled_at.is_not(None)).limit(1)) is not None:
        return None
    # Someone who chose a password on an earlier link but never confirmed a code is not an administrator
    # yet: the new link takes over their half-made account instead of being blocked by its email.
    unfinished = db.session.scalar(admins.order_by(User.id).limit(1))
    now = clock.now()
    db.session.execute(
        update(AccountLink)
        .where(AccountLink.purpose == LinkPurpose.FIRST_ADMIN.value, AccountLink.used_at.is_(None))
        .values(revoked_at=now)
    )
    _, token = new_link(LinkPurpose.FIRST_ADMIN, timedelta(hours=24), role=Role.ADMIN.value, user_id=unfinished)
    audit.record(None, "invitation.first_admin_link_created")
    db.session.commit()
    return token


def invite(actor: User, name: str, email: str, role: Role, organisation_id: int | None) -> AccountLink:
    """Invite a person by email; the link is valid for 72 hours (configurable) and works once."""
    hours = invitation_hours()
    link, token = new_link(LinkPurpose.INVITATION, timedelta(hours=hours), name=name.strip(),
                            email=email.strip().lower(), role=role.value, organisation_id=organisation_id,
                            created_by_id=actor.id)
    mail.queue(link.email, "You have been invited to the moderation portal", "invitation",
               link_url=mail.external_url("auth.accept_link", token=token), hours=hours)
    db.session.flush()
    audit.record(actor, "invitation.sent", f"invitation:{link.id}", email=link.email, role=link.role)
    db.session.commit()
    return link


def _lead_links_in_the_last_hour(email: str) -> list[datetime]:
    """When the Lead's links (invitations, resets and resends) to this address were made in the last hour."""
    return [clock.as_utc(at) for at in db.session.scalars(
        select(AccountLink.created_at).where(
            AccountLink.email == email, AccountLink.created_by_id.is_not(None),
            AccountLink.purpose.in_(SETUP_LINKS), AccountLink.created_at > clock.now() - timedelta(hours=1))
        .order_by(AccountLink.created_at))]


def resend_link(actor: User, link: AccountLink) -> AccountLink:
    """Replace an unused invitation or reset link with a new one and email it again.

    Limited like password help: a person is sent at most 3 of the Lead's links an hour (the first one included),
    so a slip of the mouse or a misused administrator account cannot flood their inbox. Raises ResendLimited.
    """
    recent = _lead_links_in_the_last_hour(link.email)
    if len(recent) >= LINKS_PER_HOUR:
        audit.record(actor, "invitation.resend_limited", f"invitation:{link.id}", email=link.email)
        db.session.commit()
        raise ResendLimited(link.email, recent[-LINKS_PER_HOUR] + timedelta(hours=1))
    link.revoked_at = clock.now()
    hours = invitation_hours()
    new, token = new_link(LinkPurpose(link.purpose), timedelta(hours=hours), name=link.name, email=link.email,
                           role=link.role, organisation_id=link.organisation_id, user_id=link.user_id,
                           created_by_id=actor.id)
    # A resent reset link must still say it is a reset, not an invitation to a new account.
    template = "invitation" if link.purpose == LinkPurpose.INVITATION else "reset"
    mail.queue(new.email, "Your link to the moderation portal", template,
               link_url=mail.external_url("auth.accept_link", token=token), hours=hours,
               keeps_password=keeps_password(link))  # the same purpose and person as the link it replaces
    db.session.flush()
    audit.record(actor, "invitation.resent", f"invitation:{new.id}", replaces=link.id, email=new.email)
    db.session.commit()
    return new


def email_taken(email: str, except_user: User | None = None) -> bool:
    """True if another account already uses this email."""
    existing = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    return existing is not None and existing is not except_user


def set_password_from_link(link: AccountLink, name: str, email: str, password: str) -> Outcome:
    """Step 1 of accepting a link: choose a password (and, for the first admin, name and email)."""
    if email_taken(email, except_user=link.user):
        return Outcome(False, "An account with this email address already exists")
    now = clock.now()
    user = link.user
    if user is None:
        user = User(email=(email or link.email).strip().lower(), name=(name or link.name).strip(), role=link.role,
                    organisation_id=link.organisation_id, created_at=now, active=True)
        db.session.add(user)
        link.user = user
    elif link.purpose == LinkPurpose.FIRST_ADMIN:
        user.email, user.name = email.strip().lower(), name.strip()
    link.email, link.name = user.email, user.name
    user.password_hash = passwords.hash_password(password)
    user.password_changed_at = now
    user.totp_secret = totp.new_secret()
    user.totp_last_step = None
    user.enrolled_at = None
    db.session.flush()
    audit.record(user, "enrolment.password_set", f"user:{user.id}", link=link.purpose)
    db.session.commit()
    return Outcome(True, user=user)


def password_chosen(link: AccountLink) -> bool:
    """True once step 1 of this link is done (a reset link's person still has their old password, not a secret)."""
    user = link.user
    return user is not None and user.password_hash is not None and user.totp_secret is not None


def _authenticator_details(user: User, secret: str) -> dict[str, str]:
    uri = totp.provisioning_uri(secret, user.email, current_app.config["ORGANISATION_NAME"])
    return {"qr_svg": totp.qr_svg(uri, "QR code for your authenticator app"), "typed_key": totp.format_secret(secret)}


def enrolment_details(link: AccountLink) -> dict[str, str]:
    """The QR code and typed key the invitee's authenticator needs."""
    user = link.user
    assert user is not None and user.totp_secret
    return _authenticator_details(user, user.totp_secret)


def confirm_enrolment(link: AccountLink, raw_code: str, ip: str, agent: str, current: UserSession | None) -> Outcome:
    """Step 2: a code from the new authenticator completes the account and signs the person in."""
    user = link.user
    assert user is not None
    if _consume_code(user, raw_code) != "code":
        audit.record(user, "enrolment.code_failed", f"user:{user.id}")
        db.session.commit()
        return Outcome(False, "The security code is not right. Check the time on your phone and enter the "
                              "6-digit code your app shows now.")
    user.enrolled_at = clock.now()
    user.active = True
    link.used_at = clock.now()
    sessions.end_others(user)
    codes = _new_recovery_codes(user)
    token = sessions.begin(user, SessionStage.FULL, current, ip, agent)
    audit.record(user, "2fa.enrolled", f"user:{user.id}", link=link.purpose)
    audit.record(user, "sign_in.succeeded", f"user:{user.id}", method="enrolment")
    db.session.commit()
    return Outcome(True, token=token, user=user, recovery_codes=codes)


# The Lead's reset: the person keeps their password and sets up a new authenticator ---------------------


def keeps_password(link: AccountLink) -> bool:
    """True for a reset link whose person has a password: they keep it and only set up a new authenticator.

    A reset link for someone who never chose a password (an account that was never set up) is an invitation
    in all but name, and goes through choosing one.
    """
    return link.purpose == LinkPurpose.RESET and link.user is not None and link.user.password_hash is not None


def _reset_binding(link: AccountLink) -> str:
    # Bound to this link (and so to its person): useless with any other link, and once the link is used.
    return f"{RESET_AUTHENTICATOR}:{link.id}:{link.user_id}:{link.token_hash}"


def start_reset_setup(link: AccountLink, password: str, ip: str) -> Outcome:
    """Step 1 of a reset link: the person's own password, so the emailed link alone cannot take the account.

    Throttled and counted like sign-in. The new secret is sealed into the next page, not stored, until a code
    from the new app confirms it.
    """
    user = link.user
    assert user is not None
    key = throttle.account_key(user.email)
    if throttle.locked_until(key, ip) is not None:
        return Outcome(False, TOO_MANY)
    if not passwords.verify_password(user.password_hash, password)[0]:
        return _failed_attempt(user, key, ip, "2fa.reset_setup_refused", RESET_WRONG_PASSWORD, step="password")
    sealed = _seal_new_secret(_reset_binding(link))
    audit.record(user, "2fa.reset_setup_started", f"user:{user.id}", link=link.id)
    db.session.commit()
    return Outcome(True, user=user, pending=sealed)


def pending_reset_setup(link: AccountLink, sealed: str) -> dict[str, str] | None:
    """The QR code and typed key of a reset set-up under way, or None if it has expired or is not valid."""
    secret = _open_sealed(_reset_binding(link), sealed)
    return None if secret is None or link.user is None else _authenticator_details(link.user, secret)


def confirm_reset_setup(link: AccountLink, sealed: str, raw_code: str, ip: str, agent: str,
                        current: UserSession | None) -> Outcome:
    """Step 2: a code from the new app sets it up, with new recovery codes; the link is used and they are in."""
    user = link.user
    assert user is not None
    secret = _open_sealed(_reset_binding(link), sealed)
    if secret is None:
        return Outcome(False, RESET_SETUP_EXPIRED)
    step = totp.accepted_step(secret, raw_code, None, clock.now())
    if step is None:
        audit.record(user, "2fa.reset_setup_refused", f"user:{user.id}", step="code")
        db.session.commit()
        return Outcome(False, "That security code is not right or has expired. Check the time on your phone is "
                              "right, then enter the 6-digit code your new app shows now.", field="code")
    now = clock.now()
    user.totp_secret, user.totp_last_step, user.enrolled_at = secret, step, now
    link.used_at = now
    sessions.end_others(user)
    codes = _new_recovery_codes(user)
    token = sessions.begin(user, SessionStage.FULL, current, ip, agent)
    audit.record(user, "2fa.enrolled", f"user:{user.id}", link=link.purpose)
    audit.record(user, "sign_in.succeeded", f"user:{user.id}", method="reset")
    mail.queue(user.email, "Your moderation portal authenticator app was changed", "authenticator_changed",
               account_url=mail.external_url("auth.account"))
    db.session.commit()
    return Outcome(True, token=token, user=user, recovery_codes=codes)


# Password help and changes ----------------------------------------------------------------------------


def _links_asked_for(user: User) -> int:
    """How many links the help page sent this person in the last hour (the Lead's own links do not count)."""
    return db.session.scalar(
        select(func.count()).select_from(AccountLink).where(
            AccountLink.user_id == user.id,
            AccountLink.created_by_id.is_(None),
            AccountLink.created_at > clock.now() - timedelta(hours=1),
        )
    ) or 0


def _lapsed_setup(user: User) -> LinkPurpose | None:
    """The kind of set-up link an active person who never finished setting up was last sent, if any."""
    if not user.active or user.enrolled_at is not None:
        return None
    purpose = db.session.scalar(
        select(AccountLink.purpose).where(AccountLink.user_id == user.id, AccountLink.purpose.in_(SETUP_LINKS))
        .order_by(AccountLink.id.desc()).limit(1)
    )
    return None if purpose is None else LinkPurpose(purpose)


def request_password_help(email: str, ip: str) -> None:
    """Email a one-hour link: to reset a password, or to finish setting up an account whose invitation lapsed.

    The caller shows the same page whatever happens, so the page reveals nothing about who has an account.
    """
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    # An NQSW or Assessor sent feedback, or anyone invited or reset by the Lead, whose link expired: the email
    # address is what the link was trusted to, so a fresh one goes there. Deactivating the account stops this.
    setup = _lapsed_setup(user) if user is not None else None
    if user is None or not (user.can_sign_in or setup is not None):
        audit.record(None, "password_help.requested_unknown", "")
        db.session.commit()
        return
    if _links_asked_for(user) >= LINKS_PER_HOUR:
        audit.record(user, "password_help.limited", f"user:{user.id}")
        db.session.commit()
        return
    lifetime = timedelta(minutes=int(current_app.config["PASSWORD_RESET_MINUTES"]))
    minutes = lifetime.seconds // 60
    if setup is not None:
        db.session.execute(
            update(AccountLink)
            .where(AccountLink.user_id == user.id, AccountLink.purpose.in_(SETUP_LINKS),
                   AccountLink.used_at.is_(None), AccountLink.revoked_at.is_(None))
            .values(revoked_at=clock.now())
        )
        _, token = new_link(setup, lifetime, user_id=user.id, email=user.email, name=user.name, role=user.role,
                            organisation_id=user.organisation_id)
        mail.queue(user.email, "Set up your moderation portal account", "setup_link",
                   link_url=mail.external_url("auth.accept_link", token=token), minutes=minutes,
                   keeps_password=setup == LinkPurpose.RESET and user.password_hash is not None)
        audit.record(user, "password_help.setup_link_sent", f"user:{user.id}", link=setup.value)
    else:
        _, token = new_link(LinkPurpose.PASSWORD, lifetime, user_id=user.id, email=user.email)
        mail.queue(user.email, "Reset your moderation portal password", "password_help",
                   link_url=mail.external_url("auth.password_reset", token=token), minutes=minutes)
        audit.record(user, "password_help.sent", f"user:{user.id}")
    db.session.commit()


def reset_password(link: AccountLink, raw_code: str, new_password: str, ip: str) -> Outcome:
    """Set a new password from a password-help link; a security or recovery code is still required."""
    user = link.user
    assert user is not None
    key = throttle.account_key(user.email)
    if throttle.locked_until(key, ip) is not None:
        return Outcome(False, TOO_MANY)
    checked = _consume_code(user, raw_code)
    if not checked.ok:
        return _failed_attempt(user, key, ip, "password_help.code_failed", CODE_MESSAGES[checked],
                               reason=checked.value)
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = clock.now()
    link.used_at = clock.now()
    sessions.end_others(user)
    audit.record(user, "password.reset", f"user:{user.id}")
    mail.queue(user.email, "Your moderation portal password was changed", "password_changed",
               account_url=mail.external_url("auth.sign_in"))
    db.session.commit()
    return Outcome(True, user=user)


def change_password(user: User, session: UserSession, current_password: str, raw_code: str,
                    new_password: str) -> Outcome:
    """Change a password with the current one and a security code; every other session ends."""
    key = throttle.account_key(user.email)
    if throttle.locked_until(key, session.ip) is not None:
        return Outcome(False, TOO_MANY)
    matches, _ = passwords.verify_password(user.password_hash, current_password)
    if not matches or not _consume_code(user, raw_code).ok:
        return _failed_attempt(user, key, session.ip, "password.change_failed",
                               "Your current password or security code is not right.")
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = clock.now()
    sessions.end_others(user, keep=session)
    audit.record(user, "password.changed", f"user:{user.id}")
    mail.queue(user.email, "Your moderation portal password was changed", "password_changed",
               account_url=mail.external_url("auth.account"))
    db.session.commit()
    return Outcome(True, user=user)


def recent_sign_ins(user: User, limit: int = 10) -> list[AuditEvent]:
    """The person's latest sign-ins and failed attempts, newest first."""
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.actor_id == user.id)
            .where(AuditEvent.action.in_(("sign_in.succeeded", "sign_in.failed", "sign_in.throttled")))
            .order_by(AuditEvent.id.desc())  # the order they were written in, chained or not yet
            .limit(limit)
        )
    )
