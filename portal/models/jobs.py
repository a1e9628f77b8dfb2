"""The record of every run of a scheduled job, so operators can see what the worker did and when."""

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UTCDateTime


class JobRun(Base):
    """One run of a scheduled job: who ran it, when, and how it ended.

    outcome is "running" until the run ends, then "succeeded", "failed" or "interrupted" (its worker stopped
    before it finished). checkpoint carries what the job's next run starts from (the audit anchor).
    """

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_started_at", "job", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(60))
    worker: Mapped[str] = mapped_column(String(120))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(20), default="running")
    summary: Mapped[str] = mapped_column(Text, default="")
    checkpoint: Mapped[str] = mapped_column(String(200), default="")


class ReminderSent(Base):
    """That one automatic reminder went out, so the reminders job never sends it twice.

    key names the reminder without any personal data, for example "reading:12:34:3" (meeting 12, person 34,
    the reminder 3 days before the reading deadline) or "digest:5:2026-12-11" (Lead 5's digest of that day).
    """

    __tablename__ = "reminders_sent"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
