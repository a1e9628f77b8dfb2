"""Writing the meeting record: minutes text, themes, actions and key messages; approving, publishing, correcting.

Each verb takes the acting user (already checked to be the Lead or the meeting's Chair by the view's loader),
writes its audit record and commits once. Published minutes change only through a correction, which keeps
every earlier published text as a numbered revision.
"""

from datetime import date, timedelta
from typing import TypeVar

from sqlalchemy import func, select

from portal import audit, clock
from portal.extensions import db
from portal.models import (
    REPORT_SECTIONS,
    Action,
    ActionStatus,
    KeyMessage,
    Meeting,
    MeetingTheme,
    Minutes,
    MinutesRevision,
    MinutesStatus,
    Organisation,
    ReportSections,
    Theme,
    User,
)
from portal.reports import minutes_data
from portal.reviews.services import refuse_before_the_day, refuse_if_closed

Row = TypeVar("Row", MeetingTheme, KeyMessage)


class RecordLocked(Exception):
    """The minutes are published (or the step is out of order): the change was refused."""


KEY_MESSAGES_CLOSED = "the key messages can no longer be changed"


def _minutes(meeting: Meeting, actor: User) -> Minutes:
    minutes = minutes_data.minutes_for(meeting)
    if minutes is None:
        minutes = Minutes(meeting_id=meeting.id, status=MinutesStatus.DRAFT.value, notes="",
                          updated_at=clock.now(), updated_by_id=actor.id)
        db.session.add(minutes)
        db.session.flush()
    return minutes


def _editable(meeting: Meeting, actor: User) -> Minutes:
    """The minutes, refusing changes once published; an edit to approved minutes returns them to draft."""
    minutes = _minutes(meeting, actor)
    if minutes.published:
        raise RecordLocked("The minutes are published and read-only. Make a correction instead.")
    if minutes.status == MinutesStatus.APPROVED.value:
        minutes.status = MinutesStatus.DRAFT.value
        minutes.approved_at = minutes.approved_by_id = None
    minutes.updated_at, minutes.updated_by_id = clock.now(), actor.id
    return minutes


def _item_of(meeting: Meeting, model: type[Row], item_id: int) -> Row:
    """A row that belongs to this meeting; LookupError for anything else (the view answers 404)."""
    item = db.session.get(model, item_id)
    if item is None or item.meeting_id != meeting.id:
        raise LookupError(item_id)
    return item


def save_notes(actor: User, meeting: Meeting, notes: str) -> None:
    """Save the Chair's free text in the minutes."""
    minutes = _editable(meeting, actor)
    minutes.notes = notes.strip()
    audit.record(actor, "minutes.edited", f"meeting:{meeting.id}", section="notes")
    db.session.commit()


def theme_named(name: str) -> Theme:
    """The theme with this name (ignoring case and spacing), created if new, so themes are reused."""
    clean = " ".join(name.split())
    theme = db.session.scalar(select(Theme).where(func.lower(Theme.name) == clean.lower()))
    if theme is None:
        theme = Theme(name=clean, created_at=clock.now())
        db.session.add(theme)
        db.session.flush()
    return theme


def theme_names() -> list[str]:
    """Every theme's name, alphabetically, to offer when a Chair records themes (names never name people)."""
    return list(db.session.scalars(select(Theme.name).order_by(func.lower(Theme.name))))


def _employer(employer_id: int | None) -> int | None:
    """A member employer's id as an owner of a theme or action (None: the whole partnership); LookupError for
    anything that is not an employer."""
    if employer_id is None:
        return None
    organisation = db.session.get(Organisation, employer_id)
    if organisation is None or not organisation.is_employer:
        raise LookupError(employer_id)
    return employer_id


def add_theme(actor: User, meeting: Meeting, name: str, note: str, employer_id: int | None = None) -> None:
    """Record a theme for the programme at this meeting (reusing an existing theme of the same name), owned by
    one member employer or (None) by the whole partnership."""
    _editable(meeting, actor)
    owner = _employer(employer_id)
    theme = theme_named(name)
    existing = db.session.scalar(select(MeetingTheme).where(MeetingTheme.meeting_id == meeting.id,
                                                            MeetingTheme.theme_id == theme.id))
    if existing is None:
        db.session.add(MeetingTheme(meeting_id=meeting.id, theme_id=theme.id, note=note.strip(), employer_id=owner))
    else:
        existing.note, existing.employer_id = note.strip(), owner
    audit.record(actor, "minutes.theme_added", f"meeting:{meeting.id}", theme=theme.id, employer=owner)
    db.session.commit()


def remove_theme(actor: User, meeting: Meeting, meeting_theme_id: int) -> None:
    """Take a theme off this meeting's record (the theme itself stays for other meetings)."""
    _editable(meeting, actor)
    item = _item_of(meeting, MeetingTheme, meeting_theme_id)
    db.session.delete(item)
    audit.record(actor, "minutes.theme_removed", f"meeting:{meeting.id}", theme=item.theme_id)
    db.session.commit()


def add_action(actor: User, meeting: Meeting, description: str, owner: str, due_on: date | None,
               employer_id: int | None = None) -> None:
    """Agree an action for the Steering Group's action plan, owned by one member employer or (None) by the whole
    partnership; `owner` names the person or group responsible."""
    _editable(meeting, actor)
    employer = _employer(employer_id)
    now = clock.now()
    action = Action(meeting_id=meeting.id, description=description.strip(), owner=owner.strip(), due_on=due_on,
                    status=ActionStatus.OPEN.value, created_at=now, updated_at=now, employer_id=employer)
    db.session.add(action)
    db.session.flush()
    audit.record(actor, "action.added", f"action:{action.id}", meeting=meeting.id, employer=employer)
    db.session.commit()


def set_action_status(actor: User, meeting: Meeting, action_id: int, status: ActionStatus) -> None:
    """Update an action raised at this meeting or carried forward into it, while its minutes are open."""
    _editable(meeting, actor)
    action = db.session.get(Action, action_id)
    if action is None or (action.meeting_id != meeting.id
                          and action.id not in {a.id for a in minutes_data.carried_forward(meeting)}):
        raise LookupError(action_id)
    now = clock.now()
    action.status, action.updated_at = status.value, now
    action.completed_at = now if status is ActionStatus.DONE else None
    audit.record(actor, "action.status_changed", f"action:{action.id}", status=status.value, meeting=meeting.id)
    db.session.commit()


def add_key_message(actor: User, meeting: Meeting, text: str) -> None:
    """Add a key message for every NQSW and Assessor; refused (RecordClosed) once feedback is released."""
    refuse_if_closed(meeting, KEY_MESSAGES_CLOSED, released_too=True)
    _editable(meeting, actor)
    position = db.session.scalar(select(func.count()).where(KeyMessage.meeting_id == meeting.id)) or 0
    db.session.add(KeyMessage(meeting_id=meeting.id, text=text.strip(), position=position, created_at=clock.now()))
    audit.record(actor, "minutes.key_message_added", f"meeting:{meeting.id}")
    db.session.commit()


def remove_key_message(actor: User, meeting: Meeting, message_id: int) -> None:
    """Remove a key message while the minutes are a draft and feedback is not yet released."""
    refuse_if_closed(meeting, KEY_MESSAGES_CLOSED, released_too=True)
    _editable(meeting, actor)
    db.session.delete(_item_of(meeting, KeyMessage, message_id))
    audit.record(actor, "minutes.key_message_removed", f"meeting:{meeting.id}")
    db.session.commit()


def approve(actor: User, meeting: Meeting) -> None:
    """Approve the draft minutes: the step before publishing and before feedback can be released.

    Refused (NotYetHeld) before the meeting's date: the minutes record a meeting that has happened.
    """
    refuse_before_the_day(meeting)
    minutes = _minutes(meeting, actor)
    if minutes.status != MinutesStatus.DRAFT.value:
        raise RecordLocked("Only draft minutes can be approved.")
    minutes.status, minutes.approved_at, minutes.approved_by_id = MinutesStatus.APPROVED.value, clock.now(), actor.id
    audit.record(actor, "minutes.approved", f"meeting:{meeting.id}")
    db.session.commit()


def publish(actor: User, meeting: Meeting) -> None:
    """Publish approved minutes: they become read-only, revision 1 is kept, and the access window starts."""
    # The lock every change to assessments, attendance and the panel's view takes first (refuse_if_closed), so
    # none of them can slip in after the minutes that count them are published; refuse_before_the_day takes it.
    refuse_before_the_day(meeting)
    minutes = _minutes(meeting, actor)
    if minutes.status != MinutesStatus.APPROVED.value:
        raise RecordLocked("Approve the minutes before publishing them.")
    now = clock.now()
    minutes.status, minutes.published_at, minutes.published_by_id = MinutesStatus.PUBLISHED.value, now, actor.id
    minutes.revisions.append(MinutesRevision(number=1, notes=minutes.notes, reason="", created_at=now,
                                             created_by_id=actor.id))
    meeting.minutes_published_at = now
    # The panel's access to the sampled portfolios ends this many days after publication.
    meeting.access_closes_at = now + timedelta(days=meeting.access_window_days)
    audit.record(actor, "minutes.published", f"meeting:{meeting.id}", access_closes_at=meeting.access_closes_at)
    db.session.commit()


def correct(actor: User, meeting: Meeting, notes: str, reason: str) -> None:
    """Correct published minutes: a new numbered revision with its reason; earlier revisions stay visible."""
    minutes = _minutes(meeting, actor)
    if not minutes.published:
        raise RecordLocked("Only published minutes are corrected; edit the draft instead.")
    number = len(minutes.revisions) + 1
    minutes.notes, minutes.updated_at, minutes.updated_by_id = notes.strip(), clock.now(), actor.id
    minutes.revisions.append(MinutesRevision(number=number, notes=minutes.notes, reason=reason.strip(),
                                             created_at=clock.now(), created_by_id=actor.id))
    audit.record(actor, "minutes.corrected", f"meeting:{meeting.id}", revision=number)
    db.session.commit()


def save_report_sections(actor: User, meeting: Meeting, texts: dict[str, str]) -> None:
    """Save the ASYE Lead's own sections of the summary report (REPORT_SECTIONS, by column name); the audit record
    names the sections that changed, never their text."""
    sections = minutes_data.report_sections(meeting)
    if sections is None:
        sections = ReportSections(meeting_id=meeting.id, withdrawals="", national_feedback="",
                                  organisational_issues="", employment_issues="", updated_at=clock.now(),
                                  updated_by_id=actor.id)
        db.session.add(sections)
    changed = []
    for name, _, _ in REPORT_SECTIONS:
        text = texts.get(name, "").strip()
        if text != sections.text_of(name):
            setattr(sections, name, text)
            changed.append(name)
    sections.updated_at, sections.updated_by_id = clock.now(), actor.id
    audit.record(actor, "report.sections_edited", f"meeting:{meeting.id}", sections=changed)
    db.session.commit()


def record_download(actor: User, meeting: Meeting, what: str, kind: str) -> None:
    """Audit a download of the minutes or the summary report."""
    audit.record(actor, f"{what}.downloaded", f"meeting:{meeting.id}", format=kind)
    db.session.commit()
