"""People, their organisations and their recovery codes."""

import enum
from datetime import datetime

from sqlalchemy import Boolean, ColumnElement, ForeignKey, Integer, SQLColumnExpression, String, Text, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, EncryptedText, UTCDateTime


class Role(enum.StrEnum):
    """What a person does in the portal. Chairs are chosen per meeting from the panel members."""

    ADMIN = "admin"  # the partnership administrator: adds employers, invites their Leads, sees everything
    LEAD = "lead"  # an employer Lead: manages their own employer's cohort, portfolios and people only
    MEMBER = "member"
    OBSERVER = "observer"
    ASSESSOR = "assessor"
    NQSW = "nqsw"

    @property
    def label(self) -> str:
        """The role's name as people say it."""
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.ADMIN: "Partnership administrator (ASYE Lead)",
    Role.LEAD: "Employer Lead",
    Role.MEMBER: "Panel member",
    Role.OBSERVER: "Steering Group observer",
    Role.ASSESSOR: "Assessor",
    Role.NQSW: "Newly qualified social worker",
}


ROLE_LABELS_FOR_FORMS = [(role.value, label) for role, label in ROLE_LABELS.items()]
# The accounts an employer Lead invites and looks after for their own employer.
LEAD_MANAGED_ROLES = (Role.ASSESSOR, Role.NQSW)


class OrganisationKind(enum.StrEnum):
    """The kinds of organisation a panel draws on."""

    EMPLOYER = "employer"
    UNIVERSITY = "university"
    COMMUNITY = "community"


class Organisation(Base):
    """An employer, university or community group.

    Every employer is a member employer of the partnership: it has a partnership code (E1, E2 ...), the only name
    the panel knows it by, and its own employer Leads, cohort, portfolios and people.
    """

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default=OrganisationKind.EMPLOYER.value)
    # Employers only: "E1", "E2" ... Deferred: people load their organisation with them, and most pages never
    # show a code (the pages that do read the codes in one query, partnership.codes()).
    code: Mapped[str | None] = mapped_column(String(10), unique=True, deferred=True)

    @property
    def is_employer(self) -> bool:
        """True for a member employer of the partnership."""
        return self.kind == OrganisationKind.EMPLOYER.value

    @property
    def code_label(self) -> str:
        """How the panel names this employer: "Employer E2"."""
        return f"Employer {self.code}" if self.code else "Employer"


class Partnership(Base):
    """The one partnership the portal hosts (a single council is a partnership of one)."""

    __tablename__ = "partnership"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


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
        """True for the partnership administrator (the ASYE Lead who runs the portal)."""
        return self.role == Role.ADMIN

    @property
    def is_lead(self) -> bool:
        """True for the partnership administrator and for an employer Lead: the people who run a cohort."""
        return self.role in (Role.ADMIN, Role.LEAD)

    # Which employer's things this person may see and manage (DESIGN section 3). This is the one home of the
    # rule: the partnership administrator every employer's, an employer Lead their own employer's (the employer
    # is always the signed-in person's organisation, never one named by a form or a URL), anyone else none.
    # The panel's view of sampled portfolios is a separate rule (meeting seats, in portal/visibility.py).

    @property
    def own_employer_id(self) -> int | None:
        """The employer whose things an employer Lead manages; None for everyone else."""
        return self.organisation_id if self.role == Role.LEAD else None

    def manages(self, employer_id: int | None) -> bool:
        """True if this person may see and manage what belongs to this employer (None: to no employer)."""
        if self.role == Role.ADMIN:
            return True
        return self.own_employer_id is not None and employer_id == self.own_employer_id

    def employer_scope(self, employer_column: SQLColumnExpression[int | None]) -> ColumnElement[bool]:
        """manages() as a condition on a column holding an employer's id, for queries (deny by default)."""
        if self.role == Role.ADMIN:
            return true()
        if self.own_employer_id is None:
            return false()
        return employer_column == self.own_employer_id

    def manages_person(self, role: str, organisation_id: int | None) -> bool:
        """True if this person may see and look after an account (or invitation) of this role and organisation:
        the administrator anyone's, an employer Lead their own employer's Assessors and NQSWs."""
        if self.role == Role.ADMIN:
            return True
        return role in LEAD_MANAGED_ROLES and self.manages(organisation_id)

    def people_scope(self, role_column: SQLColumnExpression[str],
                     organisation_column: SQLColumnExpression[int | None]) -> ColumnElement[bool]:
        """manages_person() as a condition on an account's (or invitation's) role and organisation columns."""
        if self.role == Role.ADMIN:
            return true()
        return self.employer_scope(organisation_column) & role_column.in_([r.value for r in LEAD_MANAGED_ROLES])

    def acting_employer(self, chosen: int | None) -> int | None:
        """The employer a new or changed record belongs to: an employer Lead's own, whatever was chosen; the one
        the administrator chose."""
        return chosen if self.role == Role.ADMIN else self.own_employer_id


class RecoveryCode(Base):
    """One single-use recovery code, stored only as a keyed hash."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_id: Mapped[str] = mapped_column(String(20))
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
