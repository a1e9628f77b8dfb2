"""The Chair's meeting record: readiness (read and submitted), assessments side by side, counts, panel views.

Everything is loaded in a fixed number of queries whatever the number of members, portfolios or documents.
`sight` is the one rule for who sees the members' submitted assessments of a portfolio, and their counts.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from portal import clock
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
    Role,
    SampledPortfolio,
    User,
)
from portal.reviews import counts

SUBMITTED, DRAFT, NOT_STARTED = "submitted", "draft", "not_started"
PANEL_ROLES = (PanelRole.CHAIR.value, PanelRole.MEMBER.value)


def keeps_record(user: User, member: MeetingMember | None) -> bool:
    """True for the Lead, and for the Chair given their seat: they keep the meeting record."""
    return user.role == Role.ADMIN or (member is not None and member.panel_role == PanelRole.CHAIR.value)


def opens_to_the_panel(meeting: Meeting) -> date:
    """The first day anyone may see the members' assessments: the day after the reading deadline, or the
    meeting's date if that comes first (or there is no deadline)."""
    if meeting.reading_deadline is None:
        return meeting.held_on
    return min(meeting.reading_deadline + timedelta(days=1), meeting.held_on)


@dataclass(frozen=True)
class Sight:
    """Whether a person sees the members' submitted assessments of a portfolio (and their counts), and if not,
    what they wait for: their own submission (`own_first`), the day the reading is over (`opens_on`, if still
    ahead) and, for whoever keeps the record, the meeting's date (`record_day`), from which they see them all."""

    shown: bool
    own_first: bool = False
    opens_on: date | None = None
    record_day: date | None = None

    @property
    def from_day(self) -> date | None:
        """The day from which they will see them without doing anything more, if there is one."""
        return self.record_day if self.own_first else self.opens_on


def sight(viewer: User, meeting: Meeting, seat: MeetingMember | None, own_submitted: bool,
          today: date | None = None) -> Sight:
    """The rule for seeing the panel's assessments of one portfolio, for every page that shows them.

    - From the meeting's date, whoever keeps the record (the Chair, the Lead) sees every submitted assessment:
      they record the panel's view, feedback, exemplars and themes from them.
    - Otherwise judgements stay independent: a person on the panel sees the others' only after submitting
      their own, and nobody sees any before the reading deadline has passed (see opens_to_the_panel).
    Assessors, NQSWs and observers never reach the pages that call this.
    """
    today = today or clock.today()
    keeps = keeps_record(viewer, seat)
    if keeps and today >= meeting.held_on:
        return Sight(True)
    own_first = seat is not None and seat.panel_role in PANEL_ROLES and not own_submitted
    opens = opens_to_the_panel(meeting)
    if not own_first and today >= opens:
        return Sight(True)
    return Sight(False, own_first=own_first, opens_on=opens if today < opens else None,
                 record_day=meeting.held_on if keeps else None)


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
    # Whether the viewer sees `submitted` and `summary` (see sight); the page shows neither otherwise.
    sight: Sight = field(default_factory=lambda: Sight(True))

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


def meeting_record(meeting: Meeting, viewer: User, portfolio_id: int | None = None,
                   documents: bool = True) -> MeetingRecord:
    """Assemble the Chair's record of a meeting for this viewer: of one sampled portfolio if given, and without
    the documents read (the readiness tables) unless `documents`."""
    everyone = all_seats(meeting.id)
    seats = _on_the_panel(everyone)
    member_ids = [seat.user_id for seat in seats]
    portfolios = [p for p in sampled_portfolios(meeting.id) if portfolio_id is None or p.id == portfolio_id]
    # By portfolio id, which is how documents and assessments name their portfolio (a column that may be NULL).
    records: dict[int | None, PortfolioRecord] = {
        p.id: PortfolioRecord(p, status=dict.fromkeys(member_ids, NOT_STARTED)) for p in portfolios}
    for row in _documents([p.id for p in portfolios], seats) if documents else []:
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
    viewer_seat = next((seat for seat in everyone if seat.user_id == viewer.id), None)
    today = clock.today()
    for record in records.values():
        record.sight = sight(viewer, meeting, viewer_seat, record.status.get(viewer.id) == SUBMITTED, today)
        if not record.sight.shown:
            record.submitted, record.summary = [], counts.Summary()
    return MeetingRecord(meeting, seats, list(records.values()), everyone)
