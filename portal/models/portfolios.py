"""The cohort: NQSWs, their Assessors, cohorts and portfolios."""

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, ColumnElement, Date, ForeignKey, String, UniqueConstraint, case, func, literal
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime
from portal.models.users import Organisation, User


class Service(enum.StrEnum):
    """Which of the council's services the NQSW works in."""

    CHILDREN = "children"
    ADULTS = "adults"

    @property
    def label(self) -> str:
        """As people say it."""
        return "Children's services" if self is Service.CHILDREN else "Adults' services"


class Outcome(enum.StrEnum):
    """The Internal Panel's outcome for a portfolio."""

    PASS = "pass"
    FAIL = "fail"
    EXTENSION = "extension"

    @property
    def label(self) -> str:
        """As people say it."""
        return {"pass": "Pass", "fail": "Fail", "extension": "Extended"}[self.value]


class Cohort(Base):
    """A group of NQSWs who started together, e.g. "Academy 2026" or "grow your own".

    An employer's own cohort belongs to it; a cohort without an employer is the partnership's, shared by every
    member employer (each employer Lead sees and counts only their own NQSWs in it).
    """

    __tablename__ = "cohorts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    employer_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)


class Assessor(Base):
    """An Assessor in the registry; they need an account only when there is feedback for them."""

    __tablename__ = "assessors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)  # the registry lists sort and page by name
    email: Mapped[str] = mapped_column(String(254), unique=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    organisation: Mapped[Organisation | None] = relationship()
    user: Mapped[User | None] = relationship()


class Nqsw(Base):
    """A newly qualified social worker in the registry; an account is created only to receive feedback."""

    __tablename__ = "nqsws"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)  # the registry lists sort and page by name
    email: Mapped[str] = mapped_column(String(254), unique=True)
    employer_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohorts.id"))
    service: Mapped[str] = mapped_column(String(20), default=Service.CHILDREN.value)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    employer: Mapped[Organisation | None] = relationship()
    cohort: Mapped[Cohort | None] = relationship()
    user: Mapped[User | None] = relationship()


class Portfolio(Base):
    """An NQSW's ASYE portfolio with the Internal Panel's outcome."""

    __tablename__ = "portfolios"
    __table_args__ = (UniqueConstraint("pseudonym", name="uq_portfolios_pseudonym"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    nqsw_id: Mapped[int] = mapped_column(ForeignKey("nqsws.id"), index=True)
    assessor_id: Mapped[int | None] = mapped_column(ForeignKey("assessors.id"), index=True)
    outcome: Mapped[str | None] = mapped_column(String(20))
    outcome_date: Mapped[date | None] = mapped_column(Date)
    pseudonym: Mapped[str | None] = mapped_column(String(20))
    exemplar_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    nqsw: Mapped[Nqsw] = relationship(lazy="joined")
    assessor: Mapped[Assessor | None] = relationship(lazy="joined")

    @property
    def employer_id(self) -> int | None:
        """The member employer the portfolio belongs to: its NQSW's."""
        return self.nqsw.employer_id

    def label_for(self, user: User) -> str:
        """The name a person sees: the pseudonym for the panel when one is set, the NQSW's name for the Leads who
        manage the portfolio's employer."""
        if self.pseudonym and not user.manages(self.employer_id):
            return f"Portfolio {self.pseudonym}"
        return f"{self.nqsw.name}" + (f" ({self.pseudonym})" if self.pseudonym else "")

    @staticmethod
    def label_column(user: User) -> ColumnElement[str]:
        """label_for() as a column, to sort and search by in a query that joins the portfolio's Nqsw: the panel
        searches and sorts by what it sees, never by a name a pseudonym hides."""
        named = Nqsw.name + func.coalesce(literal(" (") + Portfolio.pseudonym + literal(")"), "")
        return case((Portfolio.pseudonym.is_(None), Nqsw.name), (user.employer_scope(Nqsw.employer_id), named),
                    else_=literal("Portfolio ") + Portfolio.pseudonym)
