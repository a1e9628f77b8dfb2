"""Who sits at each meeting and as what, and who may see which meeting, portfolio, minutes and report.

The one home of these rules (DESIGN section 3); every area asks here rather than testing roles itself. No Flask:
the loaders return None for anything the person may not see, and views turn that into a 404 with
`portal.errors.or_404`, so existence is never revealed.

- A seat (MeetingMember) is Chair, member or observer. The Chair and the members are "the panel". A Steering
  Group observer (the observer role) sits at a meeting only as an observer (`may_sit_as`). A meeting has one
  Chair: a new Chair displaces the previous one (`chairs_displaced`).
- The panel may see the meeting's sample from the draw until the access window after publication closes.
- The Lead (admin) and the meeting's Chair keep the record; the Chair only while the access window is open.
- Minutes: the Lead and the Chair read drafts; members and Steering Group observers read published minutes.
- The summary report: the Lead and the Chair at any time; observers once the minutes are published.
- The members' submitted assessments of a portfolio, and their counts: see `sight`.
- Subject access: whose export of everything held about them a person may take: see `may_export_subject`.
- Employers: the partnership administrator sees every employer's portfolios, an employer Lead their own
  employer's. Which employer's things a person manages is answered in one place, on the User model
  (`User.manages` and, as a query condition, `User.employer_scope`; `manages_person` / `people_scope` for
  accounts), so that the models' own labels can ask it too; it is applied here to portfolios and by every
  registry, people and report query.
- Themes and actions may be owned by an employer: an employer Lead reads their own employer's from published
  minutes (`employer_items`); everyone else reads them with the minutes they belong to.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, exists, select, true, update
from sqlalchemy.orm import undefer_group

from portal import clock
from portal.extensions import db
from portal.models import (
    Assessor,
    Meeting,
    MeetingMember,
    Nqsw,
    PanelRole,
    Portfolio,
    Role,
    SampledPortfolio,
    User,
)

# The seats whose holders assess the sample and count in the record (not observers).
PANEL_ROLES = (PanelRole.CHAIR.value, PanelRole.MEMBER.value)


# Seats: who sits at a meeting and as what ----------------------------------------------------------------


def is_chair(member: MeetingMember | None) -> bool:
    """Whether this seat is the meeting's Chair."""
    return member is not None and member.panel_role == PanelRole.CHAIR.value


def on_the_panel(member: MeetingMember | None) -> bool:
    """Whether this seat is the Chair's or a member's (the panel), not an observer's."""
    return member is not None and member.panel_role in PANEL_ROLES


def seated_on_panel() -> ColumnElement[bool]:
    """The same rule as on_the_panel, as a condition on MeetingMember for queries."""
    return MeetingMember.panel_role.in_(PANEL_ROLES)


def seated_as_chair() -> ColumnElement[bool]:
    """The same rule as is_chair, as a condition on MeetingMember for queries."""
    return MeetingMember.panel_role == PanelRole.CHAIR.value


def seat_at(user: User, meeting: Meeting) -> MeetingMember | None:
    """The person's seat at the meeting (any role), if they have one."""
    return next((m for m in meeting.members if m.user_id == user.id), None)


def may_sit_as(person: User, role: PanelRole) -> bool:
    """Whether the person may take this seat: a Steering Group observer can only observe a meeting."""
    return person.role != Role.OBSERVER or role == PanelRole.OBSERVER


def chairs_displaced(meeting: Meeting, person: User, role: PanelRole) -> list[MeetingMember]:
    """The seats that stop being the Chair's when the person takes this seat: a meeting has one Chair."""
    if role != PanelRole.CHAIR:
        return []
    return [other for other in meeting.members if is_chair(other) and other.user_id != person.id]


def chair_of(meeting: Meeting) -> User | None:
    """The meeting's Chair, if one has been chosen."""
    return next((m.user for m in meeting.members if is_chair(m)), None)


def seats(meeting_id: int) -> list[MeetingMember]:
    """Everyone seated at a meeting (Chair, members, observers), by name."""
    return list(db.session.scalars(
        select(MeetingMember).join(User, User.id == MeetingMember.user_id)
        .where(MeetingMember.meeting_id == meeting_id).order_by(User.name, User.id)).unique())


def panel_of(everyone: Iterable[MeetingMember]) -> list[MeetingMember]:
    """The Chair and members among these seats, in the same order."""
    return [seat for seat in everyone if on_the_panel(seat)]


def panel_seats(meeting_id: int) -> list[MeetingMember]:
    """The Chair and members of a meeting (not observers), by name."""
    return panel_of(seats(meeting_id))


def panel_roles_of(user: User) -> dict[int, str]:
    """Meeting id -> the person's panel role there, for every meeting they sit at, in one query."""
    return dict(db.session.execute(select(MeetingMember.meeting_id, MeetingMember.panel_role)
                                   .where(MeetingMember.user_id == user.id)).all())


def lock_meeting(meeting: Meeting) -> None:
    """Hold the meeting row's lock until commit: changes to its seats, its sample and its record run one at a time.

    A redraw, a seat's removal, a first assessment save and publishing the minutes all take it first, so each
    either lands before the other or waits for it and sees what it did.
    """
    if db.session.get_bind().dialect.name == "sqlite":
        # SQLite drops FOR UPDATE and begins a transaction only at the first write, so checks made after a plain
        # SELECT could still race; a no-op write takes SQLite's (database-wide) write lock before them instead.
        db.session.execute(update(Meeting).where(Meeting.id == meeting.id).values(id=Meeting.id)
                           .execution_options(synchronize_session=False))
    else:
        db.session.execute(select(Meeting.id).where(Meeting.id == meeting.id).with_for_update())


# Meetings: who may see one, assess at one, keep its record ----------------------------------------------


def access_open(meeting: Meeting) -> bool:
    """A meeting's panel may read its sample from the draw until the access window after publication closes."""
    return meeting.access_closes_at is None or clock.now() <= meeting.access_closes_at


def keeps_record(user: User, member: MeetingMember | None) -> bool:
    """True for the Lead, and for the Chair given their seat: they keep the meeting record."""
    return user.role == Role.ADMIN or is_chair(member)


def visible_meetings(user: User) -> Select[Meeting]:
    """Every meeting for the Lead; the meetings a person sits at otherwise; newest first (a query, for paging)."""
    statement = select(Meeting).order_by(Meeting.held_on.desc(), Meeting.id.desc())
    if not user.is_admin:
        statement = statement.join(MeetingMember).where(MeetingMember.user_id == user.id)
    return statement


def visible_meeting(user: User, meeting_id: int, texts: bool = False) -> Meeting | None:
    """A meeting the person may see (the Lead, or anyone seated at it, whatever the role), else None; with its
    agenda and terms of reference loaded at once when `texts` (they are deferred)."""
    meeting = db.session.get(Meeting, meeting_id, options=[undefer_group("texts")] if texts else None)
    if meeting is None or user.is_admin or seat_at(user, meeting) is not None:
        return meeting
    return None


def panel_seat(user: User, meeting_id: int) -> tuple[Meeting, MeetingMember] | None:
    """The meeting and the person's seat on its panel (Chair or member) while the access window is open."""
    row = db.session.execute(
        select(Meeting, MeetingMember).join(MeetingMember, MeetingMember.meeting_id == Meeting.id)
        .where(Meeting.id == meeting_id, MeetingMember.user_id == user.id, seated_on_panel())
    ).first()
    if row is None or not access_open(row[0]):
        return None
    return row[0], row[1]


def chaired_meeting(user: User, meeting_id: int) -> Meeting | None:
    """A meeting whose record the person keeps: any meeting for the Lead, else one they chair (window open)."""
    if user.role == Role.ADMIN:
        return db.session.get(Meeting, meeting_id)
    found = panel_seat(user, meeting_id)
    return found[0] if found and keeps_record(user, found[1]) else None


def chairs(user: User, meeting: Meeting) -> bool:
    """True for the Lead, and for the meeting's Chair while the access window is open: they write the record."""
    return chaired_meeting(user, meeting.id) is not None


# The members' assessments --------------------------------------------------------------------------------


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


SEEN = Sight(True)


def sight(viewer: User, meeting: Meeting, seat: MeetingMember | None, own_submitted: bool,
          today: date | None = None) -> Sight:
    """The rule for seeing the panel's assessments of one portfolio, for every page that shows them.

    - From the meeting's date, whoever keeps the record (the Chair, the Lead) sees every submitted assessment:
      they record the panel's view, feedback, exemplars and themes from them.
    - Otherwise judgements stay independent: a person on the panel sees the others' only after submitting
      their own, and nobody sees any before the reading deadline has passed (see opens_to_the_panel).
    Published minutes are the exception for counts: whoever may read them sees every count in them
    (reviews.meeting_data.build). Assessors, NQSWs and observers never reach the pages that show assessments themselves.
    """
    today = today or clock.today()
    keeps = keeps_record(viewer, seat)
    if keeps and today >= meeting.held_on:
        return SEEN
    own_first = on_the_panel(seat) and not own_submitted
    opens = opens_to_the_panel(meeting)
    if not own_first and today >= opens:
        return SEEN
    return Sight(False, own_first=own_first, opens_on=opens if today < opens else None,
                 record_day=meeting.held_on if keeps else None)


# Minutes and the summary report --------------------------------------------------------------------------
# The rules work on plain values so that listings apply them to every meeting without a query per meeting.


def may_read_minutes_as(role: str, panel_role: str | None, published: bool) -> bool:
    """The minutes rule on plain values: a person's role, their panel role at the meeting, and publication."""
    # Draft minutes count each portfolio's "yes" answers and show the Chair's view, so a member who had not yet
    # submitted would see how the others judged: members read them only once published, with the Steering Group.
    if role == Role.ADMIN or panel_role == PanelRole.CHAIR.value:
        return True
    return (panel_role == PanelRole.MEMBER.value or _observes(role, panel_role)) and published


def may_read_report_as(role: str, panel_role: str | None, published: bool) -> bool:
    """The summary report rule on plain values (see may_read_minutes_as)."""
    if role == Role.ADMIN or panel_role == PanelRole.CHAIR.value:
        return True
    return _observes(role, panel_role) and published


def _observes(role: str, panel_role: str | None) -> bool:
    return role == Role.OBSERVER or panel_role == PanelRole.OBSERVER.value


def minutes_readable(user: User) -> ColumnElement[bool]:
    """The same rule as may_read_minutes_as, as a condition on Meeting for queries, so that listings page and count
    in the database: the Lead reads every meeting's minutes and the Chair their meeting's drafts too; a member or
    observer seat, or the Steering Group observer role (with or without a seat), reads published minutes."""
    if user.role == Role.ADMIN:
        return true()
    seat = select(MeetingMember.id).where(MeetingMember.meeting_id == Meeting.id, MeetingMember.user_id == user.id)
    published = Meeting.minutes_published_at.is_not(None)
    chair = exists(seat.where(seated_as_chair()))
    if user.role == Role.OBSERVER:
        return chair | published
    seated = exists(seat.where(MeetingMember.panel_role.in_((PanelRole.MEMBER.value, PanelRole.OBSERVER.value))))
    return chair | (published & seated)


def _panel_role(user: User, meeting: Meeting) -> str | None:
    place = seat_at(user, meeting)
    return place.panel_role if place is not None else None


def may_read_minutes(user: User, meeting: Meeting) -> bool:
    """The Lead and the Chair read drafts; the meeting's members and Steering Group observers, published minutes."""
    if user.role == Role.ADMIN:
        return True
    return may_read_minutes_as(user.role, _panel_role(user, meeting), meeting.minutes_published_at is not None)


def may_read_report(user: User, meeting: Meeting) -> bool:
    """The summary report: the Lead and the Chair at any time; observers once the minutes are published."""
    if user.role == Role.ADMIN:
        return True
    return may_read_report_as(user.role, _panel_role(user, meeting), meeting.minutes_published_at is not None)


def readable_meeting(user: User, meeting_id: int) -> Meeting | None:
    """A meeting whose minutes the person may read, else None."""
    meeting = db.session.get(Meeting, meeting_id)
    return meeting if meeting is not None and may_read_minutes(user, meeting) else None


def reportable_meeting(user: User, meeting_id: int) -> Meeting | None:
    """A meeting whose summary report the person may read, else None."""
    meeting = db.session.get(Meeting, meeting_id)
    return meeting if meeting is not None and may_read_report(user, meeting) else None


# Portfolios -------------------------------------------------------------------------------------------


def visible_portfolio_ids(user: User) -> Select[int]:
    """A query of the ids of portfolios the person may see (for use in loaders and listings): those of the
    employers they manage (User.employer_scope: every employer's for the administrator, their own for an employer
    Lead), and for the panel those sampled for a meeting they sit on while its access window is open."""
    if user.is_lead:
        return (select(Portfolio.id).join(Nqsw, Nqsw.id == Portfolio.nqsw_id)
                .where(Portfolio.purged_at.is_(None), user.employer_scope(Nqsw.employer_id)))
    now = clock.now()
    return (
        select(SampledPortfolio.portfolio_id)
        .join(Meeting, Meeting.id == SampledPortfolio.meeting_id)
        .join(MeetingMember, MeetingMember.meeting_id == Meeting.id)
        .join(Portfolio, Portfolio.id == SampledPortfolio.portfolio_id)
        .where(MeetingMember.user_id == user.id)
        .where(seated_on_panel())
        .where(Portfolio.purged_at.is_(None))
        .where(Meeting.access_closes_at.is_(None) | (Meeting.access_closes_at >= now))
    )


def visible_among(user: User, portfolio_ids: Iterable[int]) -> set[int]:
    """Which of these portfolios the person may see now, in one query however many are asked about."""
    ids = list(portfolio_ids)
    if not ids:
        return set()
    return set(db.session.scalars(visible_portfolio_ids(user).where(Portfolio.id.in_(ids))))


def visible_portfolio(user: User, portfolio_id: int) -> Portfolio | None:
    """A portfolio the person may see, else None (a purged portfolio is seen by no one)."""
    return db.session.scalar(select(Portfolio).where(Portfolio.id == portfolio_id,
                                                     Portfolio.id.in_(visible_portfolio_ids(user))))


def visible_portfolios(user: User, portfolio_ids: Sequence[int]) -> list[Portfolio] | None:
    """These portfolios in the order given, in one query, if the person may see every one of them; else None
    (a loader for pages that show several at once: one not visible is a 404 for the page, as for one alone)."""
    found = {p.id: p for p in db.session.scalars(select(Portfolio).where(
        Portfolio.id.in_(portfolio_ids), Portfolio.id.in_(visible_portfolio_ids(user))))}
    return [found[pid] for pid in portfolio_ids] if len(found) == len(set(portfolio_ids)) else None


def sampled_portfolio(meeting: Meeting, portfolio_id: int) -> Portfolio | None:
    """A portfolio in the meeting's current sample that has not been purged, else None."""
    return db.session.scalar(
        select(Portfolio).join(SampledPortfolio, SampledPortfolio.portfolio_id == Portfolio.id)
        .where(SampledPortfolio.meeting_id == meeting.id, Portfolio.id == portfolio_id,
               Portfolio.purged_at.is_(None))
    )


def sampled_portfolios(meeting_id: int) -> list[Portfolio]:
    """The meeting's sampled portfolios still held, in draw order."""
    return list(db.session.scalars(
        select(Portfolio).join(SampledPortfolio, SampledPortfolio.portfolio_id == Portfolio.id)
        .where(SampledPortfolio.meeting_id == meeting_id, Portfolio.purged_at.is_(None))
        .order_by(SampledPortfolio.position, Portfolio.id)
    ).unique())


# Themes and actions owned by an employer --------------------------------------------------------------


def employer_items(user: User, employer_column: SQLColumnExpression[int | None]) -> ColumnElement[bool]:
    """Which themes and actions an employer Lead reads: those their own employer owns (User.employer_scope), from
    meetings whose minutes are published. The panel and the administrator read them by the minutes rule above."""
    return user.employer_scope(employer_column) & Meeting.minutes_published_at.is_not(None)


def reads_employer_items_only(user: User) -> bool:
    """True for an employer Lead, who sees only their own employer's themes and actions (employer_items)."""
    return user.role == Role.LEAD


# Subject access ---------------------------------------------------------------------------------------


def may_export_subject(actor: User, account: User | None, nqsws: Sequence[Nqsw], assessors: Sequence[Assessor]) -> bool:
    """Whether the acting person may export everything the portal holds about one person (UK GDPR article 15).

    The person is their account (if they have one) and their NQSW and Assessor registry entries. The partnership
    administrator may export anyone's; an employer Lead only their own employer's people: the account one they
    look after (User.manages_person: an Assessor or NQSW of their employer) and every registry entry their
    employer's. The export's loader (subject_access.services.subject) answers None, so a 404, for anyone else.
    """
    if actor.role == Role.ADMIN:
        return True
    if actor.role != Role.LEAD:
        return False
    return ((account is None or actor.manages_person(account.role, account.organisation_id))
            and all(actor.manages(entry.employer_id) for entry in nqsws)
            and all(actor.manages(entry.organisation_id) for entry in assessors))
