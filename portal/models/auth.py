"""Links sent by email, server-side sessions, sign-in attempts and forms kept when a session had ended."""

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, EncryptedText, UTCDateTime
from portal.models.users import Organisation, User


class LinkPurpose(enum.StrEnum):
    """What a single-use emailed link lets its holder do."""

    INVITATION = "invitation"  # a new person sets a password and enrols an authenticator
    FIRST_ADMIN = "first_admin"  # the first-run link that creates the first administrator
    RESET = "reset"  # the Lead reset someone's second factor: they keep their password, set up an authenticator
    FULL_RESET = "full_reset"  # the Lead's reset for someone who also forgot their password: both are set again
    PASSWORD = "password"  # password help: a new password, confirmed with a security code


class AccountLink(Base):
    """A single-use link; only the SHA-256 of its token is stored."""

    __tablename__ = "account_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20))
    email: Mapped[str] = mapped_column(String(254), default="")
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20), default="")
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    organisation: Mapped[Organisation | None] = relationship()


class SessionStage(enum.StrEnum):
    """How far through sign-in a session is."""

    PASSWORD = "password"  # password accepted, security code still to come
    FULL = "full"  # both factors accepted


class UserSession(Base):
    """A server-side session; the cookie holds a 256-bit token and the row only its hash."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")

    user: Mapped[User] = relationship(lazy="joined")


class SignInAttempt(Base):
    """One password or code attempt, counted for throttling across every worker process."""

    __tablename__ = "sign_in_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_key: Mapped[str] = mapped_column(String(64), index=True)
    ip: Mapped[str] = mapped_column(String(45), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)


class Passkey(Base):
    """A passkey or security key (a WebAuthn credential) a person signs in with; only its public key is stored."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url, as the browser sends it
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE-encoded
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)  # the authenticator's counter (uint32)
    user_handle: Mapped[str] = mapped_column(String(64))  # base64url of the random user id given to authenticators
    name: Mapped[str] = mapped_column(String(60))
    transports: Mapped[str] = mapped_column(String(200), default="")  # comma-separated hints for the browser
    user_verified: Mapped[bool] = mapped_column(Boolean, default=False)  # a PIN or biometric at registration
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)  # a synced passkey, not bound to one device
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class PasskeyChallenge(Base):
    """A WebAuthn challenge waiting for its answer: single use (deleted when answered), short-lived, and bound to
    a handle held in the browser's signed state cookie and, when there is one, to the server-side session."""

    __tablename__ = "passkey_challenges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the handle in the state cookie
    purpose: Mapped[str] = mapped_column(String(20))
    challenge: Mapped[bytes] = mapped_column(LargeBinary)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class KeptForm(Base):
    """What a person typed into a form they sent after their session had ended, kept until they sign in again.

    The fields are encrypted and bound to this row; the person sees them again after signing in and saves them
    with one button (portal/auth/keeping.py). Kept for KEPT_FORM_DAYS, then deleted.
    """

    __tablename__ = "kept_forms"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(300))  # the path the form was sent to
    return_to: Mapped[str] = mapped_column(String(300))  # the page the form was on
    # JSON {"title": what the form was, "fields": [[name, value], ...]}: a title can name a meeting or a person.
    content: Mapped[str] = mapped_column(EncryptedText("kept_forms.content"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
