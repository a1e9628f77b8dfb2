"""Structured assessments: drafts, submission, apologies, reminders, attendance, the panel's view, templates.

Each verb takes the acting user, writes its audit record and commits once. The data of a whole meeting (the
Chair's meeting record, the counts the minutes reuse) is built in reviews.meeting_data.
"""

import json
from typing import Any

from flask import url_for
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload

from portal import audit, clock, mail, visibility
from portal.documents.services import documents_of
from portal.extensions import db
from portal.models import (
    Assessment,
    AssessmentStatus,
    AssessmentTemplate,
    Attendance,
    Document,
    FeedbackRelease,
    Meeting,
    MeetingMember,
    PanelView,
    Portfolio,
    User,
)
from portal.reviews import form_schema, meeting_data
from portal.reviews.template_default import DEFAULT_NAME, DEFAULT_SCHEMA

PANEL_VIEW_FIELDS = ("decision_view", "support_view", "agreement", "exemplars_confirmed", "feedback_assessor",
                     "feedback_nqsw")


class Locked(Exception):
    """The assessment has been submitted and can no longer be changed."""


class RecordClosed(Exception):
    """The minutes are published (or feedback released), so what they fix can no longer change; the message says why."""


class NotYetHeld(RecordClosed):
    """The meeting's date has not come (in London), so what happens at the meeting cannot be recorded yet."""


class NoLongerAssessable(Exception):
    """Before the first save, the portfolio left the meeting's sample (a redraw) or the person left its panel."""


NOT_SAMPLED = ("This portfolio is no longer in the meeting's sample: the sample was drawn again while you had the "
               "form open. Your answers have not been saved. Your assessments for this meeting list the portfolios "
               "now in the sample.")
NOT_SEATED = "You no longer have access to this meeting's portfolios, so your answers have not been saved."
CLOSED_ASSESSMENTS = "assessments can no longer be saved or submitted"
CLOSED_APOLOGIES = "apologies can no longer be sent"
CLOSED_ATTENDANCE = "attendance and apologies can no longer be changed"
CLOSED_PANEL_VIEW = "the panel's view and its feedback can no longer be changed"


class TemplateRefused(Exception):
    """A new template version breaks the schema's rules; `problems` says how, in plain words."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Incomplete(Exception):
    """Required questions are unanswered; `missing` lists them in form order."""

    def __init__(self, missing: list[form_schema.Missing]) -> None:
        super().__init__(f"{len(missing)} required answers missing")
        self.missing = missing


# Loaders ---------------------------------------------------------------------------------------------------


def current_template() -> AssessmentTemplate:
    """The active template; the built-in default (not yet saved) until one has been used or published."""
    template = db.session.scalar(select(AssessmentTemplate).where(AssessmentTemplate.active.is_(True))
                                 .order_by(AssessmentTemplate.version.desc()).limit(1))
    return template or AssessmentTemplate(name=DEFAULT_NAME, version=1, schema=json.dumps(DEFAULT_SCHEMA),
                                          active=True, created_at=clock.now())


def templates() -> list[AssessmentTemplate]:
    """Every saved template version, newest first."""
    return list(db.session.scalars(select(AssessmentTemplate).order_by(AssessmentTemplate.version.desc())))


def assessment_of(meeting: Meeting, portfolio: Portfolio, user: User) -> Assessment | None:
    """The person's assessment of a portfolio at a meeting, if started."""
    return db.session.scalar(select(Assessment).where(
        Assessment.meeting_id == meeting.id, Assessment.portfolio_id == portfolio.id, Assessment.user_id == user.id))


def form_for(meeting: Meeting, portfolio: Portfolio, user: User) -> tuple[AssessmentTemplate, Assessment | None]:
    """The template the person's form uses (their assessment's, or the current one) and the assessment."""
    assessment = assessment_of(meeting, portfolio, user)
    return (assessment.template if assessment else current_template()), assessment


def others(meeting: Meeting, portfolio: Portfolio, viewer: User) -> list[tuple[str, Assessment]]:
    """The other panel members' submitted assessments of a portfolio, with their names."""
    rows = db.session.execute(
        select(User.name, Assessment).join(User, User.id == Assessment.user_id)
        .join(MeetingMember, (MeetingMember.user_id == User.id) & (MeetingMember.meeting_id == meeting.id))
        .where(Assessment.meeting_id == meeting.id, Assessment.portfolio_id == portfolio.id,
               Assessment.user_id != viewer.id, Assessment.status == AssessmentStatus.SUBMITTED.value,
               visibility.seated_on_panel())
        .order_by(Assessment.id)
    ).all()
    return [(name, assessment) for name, assessment in rows]


def my_portfolios(meeting: Meeting, user: User) -> list[tuple[Portfolio, str]]:
    """The meeting's sampled portfolios with the person's status on each: submitted, draft or not_started."""
    statuses = dict(db.session.execute(
        select(Assessment.portfolio_id, Assessment.status)
        .where(Assessment.meeting_id == meeting.id, Assessment.user_id == user.id)).all())
    return [(p, meeting_data.DRAFT if statuses.get(p.id) == AssessmentStatus.DRAFT.value
             else meeting_data.SUBMITTED if p.id in statuses else meeting_data.NOT_STARTED)
            for p in visibility.sampled_portfolios(meeting.id)]


def evidence_of(portfolio: Portfolio) -> dict[str, list[Document]]:
    """The portfolio's documents by evidence type, for the links beside the Part 1 checklist (one query)."""
    grouped: dict[str, list[Document]] = {}
    for document in documents_of([portfolio.id]):
        if document.current_version is not None:
            grouped.setdefault(document.evidence_type, []).append(document)
    return grouped


def panel_view_of(meeting: Meeting, portfolio: Portfolio) -> PanelView | None:
    """What the Chair has recorded for the panel about a portfolio, if anything."""
    return db.session.scalar(select(PanelView).where(PanelView.meeting_id == meeting.id,
                                                     PanelView.portfolio_id == portfolio.id))


def meeting_seats(meeting: Meeting) -> list[MeetingMember]:
    """Everyone seated at a meeting (Chair, members, observers), by name."""
    return visibility.seats(meeting.id)


def links_for(user: User, meeting: Meeting) -> list[tuple[str, str]]:
    """Links to the person's assessments (and each task list) and, for the Chair and the Lead, the meeting record."""
    links = []
    found = visibility.panel_seat(user, meeting.id)
    if found:
        links.append((url_for("reviews.overview", meeting_id=meeting.id), "Your assessments for this meeting"))
        links += [(url_for("reviews.task_list", meeting_id=meeting.id, portfolio_id=p.id),
                   f"Assess {p.label_for(user)}") for p in visibility.sampled_portfolios(meeting.id)]
    if visibility.keeps_record(user, found[1] if found else None):
        links.append((url_for("reviews.meeting_record", meeting_id=meeting.id), "Meeting record"))
    return links


# Verbs -------------------------------------------------------------------------------------------------


def why_closed(meeting: Meeting, what: str, released_too: bool = False) -> str | None:
    """Why `what` can no longer change at this meeting (minutes published, or feedback released), or None."""
    if meeting.minutes_published_at is not None:
        return (f"The minutes of this meeting were published on {clock.format_date(meeting.minutes_published_at)}, "
                f"so {what}: the published record is read-only. Nothing has been saved. If the minutes need "
                "correcting, the Chair publishes a correction.")
    if released_too:
        released = db.session.scalar(select(FeedbackRelease.released_at)
                                     .where(FeedbackRelease.meeting_id == meeting.id))
        if released is not None:
            return (f"Feedback for this meeting was released on {clock.format_date(released)}, so {what}: the "
                    "Assessors and NQSWs have already been sent it. Nothing has been saved.")
    return None


def why_not_yet(meeting: Meeting) -> str | None:
    """Why the meeting cannot be recorded yet (its date, in London, has not come), or None from that day on.

    Attendance, apologies recorded by the Chair, the panel's view, approving and publishing the minutes and
    releasing feedback all wait for the meeting; members' own assessments and apologies do not.
    """
    if clock.today() >= meeting.held_on:
        return None
    return (f"This meeting is on {clock.format_date(meeting.held_on)}: you can record it from that day. If the "
            "meeting was brought forward, the ASYE Lead changes its date first (Change the meeting, on the "
            "meeting's page). Nothing has been saved.")


def refuse_if_closed(meeting: Meeting, what: str, released_too: bool = False, on_the_day: bool = False) -> None:
    """Raise RecordClosed (see why_closed), holding the meeting's lock so publication and release wait for us.

    publish() and release() take the same lock, so a change either commits before them (and is part of what
    they fix) or sees them and is refused. Recipients read the released feedback and key messages live, which
    is why those stay as they were once released. With `on_the_day`, also raise NotYetHeld before the
    meeting's date (see why_not_yet), read under the same lock so a change of date is seen.
    """
    visibility.lock_meeting(meeting)
    db.session.refresh(meeting, ["minutes_published_at", "held_on"])
    reason = why_closed(meeting, what, released_too)
    if reason is not None:
        raise RecordClosed(reason)
    if on_the_day:
        refuse_before_the_day(meeting, locked=True)


def refuse_before_the_day(meeting: Meeting, locked: bool = False) -> None:
    """Raise NotYetHeld before the meeting's date, holding the meeting's lock (a date change waits for us)."""
    if not locked:
        visibility.lock_meeting(meeting)
        db.session.refresh(meeting, ["held_on"])
    reason = why_not_yet(meeting)
    if reason is not None:
        raise NotYetHeld(reason)


def _for_update(meeting: Meeting, portfolio: Portfolio, user: User) -> Assessment | None:
    """The person's assessment, row-locked so a save and a submission cannot interleave."""
    return db.session.scalar(
        select(Assessment).options(lazyload(Assessment.template))
        .where(Assessment.meeting_id == meeting.id, Assessment.portfolio_id == portfolio.id,
               Assessment.user_id == user.id).with_for_update())


def _new_assessment(actor: User, meeting: Meeting, portfolio: Portfolio) -> Assessment:
    """Create the draft, tolerating a concurrent first save (a double click) or first use of the template.

    Raises NoLongerAssessable, changing nothing, when a redraw or a removal got in after the page's checks.
    """
    # The lock draw_sample takes: a redraw either finished first, and the checks below see its new sample, or
    # it waits for this save and then finds an assessment started, so it is refused.
    visibility.lock_meeting(meeting)
    if visibility.panel_seat(actor, meeting.id) is None:
        raise NoLongerAssessable(NOT_SEATED)
    if visibility.sampled_portfolio(meeting, portfolio.id) is None:
        raise NoLongerAssessable(NOT_SAMPLED)
    template = current_template()
    if template.id is None:
        try:
            with db.session.begin_nested():
                db.session.add(template)
        except IntegrityError:
            template = current_template()  # someone else seeded it a moment ago
    now = clock.now()
    try:
        with db.session.begin_nested():
            assessment = Assessment(meeting_id=meeting.id, portfolio_id=portfolio.id, user_id=actor.id,
                                    template_id=template.id, answers="{}", status=AssessmentStatus.DRAFT.value,
                                    written=False, created_at=now, updated_at=now)
            db.session.add(assessment)
    except IntegrityError:
        found = _for_update(meeting, portfolio, actor)
        if found is None:
            raise
        assessment = found
    return assessment


def save_section(actor: User, meeting: Meeting, portfolio: Portfolio, section: dict[str, Any],
                 values: dict[str, str | None]) -> Assessment:
    """Save one section's answers as a draft (creating the assessment on first save); refused once published."""
    refuse_if_closed(meeting, CLOSED_ASSESSMENTS)
    assessment = _for_update(meeting, portfolio, actor) or _new_assessment(actor, meeting, portfolio)
    if assessment.submitted:
        raise Locked
    answers = assessment.answer_map
    for question in section["questions"]:
        form_schema.set_answer(answers, question, values.get(form_schema.field_name(question)))
    assessment.answers = json.dumps(answers)
    assessment.updated_at = clock.now()
    db.session.flush()
    audit.record(actor, "assessment.draft_saved", f"assessment:{assessment.id}", meeting=meeting.id,
                 portfolio=portfolio.id, section=section["key"])
    db.session.commit()
    return assessment


def submit(actor: User, meeting: Meeting, portfolio: Portfolio, member: MeetingMember) -> Assessment:
    """Submit and lock the person's assessment; written when they have sent apologies for the meeting.

    Refused (RecordClosed) once the minutes are published: they count the assessments submitted by then.
    """
    refuse_if_closed(meeting, CLOSED_ASSESSMENTS)
    assessment = _for_update(meeting, portfolio, actor)
    if assessment is not None and assessment.submitted:
        raise Locked
    template = assessment.template if assessment else current_template()
    missing = form_schema.missing(template.sections, assessment.answer_map if assessment else {})
    if assessment is None or missing:
        raise Incomplete(missing)
    now = clock.now()
    assessment.status = AssessmentStatus.SUBMITTED.value
    assessment.submitted_at = assessment.updated_at = now
    assessment.written = member.attendance == Attendance.APOLOGIES.value
    audit.record(actor, "assessment.submitted", f"assessment:{assessment.id}", meeting=meeting.id,
                 portfolio=portfolio.id, written=assessment.written, template_version=template.version)
    db.session.commit()
    return assessment


def _mark_written(meeting: Meeting, user_id: int) -> None:
    """Assessments already submitted by someone who then sends apologies were submitted in writing."""
    db.session.execute(update(Assessment).where(
        Assessment.meeting_id == meeting.id, Assessment.user_id == user_id,
        Assessment.status == AssessmentStatus.SUBMITTED.value).values(written=True))


def send_apologies(actor: User, meeting: Meeting, member: MeetingMember) -> None:
    """Record that the person cannot attend: their assessments count as written assessments (not once published)."""
    refuse_if_closed(meeting, CLOSED_APOLOGIES)
    member.attendance = Attendance.APOLOGIES.value
    _mark_written(meeting, actor.id)
    audit.record(actor, "meeting.apologies_sent", f"meeting:{meeting.id}")
    db.session.commit()


def record_attendance(actor: User, meeting: Meeting, choices: dict[int, str]) -> int:
    """Record attended / apologies / expected for the seats given (by seat id); returns how many changed.

    Refused (RecordClosed) once the minutes are published: the attendance is part of the published record;
    and (NotYetHeld) before the meeting's date.
    """
    refuse_if_closed(meeting, CLOSED_ATTENDANCE, on_the_day=True)
    changed = {}
    for member in meeting_seats(meeting):
        value = choices.get(member.id)
        if value in {a.value for a in Attendance} and value != member.attendance:
            member.attendance = value
            changed[str(member.user_id)] = value
            if value == Attendance.APOLOGIES.value:
                _mark_written(meeting, member.user_id)
    audit.record(actor, "meeting.attendance_recorded", f"meeting:{meeting.id}", changes=changed)
    db.session.commit()
    return len(changed)


def save_panel_view(actor: User, meeting: Meeting, portfolio: Portfolio, values: dict[str, str | None]) -> PanelView:
    """Record the panel's view on the decision and support, confirmed exemplars and feedback.

    Refused (RecordClosed) once the minutes are published, since the published record is read-only, and once
    feedback is released, since its recipients have been sent what it says; and (NotYetHeld) before the
    meeting's date.
    """
    refuse_if_closed(meeting, CLOSED_PANEL_VIEW, released_too=True, on_the_day=True)
    view = panel_view_of(meeting, portfolio)
    if view is None:
        view = PanelView(meeting_id=meeting.id, portfolio_id=portfolio.id)
        db.session.add(view)
    for name in PANEL_VIEW_FIELDS:
        setattr(view, name, (values.get(name) or "").strip() or None)
    view.updated_by_id = actor.id
    view.updated_at = clock.now()
    db.session.flush()
    audit.record(actor, "panel_view.saved", f"panel_view:{view.id}", meeting=meeting.id, portfolio=portfolio.id,
                 agreement=view.agreement)
    db.session.commit()
    return view


def send_reminders(actor: User, meeting: Meeting) -> int:
    """Email a link to each member with a document unread or an assessment not submitted; returns how many."""
    recipients = meeting_data.build(meeting, actor, documents=True).needs_reminder()
    link = mail.external_url("reviews.overview", meeting_id=meeting.id)
    for user in recipients:
        mail.queue(user.email, "Reminder: reading and assessments for the moderation panel",
                   "assessment_reminder", link_url=link, deadline=meeting.reading_deadline)
    audit.record(actor, "meeting.reminder_sent", f"meeting:{meeting.id}", recipients=[u.id for u in recipients])
    db.session.commit()
    return len(recipients)


def next_version() -> int:
    """The number the next published version of the assessment template will have."""
    return (db.session.scalar(select(func.max(AssessmentTemplate.version))) or 0) + 1


def publish_template(actor: User, name: str, schema: dict[str, Any], change: str = "edited as JSON"
                     ) -> AssessmentTemplate:
    """Publish a new version of the assessment template; assessments already begun keep their version.

    Raises TemplateRefused, publishing nothing, when the schema breaks a rule of form_schema.validate.
    `change` says in the audit record how the Lead made it (edited as JSON, wording, a question added ...).
    """
    checked, problems = form_schema.validate(json.dumps(schema))
    if checked is None:
        raise TemplateRefused(problems)
    version = next_version()
    db.session.execute(update(AssessmentTemplate).where(AssessmentTemplate.active.is_(True)).values(active=False))
    template = AssessmentTemplate(name=name, version=version, schema=json.dumps(checked, indent=2),
                                  created_at=clock.now(), active=True)
    db.session.add(template)
    db.session.flush()
    audit.record(actor, "assessment_template.published", f"assessment_template:{template.id}", version=version,
                 change=change)
    db.session.commit()
    return template
