"""Structured assessments of sampled portfolios, their versioned templates, and the panel's recorded view."""

import enum
import json
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, EncryptedText, UTCDateTime
from portal.models.users import User


class AssessmentStatus(enum.StrEnum):
    """Where a member's assessment of one portfolio stands."""

    DRAFT = "draft"
    SUBMITTED = "submitted"


class Agreement(enum.StrEnum):
    """Whether a member (or the panel) agrees with the Internal Panel's decision."""

    AGREE = "agree"
    AGREE_WITH_RESERVATIONS = "agree_with_reservations"
    DISAGREE = "disagree"

    @property
    def label(self) -> str:
        """As people say it."""
        return AGREEMENT_LABELS[self]


AGREEMENT_LABELS = {
    Agreement.AGREE: "Agree",
    Agreement.AGREE_WITH_RESERVATIONS: "Agree with reservations",
    Agreement.DISAGREE: "Disagree",
}


class AssessmentTemplate(Base):
    """One version of the assessment form; a new version is a new row and old assessments keep theirs."""

    __tablename__ = "assessment_templates"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_assessment_templates_name_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    schema: Mapped[str] = mapped_column(Text)  # JSON: sections -> questions (see portal/reviews/template_default.py)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def sections(self) -> list[dict[str, Any]]:
        """The parsed sections of the form."""
        return list(json.loads(self.schema)["sections"])


class Assessment(Base):
    """A member's assessment of one sampled portfolio at one meeting; answers are encrypted JSON."""

    __tablename__ = "assessments"
    __table_args__ = (
        UniqueConstraint("meeting_id", "portfolio_id", "user_id", name="uq_assessments_meeting_portfolio_user"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolios.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("assessment_templates.id"))
    answers: Mapped[str] = mapped_column(EncryptedText("assessments.answers"), default="{}")
    status: Mapped[str] = mapped_column(String(20), default=AssessmentStatus.DRAFT.value)
    # Submitted in writing because the member sent apologies for the meeting.
    written: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    template: Mapped[AssessmentTemplate] = relationship(lazy="joined")
    user: Mapped[User] = relationship()

    @property
    def answer_map(self) -> dict[str, Any]:
        """The decrypted answers as a dictionary."""
        return dict(json.loads(self.answers or "{}"))

    @property
    def submitted(self) -> bool:
        """True once the member has submitted (the assessment is then locked)."""
        return self.status == AssessmentStatus.SUBMITTED.value


class PanelView(Base):
    """What the Chair records for the panel about one portfolio at one meeting."""

    __tablename__ = "panel_views"
    __table_args__ = (UniqueConstraint("meeting_id", "portfolio_id", name="uq_panel_views_meeting_portfolio"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolios.id"), index=True)
    decision_view: Mapped[str | None] = mapped_column(EncryptedText("panel_views.decision_view"))
    support_view: Mapped[str | None] = mapped_column(EncryptedText("panel_views.support_view"))
    agreement: Mapped[str | None] = mapped_column(String(30))  # an Agreement value, or None
    exemplars_confirmed: Mapped[str | None] = mapped_column(EncryptedText("panel_views.exemplars_confirmed"))
    feedback_assessor: Mapped[str | None] = mapped_column(EncryptedText("panel_views.feedback_assessor"))
    feedback_nqsw: Mapped[str | None] = mapped_column(EncryptedText("panel_views.feedback_nqsw"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
