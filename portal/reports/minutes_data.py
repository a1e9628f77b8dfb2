"""Reading the minutes and the summary report: the data that fills them, and the lists of them.

Every section except the Chair's free text comes from the data (attendance, sample, panel views,
assessments: reviews.meeting_data), so the minutes, the summary report and their downloads never disagree
with the portal or with the Chair's meeting record page.
"""

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import ColumnElement, SQLColumnExpression, select, true

from portal import visibility
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


def readable_meetings(user: User) -> list[MeetingRow]:
    """Meetings whose minutes the person may read, newest first, in three queries."""
    meetings = db.session.scalars(select(Meeting).order_by(Meeting.held_on.desc(), Meeting.id.desc())).all()
    statuses = dict(db.session.execute(select(Minutes.meeting_id, Minutes.status)).all())
    seats = visibility.panel_roles_of(user)
    rows = []
    for meeting in meetings:
        role, published = seats.get(meeting.id), meeting.minutes_published_at is not None
        if visibility.may_read_minutes_as(user.role, role, published):
            status = MinutesStatus(statuses[meeting.id]).label if meeting.id in statuses else "Not started"
            rows.append(MeetingRow(meeting, status, visibility.may_read_report_as(user.role, role, published)))
    return rows


# Themes and actions across meetings, filtered by the employer that owns them ----------------------------------

EVERY_OWNER = ""  # the filter's values: every theme and action,
PARTNERSHIP_ONLY = "partnership"  # those of the whole partnership, or an employer's id as text


@dataclass
class ThemeHistory:
    """A theme and where it came up: (meeting, what was said, cohorts sampled at that meeting, who owns it)."""

    theme: Theme
    raised: list[tuple[Meeting, str, list[str], str]]


def _owned_by(column: SQLColumnExpression[int | None], owner: str) -> ColumnElement[bool]:
    """The filter on an employer column: every owner, the whole partnership's (no employer), or one employer's."""
    if owner == PARTNERSHIP_ONLY:
        return column.is_(None)
    return column == int(owner) if owner.isdigit() else true()


def _readable(user: User, employer_column: SQLColumnExpression[int | None]
              ) -> tuple[ColumnElement[bool], dict[int, str] | None]:
    """What this person reads as a condition, and their seats when each meeting must still be checked against
    the minutes rule (None: no further check)."""
    if visibility.reads_employer_items_only(user):
        return visibility.employer_items(user, employer_column), None
    if user.role == Role.ADMIN:
        return true(), None
    return Meeting.minutes_published_at.is_not(None), visibility.panel_roles_of(user)


def theme_history(user: User, owner: str = EVERY_OWNER) -> list[ThemeHistory]:
    """Every theme with the meetings it was raised at: for the Lead all of them, for a panel member or observer
    the meetings whose published minutes they may read (a member only those they sat on), for an employer Lead
    those their employer owns (visibility.employer_items). `owner` narrows them to one owner (see above)."""
    readable, seats = _readable(user, MeetingTheme.employer_id)
    query = (select(MeetingTheme, Meeting).join(Meeting, Meeting.id == MeetingTheme.meeting_id)
             .where(readable, _owned_by(MeetingTheme.employer_id, owner)).order_by(Meeting.held_on, Meeting.id))
    cohorts: dict[int, set[str]] = {}
    for meeting_id, name in db.session.execute(
        select(SampledPortfolio.meeting_id, Cohort.name).join(Portfolio, Portfolio.id == SampledPortfolio.portfolio_id)
        .join(Nqsw, Nqsw.id == Portfolio.nqsw_id).join(Cohort, Cohort.id == Nqsw.cohort_id)
        .where(user.employer_scope(Nqsw.employer_id) if visibility.reads_employer_items_only(user) else true())
    ):
        cohorts.setdefault(meeting_id, set()).add(name)
    labels = employer_labels(user)
    found: dict[int, ThemeHistory] = {}
    for item, meeting in db.session.execute(query):
        if seats is not None and not visibility.may_read_minutes_as(user.role, seats.get(meeting.id), True):
            continue
        history = found.setdefault(item.theme_id, ThemeHistory(item.theme, []))
        owner_label = labels.get(item.employer_id, "Employer") if item.employer_id is not None else PARTNERSHIP
        history.raised.append((meeting, item.note, sorted(cohorts.get(meeting.id, ())), owner_label))
    return sorted(found.values(), key=lambda h: (-len(h.raised), h.theme.name.lower()))


@dataclass
class OwnedAction:
    """An action in the list across meetings, with who owns it as this person names them."""

    action: Action
    owner: str


def action_list(user: User, owner: str = EVERY_OWNER) -> list[OwnedAction]:
    """Every action this person may read (the same rule as theme_history), open ones first, by due date."""
    readable, seats = _readable(user, Action.employer_id)
    query = (select(Action, Meeting).join(Meeting, Meeting.id == Action.meeting_id)
             .where(readable, _owned_by(Action.employer_id, owner))
             .order_by(Action.status == ActionStatus.DONE.value, Action.due_on, Action.id))
    labels = employer_labels(user)
    return [OwnedAction(action, labels.get(action.employer_id, "Employer") if action.employer_id is not None
                        else PARTNERSHIP)
            for action, meeting in db.session.execute(query)
            if seats is None or visibility.may_read_minutes_as(user.role, seats.get(meeting.id), True)]
