"""What an employer Lead sees of the panel's work for their own employer: the feedback release ledger for their
own people, and the report on their own portfolios at each meeting with published minutes.

Whose people and portfolios are "their own" is User.manages / people_scope (the one home of the employer rule);
the administrator, who manages every employer, sees every employer's ledger here too.
"""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal import clock
from portal.extensions import db
from portal.models import FeedbackRecipient, FeedbackRelease, Meeting, Nqsw, Portfolio, SampledPortfolio, User
from portal.reports import minutes_data
from portal.reports.minutes_data import MinutesData
from portal.reviews.meeting_data import PortfolioData


@dataclass
class LedgerEntry:
    """One of the Lead's people in one release."""

    recipient: FeedbackRecipient
    target_on: date

    @property
    def state(self) -> str:
        """Acknowledged, Overdue (not acknowledged after the target date) or Released."""
        if self.recipient.acknowledged_at is not None:
            return "Acknowledged"
        return "Overdue" if clock.now().date() > self.target_on else "Released"


@dataclass
class MeetingLedger:
    """One meeting's release, as far as it reached the Lead's own people."""

    meeting: Meeting
    released_at: object
    entries: list[LedgerEntry]


def ledger(user: User) -> list[MeetingLedger]:
    """Every release that reached the person's own employer's Assessors and NQSWs, newest first."""
    rows = db.session.scalars(
        select(FeedbackRecipient).join(FeedbackRelease, FeedbackRelease.id == FeedbackRecipient.release_id)
        .join(User, User.id == FeedbackRecipient.user_id)
        .where(user.people_scope(User.role, User.organisation_id))
        .options(joinedload(FeedbackRecipient.release).joinedload(FeedbackRelease.meeting))
        .order_by(FeedbackRelease.released_at.desc(), User.name))
    meetings: dict[int, MeetingLedger] = {}
    for recipient in rows:
        item = recipient.release
        found = meetings.setdefault(item.meeting_id, MeetingLedger(item.meeting, item.released_at, []))
        found.entries.append(LedgerEntry(recipient, item.target_on))
    return list(meetings.values())


def _own_sampled(user: User, meeting_id: int) -> bool:
    return db.session.scalar(
        select(SampledPortfolio.id).join(Portfolio, Portfolio.id == SampledPortfolio.portfolio_id)
        .join(Nqsw, Nqsw.id == Portfolio.nqsw_id)
        .where(SampledPortfolio.meeting_id == meeting_id, user.employer_scope(Nqsw.employer_id)).limit(1)) is not None


def reported_meetings(user: User) -> list[Meeting]:
    """Meetings with published minutes that moderated at least one of the person's own employer's portfolios."""
    own = (select(SampledPortfolio.meeting_id).join(Portfolio, Portfolio.id == SampledPortfolio.portfolio_id)
           .join(Nqsw, Nqsw.id == Portfolio.nqsw_id).where(user.employer_scope(Nqsw.employer_id)))
    return list(db.session.scalars(select(Meeting).where(Meeting.minutes_published_at.is_not(None),
                                                         Meeting.id.in_(own)).order_by(Meeting.held_on.desc())))


def reported_meeting(user: User, meeting_id: int) -> Meeting | None:
    """A meeting with published minutes that moderated the person's own employer's portfolios, else None."""
    meeting = db.session.get(Meeting, meeting_id)
    if meeting is None or meeting.minutes_published_at is None or not _own_sampled(user, meeting_id):
        return None
    return meeting


def own_record(user: User, meeting: Meeting) -> tuple[MinutesData, list[PortfolioData]]:
    """The meeting's minutes data and, of its portfolios, those of the person's own employer."""
    found = minutes_data.build(meeting, user)
    return found, [item for item in found.panel.portfolios if user.manages(item.portfolio.employer_id)]
