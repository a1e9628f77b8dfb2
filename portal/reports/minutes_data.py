"""Reading the minutes and the summary report: the data that fills them, and the lists of them.

Every section except the Chair's free text comes from the data (attendance, sample, panel views,
assessments: reviews.meeting_data), so the minutes, the summary report and their downloads never disagree
with the portal or with the Chair's meeting record page.
"""

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import ColumnElement, SQLColumnExpression, func, select, true
from sqlalchemy.orm import contains_eager

from portal import paging, visibility
from portal.admin import partnership
from portal.extensions import db
from portal.meetings.services import previous_meeting
from portal.models import (
    Action,
    ActionStatus,
    Cohort,
    KeyMessage,
    Meeting,
    MeetingMember,
    MeetingTheme,
    Minutes,
    MinutesRevision,
    MinutesStatus,
    Nqsw,
    Organisation,
    OrganisationKind,
    Portfolio,
    ReportSections,
    Role,
    SampledPortfolio,
    SampleDraw,
    Theme,
    User,
)
from portal.paging import Paged
from portal.reviews import meeting_data
from portal.reviews.meeting_data import MeetingData

PARTNERSHIP = "The whole partnership"


def employer_labels(user: User) -> dict[int, str]:
    """How this person names each member employer: the administrator by name and code, anyone else by code."""
    if user.role != Role.ADMIN:
        return partnership.codes()
    rows = db.session.execute(select(Organisation.id, Organisation.name, Organisation.code)
                              .where(Organisation.kind == OrganisationKind.EMPLOYER.value))
    return {organisation_id: f"{name} ({code})" if code else name for organisation_id, name, code in rows}


def report_sections(meeting: Meeting) -> ReportSections | None:
    """The ASYE Lead's own sections of the meeting's summary report, or None before any is written."""
    return db.session.scalar(select(ReportSections).where(ReportSections.meeting_id == meeting.id))


def minutes_for(meeting: Meeting) -> Minutes | None:
    """The meeting's minutes, or None before the Chair starts them."""
    return db.session.scalar(select(Minutes).where(Minutes.meeting_id == meeting.id))


@dataclass
class MinutesData:
    """Everything the minutes and the summary report show for one meeting: the panel's data (`panel`: seats,
    attendance, each sampled portfolio's counts and view, the totals) and what the Chair writes around it."""

    meeting: Meeting
    minutes: Minutes | None
    panel: MeetingData
    themes: list[MeetingTheme]
    actions: list[Action]
    carried_forward: list[Action]
    previous_actions: list[Action]
    previous_meeting: Meeting | None
    key_messages: list[KeyMessage]
    draw: SampleDraw | None = None  # the current draw, which the minutes carry so anyone can re-run it
    sections: ReportSections | None = None  # the ASYE Lead's own sections of the summary report
    employer_codes: dict[int, str] = field(default_factory=dict)  # "Employer E2" by id: owners of themes, actions

    def owner_of(self, employer_id: int | None) -> str:
        """Who owns a theme or action, as the panel knows them: an employer's code, or the whole partnership."""
        return self.employer_codes.get(employer_id, "Employer") if employer_id is not None else PARTNERSHIP

    @property
    def status(self) -> str:
        """The minutes' status as people say it."""
        return MinutesStatus(self.minutes.status).label if self.minutes else "Not started"

    @property
    def revisions(self) -> list[MinutesRevision]:
        """The published texts of the minutes, first to latest (none before publication)."""
        return self.minutes.revisions if self.minutes else []


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


def build(meeting: Meeting, viewer: User) -> MinutesData:
    """Gather everything the minutes and the report show for this reader, in a bounded number of queries."""
    previous = previous_meeting(meeting)
    return MinutesData(
        meeting=meeting,
        minutes=minutes_for(meeting),
        panel=meeting_data.build(meeting, viewer),
        themes=list(db.session.scalars(select(MeetingTheme).where(MeetingTheme.meeting_id == meeting.id)
                                       .order_by(MeetingTheme.id))),
        actions=_actions_of(meeting.id),
        carried_forward=carried_forward(meeting),
        previous_actions=_actions_of(previous.id) if previous else [],
        previous_meeting=previous,
        key_messages=key_messages(meeting.id),
        draw=db.session.scalar(select(SampleDraw).where(SampleDraw.meeting_id == meeting.id, SampleDraw.current)),
        sections=report_sections(meeting),
        employer_codes=partnership.codes(),
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


MEETINGS_A_PAGE = 50
THEMES_A_PAGE = 20
LATEST_RAISED = 5  # the meetings a theme shows on the list of themes; the theme's own page lists them all
ACTIONS_A_PAGE = 50


def readable_meetings(user: User, page: int = 1) -> Paged[MeetingRow]:
    """One page of the meetings whose minutes the person may read (visibility.minutes_readable), newest first,
    each with whether its report is readable too, and how many there are: four queries however many meetings."""
    found = paging.page_of(db.session, select(Meeting).where(visibility.minutes_readable(user))
                           .order_by(Meeting.held_on.desc(), Meeting.id.desc()), page, MEETINGS_A_PAGE)
    ids = [meeting.id for meeting in found.rows]
    statuses = dict(db.session.execute(select(Minutes.meeting_id, Minutes.status)
                                       .where(Minutes.meeting_id.in_(ids))).all()) if ids else {}
    seats = dict(db.session.execute(select(MeetingMember.meeting_id, MeetingMember.panel_role)
                                    .where(MeetingMember.user_id == user.id, MeetingMember.meeting_id.in_(ids))
                                    ).all()) if ids else {}
    rows = [MeetingRow(meeting,
                       MinutesStatus(statuses[meeting.id]).label if meeting.id in statuses else "Not started",
                       visibility.may_read_report_as(user.role, seats.get(meeting.id),
                                                     meeting.minutes_published_at is not None))
            for meeting in found.rows]
    return Paged(rows, found.total, found.page, found.size)


# Themes and actions across meetings, filtered by the employer that owns them ----------------------------------

EVERY_OWNER = ""  # the filter's values: every theme and action,
PARTNERSHIP_ONLY = "partnership"  # those of the whole partnership, or an employer's id as text


@dataclass
class Raised:
    """One meeting at which a theme came up: what was said, the cohorts sampled there, and who owns it."""

    meeting: Meeting
    note: str
    cohorts: list[str]
    owner: str


@dataclass
class ThemeHistory:
    """A theme, how many (readable) meetings it was raised at, and some or all of them, newest first."""

    theme: Theme
    count: int
    raised: list[Raised]


def _owned_by(column: SQLColumnExpression[int | None], owner: str) -> ColumnElement[bool]:
    """The filter on an employer column: every owner, the whole partnership's (no employer), or one employer's."""
    if owner == PARTNERSHIP_ONLY:
        return column.is_(None)
    return column == int(owner) if owner.isdigit() else true()


def _readable(user: User, employer_column: SQLColumnExpression[int | None]) -> ColumnElement[bool]:
    """The themes or actions this person reads, as a condition on the item joined to its Meeting: an employer Lead
    their own employer's (visibility.employer_items), anyone else those of the minutes they may read."""
    if visibility.reads_employer_items_only(user):
        return visibility.employer_items(user, employer_column)
    return visibility.minutes_readable(user)


def _raisings(user: User, owner: str) -> ColumnElement[bool]:
    return _readable(user, MeetingTheme.employer_id) & _owned_by(MeetingTheme.employer_id, owner)


def _cohorts(user: User, meeting_ids: set[int]) -> dict[int, list[str]]:
    """The cohorts sampled at these meetings (an employer Lead: of their own employer's NQSWs), in one query."""
    if not meeting_ids:
        return {}
    found: dict[int, set[str]] = {}
    for meeting_id, name in db.session.execute(
        select(SampledPortfolio.meeting_id, Cohort.name).join(Portfolio, Portfolio.id == SampledPortfolio.portfolio_id)
        .join(Nqsw, Nqsw.id == Portfolio.nqsw_id).join(Cohort, Cohort.id == Nqsw.cohort_id)
        .where(SampledPortfolio.meeting_id.in_(meeting_ids),
               user.employer_scope(Nqsw.employer_id) if visibility.reads_employer_items_only(user) else true())
    ):
        found.setdefault(meeting_id, set()).add(name)
    return {meeting_id: sorted(names) for meeting_id, names in found.items()}


def _raised(user: User, rows: list[tuple[MeetingTheme, Meeting]]) -> list[Raised]:
    cohorts, labels = _cohorts(user, {meeting.id for _, meeting in rows}), employer_labels(user)
    return [Raised(meeting, item.note, cohorts.get(meeting.id, []),
                   labels.get(item.employer_id, "Employer") if item.employer_id is not None else PARTNERSHIP)
            for item, meeting in rows]


def theme_history(user: User, owner: str = EVERY_OWNER, page: int = 1) -> Paged[ThemeHistory]:
    """One page of the themes this person may read, most raised first then by name, each with how many meetings it
    was raised at and the latest LATEST_RAISED of them: for the Lead every meeting, for a panel member or observer
    those whose minutes they may read (visibility.minutes_readable), for an employer Lead those their employer
    owns (visibility.employer_items). `owner` narrows them to one owner (see above). Six queries however many."""
    raisings = _raisings(user, owner)
    times = func.count(MeetingTheme.id)
    found = paging.page_of(
        db.session, select(Theme).join(MeetingTheme, MeetingTheme.theme_id == Theme.id)
        .join(Meeting, Meeting.id == MeetingTheme.meeting_id).where(raisings).group_by(Theme.id)
        .order_by(times.desc(), func.lower(Theme.name), Theme.id), page, THEMES_A_PAGE)
    ids = [theme.id for theme in found.rows]
    if not ids:
        return Paged([], found.total, found.page, found.size)
    counts = dict(db.session.execute(select(MeetingTheme.theme_id, times).join(Meeting, Meeting.id ==
                                                                               MeetingTheme.meeting_id)
                                     .where(raisings, MeetingTheme.theme_id.in_(ids))
                                     .group_by(MeetingTheme.theme_id)).all())
    latest = (select(MeetingTheme.id.label("id"), func.row_number().over(
        partition_by=MeetingTheme.theme_id, order_by=(Meeting.held_on.desc(), Meeting.id.desc())).label("place"))
        .join(Meeting, Meeting.id == MeetingTheme.meeting_id)
        .where(raisings, MeetingTheme.theme_id.in_(ids)).subquery())
    rows = [(item, meeting) for item, meeting in db.session.execute(
        select(MeetingTheme, Meeting).join(Meeting, Meeting.id == MeetingTheme.meeting_id)
        .join(latest, latest.c.id == MeetingTheme.id).where(latest.c.place <= LATEST_RAISED)
        .order_by(Meeting.held_on.desc(), Meeting.id.desc()))]
    raised = _raised(user, rows)
    by_theme: dict[int, list[Raised]] = {}
    for (item, _), one in zip(rows, raised, strict=True):
        by_theme.setdefault(item.theme_id, []).append(one)
    return Paged([ThemeHistory(theme, counts.get(theme.id, 0), by_theme.get(theme.id, [])) for theme in found.rows],
                 found.total, found.page, found.size)


def theme_meetings(user: User, theme_id: int, owner: str = EVERY_OWNER, page: int = 1
                   ) -> tuple[Theme, Paged[Raised]] | None:
    """One theme and one page of every meeting it was raised at that this person may read (the same rule as
    theme_history), newest first, or None when they may read none (so a 404 that reveals nothing)."""
    theme = db.session.get(Theme, theme_id)
    if theme is None:
        return None
    found = paging.page_of(
        db.session, select(MeetingTheme).join(Meeting, Meeting.id == MeetingTheme.meeting_id)
        .options(contains_eager(MeetingTheme.meeting))
        .where(_raisings(user, owner), MeetingTheme.theme_id == theme_id)
        .order_by(Meeting.held_on.desc(), Meeting.id.desc()), page, MEETINGS_A_PAGE)
    if not found.total:
        return None
    raised = _raised(user, [(item, item.meeting) for item in found.rows])
    return theme, Paged(raised, found.total, found.page, found.size)


@dataclass
class OwnedAction:
    """An action in the list across meetings, with who owns it as this person names them."""

    action: Action
    owner: str


def action_list(user: User, owner: str = EVERY_OWNER, page: int = 1) -> Paged[OwnedAction]:
    """One page of the actions this person may read (the same rule as theme_history), open ones first, by due
    date, with how many there are in all."""
    found = paging.page_of(
        db.session, select(Action).join(Meeting, Meeting.id == Action.meeting_id)
        .options(contains_eager(Action.meeting))
        .where(_readable(user, Action.employer_id), _owned_by(Action.employer_id, owner))
        .order_by(Action.status == ActionStatus.DONE.value, Action.due_on, Action.id), page, ACTIONS_A_PAGE)
    labels = employer_labels(user)
    return Paged([OwnedAction(action, labels.get(action.employer_id, "Employer") if action.employer_id is not None
                              else PARTNERSHIP) for action in found.rows], found.total, found.page, found.size)
