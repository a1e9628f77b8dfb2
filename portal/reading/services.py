"""The reading view: a document's text as HTML, page by page for PDFs, with page-by-page progress, each person's
reading preferences and their private notes.

Who may read what is the documents area's rule (documents.services.readable_version, the loader of every way of
opening a file); opening a page is recorded as opening the file (receipt and audit, documents.read_in_memory),
plus the page in page_reads. Notes are their author's alone: every loader of a note filters by its author, so
anyone else, the Lead included, gets a 404.
"""

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from markupsafe import Markup
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from portal import audit, clock
from portal.documents import services as documents
from portal.extensions import db, rows_affected
from portal.models import Document, DocumentVersion, PageRead, ReadingNote, ReadingPreferences, User
from portal.reading import extract
from portal.wording import count_of

READABLE_KINDS = ("pdf", "docx", "txt")
NOTE_MAX_CHARACTERS = 5000


class TextSize(enum.StrEnum):
    """The reading view's text sizes."""

    STANDARD = "standard"
    LARGE = "large"
    LARGEST = "largest"

    @property
    def label(self) -> str:
        """As people say it."""
        return {"standard": "Standard", "large": "Large", "largest": "Very large"}[self.value]


class LineSpacing(enum.StrEnum):
    """The reading view's line spacings."""

    STANDARD = "standard"
    WIDE = "wide"
    WIDEST = "widest"

    @property
    def label(self) -> str:
        """As people say it."""
        return {"standard": "Standard", "wide": "Wide (1.5 lines)", "widest": "Double"}[self.value]


class Background(enum.StrEnum):
    """The reading view's background colours (tints often asked for as a reasonable adjustment)."""

    WHITE = "white"
    CREAM = "cream"
    BLUE = "blue"
    YELLOW = "yellow"
    DARK = "dark"

    @property
    def label(self) -> str:
        """As people say it."""
        return {"white": "White", "cream": "Cream", "blue": "Pale blue", "yellow": "Pale yellow",
                "dark": "Dark (light text on black)"}[self.value]


@dataclass(frozen=True)
class Preferences:
    """A person's reading preferences (the defaults until they choose)."""

    text_size: TextSize = TextSize.STANDARD
    line_spacing: LineSpacing = LineSpacing.STANDARD
    background: Background = Background.WHITE


@dataclass
class Reading:
    """One page of the reading view, as the template shows it."""

    kind: str  # pdf, docx or txt
    page: int
    count: int
    paragraphs: list[str] = field(default_factory=list)
    html: Markup | None = None  # a Word document's sanitised structure

    @property
    def has_text(self) -> bool:
        """False for a page with no text layer (a scanned image)."""
        return bool(self.paragraphs) or bool(self.html and self.html.striptags().strip())


class NotReadable(Exception):
    """This version cannot be shown in the reading view; the message says why in plain words."""


def readable(version: DocumentVersion) -> bool:
    """Whether the reading view can show this version (PDF, Word or text, up to the whole-file limit)."""
    return documents.kind_of(version).key in READABLE_KINDS and version.size <= documents.verify_whole_limit()


def why_not_readable(version: DocumentVersion) -> str | None:
    """The plain reason a version has no reading view, or None if it has one."""
    kind = documents.kind_of(version)
    if kind.key not in READABLE_KINDS:
        return f"A {kind.label.lower()} cannot be shown as text here: open the original."
    if version.size > documents.verify_whole_limit():
        return "This file is too large to show as text here: open the original."
    return None


def open_page(actor: User, version: DocumentVersion, page: int) -> Reading:
    """Decrypt the version in memory and take the text of one page (PDF) or the whole (Word, text); record the
    receipt, the audit event and the page read; commits."""
    reason = why_not_readable(version)
    if reason is not None:
        raise NotReadable(reason)
    kind = documents.kind_of(version).key
    data, panel_copy = documents.read_in_memory(actor, version)
    try:
        if kind == "pdf":
            found = extract.pdf_page(data, page)
            reading = Reading(kind, found.number, found.count, paragraphs=found.paragraphs)
            if version.page_count != found.count:
                version.page_count = found.count
        elif kind == "docx":
            reading = Reading(kind, 1, 1, html=Markup(extract.docx_html(data)))  # noqa: S704 - sanitised by nh3
        else:
            reading = Reading(kind, 1, 1, paragraphs=extract.paragraphs(extract.plain_text(data)))
    except extract.Unreadable as exc:
        db.session.rollback()
        raise NotReadable("This file cannot be shown as text (it may be damaged or protected by a password): "
                          "open the original.") from exc
    finally:
        del data
    documents.record_reading(actor, version, panel_copy, page=reading.page)
    _record_page(actor, version, reading.page)
    db.session.commit()
    return reading


def _record_page(actor: User, version: DocumentVersion, page: int) -> None:
    exists = db.session.scalar(select(PageRead.id).where(PageRead.user_id == actor.id,
                                                         PageRead.version_id == version.id, PageRead.page == page))
    if exists is None:
        try:
            with db.session.begin_nested():
                db.session.add(PageRead(user_id=actor.id, document_id=version.document_id, version_id=version.id,
                                        page=page, first_at=clock.now()))
        except IntegrityError:  # the same page opened twice at once
            pass


# Page-by-page progress --------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """How much of a version a person has read in the reading view."""

    pages_read: int
    page_count: int | None  # None until someone has opened the version in the reading view (PDFs only)

    def describe(self) -> str:
        """'read 9 of 12 pages', or '' when there is nothing to say."""
        if not self.pages_read or not self.page_count or self.page_count <= 1:
            return ""
        return f"read {min(self.pages_read, self.page_count)} of {count_of(self.page_count, 'page', 'pages')}"


def progress(user_ids: Iterable[int], versions: Iterable[DocumentVersion]) -> dict[tuple[int, int], Progress]:
    """Pages read by each person of each version, by (user id, version id), in one query."""
    counts = {v.id: v.page_count for v in versions}
    people = list(user_ids)
    if not counts or not people:
        return {}
    rows = db.session.execute(
        select(PageRead.user_id, PageRead.version_id, func.count(PageRead.id))
        .where(PageRead.version_id.in_(list(counts)), PageRead.user_id.in_(people))
        .group_by(PageRead.user_id, PageRead.version_id))
    return {(user_id, version_id): Progress(int(read), counts[version_id]) for user_id, version_id, read in rows}


def pages_read(user: User, version: DocumentVersion) -> set[int]:
    """The pages of a version this person has opened."""
    return set(db.session.scalars(select(PageRead.page).where(PageRead.user_id == user.id,
                                                             PageRead.version_id == version.id)))


# Preferences ----------------------------------------------------------------------------------------


def preferences_of(user: User) -> Preferences:
    """The person's reading preferences, or the defaults."""
    row = db.session.get(ReadingPreferences, user.id)
    if row is None:
        return Preferences()
    return Preferences(TextSize(row.text_size), LineSpacing(row.line_spacing), Background(row.background))


def save_preferences(actor: User, chosen: Preferences) -> None:
    """Remember the person's reading preferences; commits."""
    row = db.session.get(ReadingPreferences, actor.id)
    if row is None:
        row = ReadingPreferences(user_id=actor.id)
        db.session.add(row)
    row.text_size, row.line_spacing, row.background = chosen.text_size, chosen.line_spacing, chosen.background
    audit.record(actor, "reading.preferences_saved", f"user:{actor.id}", text_size=chosen.text_size.value,
                 line_spacing=chosen.line_spacing.value, background=chosen.background.value)
    db.session.commit()


# Private notes --------------------------------------------------------------------------------------


def notes_on(actor: User, document: Document) -> list[ReadingNote]:
    """The person's own notes on a document, page notes in page order after the notes on the whole."""
    notes = db.session.scalars(select(ReadingNote).where(ReadingNote.user_id == actor.id,
                                                         ReadingNote.document_id == document.id)
                               .order_by(ReadingNote.id))
    return sorted(notes, key=lambda n: (n.page is not None, n.page or 0, n.id))


def notes_by_document(actor: User, documents_: Iterable[Document]) -> dict[int, list[ReadingNote]]:
    """The person's own notes on each of these documents, by document id, in one query."""
    ids = [d.id for d in documents_]
    found: dict[int, list[ReadingNote]] = {}
    if not ids:
        return found
    for note in db.session.scalars(select(ReadingNote).where(ReadingNote.user_id == actor.id,
                                                             ReadingNote.document_id.in_(ids))
                                   .order_by(ReadingNote.page.is_not(None), ReadingNote.page, ReadingNote.id)):
        found.setdefault(note.document_id, []).append(note)
    return found


def own_note(actor: User, document: Document, note_id: int) -> ReadingNote | None:
    """One of the person's own notes on this document, or None (anyone else's note is never found)."""
    return db.session.scalar(select(ReadingNote).where(ReadingNote.id == note_id, ReadingNote.user_id == actor.id,
                                                       ReadingNote.document_id == document.id))


def add_note(actor: User, document: Document, body: str, page: int | None) -> ReadingNote:
    """Keep a private note on a document (or one page of it); commits. The audit records that a note was kept,
    never what it says."""
    now = clock.now()
    note = ReadingNote(user_id=actor.id, document_id=document.id, page=page, body=body, created_at=now,
                       updated_at=now)
    db.session.add(note)
    db.session.flush()
    audit.record(actor, "reading.note_added", f"document:{document.id}", note=note.id, page=page)
    db.session.commit()
    return note


def change_note(actor: User, note: ReadingNote, body: str) -> None:
    """Change one of the person's own notes; commits."""
    note.body = body
    note.updated_at = clock.now()
    audit.record(actor, "reading.note_changed", f"document:{note.document_id}", note=note.id)
    db.session.commit()


def delete_note(actor: User, note: ReadingNote) -> None:
    """Delete one of the person's own notes; commits."""
    audit.record(actor, "reading.note_deleted", f"document:{note.document_id}", note=note.id)
    db.session.delete(note)
    db.session.commit()


def forget_documents(document_ids: list[int]) -> int:
    """Delete every note and page record of these documents (their deletion, or the portfolio's retention purge),
    in the caller's transaction; returns how many notes went."""
    if not document_ids:
        return 0
    notes = db.session.execute(delete(ReadingNote).where(ReadingNote.document_id.in_(document_ids)))
    db.session.execute(delete(PageRead).where(PageRead.document_id.in_(document_ids)))
    return rows_affected(notes)


def notes_on_portfolio(actor: User, portfolio_id: int) -> list[tuple[Document, ReadingNote]]:
    """The person's own notes on a portfolio's live documents, by document and page (one query), for the
    assessment form."""
    rows = db.session.execute(
        select(Document, ReadingNote).join(ReadingNote, ReadingNote.document_id == Document.id)
        .where(Document.portfolio_id == portfolio_id, Document.deleted_at.is_(None), ReadingNote.user_id == actor.id)
        .order_by(Document.id, ReadingNote.page.is_not(None), ReadingNote.page, ReadingNote.id))
    return [(document, note) for document, note in rows]
