"""What each person's dashboard shows: the next thing they must do, in a fixed number of queries.

The Lead sees the cycle's state (next and latest meetings: sample, assessments, minutes, feedback) and anything
overdue; panel members what to read and submit by when; Assessors and NQSWs their feedback; Steering Group
observers the published minutes and the open actions.
"""

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Select, and_, bindparam, case, exists, func, or_, select

from portal import clock, paging, visibility, wording
from portal.extensions import db
from portal.models import (
    Action,
    ActionStatus,
    Assessment,
    AssessmentStatus,
    FeedbackRelease,
    Meeting,
    MeetingMember,
    Minutes,
    MinutesStatus,
    Nqsw,
    Portfolio,
    Role,
    SampledPortfolio,
    SampleDraw,
    User,
)
from portal.reports import release

# The Lead's dashboard is the busiest page, so its two statements are built once, not per request.
_NEXT_MEETING = (select(Meeting.id).where(Meeting.held_on >= bindparam("today"))
                 .order_by(Meeting.held_on, Meeting.id).limit(1).scalar_subquery())
_LAST_MEETING = (select(Meeting.id).where(Meeting.held_on < bindparam("today"))
                 .order_by(Meeting.held_on.desc(), Meeting.id.desc()).limit(1).scalar_subquery())
_NEXT_AND_LAST_MEETINGS = (select(Meeting).where(or_(Meeting.id == _NEXT_MEETING, Meeting.id == _LAST_MEETING))
                           .order_by(Meeting.held_on.desc()))
# A dashboard shows this many meetings, minutes and actions at most, with how many more there are and a link to
# the full list, so that it stays one screen however long the portal has been used.
SHOWN = 10
_OVERDUE_ACTIONS = (select(Action).where(Action.status != ActionStatus.DONE.value, Action.due_on < bindparam("today"))
                    .order_by(Action.due_on, Action.id))


@dataclass
class MeetingState:
    """One meeting's progress through the cycle."""

    meeting: Meeting
    sample_drawn: bool
    sampled: int
    submitted: int
    expected: int
    minutes_status: str
    released: bool
    target: release.TargetState
    target_on: date
    my_submitted: int = 0
    chair: bool = False

    @property
    def assessments_done(self) -> bool:
        """True when every seat has submitted every sampled portfolio."""
        return self.expected > 0 and self.submitted >= self.expected


@dataclass
class Dashboard:
    """Everything a dashboard may show; each role's template uses its own part."""

    today: date
    states: list[MeetingState] = field(default_factory=list)
    overdue: list[str] = field(default_factory=list)
    overdue_actions: list[Action] = field(default_factory=list)
    open_actions: list[Action] = field(default_factory=list)
    published: list[Meeting] = field(default_factory=list)
    feedback: list = field(default_factory=list)
    # How many of each list are not shown (past SHOWN): the template says so and links to the whole list.
    more_meetings: int = 0
    more_published: int = 0
    more_actions: int = 0
    employer: "EmployerCounts | None" = None


@dataclass
class EmployerCounts:
    """An employer Lead's own programme at a glance."""

    name: str
    nqsws: int
    portfolios: int
    decided: int
    sampled: int


def _grouped(statement: Select[int, int]) -> dict[int, int]:
    return {key: count for key, count in db.session.execute(statement)}


def _states(meetings: list[Meeting], user: User) -> list[MeetingState]:
    """The cycle state of these meetings in six queries whatever their number."""
    ids = [m.id for m in meetings]
    if not ids:
        return []
    drawn = set(db.session.scalars(select(SampleDraw.meeting_id).where(SampleDraw.meeting_id.in_(ids),
                                                                      SampleDraw.current.is_(True))))
    sampled = _grouped(select(SampledPortfolio.meeting_id, func.count()).where(SampledPortfolio.meeting_id.in_(ids))
                       .group_by(SampledPortfolio.meeting_id))
    seats = _grouped(select(MeetingMember.meeting_id, func.count())
                     .where(MeetingMember.meeting_id.in_(ids), visibility.seated_on_panel())
                     .group_by(MeetingMember.meeting_id))
    submitted_rows = db.session.execute(
        select(Assessment.meeting_id, Assessment.user_id, func.count()).where(
            Assessment.meeting_id.in_(ids), Assessment.status == AssessmentStatus.SUBMITTED.value)
        .group_by(Assessment.meeting_id, Assessment.user_id)).all()
    minutes = dict(db.session.execute(select(Minutes.meeting_id, Minutes.status).where(Minutes.meeting_id.in_(ids)))
                   .all())
    releases = {r.meeting_id: r for r in db.session.scalars(select(FeedbackRelease)
                                                            .where(FeedbackRelease.meeting_id.in_(ids)))}
    chaired = set(db.session.scalars(select(MeetingMember.meeting_id).where(
        MeetingMember.meeting_id.in_(ids), MeetingMember.user_id == user.id,
        visibility.seated_as_chair())))
    states = []
    for m in meetings:
        item = releases.get(m.id)
        target = release.target_state(m, item)
        states.append(MeetingState(
            meeting=m, sample_drawn=m.id in drawn, sampled=sampled.get(m.id, 0),
            submitted=sum(n for mid, _, n in submitted_rows if mid == m.id),
            expected=sampled.get(m.id, 0) * seats.get(m.id, 0),
            minutes_status=MinutesStatus(minutes[m.id]).label if m.id in minutes else "Not started",
            released=item is not None, target=target, target_on=target.on,
            my_submitted=sum(n for mid, uid, n in submitted_rows if mid == m.id and uid == user.id),
            chair=m.id in chaired or user.role == Role.ADMIN,
        ))
    return states


def _admin(board: Dashboard, user: User) -> None:
    today = {"today": board.today}
    board.states = _states(list(db.session.scalars(_NEXT_AND_LAST_MEETINGS, today)), user)  # next, then last
    for state in board.states:
        m = state.meeting
        if m.held_on < board.today and state.sampled and not state.released and state.target.text == "Overdue":
            due = clock.format_date(state.target_on)
            board.overdue.append(f"Feedback for {m.title} was due to be released by {due}.")
        if m.reading_deadline and m.reading_deadline < board.today and not state.assessments_done \
                and m.held_on >= board.today:
            late = wording.count_of(state.expected - state.submitted, "assessment", "assessments")
            board.overdue.append(f"{late} for {m.title} {'is' if state.expected - state.submitted == 1 else 'are'} "
                                 f"past the deadline of {clock.format_date(m.reading_deadline)}.")
    board.overdue_actions = list(db.session.scalars(_OVERDUE_ACTIONS.limit(SHOWN), today))
    if len(board.overdue_actions) == SHOWN:
        total = db.session.scalar(select(func.count()).select_from(_OVERDUE_ACTIONS.order_by(None).subquery()), today)
        board.more_actions = (total or 0) - SHOWN


def _member(board: Dashboard, user: User) -> None:
    # A meeting stays until its minutes are published; for its Chair, until feedback is released too, so the
    # release target (due / overdue) does not vanish when the Chair publishes first. Those still being assessed
    # come first, soonest first; then those awaiting release, latest first.
    awaiting_release = and_(visibility.seated_as_chair(),
                            ~exists().where(FeedbackRelease.meeting_id == Meeting.id))
    published = Meeting.minutes_published_at.is_not(None)
    found = paging.page_of(db.session, select(Meeting)
                           .join(MeetingMember, MeetingMember.meeting_id == Meeting.id)
                           .where(MeetingMember.user_id == user.id, visibility.seated_on_panel(),
                                  or_(Meeting.minutes_published_at.is_(None), awaiting_release))
                           .order_by(case((published, 1), else_=0),
                                     case((published, None), else_=Meeting.held_on).asc().nulls_last(),
                                     Meeting.held_on.desc(), Meeting.id), 1, SHOWN)
    board.states = _states(found.rows, user)
    board.more_meetings = found.total - len(found.rows)


def _observer(board: Dashboard) -> None:
    published = paging.page_of(db.session, select(Meeting)
                               .where(Meeting.minutes_published_at.is_not(None))
                               .order_by(Meeting.held_on.desc(), Meeting.id.desc()), 1, SHOWN)
    board.published, board.more_published = published.rows, published.total - len(published.rows)
    actions = paging.page_of(db.session, select(Action).join(Meeting, Meeting.id == Action.meeting_id)
                             .where(Action.status != ActionStatus.DONE.value, Meeting.minutes_published_at.is_not(None))
                             .order_by(Action.due_on, Action.id), 1, SHOWN)
    board.open_actions, board.more_actions = actions.rows, actions.total - len(actions.rows)


def _lead(board: Dashboard, user: User) -> None:
    """An employer Lead's own employer: their NQSWs and portfolios, how many are decided and how many sampled."""
    mine = user.employer_scope(Nqsw.employer_id)
    nqsws = db.session.scalar(select(func.count(Nqsw.id)).where(mine)) or 0
    portfolios, decided = db.session.execute(
        select(func.count(Portfolio.id), func.count(Portfolio.outcome)).join(Nqsw, Nqsw.id == Portfolio.nqsw_id)
        .where(mine, Portfolio.purged_at.is_(None))).one()
    sampled = db.session.scalar(select(func.count(func.distinct(SampledPortfolio.portfolio_id)))
                                .join(Portfolio, Portfolio.id == SampledPortfolio.portfolio_id)
                                .join(Nqsw, Nqsw.id == Portfolio.nqsw_id).where(mine)) or 0
    name = user.organisation.name if user.organisation is not None else "No employer"
    board.employer = EmployerCounts(name, int(nqsws), int(portfolios or 0), int(decided or 0), int(sampled))


def for_user(user: User) -> Dashboard:
    """The dashboard for this person's role."""
    board = Dashboard(today=clock.now().date())
    if user.role == Role.ADMIN:
        _admin(board, user)
    elif user.role == Role.LEAD:
        _lead(board, user)
    elif user.role == Role.MEMBER:
        _member(board, user)
    elif user.role == Role.OBSERVER:
        _observer(board)
    else:
        board.feedback = release.my_releases(user)
    return board

