"""Meetings, their members and the verifiable random sample. Each verb audits and commits once."""

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import joinedload

from portal import audit, clock, mail, paging, visibility
from portal.extensions import db
from portal.meetings import sampling
from portal.meetings.texts import DEFAULT_AGENDA, DEFAULT_TERMS_OF_REFERENCE
from portal.models import (
    Assessment,
    Meeting,
    MeetingMember,
    MeetingTemplate,
    Nqsw,
    PanelRole,
    Portfolio,
    Role,
    SampledPortfolio,
    SampleDraw,
    TemplateKind,
    User,
)
from portal.portfolios.services import give_pseudonyms

DEFAULT_TEXTS = {TemplateKind.AGENDA: DEFAULT_AGENDA, TemplateKind.TERMS_OF_REFERENCE: DEFAULT_TERMS_OF_REFERENCE}
# Which strata a draw may use, and how to read each from a portfolio (ids, not names, so nothing personal
# is stored in the draw's parameters).
STRATA = {
    "service": ("Service (children's or adults')", lambda p: p.nqsw.service),
    "outcome": ("Internal Panel outcome", lambda p: p.outcome or ""),
    "assessor": ("Assessor", lambda p: str(p.assessor_id or "none")),
    "employer": ("Employer", lambda p: employer_code(p)),
}
# The Skills for Care guidance's sample: 10% of the average and good outcomes (the portal records passes), from
# every employer of the partnership, spread across employers and services.
@dataclass(frozen=True)
class DrawPreset:
    """A recommended set of draw settings the Chair can start from."""

    percentage: int
    outcomes: tuple[str, ...]
    employer_minimum: int
    strata: tuple[str, ...]


GUIDANCE_PRESET = DrawPreset(percentage=10, outcomes=("pass",), employer_minimum=1, strata=("employer", "service"))


def employer_code(portfolio: Portfolio) -> str:
    """The portfolio's employer as the panel and the draw's record know it: its partnership code ("E2")."""
    employer = portfolio.nqsw.employer
    if employer is None:
        return "none"
    return employer.code or f"id{employer.id}"


# Templates and meetings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingRow:
    """One line of the meetings list: the meeting, its Chair's name and how many portfolios it sampled."""

    meeting: Meeting
    chair: str | None
    sampled: int


def meeting_page(user: User, page: int = 1) -> paging.Paged[MeetingRow]:
    """One page of the meetings this person may see, newest first, in four statements however many there are:
    the rows load only what the list shows (a meeting's agenda and terms of reference are deferred)."""
    found = paging.page_of(db.session, visibility.visible_meetings(user), page)
    ids = [m.id for m in found.rows]
    chairs: dict[int, str] = {mid: name for mid, name in db.session.execute(
        select(MeetingMember.meeting_id, User.name).join(User, User.id == MeetingMember.user_id)
        .where(MeetingMember.meeting_id.in_(ids), visibility.seated_as_chair()))} if ids else {}
    sampled: dict[int, int] = {mid: n for mid, n in db.session.execute(
        select(SampledPortfolio.meeting_id, func.count()).where(SampledPortfolio.meeting_id.in_(ids))
        .group_by(SampledPortfolio.meeting_id))} if ids else {}
    rows = [MeetingRow(m, chairs.get(m.id), sampled.get(m.id, 0)) for m in found.rows]
    return paging.Paged(rows, found.total, found.page, found.size)


def template_text(kind: TemplateKind) -> str:
    """The Lead's current template for a new meeting's agenda or Terms of Reference."""
    text = db.session.scalar(select(MeetingTemplate.text).where(MeetingTemplate.kind == kind.value))
    return text if text is not None else DEFAULT_TEXTS[kind]


def save_templates(actor: User, agenda: str, terms: str) -> None:
    """Change the starting texts of future meetings (existing meetings keep their own)."""
    for kind, text in ((TemplateKind.AGENDA, agenda), (TemplateKind.TERMS_OF_REFERENCE, terms)):
        row = db.session.scalar(select(MeetingTemplate).where(MeetingTemplate.kind == kind.value))
        row = row or MeetingTemplate(kind=kind.value)
        row.text, row.updated_by_id, row.updated_at = text.strip() + "\n", actor.id, clock.now()
        db.session.add(row)
    audit.record(actor, "meeting.templates_changed", "")
    db.session.commit()


@dataclass
class MeetingDetails:
    """What the Lead sets for a meeting."""

    title: str
    held_on: date
    reading_deadline: date | None
    access_window_days: int
    agenda: str
    terms_of_reference: str


def save_meeting(actor: User, meeting: Meeting | None, details: MeetingDetails) -> Meeting:
    """Create a meeting, or change its details, agenda and Terms of Reference.

    A change of date is audited as `meeting.date_changed` with the old date (`moved_from`), since the date
    decides from when the meeting can be recorded; any other change as `meeting.updated`.
    """
    action = "meeting.updated" if meeting else "meeting.created"
    # A meeting brought forward (or put back) is recorded with both dates: the day decides when the Chair
    # can record it (reviews.services.why_not_yet).
    moved_from = meeting.held_on if meeting is not None and meeting.held_on != details.held_on else None
    meeting = meeting or Meeting(created_at=clock.now())
    meeting.title = details.title.strip()
    meeting.held_on = details.held_on
    meeting.reading_deadline = details.reading_deadline
    meeting.access_window_days = details.access_window_days
    meeting.agenda = details.agenda.strip()
    meeting.terms_of_reference = details.terms_of_reference.strip()
    db.session.add(meeting)
    db.session.flush()
    if moved_from is not None:
        audit.record(actor, "meeting.date_changed", f"meeting:{meeting.id}", held_on=meeting.held_on.isoformat(),
                     moved_from=moved_from.isoformat())
    else:
        audit.record(actor, action, f"meeting:{meeting.id}", held_on=meeting.held_on.isoformat())
    db.session.commit()
    return meeting


# Members ------------------------------------------------------------------------------------------------


def panel_candidates() -> list[User]:
    """Active people who can sit on a panel: members, the Lead and Steering Group observers."""
    return list(db.session.scalars(
        select(User).where(User.active, User.role.in_((Role.MEMBER.value, Role.ADMIN.value, Role.OBSERVER.value)))
        .order_by(User.name)))


class SeatRefused(Exception):
    """The person may not take that seat (`visibility.may_sit_as`); the message says why, and nothing changed."""


def set_member(actor: User, meeting: Meeting, person: User, role: PanelRole) -> MeetingMember:
    """Seat a person at the meeting (emailing them the link and deadlines) or change their panel role.

    A meeting has one Chair: choosing a new Chair makes the previous one a member. Raises SeatRefused, before
    changing anything, for a seat the person may not take.
    """
    if not visibility.may_sit_as(person, role):
        raise SeatRefused("A Steering Group observer can only observe a meeting")
    found = visibility.seat_at(person, meeting)
    for other in visibility.chairs_displaced(meeting, person, role):
        other.panel_role = PanelRole.MEMBER.value
        audit.record(actor, "meeting.member_role_changed", f"meeting:{meeting.id}", user=other.user_id,
                     role=PanelRole.MEMBER.value)
    if found is None:
        found = MeetingMember(meeting=meeting, user=person, panel_role=role.value, added_at=clock.now())
        db.session.add(found)
        # Dates and a link only: the meeting's title is free text that may name people (DESIGN: email
        # carries links, never personal data), so the template is not given the meeting.
        mail.queue(person.email, "You have been invited to an External Moderation Panel meeting",
                   "meeting_invitation", held_on=meeting.held_on, reading_deadline=meeting.reading_deadline,
                   role=role.label, link_url=mail.external_url("meetings.meeting", meeting_id=meeting.id),
                   help_url=mail.external_url("auth.cannot_sign_in"))
        audit.record(actor, "meeting.member_added", f"meeting:{meeting.id}", user=person.id, role=role.value)
    elif found.panel_role != role.value:
        found.panel_role = role.value
        audit.record(actor, "meeting.member_role_changed", f"meeting:{meeting.id}", user=person.id, role=role.value)
    db.session.commit()
    return found


def member_of(meeting: Meeting, member_id: int) -> MeetingMember | None:
    """One of the meeting's seats."""
    member = db.session.get(MeetingMember, member_id)
    return member if member is not None and member.meeting_id == meeting.id else None


def remove_member(actor: User, meeting: Meeting, member: MeetingMember) -> None:
    """Take a person off the meeting; they lose access to its sample at once.

    Under the meeting's lock, like a first assessment save, so a save either lands before the removal or waits
    for it and is refused (reviews.services re-checks the seat under the same lock).
    """
    visibility.lock_meeting(meeting)
    meeting.members.remove(member)
    audit.record(actor, "meeting.member_removed", f"meeting:{meeting.id}", user=member.user_id)
    db.session.commit()


# The sample ---------------------------------------------------------------------------------------------


def previous_meeting(meeting: Meeting) -> Meeting | None:
    """The latest meeting held before this one."""
    return db.session.scalar(select(Meeting).where(Meeting.held_on < meeting.held_on, Meeting.id != meeting.id)
                             .order_by(Meeting.held_on.desc(), Meeting.id.desc()).limit(1))


def eligible_portfolios(meeting: Meeting) -> list[Portfolio]:
    """Portfolios with an outcome since the previous meeting (all, for the first), never sampled, not purged."""
    sampled_elsewhere = select(SampledPortfolio.portfolio_id).where(SampledPortfolio.meeting_id != meeting.id)
    statement = (select(Portfolio).where(Portfolio.purged_at.is_(None), Portfolio.outcome.is_not(None),
                                         Portfolio.outcome_date.is_not(None),
                                         Portfolio.id.not_in(sampled_elsewhere)).order_by(Portfolio.id))
    if (previous := previous_meeting(meeting)) is not None:
        statement = statement.where(Portfolio.outcome_date >= previous.held_on)
    return list(db.session.scalars(statement))


def current_draw(meeting: Meeting) -> SampleDraw | None:
    """The draw the meeting's sample comes from."""
    return db.session.scalar(select(SampleDraw).where(SampleDraw.meeting_id == meeting.id, SampleDraw.current))


def draws(meeting: Meeting) -> list[SampleDraw]:
    """Every draw for the meeting, newest first, with who drew each (the check page names them)."""
    return list(db.session.scalars(select(SampleDraw).options(joinedload(SampleDraw.drawn_by))
                                   .where(SampleDraw.meeting_id == meeting.id).order_by(SampleDraw.id.desc())))


def sample(meeting: Meeting) -> list[Portfolio]:
    """The meeting's current sample, in draw order."""
    return [s.portfolio for s in sorted(meeting.sampled, key=lambda s: s.position)]


@dataclass
class DrawRequest:
    """How the Chair wants the sample drawn."""

    number: int | None = None
    percentage: int | None = None
    strata: list[str] = field(default_factory=list)
    reason: str = ""
    employer_minimum: int = 0  # at least this many from each employer with eligible portfolios
    outcomes: list[str] = field(default_factory=list)  # only portfolios with these outcomes (all when empty)


class RedrawBlocked(sampling.SamplingError):
    """Panel members have started assessing the current sample, so it can no longer be drawn again."""

    def __init__(self, started: int) -> None:
        super().__init__(redraw_blocked_message(started))
        self.started = started


def started_assessments(meeting: Meeting) -> int:
    """How many assessments (drafts or submitted, by anyone) have been started for the meeting's current sample."""
    return db.session.scalar(
        select(func.count(Assessment.id)).join(
            SampledPortfolio, (SampledPortfolio.meeting_id == Assessment.meeting_id)
            & (SampledPortfolio.portfolio_id == Assessment.portfolio_id))
        .where(Assessment.meeting_id == meeting.id)) or 0


def redraw_blocked_message(started: int) -> str:
    """Why a redraw is refused, in plain words, with the number of assessments in the way."""
    counted = "1 assessment has" if started == 1 else f"{started} assessments have"
    return (f"You cannot redraw the sample: {counted} already been started for this meeting's portfolios. "
            "A new draw would replace the sample and leave that work attached to portfolios the panel no "
            "longer moderates, so the current sample stays as it is")


def _stratum(portfolio: Portfolio, strata: list[str]) -> str:
    return ";".join(f"{name}={STRATA[name][1](portfolio)}" for name in strata)


def draw_sample(actor: User, meeting: Meeting, request: DrawRequest) -> SampleDraw:
    """Draw (or redraw, with a reason) the meeting's sample from a fresh recorded seed; tell those sampled.

    Raises sampling.SamplingError with a plain message when the draw cannot be made, and its subclass
    RedrawBlocked once any assessment of the current sample has been started (a first draw is never blocked).
    """
    # Lock the meeting so two people drawing at once cannot both make a "current" draw, and a first assessment
    # save (which takes the same lock) either comes first and blocks the redraw or waits and sees the new sample.
    visibility.lock_meeting(meeting)
    if meeting.minutes_published_at is not None:
        raise sampling.SamplingError("The minutes are published, so the sample can no longer change")
    previous = current_draw(meeting)
    # Any started assessment blocks a redraw, even one of a portfolio a new draw might keep: the rule stays
    # simple to state, and a redraw changes the whole sample the panel has begun to read.
    if previous is not None and (started := started_assessments(meeting)):
        raise RedrawBlocked(started)
    if previous is not None and not request.reason.strip():
        raise sampling.SamplingError("Give the reason for drawing the sample again")
    strata = [name for name in STRATA if name in request.strata]
    outcomes = sorted({o for o in request.outcomes if o})
    population = [p for p in eligible_portfolios(meeting) if not outcomes or p.outcome in outcomes]
    size = sampling.sample_size(len(population), request.number, request.percentage)
    seed = secrets.token_hex(16)
    units = [sampling.Unit(p.id, _stratum(p, strata), employer_code(p)) for p in population]
    picks = sampling.draw(seed, units, size, request.employer_minimum)
    parameters: dict[str, Any] = {
        "algorithm": sampling.ALGORITHM, "number": request.number, "percentage": request.percentage, "size": size,
        "strata": strata, "employer_minimum": request.employer_minimum, "outcomes": outcomes,
        "employer_of": {str(u.id): u.employer for u in units}}
    if strata:
        parameters["stratum_of"] = {str(u.id): u.stratum for u in units}
    before = {s.portfolio_id for s in meeting.sampled}
    if previous is not None:
        previous.current = False
        db.session.execute(delete(SampledPortfolio).where(SampledPortfolio.meeting_id == meeting.id))
        db.session.expire(meeting, ["sampled"])
    sample_draw = SampleDraw(meeting_id=meeting.id, seed=seed, population=json.dumps([p.id for p in population]),
                        parameters=json.dumps(parameters, sort_keys=True), picks=json.dumps(picks),
                        reason=request.reason.strip(), drawn_by_id=actor.id, drawn_at=clock.now(), current=True)
    db.session.add(sample_draw)
    db.session.flush()
    by_id = {p.id: p for p in population}
    for position, portfolio_id in enumerate(picks, start=1):
        db.session.add(SampledPortfolio(meeting_id=meeting.id, portfolio_id=portfolio_id, draw_id=sample_draw.id,
                                        position=position))
    give_pseudonyms(by_id[pid] for pid in picks)
    _tell_sampled(meeting, [by_id[pid] for pid in picks if pid not in before], sorted(before - set(picks)))
    audit.record(actor, "sample.redrawn" if previous else "sample.drawn", f"meeting:{meeting.id}", draw=sample_draw.id,
                 seed=seed, size=size, population=len(population), picks=picks, strata=strata,
                 employer_minimum=request.employer_minimum, outcomes=outcomes,
                 reason=sample_draw.reason, superseded=previous.id if previous else None)
    db.session.commit()
    return sample_draw


def _recipients(portfolios: list[Portfolio]) -> list[str]:
    emails = []
    for portfolio in portfolios:
        emails.append(portfolio.nqsw.email)
        if portfolio.assessor is not None:
            emails.append(portfolio.assessor.email)
    return sorted(set(emails))


def _tell_sampled(meeting: Meeting, added: list[Portfolio], removed_ids: list[int]) -> None:
    """Email the NQSWs and Assessors of newly sampled portfolios, and those no longer sampled after a redraw.

    The templates get the meeting's date, never the meeting, so no free text can reach an email.
    """
    for email in _recipients(added):
        mail.queue(email, "A portfolio has been selected for external moderation", "portfolio_sampled",
                   held_on=meeting.held_on, link_url=mail.external_url("pages.index"))
    removed = list(db.session.scalars(select(Portfolio).join(Nqsw).where(Portfolio.id.in_(removed_ids)))) \
        if removed_ids else []
    for email in _recipients(removed):
        mail.queue(email, "A portfolio is no longer selected for external moderation", "portfolio_unsampled",
                   held_on=meeting.held_on, link_url=mail.external_url("pages.index"))


@dataclass
class Verification:
    """The result of re-running a recorded draw."""

    draw: SampleDraw
    parameters: dict
    population: list[int]
    recorded: list[int]
    rerun: list[int]
    problem: str = ""

    @property
    def matches(self) -> bool:
        """True when the re-run gives exactly the recorded picks, in order."""
        return not self.problem and self.rerun == self.recorded


def verify(sample_draw: SampleDraw) -> Verification:
    """Re-run a draw from its stored seed, population and parameters and compare with the stored picks."""
    parameters = json.loads(sample_draw.parameters)
    population = [int(i) for i in json.loads(sample_draw.population)]
    recorded = [int(i) for i in json.loads(sample_draw.picks)]
    stratum_of = parameters.get("stratum_of", {})
    employer_of = parameters.get("employer_of", {})
    units = [sampling.Unit(pid, stratum_of.get(str(pid), ""), employer_of.get(str(pid), "")) for pid in population]
    try:
        size = sampling.sample_size(len(population), parameters.get("number"), parameters.get("percentage"))
        rerun = sampling.draw(sample_draw.seed, units, size, int(parameters.get("employer_minimum") or 0))
    except sampling.SamplingError as exc:
        return Verification(sample_draw, parameters, population, recorded, [], str(exc))
    return Verification(sample_draw, parameters, population, recorded, rerun)


def draw_of(meeting: Meeting, draw_id: int) -> SampleDraw | None:
    """One of the meeting's draws."""
    sample_draw = db.session.get(SampleDraw, draw_id)
    return sample_draw if sample_draw is not None and sample_draw.meeting_id == meeting.id else None


def labels_for(user: User, portfolio_ids: list[int]) -> dict[int, str]:
    """How each portfolio is named to this person: its panel label, or the NQSW's name for the Lead."""
    portfolios: Iterable[Portfolio] = (db.session.scalars(select(Portfolio).where(Portfolio.id.in_(portfolio_ids)))
                                       if portfolio_ids else [])
    return {p.id: p.label_for(user) for p in portfolios}
