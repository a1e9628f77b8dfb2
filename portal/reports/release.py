"""Releasing the panel's feedback: at one moment, to every Assessor and NQSW concerned, by emailed link only.

Who receives what:
- the NQSW and the Assessor of each sampled portfolio: the panel's feedback to them (from the PanelView)
  and the key messages;
- every other NQSW in the registry in a cohort that had a portfolio sampled, and those NQSWs' Assessors:
  the key messages only (the "cohort"). An NQSW with no cohort is reached only through their own portfolio.
People without an account get one (role nqsw or assessor, no password yet) and an invitation link; the
email never carries the feedback itself. The target is a number of working days after the meeting date:
weekends and the UK bank holidays of BANK_HOLIDAY_REGION (England and Wales by default, from the `holidays`
package) are skipped, and so are any local closure days listed in CLOSURE_DAYS.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

import holidays
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload, lazyload

from portal import audit, clock, mail, visibility
from portal.auth import services as auth_services
from portal.extensions import db
from portal.models import (
    Assessor,
    FeedbackRecipient,
    FeedbackRelease,
    LinkPurpose,
    Meeting,
    MinutesStatus,
    Nqsw,
    PanelView,
    Portfolio,
    Role,
    SampledPortfolio,
    User,
)
from portal.reports import minutes_data
from portal.reviews.services import why_not_yet

DEFAULT_TARGET_WORKING_DAYS = 5


class ReleaseRefused(Exception):
    """The feedback cannot be released now; the message says why."""


# The UK's four bank-holiday calendars, as the `holidays` package names them; England and Wales share one.
REGIONS = {"ENG": "England", "WLS": "Wales", "SCT": "Scotland", "NIR": "Northern Ireland"}


def check_settings(config: Mapping[str, Any]) -> None:
    """Refuse to start with a bank-holiday region or a closure day the target could not use."""
    region = str(config.get("BANK_HOLIDAY_REGION", "ENG")).upper()
    if region not in REGIONS:
        accepted = ", ".join(f"{code} ({name})" for code, name in REGIONS.items())
        raise ValueError(f"BANK_HOLIDAY_REGION {config.get('BANK_HOLIDAY_REGION')!r} is not a UK bank-holiday "
                         f"region: use one of {accepted}")
    _closure_days(config)


def _closure_days(config: Mapping[str, Any]) -> set[date]:
    # BANK_HOLIDAYS is the setting's older name, from when every bank holiday had to be typed in.
    days = [*config.get("CLOSURE_DAYS", ()), *config.get("BANK_HOLIDAYS", ())]
    try:
        return {date.fromisoformat(str(day)) for day in days}
    except ValueError as error:
        raise ValueError(f"CLOSURE_DAYS must be dates written like 2026-12-29: {error}") from error


def days_off(config: Mapping[str, Any], years: Iterable[int]) -> set[date]:
    """The region's bank holidays in these years (including days given "in lieu") and the local closure days."""
    region = str(config.get("BANK_HOLIDAY_REGION", "ENG")).upper()
    return set(_bank_holidays(region, tuple(years))) | _closure_days(config)


@lru_cache(maxsize=64)
def _bank_holidays(region: str, years: tuple[int, ...]) -> frozenset[date]:
    """The region's bank holidays in these years, built once per process: the `holidays` package takes half a
    millisecond to build them, and a dashboard asks for each meeting's target."""
    return frozenset(holidays.country_holidays("GB", subdiv=region, years=list(years)))


def target_date(held_on: date) -> date:
    """The release target: N working days after the meeting (default 5), skipping weekends, bank holidays and
    closure days."""
    config = current_app.config
    remaining = int(config.get("FEEDBACK_TARGET_WORKING_DAYS", DEFAULT_TARGET_WORKING_DAYS))
    # Five working days never span more than two calendar years; a long target may, so the years grow with it.
    off, day = days_off(config, range(held_on.year, held_on.year + 2 + remaining // 200)), held_on
    while remaining > 0:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in off:
            remaining -= 1
    return day


@dataclass
class TargetState:
    """How the release stands against its target, for a GOV.UK tag."""

    text: str
    colour: str  # a govuk-tag modifier
    on: date  # the target date itself


def target_state(meeting: Meeting, release: FeedbackRelease | None) -> TargetState:
    """Released (on time or late), due by the target, or overdue."""
    target = release.target_on if release else target_date(meeting.held_on)
    if release is not None:
        late = release.released_at.date() > target
        return TargetState("Released late" if late else "Released", "orange" if late else "green", target)
    if clock.now().date() > target:
        return TargetState("Overdue", "red", target)
    return TargetState("Due", "blue", target)


def release_for(meeting: Meeting) -> FeedbackRelease | None:
    """The meeting's feedback release, if it has happened."""
    return db.session.scalar(select(FeedbackRelease).where(FeedbackRelease.meeting_id == meeting.id))


def _people(meeting: Meeting) -> dict[tuple[str, str], tuple[str, str, bool]]:
    """(role, email) -> (name, email, has personal feedback) for everyone the release goes to."""
    portfolios = [s.portfolio for s in db.session.scalars(
        select(SampledPortfolio).where(SampledPortfolio.meeting_id == meeting.id))]
    people: dict[tuple[str, str], tuple[str, str, bool]] = {}
    for p in portfolios:
        people[(Role.NQSW.value, p.nqsw.email)] = (p.nqsw.name, p.nqsw.email, True)
        if p.assessor is not None:
            people[(Role.ASSESSOR.value, p.assessor.email)] = (p.assessor.name, p.assessor.email, True)
    cohorts = {p.nqsw.cohort_id for p in portfolios if p.nqsw.cohort_id is not None}
    if cohorts:
        for nqsw in db.session.scalars(select(Nqsw).where(Nqsw.cohort_id.in_(cohorts))):
            people.setdefault((Role.NQSW.value, nqsw.email), (nqsw.name, nqsw.email, False))
        assessors = select(Assessor).join(Portfolio, Portfolio.assessor_id == Assessor.id).join(
            Nqsw, Nqsw.id == Portfolio.nqsw_id).where(Nqsw.cohort_id.in_(cohorts)).distinct()
        for assessor in db.session.scalars(assessors):
            people.setdefault((Role.ASSESSOR.value, assessor.email), (assessor.name, assessor.email, False))
    return people


def _account(actor: User, role: str, name: str, email: str) -> tuple[User, str | None]:
    """The person's account, created (without a password) with an invitation token if they have none."""
    email = email.strip().lower()
    user = db.session.scalar(select(User).where(User.email == email))
    if user is not None:
        return user, None
    # The account belongs to the person's employer, so that employer's Leads look after it.
    employer = (select(Nqsw.employer_id).where(Nqsw.email == email) if role == Role.NQSW.value
                else select(Assessor.organisation_id).where(Assessor.email == email))
    user = User(email=email, name=name, role=role, created_at=clock.now(), active=True,
                organisation_id=db.session.scalar(employer))
    db.session.add(user)
    db.session.flush()
    hours = int(current_app.config["INVITATION_HOURS"])
    _, token = auth_services.new_link(LinkPurpose.INVITATION, timedelta(hours=hours), name=name, email=email,
                                      role=role, user_id=user.id, created_by_id=actor.id,
                                      organisation_id=user.organisation_id)
    audit.record(actor, "invitation.sent", f"user:{user.id}", email=email, role=role, reason="feedback")
    return user, token


def _link_registry(user: User, role: str, email: str) -> None:
    registry = Nqsw if role == Role.NQSW.value else Assessor
    db.session.execute(update(registry).where(registry.email == email, registry.user_id.is_(None))
                       .values(user_id=user.id))


def release(actor: User, meeting: Meeting) -> FeedbackRelease:
    """Release the meeting's feedback and key messages to everyone concerned at one moment.

    What is released is read live, so from here on the panel's views and the key messages are refused any
    change (reviews.services.refuse_if_closed); the lock makes an edit in flight finish first or be refused.
    """
    visibility.lock_meeting(meeting)
    db.session.refresh(meeting, ["held_on"])
    if (not_yet := why_not_yet(meeting)) is not None:
        raise ReleaseRefused(not_yet)
    minutes = minutes_data.minutes_for(meeting)
    if minutes is None or minutes.status not in (MinutesStatus.APPROVED.value, MinutesStatus.PUBLISHED.value):
        raise ReleaseRefused("Approve the minutes before releasing feedback.")
    if release_for(meeting) is not None:
        raise ReleaseRefused("The feedback for this meeting has already been released.")
    people = _people(meeting)
    if not people:
        raise ReleaseRefused("No portfolios were sampled for this meeting, so there is no one to send feedback to.")
    now = clock.now()
    item = FeedbackRelease(meeting_id=meeting.id, target_on=target_date(meeting.held_on), released_at=now,
                           released_by_id=actor.id)
    db.session.add(item)
    db.session.flush()
    feedback_url = mail.external_url("reports.my_feedback", meeting_id=meeting.id)
    hours = int(current_app.config["INVITATION_HOURS"])
    for (role, email), (name, _, personal) in sorted(people.items()):
        subject = ("Feedback from the External Moderation Panel" if personal
                   else "Key messages from the External Moderation Panel")
        user, token = _account(actor, role, name, email)
        _link_registry(user, role, email)
        item.recipients.append(FeedbackRecipient(user_id=user.id, has_feedback=personal,
                                                 account_created=token is not None, notified_at=now))
        if token is None:
            mail.queue(user.email, subject, "feedback_ready",
                       feedback_url=feedback_url, personal=personal)
        else:
            mail.queue(user.email, subject, "feedback_invitation",
                       link_url=mail.external_url("auth.accept_link", token=token), hours=hours,
                       feedback_url=feedback_url, personal=personal)
    audit.record(actor, "feedback.released", f"meeting:{meeting.id}", recipients=len(people),
                 target_on=item.target_on.isoformat())
    db.session.commit()
    return item


def recipient_of(user: User, meeting_id: int) -> FeedbackRecipient | None:
    """The person's own place in a meeting's release, else None (no one sees another person's feedback)."""
    return db.session.scalar(
        select(FeedbackRecipient).join(FeedbackRelease, FeedbackRelease.id == FeedbackRecipient.release_id)
        .where(FeedbackRelease.meeting_id == meeting_id, FeedbackRecipient.user_id == user.id)
    )


@dataclass
class PersonalFeedback:
    """The panel's words to one person about one portfolio."""

    heading: str
    text: str


def personal_feedback(recipient: FeedbackRecipient) -> list[PersonalFeedback]:
    """The feedback addressed to this person: to them as the NQSW, or as the Assessor, of a sampled portfolio."""
    user, meeting_id = recipient.user, recipient.release.meeting_id
    rows = db.session.execute(
        select(Portfolio, PanelView).join(SampledPortfolio, SampledPortfolio.portfolio_id == Portfolio.id)
        .outerjoin(PanelView, (PanelView.portfolio_id == Portfolio.id) & (PanelView.meeting_id == meeting_id))
        .where(SampledPortfolio.meeting_id == meeting_id)
        .order_by(SampledPortfolio.position)
    ).all()
    found = []
    for portfolio, view in rows:
        if portfolio.nqsw.user_id == user.id:
            found.append(PersonalFeedback("Feedback to you on your portfolio",
                                          (view.feedback_nqsw if view else None) or "The panel recorded none."))
        if portfolio.assessor is not None and portfolio.assessor.user_id == user.id:
            found.append(PersonalFeedback(f"Feedback to you as the Assessor of {portfolio.nqsw.name}",
                                          (view.feedback_assessor if view else None) or "The panel recorded none."))
    return found


def acknowledge(actor: User, recipient: FeedbackRecipient) -> None:
    """Record that the person has read their feedback (once; pressing again changes nothing)."""
    if recipient.acknowledged_at is None:
        recipient.acknowledged_at = clock.now()
        audit.record(actor, "feedback.acknowledged", f"meeting:{recipient.release.meeting_id}")
    db.session.commit()


def my_releases(user: User) -> list[FeedbackRecipient]:
    """Every release that reached this person, newest first, with its meeting's title and date (the lists show
    nothing else of the meeting)."""
    return list(db.session.scalars(
        select(FeedbackRecipient).join(FeedbackRelease, FeedbackRelease.id == FeedbackRecipient.release_id)
        .where(FeedbackRecipient.user_id == user.id).order_by(FeedbackRelease.released_at.desc())
        .options(lazyload(FeedbackRecipient.user),  # the person asking, already loaded
                 joinedload(FeedbackRecipient.release).joinedload(FeedbackRelease.meeting)
                 .load_only(Meeting.title, Meeting.held_on))
    ))


def recipients(release_item: FeedbackRelease) -> list[FeedbackRecipient]:
    """The recipients of a release, by name."""
    return sorted(release_item.recipients, key=lambda r: r.user.name)
