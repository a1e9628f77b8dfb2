"""People, their organisations and their recovery codes."""

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, EncryptedText, UTCDateTime


class Role(enum.StrEnum):
    """What a person does in the portal. Chairs are chosen per meeting from the panel members."""

    ADMIN = "admin"
    MEMBER = "member"
    OBSERVER = "observer"
    ASSESSOR = "assessor"
    NQSW = "nqsw"

    @property
    def label(self) -> str:
        """The role's name as people say it."""
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.ADMIN: "ASYE Lead (administrator)",
    Role.MEMBER: "Panel member",
    Role.OBSERVER: "Steering Group observer",
    Role.ASSESSOR: "Assessor",
    Role.NQSW: "Newly qualified social worker",
}


ROLE_LABELS_FOR_FORMS = [(role.value, label) for role, label in ROLE_LABELS.items()]


class OrganisationKind(enum.StrEnum):
    """The kinds of organisation a panel draws on."""

    EMPLOYER = "employer"
    UNIVERSITY = "university"
    COMMUNITY = "community"


class Organisation(Base):
    """An employer, university or community group."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default=OrganisationKind.EMPLOYER.value)


class User(Base):
    """A person who can sign in. Two factors are mandatory: no account is usable before enrolment."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    password_hash: Mapped[str | None] = mapped_column(Text)
    # Deferred: loaded and decrypted only by the steps that check or show it, not with every signed-in request.
    totp_secret: Mapped[str | None] = mapped_column(EncryptedText("users.totp_secret"), deferred=True)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organisation: Mapped[Organisation | None] = relationship(lazy="joined")

    @property
    def can_sign_in(self) -> bool:
        """True when the account is active and both factors are set up."""
        return self.active and self.enrolled_at is not None and self.password_hash is not None

    # What Flask-Login asks of a signed-in person (its UserMixin, written out so the models import no Flask).
    # Only a full two-factor session ever yields a User, so one is always authenticated.

    @property
    def is_authenticated(self) -> bool:
        """True: Flask-Login's anonymous user stands for everyone not signed in."""
        return True

    @property
    def is_active(self) -> bool:
        """Whether the person may sign in now (Flask-Login's name for it)."""
        return self.can_sign_in

    @property
    def is_anonymous(self) -> bool:
        """False, as for every signed-in person."""
        return False

    def get_id(self) -> str:
        """The id Flask-Login knows the person by (never stored in a cookie)."""
        return str(self.id)

    @property
    def role_label(self) -> str:
        """The role as people say it."""
        return Role(self.role).label

    @property
    def is_admin(self) -> bool:
        """True for the ASYE Lead."""
        return self.role == Role.ADMIN


class RecoveryCode(Base):
    """One single-use recovery code, stored only as a keyed hash."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_id: Mapped[str] = mapped_column(String(20))
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
