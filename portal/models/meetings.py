"""Meetings of the External Moderation Panel, who sits on them, and the verifiable random sample."""

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, EncryptedText, UTCDateTime
from portal.models.portfolios import Portfolio
from portal.models.users import User


class PanelRole(enum.StrEnum):
    """What a person does at one meeting."""

    CHAIR = "chair"
    MEMBER = "member"
    OBSERVER = "observer"

    @property
    def label(self) -> str:
        """As people say it."""
        return self.value.capitalize()


class Attendance(enum.StrEnum):
    """Whether a person came to the meeting."""

    EXPECTED = "expected"
    ATTENDED = "attended"
    APOLOGIES = "apologies"  # cannot attend: submits a written assessment instead

    @property
    def label(self) -> str:
        """As people say it."""
        return ATTENDANCE_LABELS[self]


ATTENDANCE_LABELS = {Attendance.EXPECTED: "Not recorded yet", Attendance.ATTENDED: "Attended",
                     Attendance.APOLOGIES: "Sent apologies"}


class Meeting(Base):
    """One meeting of the panel."""

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(EncryptedText("meetings.title"))  # typed by the Lead, up to 200 characters
    held_on: Mapped[date] = mapped_column(Date)
    reading_deadline: Mapped[date | None] = mapped_column(Date)
    # Deferred: the long texts are shown only on the meeting's own page and its form, so they are loaded (both in
    # one statement) and decrypted only when asked for, not with every list of meetings.
    agenda: Mapped[str | None] = mapped_column(EncryptedText("meetings.agenda"), deferred=True, deferred_group="texts")
    terms_of_reference: Mapped[str | None] = mapped_column(EncryptedText("meetings.terms_of_reference"),
                                                            deferred=True, deferred_group="texts")
    minutes_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    access_window_days: Mapped[int] = mapped_column(Integer, default=30)
    # Set when the minutes are published: the panel's access to the sample ends at this moment.
    access_closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    members: Mapped[list["MeetingMember"]] = relationship(back_populates="meeting", cascade="all, delete-orphan")
    sampled: Mapped[list["SampledPortfolio"]] = relationship(back_populates="meeting",
                                                             cascade="all, delete-orphan")


class MeetingMember(Base):
    """A person's seat at a meeting: chair, member or observer, and their attendance."""

    __tablename__ = "meeting_members"
    __table_args__ = (UniqueConstraint("meeting_id", "user_id", name="uq_meeting_members_meeting_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    panel_role: Mapped[str] = mapped_column(String(20), default=PanelRole.MEMBER.value)
    attendance: Mapped[str] = mapped_column(String(20), default=Attendance.EXPECTED.value)
    added_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None for seats made before it was recorded

    meeting: Mapped[Meeting] = relationship(back_populates="members")
    user: Mapped[User] = relationship(lazy="joined")

    @property
    def role_label(self) -> str:
        """The seat as people say it: Chair, Member or Observer."""
        return PanelRole(self.panel_role).label

    @property
    def attendance_label(self) -> str:
        """Attended, Sent apologies or Not recorded yet."""
        return Attendance(self.attendance).label


class SampleDraw(Base):
    """One random draw: the seed, the population and the picks are kept so anyone can re-run it."""

    __tablename__ = "sample_draws"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    seed: Mapped[str] = mapped_column(String(64))
    population: Mapped[str] = mapped_column(Text)  # JSON list of eligible portfolio ids, sorted
    parameters: Mapped[str] = mapped_column(Text)  # JSON: size or percentage, strata
    picks: Mapped[str] = mapped_column(Text)  # JSON list of picked portfolio ids, in draw order
    reason: Mapped[str] = mapped_column(EncryptedText("sample_draws.reason"), default="")  # required for a redraw
    drawn_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime)
    current: Mapped[bool] = mapped_column(Boolean, default=True)

    drawn_by: Mapped[User] = relationship()


class SampledPortfolio(Base):
    """A portfolio in a meeting's current sample: the panel may see it while the access window is open."""

    __tablename__ = "sampled_portfolios"
    __table_args__ = (UniqueConstraint("meeting_id", "portfolio_id", name="uq_sampled_portfolios_meeting_portfolio"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolios.id"), index=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("sample_draws.id"))
    position: Mapped[int] = mapped_column(Integer)

    meeting: Mapped[Meeting] = relationship(back_populates="sampled")
    portfolio: Mapped[Portfolio] = relationship(lazy="joined")


class TemplateKind(enum.StrEnum):
    """The editable texts a new meeting starts from."""

    AGENDA = "agenda"
    TERMS_OF_REFERENCE = "terms_of_reference"


class MeetingTemplate(Base):
    """The Lead's editable starting text for each new meeting's agenda or Terms of Reference."""

    __tablename__ = "meeting_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), unique=True)
    text: Mapped[str] = mapped_column(EncryptedText("meeting_templates.text"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
