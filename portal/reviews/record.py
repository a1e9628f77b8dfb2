"""The Chair's meeting record: readiness (read and submitted), assessments side by side, counts, panel views.

Everything is loaded in a fixed number of queries whatever the number of members, portfolios or documents.
"""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from portal.documents.services import READ, documents_of, readiness_matrix
from portal.extensions import db
from portal.models import (
    Assessment,
    Document,
    Meeting,
    MeetingMember,
    PanelRole,
    PanelView,
    Portfolio,
    SampledPortfolio,
    User,
)
from portal.reviews import counts

SUBMITTED, DRAFT, NOT_STARTED = "submitted", "draft", "not_started"
PANEL_ROLES = (PanelRole.CHAIR.value, PanelRole.MEMBER.value)


@dataclass
class DocumentRow:
    """One document of a sampled portfolio and, per member id, read / older / unread."""

    document: Document
    cells: dict[int, str]


@dataclass
class PortfolioRecord:
    """One sampled portfolio as the Chair sees it."""

    portfolio: Portfolio
    documents: list[DocumentRow] = field(default_factory=list)
    status: dict[int, str] = field(default_factory=dict)  # member id -> submitted / draft / not_started
    submitted: list[Assessment] = field(default_factory=list)
    summary: counts.Summary = field(default_factory=counts.Summary)
    panel_view: PanelView | None = None
    # False while the viewer sits on the panel and has not submitted their own assessment of it.
    visible: bool = True

    @property
    def sections(self) -> list[dict[str, Any]]:
        """The form sections to show the submitted assessments against (the newest template among them)."""
        if not self.submitted:
            return []
        return max((a.template for a in self.submitted), key=lambda t: t.version).sections


@dataclass
class MeetingRecord:
    """The whole record: the panel's seats and each sampled portfolio."""

    meeting: Meeting
    seats: list[MeetingMember]
    portfolios: list[PortfolioRecord]
    everyone: list[MeetingMember]  # observers too, for attendance

    @property
    def names(self) -> dict[int, str]:
        """Each seated person's name by user id."""
        return {seat.user_id: seat.user.name for seat in self.seats}

    def needs_reminder(self) -> list[User]:
        """Members with a current document unread or an assessment not submitted."""
        return [
            seat.user for seat in self.seats
            if any(row.cells[seat.user_id] != READ for p in self.portfolios for row in p.documents)
            or any(p.status[seat.user_id] != SUBMITTED for p in self.portfolios)
        ]


def all_seats(meeting_id: int) -> list[MeetingMember]:
    """Everyone seated at a meeting (Chair, members, observers), by name."""
    return list(db.session.scalars(
        select(MeetingMember).join(User, User.id == MeetingMember.user_id)
        .where(MeetingMember.meeting_id == meeting_id).order_by(User.name, User.id)).unique())


def _on_the_panel(seats: list[MeetingMember]) -> list[MeetingMember]:
    return [seat for seat in seats if seat.panel_role in PANEL_ROLES]


def panel_seats(meeting_id: int) -> list[MeetingMember]:
    """The Chair and members of a meeting (not observers), by name."""
    return _on_the_panel(all_seats(meeting_id))


def sampled_portfolios(meeting_id: int) -> list[Portfolio]:
    """The meeting's sampled portfolios still held, in draw order."""
    return list(db.session.scalars(
        select(Portfolio).join(SampledPortfolio, SampledPortfolio.portfolio_id == Portfolio.id)
        .where(SampledPortfolio.meeting_id == meeting_id, Portfolio.purged_at.is_(None))
        .order_by(SampledPortfolio.position, Portfolio.id)
    ).unique())


def _documents(portfolio_ids: list[int], seats: list[MeetingMember]) -> list[DocumentRow]:
    documents = [d for d in documents_of(portfolio_ids) if d.current_version_id is not None]
    people = [seat.user for seat in seats]
    matrix = readiness_matrix(people, documents)
    return [DocumentRow(d, {person.id: matrix.state(person, d) for person in people}) for d in documents]


def meeting_record(meeting: Meeting, viewer: User) -> MeetingRecord:
    """Assemble the Chair's record of a meeting for this viewer."""
    everyone = all_seats(meeting.id)
    seats = _on_the_panel(everyone)
    member_ids = [seat.user_id for seat in seats]
    portfolios = sampled_portfolios(meeting.id)
    records = {p.id: PortfolioRecord(p, status=dict.fromkeys(member_ids, NOT_STARTED)) for p in portfolios}
    for row in _documents(list(records), seats):
        records[row.document.portfolio_id].documents.append(row)
    assessments = db.session.scalars(
        select(Assessment).where(Assessment.meeting_id == meeting.id).order_by(Assessment.id))
    seated = set(member_ids)
    for assessment in assessments:
        record = records.get(assessment.portfolio_id)
        if record is None or assessment.user_id not in seated:
            continue
        record.status[assessment.user_id] = SUBMITTED if assessment.submitted else DRAFT
        if assessment.submitted:
            record.submitted.append(assessment)
            record.summary.add(assessment)
    for view in db.session.scalars(select(PanelView).where(PanelView.meeting_id == meeting.id)):
        if view.portfolio_id in records:
            records[view.portfolio_id].panel_view = view
    if viewer.id in seated:
        for record in records.values():
            record.visible = record.status[viewer.id] == SUBMITTED
    return MeetingRecord(meeting, seats, list(records.values()), everyone)
