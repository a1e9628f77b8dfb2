"""Reminders nobody has to remember: the reminders job (portal/ops/jobs.py) runs this on the worker's schedule.

- Before a meeting's reading deadline (REMINDER_DAYS_BEFORE_DEADLINE, default 7, 3 and 1 days before), each member
  of the panel with a current sampled document unread or an assessment not submitted is emailed a reminder: the
  same rule and the same email as the Chair's "Send a reminder" (meeting_data.MeetingData.needs_reminder).
- Before the panel's access window closes (ACCESS_CLOSING_NOTICE_DAYS, default 3 days before), the Chair and the
  members are told the date after which they can no longer open the meeting's documents.
- Each ASYE Lead gets one digest a day of what is overdue: meetings whose reading deadline has passed, not yet
  held, with how many members are still reading or assessing.

Emails carry a link and a date only, never a name or a portfolio. Each reminder is recorded in reminders_sent under
a key without personal data before its email is queued, in the same transaction, so a reminder is never sent twice,
whichever worker runs the job and however often; a reminder for a stage the worker missed (it was stopped on the
7th day) still goes out once, at the next stage's rate: "3 days" covers days 3 to 2, "1 day" day 1 and the deadline.
"""

from dataclasses import dataclass
from datetime import date

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal import audit, clock, mail, visibility
from portal.extensions import db
from portal.models import Meeting, ReminderSent, Role, User
from portal.reviews import meeting_data


@dataclass
class Sent:
    """How many of each kind one run sent."""

    reading: int = 0
    closing: int = 0
    digests: int = 0

    def summary(self) -> str:
        """The job's one-line summary."""
        return (f"{self.reading} reading reminder(s), {self.closing} access-closing notice(s), "
                f"{self.digests} Lead digest(s) sent")


def _stage(days_left: int, stages: list[int]) -> int | None:
    """The reminder stage a day falls in: the smallest configured number of days at least days_left (None before
    the first stage, or after the deadline)."""
    if days_left < 0:
        return None
    due = [days for days in stages if days >= days_left]
    return min(due) if due else None


def _claim(key: str) -> bool:
    """Record that a reminder is being sent; False if it was sent before (by this or another worker)."""
    if db.session.scalar(select(ReminderSent.id).where(ReminderSent.key == key)) is not None:
        return False
    try:
        with db.session.begin_nested():
            db.session.add(ReminderSent(key=key, sent_at=clock.now()))
    except IntegrityError:  # another worker claimed it between the check and the insert
        return False
    return True


def _open_meetings(today: date) -> list[Meeting]:
    """Meetings not yet published whose reading deadline is today or later, or passed but not yet held."""
    return list(db.session.scalars(
        select(Meeting).where(Meeting.minutes_published_at.is_(None), Meeting.reading_deadline.is_not(None),
                              Meeting.held_on >= today).order_by(Meeting.held_on, Meeting.id)))


def send_due(today: date | None = None) -> Sent:
    """Send every reminder due today that has not been sent; commits; returns the counts."""
    today = today or clock.today()
    config = current_app.config
    stages = sorted({int(days) for days in config["REMINDER_DAYS_BEFORE_DEADLINE"] if int(days) >= 0})
    sent = Sent()
    leads = list(db.session.scalars(select(User).where(User.role == Role.ADMIN, User.active.is_(True))
                                    .order_by(User.id)))
    overdue: list[tuple[Meeting, int]] = []
    for meeting in _open_meetings(today):
        assert meeting.reading_deadline is not None
        days_left = (meeting.reading_deadline - today).days
        stage = _stage(days_left, stages)
        if stage is None and days_left >= 0:
            continue
        # The meeting's data is read as its Chair (or else a Lead) reads it: who is behind does not depend on it.
        viewer = visibility.chair_of(meeting) or (leads[0] if leads else None)
        if viewer is None:
            continue
        behind = meeting_data.build(meeting, viewer, documents=True).needs_reminder()
        if days_left < 0:
            if behind:
                overdue.append((meeting, len(behind)))
            continue
        link = mail.external_url("reviews.overview", meeting_id=meeting.id)
        for user in behind:
            if user.active and _claim(f"reading:{meeting.id}:{user.id}:{stage}"):
                mail.queue(user.email, "Reminder: reading and assessments for the moderation panel",
                           "assessment_reminder", link_url=link, deadline=meeting.reading_deadline, automatic=True)
                sent.reading += 1
    sent.closing = _closing_notices(today, int(config["ACCESS_CLOSING_NOTICE_DAYS"]))
    if overdue:
        for lead in leads:
            if _claim(f"digest:{lead.id}:{today.isoformat()}"):
                rows = [(m.held_on, m.reading_deadline, count,
                         mail.external_url("reviews.meeting_record", meeting_id=m.id)) for m, count in overdue]
                mail.queue(lead.email, "Overdue reading and assessments for the moderation panel", "overdue_digest",
                           meetings=rows)
                sent.digests += 1
    if sent.reading or sent.closing or sent.digests:
        audit.record(None, "reminders.sent", "reminders", reading=sent.reading, closing=sent.closing,
                     digests=sent.digests)
    db.session.commit()
    return sent


def _closing_notices(today: date, notice_days: int) -> int:
    """Tell the Chair and members of each published meeting whose access window closes within notice_days."""
    if notice_days <= 0:
        return 0
    count = 0
    meetings = db.session.scalars(select(Meeting).where(Meeting.access_closes_at.is_not(None),
                                                        Meeting.access_closes_at >= clock.now()))
    for meeting in meetings:
        assert meeting.access_closes_at is not None
        closes_on = clock.as_utc(meeting.access_closes_at).date()
        if (closes_on - today).days > notice_days:
            continue
        link = mail.external_url("meetings.meeting", meeting_id=meeting.id)
        for seat in meeting.members:
            if not visibility.on_the_panel(seat) or not seat.user.active:
                continue
            if _claim(f"closing:{meeting.id}:{seat.user_id}"):
                mail.queue(seat.user.email, "The moderation panel's documents close soon", "access_closing",
                           link_url=link, closes_at=meeting.access_closes_at)
                count += 1
    return count
