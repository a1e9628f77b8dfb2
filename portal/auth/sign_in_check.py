"""The sign-in check before a meeting: has each panel member signed in since being added, and with what.

Someone who signs in twice a year finds out on the morning of the meeting that their phone is new or their codes
are lost. The meeting invitation asks each member to sign in once before the reading deadline; the Chair's
meeting record shows, per member, whether they have since being added and which second factors they have, and
the Chair can email those who have not a reminder (a link only, through the outbox).
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from portal import audit, clock, mail, visibility
from portal.extensions import db
from portal.models import AuditEvent, Meeting, Passkey, RecoveryCode, User

SIGNED_IN = "sign_in.succeeded"


@dataclass(frozen=True)
class MemberSignIn:
    """One panel member's sign-in check."""

    user: User
    seat: str  # Chair or Member
    added_at: datetime | None
    last_sign_in: datetime | None  # their latest sign-in, if it came after they were added
    factors: list[str]  # the second factors they have, as people say them

    @property
    def ready(self) -> bool:
        """True once they have signed in since being added (so their sign-in works)."""
        return self.last_sign_in is not None


def second_factors(authenticator_app: bool, passkeys: int, recovery_codes: int) -> list[str]:
    """The person's second factors in plain words (an empty list: they have lost every one)."""
    factors = ["Authenticator app"] if authenticator_app else []
    if passkeys:
        factors.append(f"{passkeys} {'passkey or security key' if passkeys == 1 else 'passkeys or security keys'}")
    if recovery_codes:
        factors.append(f"{recovery_codes} recovery {'code' if recovery_codes == 1 else 'codes'}")
    return factors


def check(meeting: Meeting) -> list[MemberSignIn]:
    """The Chair's and members' sign-in check (observers do not sign in to read), by name."""
    seats = visibility.panel_seats(meeting.id)
    ids = [seat.user_id for seat in seats]
    if not ids:
        return []
    latest = dict(db.session.execute(
        select(AuditEvent.actor_id, func.max(AuditEvent.at))
        .where(AuditEvent.actor_id.in_(ids), AuditEvent.action == SIGNED_IN).group_by(AuditEvent.actor_id)).all())
    codes = dict(db.session.execute(
        select(RecoveryCode.user_id, func.count()).where(RecoveryCode.user_id.in_(ids), RecoveryCode.used_at.is_(None))
        .group_by(RecoveryCode.user_id)).all())
    keys = dict(db.session.execute(
        select(Passkey.user_id, func.count()).where(Passkey.user_id.in_(ids)).group_by(Passkey.user_id)).all())
    # An enrolled person with no app secret set up with a passkey instead; the secret itself is never loaded.
    apps = set(db.session.scalars(
        select(User.id).where(User.id.in_(ids), User.enrolled_at.is_not(None), User.totp_secret.is_not(None))))
    result = []
    for seat in seats:
        since = seat.added_at or meeting.created_at
        last = latest.get(seat.user_id)
        signed_in = last if last is not None and clock.as_utc(last) >= clock.as_utc(since) else None
        result.append(MemberSignIn(seat.user, seat.role_label, seat.added_at, signed_in,
                                   second_factors(seat.user_id in apps, keys.get(seat.user_id, 0),
                                                  codes.get(seat.user_id, 0))))
    return result


def remind(actor: User, meeting: Meeting) -> int:
    """Email each panel member who has not signed in since being added a link to sign in; return how many.

    The email carries links and the reading deadline only (a meeting's title may name people).
    """
    waiting = [item.user for item in check(meeting) if not item.ready and item.user.active]
    for user in waiting:
        mail.queue(user.email, "Please sign in to the moderation portal before the meeting", "sign_in_check",
                   link_url=mail.external_url("meetings.meeting", meeting_id=meeting.id),
                   help_url=mail.external_url("auth.cannot_sign_in"), reading_deadline=meeting.reading_deadline,
                   held_on=meeting.held_on)
    audit.record(actor, "meeting.sign_in_reminder_sent", f"meeting:{meeting.id}", recipients=[u.id for u in waiting])
    db.session.commit()
    return len(waiting)
