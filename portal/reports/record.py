"""Reading the meeting record: who may see a meeting's minutes and report, and the data that fills them.

Every section except the Chair's free text comes from the data (attendance, sample, panel views,
assessments), so the minutes, the summary report and their downloads never disagree with the portal.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from flask import abort
from sqlalchemy import select

from portal import clock
from portal.extensions import db
from portal.models import (
    Action,
    ActionStatus,
    Agreement,
    Assessment,
    AssessmentStatus,
    Attendance,
    Cohort,
    KeyMessage,
    Meeting,
    MeetingMember,
    MeetingTheme,
    Minutes,
    MinutesRevision,
    MinutesStatus,
    Nqsw,
    PanelRole,
    PanelView,
    Portfolio,
    Role,
    SampledPortfolio,
    SampleDraw,
    Theme,
    User,
)
from portal.reviews.counts import Summary
from portal.reviews.record import Sight, sight
from portal.reviews.services import MeetingCounts, chaired_meeting, meeting_counts
from portal.reviews.template_default import SUPPORT

CRITERIA_LABELS = {"accurate": "Accurate", "valid": "Valid", "robust": "Robust", "sufficient": "Sufficient"}
SUPPORT_LABELS = {key: label for key, label, _hint in SUPPORT}


def seat(user: User, meeting: Meeting) -> MeetingMember | None:
    """The person's seat at the meeting, if any."""
    return db.session.scalar(
        select(MeetingMember).where(MeetingMember.meeting_id == meeting.id, MeetingMember.user_id == user.id)
    )


def chairs(user: User, meeting: Meeting) -> bool:
    """True for the Lead, and for the meeting's Chair while the access window is open: they write the record."""
    return chaired_meeting(user, meeting.id) is not None


def minutes_for(meeting: Meeting) -> Minutes | None:
    """The meeting's minutes, or None before the Chair starts them."""
    return db.session.scalar(select(Minutes).where(Minutes.meeting_id == meeting.id))


def is_published(meeting: Meeting) -> bool:
    """True once the meeting's minutes are published."""
    return meeting.minutes_published_at is not None


# The reading rules work on plain values so that readable_meetings applies them to every meeting without a
# query per meeting, and can_read_* to one meeting with a single seat lookup.
def _observes(role: str, panel_role: str | None) -> bool:
    return role == Role.OBSERVER or panel_role == PanelRole.OBSERVER.value


def _may_read_minutes(role: str, panel_role: str | None, published: bool) -> bool:
    # Draft minutes count each portfolio's "yes" answers and show the Chair's view, so a member who had not yet
    # submitted would see how the others judged: members read them only once published, with the Steering Group.
    if role == Role.ADMIN or panel_role == PanelRole.CHAIR.value:
        return True
    return (panel_role == PanelRole.MEMBER.value or _observes(role, panel_role)) and published


def _may_read_report(role: str, panel_role: str | None, published: bool) -> bool:
    if role == Role.ADMIN or panel_role == PanelRole.CHAIR.value:
        return True
    return _observes(role, panel_role) and published


def _panel_role(user: User, meeting: Meeting) -> str | None:
    place = seat(user, meeting)
    return place.panel_role if place is not None else None


def can_read_minutes(user: User, meeting: Meeting) -> bool:
    """The Lead and the Chair read drafts; the meeting's members and Steering Group observers, published minutes."""
    if user.role == Role.ADMIN:
        return True
    return _may_read_minutes(user.role, _panel_role(user, meeting), is_published(meeting))


def can_read_report(user: User, meeting: Meeting) -> bool:
    """The summary report: the Lead and the Chair at any time; observers once the minutes are published."""
    if user.role == Role.ADMIN:
        return True
    return _may_read_report(user.role, _panel_role(user, meeting), is_published(meeting))


def meeting_or_404(meeting_id: int) -> Meeting:
    """Load a meeting or answer 404."""
    meeting = db.session.get(Meeting, meeting_id)
    if meeting is None:
        abort(404)
    return meeting


def _allowed_or_404(user: User, meeting_id: int, allowed: Callable[[User, Meeting], bool]) -> Meeting:
    meeting = meeting_or_404(meeting_id)
    if not allowed(user, meeting):
        abort(404)
    return meeting


def readable_meeting_or_404(user: User, meeting_id: int) -> Meeting:
    """A meeting whose minutes the person may read, or 404."""
    return _allowed_or_404(user, meeting_id, can_read_minutes)


def chaired_meeting_or_404(user: User, meeting_id: int) -> Meeting:
    """A meeting whose record the person writes (the Lead, or its Chair while the access window is open), or 404."""
    # The reviews loader, so the Chair's pages here and the meeting record close together when the window does;
    # reading the minutes and the report does not go through it (see readable_meeting_or_404).
    meeting = chaired_meeting(user, meeting_id)
    if meeting is None:
        abort(404)
    return meeting


def reportable_meeting_or_404(user: User, meeting_id: int) -> Meeting:
    """A meeting whose summary report the person may read, or 404."""
    return _allowed_or_404(user, meeting_id, can_read_report)


@dataclass
class PortfolioRecord:
    """One sampled portfolio in the record: the panel's view and the counts from submitted assessments.

    `sight` says whether the reader sees the counts: always in published minutes; in a draft, as
    reviews.record.sight allows (the counts sum up the members' judgements, which stay independent until then).
    """

    portfolio: Portfolio
    label: str
    view: PanelView | None
    counts: Summary
    sight: Sight = field(default_factory=lambda: Sight(True))

    @property
    def agreement_label(self) -> str:
        """The panel's recorded agreement with the Internal Panel."""
        return Agreement(self.view.agreement).label if self.view and self.view.agreement else "Not recorded"

    @property
    def criteria_yes(self) -> dict[str, int]:
        """Part 2: members answering "yes" for each criterion."""
        return {CRITERIA_LABELS[key]: tally["yes"] for key, tally in self.counts.criteria.items()}


@dataclass
class MeetingRecord:
    """Everything the minutes and the summary report show for one meeting."""

    meeting: Meeting
    minutes: Minutes | None
    attended: list[MeetingMember]
    apologies: list[MeetingMember]
    portfolios: list[PortfolioRecord]
    counts: MeetingCounts
    themes: list[MeetingTheme]
    actions: list[Action]
    carried_forward: list[Action]
    previous_actions: list[Action]
    previous_meeting: Meeting | None
    key_messages: list[KeyMessage]
    draw: SampleDraw | None = None  # the current draw, which the minutes carry so anyone can re-run it

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
    def status(self) -> str:
        """The minutes' status as people say it."""
        return MinutesStatus(self.minutes.status).label if self.minutes else "Not started"

    @property
    def revisions(self) -> list[MinutesRevision]:
        """The published texts of the minutes, first to latest (none before publication)."""
        return self.minutes.revisions if self.minutes else []

    @property
    def agreement_totals(self) -> dict[str, int]:
        """The panel's recorded agreement, counted over the sample."""
        return {a.label: self.counts.panel_agreement.get(a.value, 0) for a in Agreement}

    @property
    def member_agreement_totals(self) -> dict[str, int]:
        """Members' own answers to the agreement question, over every submitted assessment."""
        return {a.label: self.counts.total.agreement.get(a.value, 0) for a in Agreement}

    @property
    def criteria_totals(self) -> dict[str, int]:
        """Part 2: members' "yes" answers for each criterion, over every submitted assessment."""
        return {CRITERIA_LABELS[key]: tally["yes"] for key, tally in self.counts.total.criteria.items()}

    @property
    def evidence_totals(self) -> tuple[int, int]:
        """Part 1: evidence checklist answers (yes, no) over every submitted assessment."""
        tallies = self.counts.total.evidence.values()
        return sum(t["yes"] for t in tallies), sum(t["no"] for t in tallies)

    @property
    def support_totals(self) -> list[tuple[str, dict[str, int]]]:
        """Quality of support: yes / no / unclear for each question, over every submitted assessment."""
        return [(SUPPORT_LABELS[key], tally) for key, tally in self.counts.total.support.items()]


def _sights(meeting: Meeting, viewer: User, portfolio_ids: list[int]) -> dict[int, Sight]:
    """What the reader sees of each portfolio's counts (two queries): everything once the minutes are published."""
    if is_published(meeting):
        return {}
    place = seat(viewer, meeting)
    own = set(db.session.scalars(select(Assessment.portfolio_id).where(
        Assessment.meeting_id == meeting.id, Assessment.user_id == viewer.id,
        Assessment.status == AssessmentStatus.SUBMITTED.value)))
    today = clock.today()
    return {pid: sight(viewer, meeting, place, pid in own, today) for pid in portfolio_ids}


def portfolio_records(meeting: Meeting, viewer: User, counted: MeetingCounts) -> list[PortfolioRecord]:
    """The sample with the panel's views and the counts, in a fixed number of queries whatever its size."""
    sampled = db.session.scalars(
        select(SampledPortfolio).where(SampledPortfolio.meeting_id == meeting.id).order_by(SampledPortfolio.position)
    ).all()
    views = {v.portfolio_id: v for v in db.session.scalars(select(PanelView).where(PanelView.meeting_id == meeting.id))}
    sights = _sights(meeting, viewer, list(counted.portfolios))
    return [PortfolioRecord(s.portfolio, s.portfolio.label_for(viewer), views.get(s.portfolio_id),
                            counted.portfolios.get(s.portfolio_id, Summary()), sights.get(s.portfolio_id, Sight(True)))
            for s in sampled if s.portfolio_id in counted.portfolios]


def previous_meeting(meeting: Meeting) -> Meeting | None:
    """The meeting held before this one."""
    return db.session.scalar(
        select(Meeting).where(Meeting.held_on < meeting.held_on).order_by(Meeting.held_on.desc(), Meeting.id.desc())
        .limit(1)
    )


def carried_forward(meeting: Meeting) -> list[Action]:
    """Actions from earlier meetings that are not done: they stay on the agenda until they are."""
    return list(db.session.scalars(
        select(Action).join(Meeting, Meeting.id == Action.meeting_id)
        .where(Meeting.held_on < meeting.held_on, Action.status != ActionStatus.DONE.value)
        .order_by(Action.due_on, Action.id)
    ))


def _actions_of(meeting_id: int) -> list[Action]:
    return list(db.session.scalars(select(Action).where(Action.meeting_id == meeting_id).order_by(Action.id)))


def key_messages(meeting_id: int) -> list[KeyMessage]:
    """The key messages of a meeting, in order."""
    return list(db.session.scalars(select(KeyMessage).where(KeyMessage.meeting_id == meeting_id)
                                   .order_by(KeyMessage.position, KeyMessage.id)))


def meeting_record(meeting: Meeting, viewer: User) -> MeetingRecord:
    """Gather the whole record of a meeting in a bounded number of queries."""
    members = sorted(meeting.members, key=lambda m: m.user.name)
    previous = previous_meeting(meeting)
    counted = meeting_counts(meeting)
    return MeetingRecord(
        meeting=meeting,
        minutes=minutes_for(meeting),
        attended=[m for m in members if m.attendance != Attendance.APOLOGIES.value
                  and m.panel_role != PanelRole.OBSERVER.value],
        apologies=[m for m in members if m.attendance == Attendance.APOLOGIES.value],
        portfolios=portfolio_records(meeting, viewer, counted),
        counts=counted,
        themes=list(db.session.scalars(select(MeetingTheme).where(MeetingTheme.meeting_id == meeting.id)
                                       .order_by(MeetingTheme.id))),
        actions=_actions_of(meeting.id),
        carried_forward=carried_forward(meeting),
        previous_actions=_actions_of(previous.id) if previous else [],
        previous_meeting=previous,
        key_messages=key_messages(meeting.id),
        draw=db.session.scalar(select(SampleDraw).where(SampleDraw.meeting_id == meeting.id, SampleDraw.current)),
    )


def employer_of(member: MeetingMember) -> str:
    """The organisation a panel member comes from, as the minutes show it."""
    return member.user.organisation.name if member.user.organisation else "No organisation recorded"


def overdue(action: Action, today: date) -> bool:
    """True when an action is past its due date and not done."""
    return action.status != ActionStatus.DONE.value and action.due_on is not None and action.due_on < today


@dataclass
class MeetingRow:
    """A meeting in the list of minutes and reports."""

    meeting: Meeting
    status: str
    can_report: bool


def _seats_of(user: User) -> dict[int, str]:
    """Meeting id -> the person's panel role there, in one query."""
    return dict(db.session.execute(select(MeetingMember.meeting_id, MeetingMember.panel_role)
                                   .where(MeetingMember.user_id == user.id)).all())


def readable_meetings(user: User) -> list[MeetingRow]:
    """Meetings whose minutes the person may read, newest first, in three queries."""
    meetings = db.session.scalars(select(Meeting).order_by(Meeting.held_on.desc(), Meeting.id.desc())).all()
    statuses = dict(db.session.execute(select(Minutes.meeting_id, Minutes.status)).all())
    seats = _seats_of(user)
    rows = []
    for meeting in meetings:
        role, published = seats.get(meeting.id), meeting.minutes_published_at is not None
        if _may_read_minutes(user.role, role, published):
            status = MinutesStatus(statuses[meeting.id]).label if meeting.id in statuses else "Not started"
            rows.append(MeetingRow(meeting, status, _may_read_report(user.role, role, published)))
    return rows


@dataclass
class ThemeHistory:
    """A theme and where it came up: (meeting, what was said, cohorts sampled at that meeting)."""

    theme: Theme
    raised: list[tuple[Meeting, str, list[str]]]


def theme_history(user: User) -> list[ThemeHistory]:
    """Every theme with the meetings it was raised at: for the Lead all of them, for anyone else the meetings
    whose published minutes they may read (a member only those they sat on)."""
    query = (select(MeetingTheme, Meeting).join(Meeting, Meeting.id == MeetingTheme.meeting_id)
             .order_by(Meeting.held_on, Meeting.id))
    seats: dict[int, str] = {}
    if user.role != Role.ADMIN:
        query = query.where(Meeting.minutes_published_at.is_not(None))
        seats = _seats_of(user)
    cohorts: dict[int, set[str]] = {}
    for meeting_id, name in db.session.execute(
        select(SampledPortfolio.meeting_id, Cohort.name).join(Portfolio, Portfolio.id == SampledPortfolio.portfolio_id)
        .join(Nqsw, Nqsw.id == Portfolio.nqsw_id).join(Cohort, Cohort.id == Nqsw.cohort_id)
    ):
        cohorts.setdefault(meeting_id, set()).add(name)
    found: dict[int, ThemeHistory] = {}
    for item, meeting in db.session.execute(query):
        if user.role != Role.ADMIN and not _may_read_minutes(user.role, seats.get(meeting.id), True):
            continue
        history = found.setdefault(item.theme_id, ThemeHistory(item.theme, []))
        history.raised.append((meeting, item.note, sorted(cohorts.get(meeting.id, ()))))
    return sorted(found.values(), key=lambda h: (-len(h.raised), h.theme.name.lower()))
