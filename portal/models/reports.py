"""The reports area's tables: minutes and their revisions, themes, actions, key messages and the feedback release."""

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, EncryptedText, UTCDateTime
from portal.models.meetings import Meeting
from portal.models.users import User


class MinutesStatus(enum.StrEnum):
    """Where a meeting's minutes stand: only published minutes reach the Steering Group."""

    DRAFT = "draft"
    APPROVED = "approved"
    PUBLISHED = "published"

    @property
    def label(self) -> str:
        """As people say it."""
        return self.value.capitalize()


class Minutes(Base):
    """A meeting's minutes: the Chair's free text; everything else is filled from the data."""

    __tablename__ = "minutes"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=MinutesStatus.DRAFT.value)
    notes: Mapped[str] = mapped_column(EncryptedText("minutes.notes"), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    meeting: Mapped[Meeting] = relationship()
    revisions: Mapped[list["MinutesRevision"]] = relationship(
        back_populates="minutes", order_by="MinutesRevision.number", cascade="all, delete-orphan"
    )

    @property
    def published(self) -> bool:
        """True once published: the minutes are then read-only and change only by revision."""
        return self.status == MinutesStatus.PUBLISHED.value


class MinutesRevision(Base):
    """The published text of the minutes as it stood: revision 1 at publication, then one per correction."""

    __tablename__ = "minutes_revisions"
    __table_args__ = (UniqueConstraint("minutes_id", "number", name="uq_minutes_revisions_minutes_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    minutes_id: Mapped[int] = mapped_column(ForeignKey("minutes.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    notes: Mapped[str] = mapped_column(EncryptedText("minutes_revisions.notes"))
    reason: Mapped[str] = mapped_column(EncryptedText("minutes_revisions.reason"), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    minutes: Mapped[Minutes] = relationship(back_populates="revisions")
    created_by: Mapped[User] = relationship()


class Theme(Base):
    """A theme for the programme, named once and reused so it can be tracked across meetings and cohorts."""

    __tablename__ = "themes"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Themes name issues with the programme, never people, so the name is plain and can be unique.
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MeetingTheme(Base):
    """A theme raised at one meeting, with what the panel said about it there."""

    __tablename__ = "meeting_themes"
    __table_args__ = (UniqueConstraint("meeting_id", "theme_id", name="uq_meeting_themes_meeting_theme"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    theme_id: Mapped[int] = mapped_column(ForeignKey("themes.id"), index=True)
    note: Mapped[str] = mapped_column(EncryptedText("meeting_themes.note"), default="")
    # The member employer the theme concerns; None: the whole partnership. Its Lead sees it (visibility.py).
    employer_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)

    theme: Mapped[Theme] = relationship(lazy="joined")
    meeting: Mapped[Meeting] = relationship()


class ActionStatus(enum.StrEnum):
    """Progress on an action for the Steering Group."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"

    @property
    def label(self) -> str:
        """As people say it."""
        return {"open": "Open", "in_progress": "In progress", "done": "Done"}[self.value]


class Action(Base):
    """An action agreed at a meeting; until done it is carried forward to the following meetings."""

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    description: Mapped[str] = mapped_column(EncryptedText("actions.description"))
    owner: Mapped[str] = mapped_column(EncryptedText("actions.owner"))
    due_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=ActionStatus.OPEN.value, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The member employer that owns the action; None: the whole partnership. Its Lead sees it (visibility.py).
    employer_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)

    meeting: Mapped[Meeting] = relationship(lazy="joined")

    @property
    def status_label(self) -> str:
        """The status as people say it."""
        return ActionStatus(self.status).label


class KeyMessage(Base):
    """A key message from the panel for every NQSW and Assessor in the cohort."""

    __tablename__ = "key_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(EncryptedText("key_messages.text"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FeedbackRelease(Base):
    """The one moment a meeting's feedback and key messages were released."""

    __tablename__ = "feedback_releases"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), unique=True)
    target_on: Mapped[date] = mapped_column(Date)
    released_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    meeting: Mapped[Meeting] = relationship()
    recipients: Mapped[list["FeedbackRecipient"]] = relationship(back_populates="release",
                                                                 cascade="all, delete-orphan")


class FeedbackRecipient(Base):
    """One person a release went to: personal feedback (if their portfolio was sampled) and the key messages."""

    __tablename__ = "feedback_recipients"
    __table_args__ = (UniqueConstraint("release_id", "user_id", name="uq_feedback_recipients_release_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("feedback_releases.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    has_feedback: Mapped[bool] = mapped_column(Boolean, default=False)  # False: key messages only
    account_created: Mapped[bool] = mapped_column(Boolean, default=False)
    notified_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    release: Mapped[FeedbackRelease] = relationship(back_populates="recipients")
    user: Mapped[User] = relationship(lazy="joined")


# The sections of Skills for Care's partnership report template that only the ASYE Lead can write: each is free
# text on the summary report (column name, heading, what to write).
REPORT_SECTIONS = (
    ("withdrawals", "Withdrawals",
     "NQSWs who withdrew from the programme since the last report: the timescales and the outcome of each."),
    ("national_feedback", "Feedback from the national moderation panel",
     "What the national moderation panel said about the partnership since the last report."),
    ("organisational_issues", "Organisational and support issues",
     "Issues with the organisations or the support NQSWs received, and what was done about them."),
    ("employment_issues", "Employment or capability issues",
     "Employment or capability procedures affecting NQSWs, without naming anyone."),
)


class ReportSections(Base):
    """The ASYE Lead's own sections of a meeting's partnership summary report (REPORT_SECTIONS)."""

    __tablename__ = "report_sections"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), unique=True)
    withdrawals: Mapped[str] = mapped_column(EncryptedText("report_sections.withdrawals"), default="")
    national_feedback: Mapped[str] = mapped_column(EncryptedText("report_sections.national_feedback"), default="")
    organisational_issues: Mapped[str] = mapped_column(EncryptedText("report_sections.organisational_issues"),
                                                       default="")
    employment_issues: Mapped[str] = mapped_column(EncryptedText("report_sections.employment_issues"), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    def text_of(self, section: str) -> str:
        """One section's text, by its column name in REPORT_SECTIONS."""
        return str(getattr(self, section))
