"""Subject access (UK GDPR article 15): everything the portal holds about one person, as a ZIP with a manifest.

A person is their account (if they have one) and their NQSW and Assessor registry entries: an entry is theirs when
it is linked to the account or has the account's email address (the portal treats one address as one person).
Who may export whom is visibility.may_export_subject; `subject` is the loader and answers None for anyone else.

The ZIP is built in memory and handed to the view as bytes: nothing of it is written to disk. The files people
uploaded are not in it (their list and versions are, in documents.csv): see docs/operations.md#subject-access-requests.
"""

import enum
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select

from portal import audit, clock, visibility
from portal.auth import throttle
from portal.extensions import db
from portal.models import (
    AccountLink,
    Assessment,
    Assessor,
    AuditEvent,
    Document,
    DocumentVersion,
    FeedbackRecipient,
    Meeting,
    MeetingMember,
    Nqsw,
    Organisation,
    OutboxMessage,
    PageRead,
    PanelView,
    Portfolio,
    ReadingNote,
    ReadingPreferences,
    ReadReceipt,
    RecoveryCode,
    SignInAttempt,
    User,
    UserSession,
)
from portal.spreadsheet import csv_lines

FORMAT = "subject-access-export v1"


class Kind(enum.StrEnum):
    """How the Lead named the person: by their account, or by a registry entry."""

    PERSON = "person"
    NQSW = "nqsw"
    ASSESSOR = "assessor"


@dataclass
class Subject:
    """One person: their account, if any, and their registry entries."""

    account: User | None
    nqsws: list[Nqsw] = field(default_factory=list)
    assessors: list[Assessor] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The person's name as the portal holds it (the account's, else the first registry entry's)."""
        if self.account is not None:
            return self.account.name
        entries: list[Nqsw | Assessor] = [*self.nqsws, *self.assessors]
        return entries[0].name

    @property
    def target(self) -> str:
        """The audit target naming the person: their account, else their first registry entry."""
        if self.account is not None:
            return f"user:{self.account.id}"
        return f"nqsw:{self.nqsws[0].id}" if self.nqsws else f"assessor:{self.assessors[0].id}"

    @property
    def emails(self) -> set[str]:
        """Every email address the portal holds for the person, lower case."""
        entries: list[Nqsw | Assessor] = [*self.nqsws, *self.assessors]
        found = {entry.email.lower() for entry in entries}
        return found | ({self.account.email.lower()} if self.account is not None else set())

    @property
    def ids(self) -> dict[str, Any]:
        """The ids that identify the person in the portal (for the manifest and the audit event)."""
        return {"account": self.account.id if self.account is not None else None,
                "nqsw_entries": [n.id for n in self.nqsws], "assessor_entries": [a.id for a in self.assessors]}


def _entries_of(account: User) -> tuple[list[Nqsw], list[Assessor]]:
    """The registry entries linked to the account or carrying its email address."""
    email = account.email.strip().lower()
    nqsws = db.session.scalars(select(Nqsw).where(or_(Nqsw.user_id == account.id, func.lower(Nqsw.email) == email))
                               .order_by(Nqsw.id))
    assessors = db.session.scalars(select(Assessor).where(or_(Assessor.user_id == account.id,
                                                              func.lower(Assessor.email) == email))
                                   .order_by(Assessor.id))
    return list(nqsws), list(assessors)


def _account_of(entry: Nqsw | Assessor) -> User | None:
    """The account linked to a registry entry, or the one with its email address."""
    if entry.user is not None:
        return entry.user
    return db.session.scalar(select(User).where(func.lower(User.email) == entry.email.strip().lower()))


def _find(kind: Kind, entry_id: int) -> Subject | None:
    if kind == Kind.PERSON:
        account = db.session.get(User, entry_id)
        if account is None:
            return None
        return Subject(account, *_entries_of(account))
    entry: Nqsw | Assessor | None = (db.session.get(Nqsw, entry_id) if kind == Kind.NQSW
                                     else db.session.get(Assessor, entry_id))
    if entry is None:
        return None
    account = _account_of(entry)
    if account is not None:
        return Subject(account, *_entries_of(account))
    return Subject(None, [entry] if isinstance(entry, Nqsw) else [], [entry] if isinstance(entry, Assessor) else [])


def subject(actor: User, kind: Kind, entry_id: int) -> Subject | None:
    """The person named by an account or a registry entry, if the acting person may export them; else None."""
    found = _find(kind, entry_id)
    if found is None or not visibility.may_export_subject(actor, found.account, found.nqsws, found.assessors):
        return None
    return found


# The files ----------------------------------------------------------------------------------------------


def _when(moment: datetime | date | None) -> str:
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        return clock.as_utc(moment).isoformat(timespec="seconds")
    return moment.isoformat()


@dataclass
class Table:
    """One CSV file of the export: its header and rows."""

    header: list[str]
    rows: list[list[object]]

    def encoded(self) -> bytes:
        """The file's bytes: CSV with every cell safe to open in a spreadsheet."""
        return "".join(csv_lines([self.header, *self.rows])).encode("utf-8")


def _portfolios(person: Subject) -> list[Portfolio]:
    """The portfolios of the person's NQSW entries (purged ones too: that they existed is still held)."""
    ids = [n.id for n in person.nqsws]
    if not ids:
        return []
    return list(db.session.scalars(select(Portfolio).where(Portfolio.nqsw_id.in_(ids)).order_by(Portfolio.id)))


def _assessed(person: Subject) -> list[Portfolio]:
    """The portfolios the person is named on as Assessor."""
    ids = [a.id for a in person.assessors]
    if not ids:
        return []
    return list(db.session.scalars(select(Portfolio).where(Portfolio.assessor_id.in_(ids)).order_by(Portfolio.id)))


def _organisation(organisation: Organisation | None) -> dict[str, Any] | None:
    return None if organisation is None else {"id": organisation.id, "name": organisation.name,
                                              "kind": organisation.kind}


def _person(person: Subject, own: list[Portfolio], assessed: list[Portfolio]) -> dict[str, Any]:
    """The registry entries: the account, its seats at meetings, emailed links, and the NQSW and Assessor entries."""
    account: dict[str, Any] | None = None
    if (user := person.account) is not None:
        seats = db.session.execute(
            select(MeetingMember, Meeting).join(Meeting, Meeting.id == MeetingMember.meeting_id)
            .where(MeetingMember.user_id == user.id).order_by(Meeting.held_on, Meeting.id)).all()
        links = db.session.scalars(select(AccountLink).where(AccountLink.user_id == user.id)
                                   .order_by(AccountLink.created_at, AccountLink.id))
        codes = db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id))
        preferences = db.session.get(ReadingPreferences, user.id)
        account = {
            "id": user.id, "name": user.name, "email": user.email, "role": user.role, "role_label": user.role_label,
            "organisation": _organisation(user.organisation), "active": user.active,
            "created_at": _when(user.created_at), "two_factor_set_up_at": _when(user.enrolled_at),
            "password_set": user.password_hash is not None, "password_changed_at": _when(user.password_changed_at),
            "recovery_codes": [{"used_at": _when(code.used_at)} for code in codes],
            "meeting_seats": [{"meeting_id": meeting.id, "meeting": meeting.title, "held_on": _when(meeting.held_on),
                               "panel_role": seat.panel_role, "attendance": seat.attendance,
                               "added_at": _when(seat.added_at)} for seat, meeting in seats],
            "emailed_links": [{"purpose": link.purpose, "created_at": _when(link.created_at),
                               "expires_at": _when(link.expires_at), "used_at": _when(link.used_at),
                               "revoked_at": _when(link.revoked_at)} for link in links],
            "reading_preferences": None if preferences is None else {
                "text_size": preferences.text_size, "line_spacing": preferences.line_spacing,
                "background": preferences.background},
        }
    return {
        "account": account,
        "nqsw_entries": [{
            "id": n.id, "name": n.name, "email": n.email, "employer": _organisation(n.employer),
            "cohort": n.cohort.name if n.cohort else None, "service": n.service, "account_id": n.user_id,
            "portfolios": [{"id": p.id, "pseudonym": p.pseudonym, "outcome": p.outcome,
                            "outcome_date": _when(p.outcome_date), "exemplar_consent": p.exemplar_consent,
                            "created_at": _when(p.created_at), "purged_at": _when(p.purged_at)}
                           for p in own if p.nqsw_id == n.id],
        } for n in person.nqsws],
        "assessor_entries": [{
            "id": a.id, "name": a.name, "email": a.email, "organisation": _organisation(a.organisation),
            "account_id": a.user_id,
            # The portfolios they assess, by id only: the NQSWs' names are the NQSWs' own data.
            "assesses_portfolios": [p.id for p in assessed if p.assessor_id == a.id],
        } for a in person.assessors],
    }


def _documents(own: list[Portfolio]) -> Table:
    header = ["portfolio_id", "document_id", "document_title", "evidence_type", "version", "current_version",
              "file_name", "content_type", "size_bytes", "uploaded_at_utc", "uploaded_by_id", "uploaded_by_role",
              "document_deleted_at_utc",
              "file_destroyed_at_utc"]
    if not own:
        return Table(header, [])
    rows = db.session.execute(
        select(Document, DocumentVersion, User).join(DocumentVersion, DocumentVersion.document_id == Document.id)
        .join(User, User.id == DocumentVersion.uploaded_by_id)
        .where(Document.portfolio_id.in_([p.id for p in own]))
        .order_by(Document.portfolio_id, Document.id, DocumentVersion.number)).all()
    return Table(header, [[document.portfolio_id, document.id, document.title, document.evidence_type,
                           version.number, document.current_version_id == version.id, version.filename,
                           version.content_type, version.size, _when(version.uploaded_at), uploader.id,
                           uploader.role_label, _when(document.deleted_at), _when(version.shredded_at)]
                          for document, version, uploader in rows])


def _feedback(person: Subject, own: list[Portfolio], assessed: list[Portfolio]) -> Table:
    """The panel's feedback to the person (as NQSW or as Assessor), and the releases that reached them."""
    header = ["meeting_id", "meeting", "held_on", "portfolio_id", "to_them_as", "feedback", "released_at_utc",
              "acknowledged_at_utc"]
    received: dict[int, FeedbackRecipient] = {}
    if person.account is not None:
        for recipient in db.session.scalars(select(FeedbackRecipient)
                                            .where(FeedbackRecipient.user_id == person.account.id)):
            received[recipient.release.meeting_id] = recipient
    roles = [(p.id, "nqsw") for p in own] + [(p.id, "assessor") for p in assessed]
    rows: list[list[object]] = []
    if roles:
        views = db.session.execute(
            select(PanelView, Meeting).join(Meeting, Meeting.id == PanelView.meeting_id)
            .where(PanelView.portfolio_id.in_({pid for pid, _ in roles}))
            .order_by(Meeting.held_on, Meeting.id, PanelView.portfolio_id)).all()
        for view, meeting in views:
            for portfolio_id, role in roles:
                text = view.feedback_nqsw if role == "nqsw" else view.feedback_assessor
                if portfolio_id != view.portfolio_id or not text:
                    continue
                reached = received.get(meeting.id)
                rows.append([meeting.id, meeting.title, _when(meeting.held_on), portfolio_id, role, text,
                             _when(reached.release.released_at) if reached else "",
                             _when(reached.acknowledged_at) if reached else ""])
    shown = {row[0] for row in rows}
    for meeting_id, recipient in received.items():
        if meeting_id not in shown:  # a release that brought them the key messages only
            meeting = recipient.release.meeting
            rows.append([meeting.id, meeting.title, _when(meeting.held_on), "", "key messages only", "",
                         _when(recipient.release.released_at), _when(recipient.acknowledged_at)])
    return Table(header, rows)


ASSESSMENT_HEADER = ["assessment_id", "meeting_id", "meeting", "portfolio_id", "status", "written", "created_at_utc",
                     "submitted_at_utc", "answers"]


def _assessment_rows(rows: Sequence[Any]) -> list[list[object]]:
    return [[a.id, meeting.id, meeting.title, a.portfolio_id, a.status, a.written, _when(a.created_at),
             _when(a.submitted_at), json.dumps(a.answer_map, sort_keys=True, ensure_ascii=False)]
            for a, meeting in rows]


def _assessments_of(own: list[Portfolio]) -> tuple[Table, Table]:
    """The members' assessments of the person's portfolios (without who wrote each), and the panel's view."""
    views_header = ["meeting_id", "meeting", "portfolio_id", "decision_view", "support_view", "agreement",
                    "exemplars_confirmed", "updated_at_utc"]
    if not own:
        return Table(ASSESSMENT_HEADER, []), Table(views_header, [])
    ids = [p.id for p in own]
    assessments = db.session.execute(
        select(Assessment, Meeting).join(Meeting, Meeting.id == Assessment.meeting_id)
        .where(Assessment.portfolio_id.in_(ids)).order_by(Meeting.held_on, Assessment.id)).all()
    views = db.session.execute(
        select(PanelView, Meeting).join(Meeting, Meeting.id == PanelView.meeting_id)
        .where(PanelView.portfolio_id.in_(ids)).order_by(Meeting.held_on, PanelView.id)).all()
    return (Table(ASSESSMENT_HEADER, _assessment_rows(assessments)),
            Table(views_header, [[meeting.id, meeting.title, v.portfolio_id, v.decision_view or "",
                                  v.support_view or "", v.agreement or "", v.exemplars_confirmed or "",
                                  _when(v.updated_at)] for v, meeting in views]))


def _own_assessments(account: User | None) -> Table:
    if account is None:
        return Table(ASSESSMENT_HEADER, [])
    return Table(ASSESSMENT_HEADER, _assessment_rows(db.session.execute(
        select(Assessment, Meeting).join(Meeting, Meeting.id == Assessment.meeting_id)
        .where(Assessment.user_id == account.id).order_by(Meeting.held_on, Assessment.id)).all()))


def _notes(account: User | None) -> Table:
    """The person's own private reading notes, decrypted: no one else's."""
    header = ["note_id", "document_id", "page", "note", "created_at_utc", "updated_at_utc"]
    if account is None:
        return Table(header, [])
    notes = db.session.scalars(select(ReadingNote).where(ReadingNote.user_id == account.id).order_by(ReadingNote.id))
    return Table(header, [[n.id, n.document_id, n.page or "", n.body, _when(n.created_at), _when(n.updated_at)]
                          for n in notes])


def _receipts(account: User | None) -> tuple[Table, Table]:
    receipts_header = ["document_id", "version_id", "first_opened_at_utc", "last_opened_at_utc", "views",
                       "downloads"]
    pages_header = ["document_id", "version_id", "page", "first_read_at_utc"]
    if account is None:
        return Table(receipts_header, []), Table(pages_header, [])
    receipts = db.session.scalars(select(ReadReceipt).where(ReadReceipt.user_id == account.id)
                                  .order_by(ReadReceipt.first_at, ReadReceipt.id))
    pages = db.session.scalars(select(PageRead).where(PageRead.user_id == account.id)
                               .order_by(PageRead.first_at, PageRead.id))
    return (Table(receipts_header, [[r.document_id, r.version_id, _when(r.first_at), _when(r.last_at), r.views,
                                     r.downloads] for r in receipts]),
            Table(pages_header, [[p.document_id, p.version_id, p.page, _when(p.first_at)] for p in pages]))


def _sign_ins(person: Subject) -> tuple[Table, Table]:
    """Sign-in attempts made with the person's email addresses, and their sessions still on record."""
    attempts_header = ["at_utc", "ip", "succeeded"]
    sessions_header = ["stage", "started_at_utc", "last_seen_at_utc", "ip", "browser"]
    keys = [throttle.account_key(email) for email in sorted(person.emails)]
    attempts = db.session.scalars(select(SignInAttempt).where(SignInAttempt.account_key.in_(keys))
                                  .order_by(SignInAttempt.at, SignInAttempt.id))
    sessions: Iterable[UserSession] = []
    if person.account is not None:
        sessions = db.session.scalars(select(UserSession).where(UserSession.user_id == person.account.id)
                                      .order_by(UserSession.created_at))
    return (Table(attempts_header, [[_when(a.at), a.ip, a.succeeded] for a in attempts]),
            Table(sessions_header, [[s.stage, _when(s.created_at), _when(s.last_seen_at), s.ip, s.user_agent]
                                    for s in sessions]))


def _emails(person: Subject) -> Table:
    """The emails the portal sent (or queued) to the person: subjects and times, not bodies (their links are live
    credentials)."""
    header = ["to", "subject", "queued_at_utc", "sent_at_utc"]
    messages = db.session.scalars(select(OutboxMessage).where(func.lower(OutboxMessage.recipient)
                                                              .in_(sorted(person.emails)))
                                  .order_by(OutboxMessage.created_at, OutboxMessage.id))
    return Table(header, [[m.recipient, m.subject, _when(m.created_at), _when(m.sent_at)] for m in messages])


def _audit_events(person: Subject, own: list[Portfolio]) -> Table:
    """Audit events the person did, or that name them: their account, registry entries, portfolios or links."""
    header = ["seq", "at_utc", "by_person_id", "action", "target", "details", "ip"]
    targets = [f"nqsw:{n.id}" for n in person.nqsws] + [f"assessor:{a.id}" for a in person.assessors]
    targets += [f"portfolio:{p.id}" for p in own]
    conditions: list[ColumnElement[bool]] = [AuditEvent.target.in_(targets)] if targets else []
    if person.account is not None:
        links = db.session.scalars(select(AccountLink.id).where(AccountLink.user_id == person.account.id))
        conditions += [AuditEvent.actor_id == person.account.id,
                       AuditEvent.target.in_([f"user:{person.account.id}", *(f"invitation:{i}" for i in links)])]
    if not conditions:
        return Table(header, [])
    audit.chain_pending()
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.seq.is_not(None), or_(*conditions))
                                .order_by(AuditEvent.seq))
    return Table(header, [[e.seq, _when(e.at), e.actor_id or "", e.action, e.target, e.details, e.ip]
                          for e in events])


# The ZIP ------------------------------------------------------------------------------------------------


DESCRIPTIONS = {
    "person.json": "Registry entries: the account (role, organisation, status, meeting seats, emailed links, "
                   "reading preferences) and the NQSW and Assessor entries with their portfolios",
    "documents.csv": "The documents in their portfolio and every version: names, types, sizes, uploaded when and "
                     "by whom (by account id and role; the files themselves are not included)",
    "feedback.csv": "The panel's feedback to them, as NQSW or as Assessor, and the feedback releases that reached "
                    "them",
    "assessments_of_their_portfolio.csv": "Panel members' assessments of their portfolio (who wrote each is left "
                                          "out)",
    "panel_view_of_their_portfolio.csv": "What the Chair recorded for the panel about their portfolio",
    "their_assessments.csv": "The assessments they wrote as a panel member",
    "their_reading_notes.csv": "Their private reading notes, decrypted",
    "read_receipts.csv": "The document versions they opened or downloaded, when and how often",
    "pages_read.csv": "The pages they opened in the reading view",
    "sign_in_attempts.csv": "Sign-in attempts made with their email address",
    "sessions.csv": "Their sign-in sessions still on record",
    "emails.csv": "Emails the portal sent them: subjects and times (not the bodies, whose links are credentials)",
    "audit_events.csv": "Audit events they did, or that name their account, registry entries, portfolio or links",
}


@dataclass
class Export:
    """The finished ZIP: its bytes, its name, and how many records each file holds."""

    content: bytes
    filename: str
    counts: dict[str, int]


def _files(person: Subject) -> dict[str, tuple[bytes, int]]:
    """Each file's bytes and how many records it holds, in the order of DESCRIPTIONS."""
    own, assessed = _portfolios(person), _assessed(person)
    registry = _person(person, own, assessed)
    entries = int(registry["account"] is not None) + len(person.nqsws) + len(person.assessors)
    of_theirs, panel_views = _assessments_of(own)
    receipts, pages = _receipts(person.account)
    attempts, sessions = _sign_ins(person)
    tables = {
        "documents.csv": _documents(own),
        "feedback.csv": _feedback(person, own, assessed),
        "assessments_of_their_portfolio.csv": of_theirs,
        "panel_view_of_their_portfolio.csv": panel_views,
        "their_assessments.csv": _own_assessments(person.account),
        "their_reading_notes.csv": _notes(person.account),
        "read_receipts.csv": receipts,
        "pages_read.csv": pages,
        "sign_in_attempts.csv": attempts,
        "sessions.csv": sessions,
        "emails.csv": _emails(person),
        "audit_events.csv": _audit_events(person, own),
    }
    files = {"person.json": (json.dumps(registry, indent=2, ensure_ascii=False).encode("utf-8"), entries)}
    files.update({name: (table.encoded(), len(table.rows)) for name, table in tables.items()})
    return files


def export(actor: User, person: Subject) -> Export:
    """Everything held about the person as a ZIP in memory, with manifest.json; the export is audited."""
    now = clock.now()
    files = _files(person)
    manifest = {
        "format": FORMAT,
        "generated_at_utc": _when(now),
        "generated_by": {"id": actor.id, "name": actor.name},
        "subject": {"name": person.name, **person.ids},
        "files": [{"name": name, "description": DESCRIPTIONS[name], "records": records, "bytes": len(content),
                   "sha256": hashlib.sha256(content).hexdigest()} for name, (content, records) in files.items()],
        "not_included": "The uploaded files themselves; passwords, authenticator keys and recovery codes (only "
                        "that they are set, and when); other people's names.",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        stamp = clock.as_utc(now).timetuple()[:6]
        archive.writestr(zipfile.ZipInfo("manifest.json", date_time=stamp),
                         json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"), zipfile.ZIP_DEFLATED)
        for name, (content, _) in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=stamp), content, zipfile.ZIP_DEFLATED)
    counts = {name: records for name, (_, records) in files.items()}
    audit.record(actor, "subject_access.exported", person.target, **person.ids, counts=counts)
    db.session.commit()
    return Export(buffer.getvalue(), f"subject-access-export-{clock.as_utc(now):%Y%m%d-%H%M%S}.zip", counts)
