"""The data of one meeting, built once: its seats and attendance, each sampled portfolio's assessments side by
side with their counts and the panel's view, who has read what (readiness), and the meeting's totals.

The Chair's meeting record page, the panel's-view page, the minutes editor, the minutes and the summary report
all read this one structure, so none of them can disagree with another. It is loaded in a fixed number of
queries whatever the number of members, portfolios or documents. What the reader sees of the members'
assessments follows visibility.sight; in published minutes every count is shown.
"""

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select

from portal import clock, visibility
from portal.documents import name_check
from portal.documents.services import READ, documents_of, readiness_matrix
from portal.extensions import db
from portal.models import (
    Agreement,
    Assessment,
    Attendance,
    Document,
    Meeting,
    MeetingMember,
    PanelView,
    Portfolio,
    User,
)
from portal.reviews.counts import Summary
from portal.reviews.template_default import SUPPORT
from portal.visibility import Sight

SUBMITTED, DRAFT, NOT_STARTED = "submitted", "draft", "not_started"
CRITERIA_LABELS = {"accurate": "Accurate", "valid": "Valid", "robust": "Robust", "sufficient": "Sufficient"}
SUPPORT_LABELS = {key: label for key, label, _hint in SUPPORT}


@dataclass
class DocumentRow:
    """One document of a sampled portfolio and, per member id, read / older / unread, and how many of its pages
    they opened in the reading view ("read 9 of 12 pages", or "")."""

    document: Document
    cells: dict[int, str]
    pages: dict[int, str] = field(default_factory=dict)


@dataclass
class PortfolioData:
    """One sampled portfolio: each member's progress, their submitted assessments and counts, the panel's view."""

    portfolio: Portfolio
    label: str  # as the reader names it (Portfolio.label_for)
    status: dict[int, str] = field(default_factory=dict)  # member id -> submitted / draft / not_started
    documents: list[DocumentRow] = field(default_factory=list)  # only when built with documents=True
    # The submitted assessments and their counts; both empty when the reader may not see them (see `sight`).
    submitted: list[Assessment] = field(default_factory=list)
    summary: Summary = field(default_factory=Summary)
    panel_view: PanelView | None = None
    sight: Sight = visibility.SEEN

    @property
    def sections(self) -> list[dict[str, Any]]:
        """The form sections to show the submitted assessments against (the newest template among them)."""
        if not self.submitted:
            return []
        return max((a.template for a in self.submitted), key=lambda t: t.version).sections

    @property
    def agreement_label(self) -> str:
        """The panel's recorded agreement with the Internal Panel."""
        view = self.panel_view
        return Agreement(view.agreement).label if view and view.agreement else "Not recorded"

    @property
    def criteria_yes(self) -> dict[str, int]:
        """Part 2: members answering "yes" for each criterion."""
        return {CRITERIA_LABELS[key]: tally["yes"] for key, tally in self.summary.criteria.items()}


@dataclass
class MeetingData:
    """A meeting's seats, its sampled portfolios and its totals.

    `total` counts every submitted assessment of the Chair and members, whatever the reader sees: readers see
    it only when `counts_shown`. `panel_agreement` counts the Chair's recorded views by agreement and
    `attendance` the Chair and members by expected / attended / apologies.
    """

    meeting: Meeting
    everyone: list[MeetingMember]  # every seat, observers too (attendance), by name
    seats: list[MeetingMember]  # the Chair and members, by name
    portfolios: list[PortfolioData]
    total: Summary = field(default_factory=Summary)
    panel_agreement: dict[str, int] = field(default_factory=lambda: {a.value: 0 for a in Agreement})
    attendance: dict[str, int] = field(default_factory=lambda: {a.value: 0 for a in Attendance})

    def portfolio(self, portfolio_id: int) -> PortfolioData | None:
        """One sampled portfolio's data, if it is in the sample."""
        return next((p for p in self.portfolios if p.portfolio.id == portfolio_id), None)

    @property
    def sample_names(self) -> name_check.SampleNames:
        """How many sampled documents still name someone in their text (built with documents=True)."""
        return name_check.sample_names(row.document for p in self.portfolios for row in p.documents)

    @property
    def names(self) -> dict[int, str]:
        """Each seated person's name by user id."""
        return {seat.user_id: seat.user.name for seat in self.seats}

    @property
    def attended(self) -> list[MeetingMember]:
        """The Chair and members who did not send apologies (attended, or not recorded yet)."""
        return [m for m in self.everyone if m.attendance != Attendance.APOLOGIES.value and visibility.on_the_panel(m)]

    @property
    def apologies(self) -> list[MeetingMember]:
        """Everyone seated who sent apologies."""
        return [m for m in self.everyone if m.attendance == Attendance.APOLOGIES.value]

    @property
    def moderated(self) -> int:
        """How many sampled portfolios the panel moderates."""
        return len(self.portfolios)

    @property
    def confirmed(self) -> int:
        """Portfolios whose Internal Panel decision the panel confirmed (agree, with or without reservations)."""
        return (self.panel_agreement[Agreement.AGREE.value]
                + self.panel_agreement[Agreement.AGREE_WITH_RESERVATIONS.value])

    @property
    def counts_shown(self) -> bool:
        """Whether the reader sees the counts of every sampled portfolio (and so the meeting's totals)."""
        return all(p.sight.shown for p in self.portfolios)

    @property
    def counts_from(self) -> date | None:
        """The first day the reader will see every count, when some are not shown yet (None if not by date)."""
        days = [p.sight.from_day for p in self.portfolios if not p.sight.shown]
        known = [day for day in days if day is not None]
        return max(known) if known and len(known) == len(days) else None

    @property
    def agreement_totals(self) -> dict[str, int]:
        """The panel's recorded agreement, counted over the sample."""
        return {a.label: self.panel_agreement.get(a.value, 0) for a in Agreement}

    @property
    def member_agreement_totals(self) -> dict[str, int]:
        """Members' own answers to the agreement question, over every submitted assessment."""
        return {a.label: self.total.agreement.get(a.value, 0) for a in Agreement}

    @property
    def criteria_totals(self) -> dict[str, int]:
        """Part 2: members' "yes" answers for each criterion, over every submitted assessment."""
        return {CRITERIA_LABELS[key]: tally["yes"] for key, tally in self.total.criteria.items()}

    @property
    def evidence_totals(self) -> tuple[int, int]:
        """Part 1: evidence checklist answers (yes, no) over every submitted assessment."""
        tallies = self.total.evidence.values()
        return sum(t["yes"] for t in tallies), sum(t["no"] for t in tallies)

    @property
    def support_totals(self) -> list[tuple[str, dict[str, int]]]:
        """Quality of support: yes / no / unclear for each question, over every submitted assessment."""
        return [(SUPPORT_LABELS[key], tally) for key, tally in self.total.support.items()]

    def needs_reminder(self) -> list[User]:
        """Members with a current document unread or an assessment not submitted (built with documents=True)."""
        return [
            seat.user for seat in self.seats
            if any(row.cells[seat.user_id] != READ for p in self.portfolios for row in p.documents)
            or any(p.status[seat.user_id] != SUBMITTED for p in self.portfolios)
        ]


def _documents(portfolio_ids: list[int], seats: list[MeetingMember]) -> list[DocumentRow]:
    documents = [d for d in documents_of(portfolio_ids) if d.current_version_id is not None]
    people = [seat.user for seat in seats]
    matrix = readiness_matrix(people, documents)
    return [DocumentRow(d, {person.id: matrix.state(person, d) for person in people},
                        {person.id: matrix.pages_read(person, d) for person in people}) for d in documents]


# The Chair's record shows the reading and the assessments of this many sampled portfolios a page (each shows
# every member's answers side by side), so a meeting with a large sample stays a readable, bounded page.
RECORD_PAGE = 5


def record_page_of(meeting: Meeting, portfolio_id: int) -> int:
    """The page of the meeting record that holds this sampled portfolio (1 if it is not sampled)."""
    ids = [p.id for p in visibility.sampled_portfolios(meeting.id)]
    return ids.index(portfolio_id) // RECORD_PAGE + 1 if portfolio_id in ids else 1


def build(meeting: Meeting, viewer: User, portfolio_id: int | None = None, documents: bool = False) -> MeetingData:
    """The data of a meeting as this viewer may see it: of one sampled portfolio if given, and with who has read
    which document (the readiness tables) only if `documents`."""
    everyone = visibility.seats(meeting.id)
    seats = visibility.panel_of(everyone)
    member_ids = [seat.user_id for seat in seats]
    data = MeetingData(meeting, everyone, seats, [])
    for seat in seats:
        data.attendance[seat.attendance] = data.attendance.get(seat.attendance, 0) + 1
    # By portfolio id, which is how documents and assessments name their portfolio (a column that may be NULL).
    found: dict[int | None, PortfolioData] = {
        p.id: PortfolioData(p, p.label_for(viewer), status=dict.fromkeys(member_ids, NOT_STARTED))
        for p in visibility.sampled_portfolios(meeting.id) if portfolio_id is None or p.id == portfolio_id}
    data.portfolios = list(found.values())
    for row in _documents([item.portfolio.id for item in data.portfolios], seats) if documents else []:
        found[row.document.portfolio_id].documents.append(row)
    seated = set(member_ids)
    for assessment in db.session.scalars(
            select(Assessment).where(Assessment.meeting_id == meeting.id).order_by(Assessment.id)):
        item = found.get(assessment.portfolio_id)
        if item is None or assessment.user_id not in seated:
            continue
        item.status[assessment.user_id] = SUBMITTED if assessment.submitted else DRAFT
        if assessment.submitted:
            item.submitted.append(assessment)
            item.summary.add(assessment)
            data.total.add(assessment)
    for view in db.session.scalars(select(PanelView).where(PanelView.meeting_id == meeting.id)):
        if view.portfolio_id in found:
            found[view.portfolio_id].panel_view = view
            if view.agreement in data.panel_agreement:
                data.panel_agreement[view.agreement] += 1
    if meeting.minutes_published_at is None:
        viewer_seat = next((seat for seat in everyone if seat.user_id == viewer.id), None)
        today = clock.today()
        for item in data.portfolios:
            item.sight = visibility.sight(viewer, meeting, viewer_seat, item.status.get(viewer.id) == SUBMITTED,
                                          today)
            if not item.sight.shown:
                item.submitted, item.summary = [], Summary()
    return data
