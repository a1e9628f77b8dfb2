"""Documents: encrypted upload and replacement, verified reading with receipts, and the readiness matrix."""

import io
import logging
from collections import Counter
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

from flask import current_app
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import contains_eager, selectinload
from werkzeug.exceptions import RequestEntityTooLarge

from portal import audit, clock, visibility
from portal.documents import antivirus, archives, cleaning, identifiers, name_check, readahead, stamping
from portal.documents.filetypes import ContentSniffer, FileKind, FileRefused, clean_filename, kind_for
from portal.documents.names import Finder
from portal.documents.storage import current_store
from portal.errors import incident_reference
from portal.extensions import db
from portal.models import (
    LEGACY_CLEANING_LABEL,
    Cleaning,
    Document,
    DocumentVersion,
    EvidenceType,
    Meeting,
    MeetingMember,
    Nqsw,
    PageRead,
    PanelCopy,
    Portfolio,
    ReadReceipt,
    SampledPortfolio,
    SampleDraw,
    User,
)
from portal.security import crypto, streams

READ_BYTES = 256 * 1024
MAX_TITLE_CHARS = 200
VIEW, DOWNLOAD, READ = "view", "download", "read"  # READ: the reading view (portal/reading/)
log = logging.getLogger(__name__)


@dataclass
class NewFile:
    """A file arriving for upload; `chunks` yields its plaintext as it streams in.

    declared_type is what the browser claimed; it is only audited, since the type is judged by content.
    """

    evidence_type: str
    title: str
    filename: str
    chunks: Iterable[bytes]
    declared_type: str = ""
    field: str = "file"


class UploadProblem(Exception):
    """Nothing was stored: each problem is (form field id, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems


class UploadTooLarge(RequestEntityTooLarge):
    """A file was over the size limit; nothing was stored."""


class IntegrityFailure(Exception):
    """A blob failed authentication or its digest: it was altered, truncated or swapped."""


class StoreUnavailable(Exception):
    """The blob store did not answer, or refused, when a version was read: an outage, not a damaged file (a blob
    that is missing is an IntegrityFailure). Logged and audited under `reference`, the incident reference the
    reader is shown."""

    def __init__(self, message: str, reference: str = "") -> None:
        super().__init__(message)
        self.reference = reference


def _chunks_of(stream: Iterable[bytes] | BinaryIO) -> Iterable[bytes]:
    read = getattr(stream, "read", None)
    return iter(lambda: read(READ_BYTES), b"") if read else stream


def _limit_mb() -> str:
    return f"{int(current_app.config['MAX_UPLOAD_BYTES']) / (1024 * 1024):g} MB"


# Why a file was refused, each a message naming the file; Infected and NotScanned are audited as well.
REFUSALS = (FileRefused, archives.ArchiveRefused, antivirus.NotScanned, antivirus.Infected)


@dataclass
class Refused:
    """A refused file to audit once the upload's transaction is rolled back."""

    action: str
    target: str
    details: dict


def archive_limits() -> archives.Limits:
    """What an uploaded DOCX, XLSX or ODT may hold (ARCHIVE_MAX_BYTES, ARCHIVE_MAX_ENTRIES, ARCHIVE_MAX_RATIO)."""
    config = current_app.config
    return archives.Limits(int(config["ARCHIVE_MAX_BYTES"]), int(config["ARCHIVE_MAX_ENTRIES"]),
                           int(config["ARCHIVE_MAX_RATIO"]))


def panel_copy_limit() -> int:
    """The largest file of which a panel copy is made (PANEL_COPY_MAX_BYTES): cleaning holds it in memory."""
    return int(current_app.config["PANEL_COPY_MAX_BYTES"])


def _write_version(actor_id: int, document_id: int, version_id: int, new: NewFile, written: list[str],
                   finder: Finder) -> DocumentVersion:
    """Encrypt one file into a new blob under ids fixed beforehand (scanned on the way when CLAMD is set), check
    it, make its panel copy and look for people's names in its text. Returns its version row, not yet in the
    session: nothing touches the database while the file streams. Raises one of REFUSALS for a file refused."""
    store, limit = current_store(), int(current_app.config["MAX_UPLOAD_BYTES"])
    filename = clean_filename(new.filename)
    version = DocumentVersion(id=version_id, document_id=document_id, number=0, blob_id=store.new_blob_id(),
                              filename=filename, content_type="application/octet-stream", size=0, digest="",
                              uploaded_by_id=actor_id, uploaded_at=clock.now())
    data_key = streams.new_data_key()
    encryptor = streams.BlobEncryptor(data_key, streams.blob_context(document_id, version_id, version.blob_id))
    sniffer, digest = ContentSniffer(), streams.content_digest()
    scanner = antivirus.from_config(current_app.config)

    def encrypted(out: BinaryIO) -> Iterator[bytes]:
        """Each piece of plaintext once it is sniffed, hashed and encrypted into the blob."""
        for chunk in _chunks_of(new.chunks):
            sniffer.feed(chunk)
            if sniffer.size > limit:
                raise UploadTooLarge(f"{filename} is larger than {_limit_mb()}. Nothing was uploaded.")
            digest.update(chunk)
            out.write(encryptor.update(chunk))
            yield chunk

    written.append(version.blob_id)  # before the first byte: whatever reaches the store is removed on failure
    with store.write(version.blob_id) as out:
        if scanner is None:
            for _ in encrypted(out):
                pass
        else:
            scanner.scan(filename, encrypted(out))  # the same single pass, each piece also sent to clamd
        out.write(encryptor.finalize())
        kind = sniffer.identify(filename)
        directory = sniffer.zip_directory() if kind.is_archive else None
        if directory is not None:
            archives.check(filename, directory, archive_limits())
    version.kek_id, version.wrapped_key = crypto.installed().wrap(data_key)
    version.size, version.digest, version.content_type = sniffer.size, digest.hexdigest(), kind.mimetype
    # Read back once (authenticated) into memory for both the panel copy and the names check, if small enough.
    wanted = kind.key in cleaning.CLEANERS or kind.key in name_check.READABLE
    plaintext = _plaintext(original_blob(version)) if wanted and version.size <= panel_copy_limit() else None
    name_check.check(version, kind.key, plaintext, finder)
    try:
        _make_panel_copy(version, kind, written, plaintext)
    except cleaning.ArchiveMismatch:
        raise archives.ArchiveRefused(f"{filename} is damaged or built to mislead the programs that open it: a "
                                      "file inside it is not what its list of contents says. Save it again from "
                                      "Word, Excel or LibreOffice, or as a PDF") from None
    return version


def _end_read() -> None:
    """End the transaction the request's reads began, so none is open (nor, on SQLite, any lock held) while a
    file streams. Everything the upload writes comes later, in one short transaction."""
    db.session.commit()


def _plaintext(blob: "StoredBlob") -> bytes:
    """A blob's whole plaintext, authenticated, in memory (never on disk): one growing buffer, since joining the
    pieces would hold them twice."""
    buffer = io.BytesIO()
    for piece in _verified_pieces(blob):
        buffer.write(piece)
    return buffer.getvalue()


def _make_panel_copy(version: DocumentVersion, kind: FileKind, written: list[str], plaintext: bytes | None) -> None:
    """Store the copy everyone but the Lead receives, without identifying metadata, or record why there is none.

    `plaintext` is the blob just stored, read back (authenticated) into memory, where it is cleaned; it is None
    for files over PANEL_COPY_MAX_BYTES. Raises cleaning.ArchiveMismatch for an archive that lies.
    """
    if kind.key == "txt":
        version.cleaning = Cleaning.NOTHING_HIDDEN
        return
    if kind.key not in cleaning.CLEANERS:
        version.cleaning = Cleaning.NOT_POSSIBLE
        return
    if plaintext is None or version.size > panel_copy_limit():
        version.cleaning = Cleaning.TOO_LARGE
        return
    store = current_store()
    copy = PanelCopy(version_id=version.id, blob_id=store.new_blob_id(), size=0, digest="", created_at=clock.now())
    data_key = streams.new_data_key()
    sink = _EncryptingSink(data_key, streams.panel_copy_context(version.document_id, version.id, copy.blob_id))
    written.append(copy.blob_id)
    try:
        with store.write(copy.blob_id) as out:
            sink.out = out
            cleaning.clean(kind.key, io.BytesIO(plaintext), sink)
            out.write(sink.finalize())
    except cleaning.CannotClean as exc:
        log.warning("document %s version %s: no panel copy: %s", version.document_id, version.id, exc)
        version.cleaning = Cleaning.UNREADABLE
        return
    copy.size, copy.digest = sink.size, sink.digest.hexdigest()
    copy.kek_id, copy.wrapped_key = crypto.installed().wrap(data_key)
    version.panel_copy = copy
    version.cleaning = Cleaning.CLEANED


class _EncryptingSink:
    """A write-only file that hashes and encrypts what is written into a blob, and tells how much was written."""

    def __init__(self, data_key: bytes, context: bytes) -> None:
        self._encryptor = streams.BlobEncryptor(data_key, context)
        self.digest = streams.content_digest()
        self.size = 0
        self.out: BinaryIO | None = None

    def write(self, data: bytes) -> int:
        """Hash and encrypt `data` into the blob."""
        assert self.out is not None
        self.digest.update(data)
        self.out.write(self._encryptor.update(data))
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        """How many plaintext bytes have been written (pypdf records object positions with it)."""
        return self.size

    def flush(self) -> None:
        """Nothing to do: the blob store flushes and syncs the file when it is complete."""

    def finalize(self) -> bytes:
        """The blob's last chunk."""
        return self._encryptor.finalize()


def _abandon(actor: User | None, written: list[str], refused: list[Refused]) -> None:
    """Undo a failed upload: no row is committed and no blob is left behind; refusals to audit are audited."""
    db.session.rollback()
    store = current_store()
    for blob_id in written:
        store.delete(blob_id)
    if refused:
        for item in refused:
            audit.record(actor, item.action, item.target, **item.details)
        db.session.commit()


def _refusal(exc: Exception, portfolio_id: int | None, filename: str, evidence_type: str) -> Refused | None:
    """What to audit about a refused file: an infection, or a file the scanner could not check."""
    details = {"portfolio": portfolio_id, "filename": clean_filename(filename), "evidence_type": evidence_type}
    if isinstance(exc, antivirus.Infected):
        return Refused("document.infected", f"portfolio:{portfolio_id}", {**details, "signature": exc.signature})
    if isinstance(exc, antivirus.NotScanned):
        return Refused("document.not_scanned", f"portfolio:{portfolio_id}", {**details, "reason": str(exc)})
    return None


def upload_many(actor: User, portfolio: Portfolio, files: Iterable[NewFile]) -> list[Document]:
    """Store every file as a new document of the portfolio, all or nothing.

    Each file streams into the blob store under ids reserved for its document and version before anything else
    is written; the rows and their audit events follow in one short transaction, committed once. A crash at any
    moment leaves no row, and only blobs, temporary files or unfinished uploads that `storage gc` removes.
    """
    problems: list[tuple[str, str]] = []
    written: list[str] = []
    refused: list[Refused] = []
    stored: list[tuple[Document, DocumentVersion, NewFile]] = []
    actor_id, portfolio_id = actor.id, portfolio.id
    finder = name_check.finder_for(portfolio)
    _end_read()
    try:
        for new in files:
            if new.evidence_type not in EvidenceType.__members__.values():
                problems.append((new.field, f"Select the kind of evidence {clean_filename(new.filename)} is"))
            if problems:
                for _ in _chunks_of(new.chunks):  # nothing more will be stored: read past it
                    pass
                continue
            document_id, version_id = identifiers.reserve(Document.__table__, DocumentVersion.__table__)
            try:
                version = _write_version(actor_id, document_id, version_id, new, written, finder)
            except REFUSALS as exc:
                problems.append((new.field, str(exc)))
                refused.extend(r for r in [_refusal(exc, portfolio_id, new.filename, new.evidence_type)] if r)
                continue
            # Not the file name: the panel sees titles, and files are often named after the NQSW.
            title = " ".join(new.title.split())[:MAX_TITLE_CHARS] or EvidenceType(new.evidence_type).label
            document = Document(id=document_id, portfolio_id=portfolio_id, evidence_type=new.evidence_type,
                                title=title, created_by_id=actor_id, created_at=clock.now())
            stored.append((document, version, new))
        if not stored and not problems:
            problems.append(("file-0", "Select a file to upload"))
        if problems:
            raise UploadProblem(problems)
        for document, version, new in stored:  # the one short transaction
            version.number, version.document = 1, document
            document.current_version = version
            db.session.add(document)
            audit.record(actor, "document.uploaded", f"document:{document.id}", portfolio=portfolio_id,
                         version=version.id, evidence_type=new.evidence_type, size=version.size,
                         content_type=version.content_type, declared_type=new.declared_type[:120],
                         cleaning=version.cleaning)
        db.session.commit()
    except BaseException:
        _abandon(actor, written, refused)
        raise
    return [document for document, _, _ in stored]


def upload(actor: User, portfolio: Portfolio, evidence_type: str, title: str, filename: str,
           stream: Iterable[bytes] | BinaryIO, declared_type: str = "") -> Document:
    """Store one file as a new document of the portfolio."""
    return upload_many(actor, portfolio, [NewFile(evidence_type, title, filename, stream, declared_type)])[0]


def replace(actor: User, document: Document, filename: str, stream: Iterable[bytes] | BinaryIO,
            declared_type: str = "") -> DocumentVersion:
    """Add a new version of a document; earlier versions stay in its history.

    As for an upload: the file streams under a version id reserved first, then the row is written and numbered
    in one short transaction.
    """
    written: list[str] = []
    refused: list[Refused] = []
    actor_id, document_id = actor.id, document.id
    portfolio_id, evidence_type, title = document.portfolio_id, document.evidence_type, document.title
    finder = name_check.finder_for(db.session.get(Portfolio, portfolio_id) if portfolio_id is not None else None)
    _end_read()
    try:
        (version_id,) = identifiers.reserve(DocumentVersion.__table__)
        version = _write_version(actor_id, document_id, version_id,
                                 NewFile(evidence_type, title, filename, stream, declared_type), written, finder)
        version.number = 1 + (db.session.scalar(select(func.max(DocumentVersion.number))
                                                .where(DocumentVersion.document_id == document_id)) or 0)
        version.document = document
        document.current_version = version
        audit.record(actor, "document.replaced", f"document:{document_id}", version=version.id,
                     number=version.number, size=version.size, content_type=version.content_type,
                     declared_type=declared_type[:120], cleaning=version.cleaning)
        db.session.commit()
    except REFUSALS as exc:
        refused.extend(r for r in [_refusal(exc, portfolio_id, filename, evidence_type)] if r)
        _abandon(actor, written, refused)
        raise UploadProblem([("file", str(exc))]) from None
    except BaseException:
        _abandon(actor, written, refused)
        raise
    return version


def not_cleaned(versions: Iterable[DocumentVersion]) -> list[DocumentVersion]:
    """The versions the panel receives as uploaded, with whatever identifying details they hide."""
    return [v for v in versions if v.cleaning is None or Cleaning(v.cleaning).warns]


def panel_receives(version: DocumentVersion) -> str:
    """What the panel receives of a version, as the Lead is told it."""
    return Cleaning(version.cleaning).label if version.cleaning else LEGACY_CLEANING_LABEL


def make_missing_panel_copies() -> Counter[str]:
    """Make the panel copy of every live version stored before panel copies existed (cleaning NULL).

    One version at a time, each committed on its own, so a run that is stopped keeps what it did and a re-run
    carries on. Returns how many versions ended in each Cleaning state ("failed": the blob did not decrypt).
    """
    counts: Counter[str] = Counter()
    last = 0
    while True:
        version = db.session.scalar(
            select(DocumentVersion).join(Document, Document.id == DocumentVersion.document_id)
            .where(DocumentVersion.id > last, DocumentVersion.cleaning.is_(None),
                   DocumentVersion.wrapped_key.is_not(None), Document.deleted_at.is_(None))
            .order_by(DocumentVersion.id).limit(1))
        if version is None:
            break
        last = version.id
        written: list[str] = []  # blob ids, removed again if the copy is not committed
        try:
            try:
                kind = kind_of(version)
                small = kind.key in cleaning.CLEANERS and version.size <= panel_copy_limit()
                _make_panel_copy(version, kind, written, _plaintext(original_blob(version)) if small else None)
            except cleaning.ArchiveMismatch:  # already stored, so not refused: the Lead is told instead
                version.cleaning = Cleaning.UNREADABLE
            db.session.commit()
            counts[version.cleaning or ""] += 1
        except crypto.DecryptionError as exc:
            log.error("document %s version %s: no panel copy: %s", version.document_id, version.id, exc)
            _abandon(None, written, [])
            counts["failed"] += 1
        except BaseException:
            _abandon(None, written, [])
            raise
    if counts:
        audit.record(None, "documents.panel_copies_made", "", **dict(counts))
        db.session.commit()
    return counts


# Reading ------------------------------------------------------------------------------------------


NAME_CHECK_BATCH = 200  # versions checked again per run of the name-check job


def versions_to_check_again() -> list[DocumentVersion]:
    """The current versions of live documents in a meeting's current sample (minutes not yet published) that
    have not been checked for names since that sample was drawn; at most NAME_CHECK_BATCH, oldest first."""
    statement = (
        select(DocumentVersion)
        .join(Document, Document.current_version_id == DocumentVersion.id)
        .join(SampledPortfolio, SampledPortfolio.portfolio_id == Document.portfolio_id)
        .join(SampleDraw, SampleDraw.id == SampledPortfolio.draw_id)
        .join(Meeting, Meeting.id == SampledPortfolio.meeting_id)
        .where(Document.deleted_at.is_(None), DocumentVersion.wrapped_key.is_not(None),
               Meeting.minutes_published_at.is_(None),
               or_(DocumentVersion.names_checked_at.is_(None), DocumentVersion.names_checked_at < SampleDraw.drawn_at))
        .order_by(DocumentVersion.id).distinct().limit(NAME_CHECK_BATCH))
    return list(db.session.scalars(statement))


def check_names_again() -> Counter[str]:
    """Search the sampled documents due a check (versions_to_check_again) for people's names again, since the
    registry may have grown since each was uploaded; each version is committed on its own, so a stopped run keeps
    what it did. Returns how many ended in each NamesCheck state ("failed": the blob did not decrypt)."""
    counts: Counter[str] = Counter()
    finders: dict[int | None, Finder] = {}
    for version in versions_to_check_again():
        document = version.document
        if document.portfolio_id not in finders:
            portfolio = db.session.get(Portfolio, document.portfolio_id) if document.portfolio_id else None
            finders[document.portfolio_id] = name_check.finder_for(portfolio)
        kind = kind_of(version)
        try:
            readable = kind.key in name_check.READABLE and version.size <= panel_copy_limit()
            plaintext = _plaintext(original_blob(version)) if readable else None
        except crypto.DecryptionError as exc:
            _integrity_failure(None, version.document_id, version.id, "before the names check", exc)
            counts["failed"] += 1
            continue
        name_check.check(version, kind.key, plaintext, finders[document.portfolio_id])
        counts[version.names_check or ""] += 1
        db.session.commit()
    if counts:
        audit.record(None, "documents.names_checked", "", **dict(counts))
        db.session.commit()
    return counts


def _live_document(portfolio_id: int, document_id: int) -> tuple[ColumnElement[bool], ...]:
    """The one statement of "a live document of this portfolio", for every loader."""
    return Document.id == document_id, Document.portfolio_id == portfolio_id, Document.deleted_at.is_(None)


def document_in(portfolio: Portfolio, document_id: int) -> Document | None:
    """A live document of this portfolio, or None."""
    return db.session.scalar(select(Document).where(*_live_document(portfolio.id, document_id)))


def readable_version(user: User, portfolio_id: int, document_id: int,
                     version_id: int) -> tuple[DocumentVersion, Portfolio] | None:
    """A readable version of a live document the person may see, with its document, portfolio and panel copy,
    in one query."""
    row = db.session.execute(
        select(DocumentVersion, Portfolio).join(Document, Document.id == DocumentVersion.document_id)
        .join(Portfolio, Portfolio.id == Document.portfolio_id)
        .outerjoin(PanelCopy, PanelCopy.version_id == DocumentVersion.id)
        .options(contains_eager(DocumentVersion.document), contains_eager(DocumentVersion.panel_copy))
        .where(DocumentVersion.id == version_id, DocumentVersion.wrapped_key.is_not(None),
               *_live_document(portfolio_id, document_id),
               Document.portfolio_id.in_(visibility.visible_portfolio_ids(user)))).first()
    return (row[0], row[1]) if row else None


def file_name(user: User, portfolio: Portfolio, document: Document, version: DocumentVersion) -> str:
    """The name a version's file goes by: as uploaded for the Lead, and for anyone else one that names no one."""
    # Uploaded names often name the NQSW ("Jane Smith 6-month review.docx"), which the panel's label hides.
    if user.manages(portfolio.employer_id):
        return version.filename
    stem, dot, extension = version.filename.rpartition(".")
    suffix = f".{extension}" if dot and stem else ""
    neutral = f"{portfolio.label_for(user)} - {EvidenceType(document.evidence_type).label} - version {version.number}"
    return neutral + suffix


def file_names(user: User, portfolio: Portfolio, document: Document,
               versions: Iterable[DocumentVersion]) -> dict[int, str]:
    """file_name for each of a document's versions, by version id."""
    return {v.id: file_name(user, portfolio, document, v) for v in versions}


def kind_of(version: DocumentVersion) -> FileKind:
    """The kind of file a version holds."""
    return kind_for(version.content_type) or FileKind("other", "File", "application/octet-stream", ())


@dataclass(frozen=True)
class StoredBlob:
    """One encrypted blob as a reader needs it: its id, wrapped data key, Cobblestone context and plaintext size."""

    blob_id: str
    kek_id: str | None
    wrapped_key: bytes | None
    context: bytes
    size: int
    panel_copy: bool = False


def original_blob(version: DocumentVersion) -> StoredBlob:
    """The version's file as it was uploaded."""
    return StoredBlob(version.blob_id, version.kek_id, version.wrapped_key,
                      streams.blob_context(version.document_id, version.id, version.blob_id), version.size)


def _receives_originals(user: User, document: Document) -> bool:
    """The Leads who manage a portfolio's employer receive its files as uploaded (the administrator every file)."""
    if user.is_admin or not user.is_lead or document.portfolio_id is None:
        return user.is_admin
    employer_id = db.session.scalar(select(Nqsw.employer_id).join(Portfolio, Portfolio.nqsw_id == Nqsw.id)
                                    .where(Portfolio.id == document.portfolio_id))
    return user.manages(employer_id)


def blob_for(user: User, version: DocumentVersion) -> StoredBlob:
    """What this person receives of a version: the Lead the file as uploaded, everyone else its panel copy.

    A version without a copy (plain text, Word 97-2003, too large, unreadable, or stored before panel copies
    existed) is the same for everyone. A version that should have a copy but has lost it raises DecryptionError:
    the original is never sent in its place.
    """
    if version.cleaning != Cleaning.CLEANED or _receives_originals(user, version.document):
        return original_blob(version)
    copy = version.panel_copy
    if copy is None or copy.wrapped_key is None:
        raise crypto.DecryptionError("the panel copy is missing")
    return StoredBlob(copy.blob_id, copy.kek_id, copy.wrapped_key,
                      streams.panel_copy_context(version.document_id, version.id, copy.blob_id), copy.size, True)


def served_size(user: User, version: DocumentVersion) -> int:
    """The size of what this person receives of a version (for Content-Length)."""
    try:
        return blob_for(user, version).size
    except crypto.DecryptionError:
        return version.size


def _verified_pieces(blob: StoredBlob) -> Generator[bytes, None, None]:
    """Plaintext released only once authenticated; the last piece waits until the size matches the row.

    Cobblestone authenticates every chunk, the whole length and the blob's binding to its row, so the stored
    digest is not recomputed here (it would halve download speed); `flask keys verify` checks it.

    A store that does not answer or refuses (StoreError, or any other OSError of the local store) raises
    StoreUnavailable; a blob the store does not have is a DecryptionError like any other damage.
    """
    try:
        data_key = crypto.installed().unwrap(blob.kek_id or "", blob.wrapped_key or b"")
        handle = current_store().open(blob.blob_id)
    except (crypto.DecryptionError, crypto.KeyringError, FileNotFoundError, ValueError) as exc:
        raise crypto.DecryptionError(f"the version cannot be opened: {type(exc).__name__}") from exc
    except OSError as exc:
        raise StoreUnavailable(f"the blob store cannot open blob {blob.blob_id}: {exc}") from exc
    expected_size = blob.size
    size, pending = 0, b""
    with handle:
        try:
            for piece in streams.decrypt_chunks(data_key, blob.context, _blocks_of(handle)):
                size += len(piece)
                if pending:
                    yield pending
                pending = piece
        except FileNotFoundError as exc:
            raise crypto.DecryptionError(f"the version cannot be read: {type(exc).__name__}") from exc
        except OSError as exc:
            raise StoreUnavailable(f"the blob store stopped answering while blob {blob.blob_id} was read: "
                                   f"{exc}") from exc
    if size != expected_size:
        raise crypto.DecryptionError("the plaintext does not match the stored size")
    if pending:
        yield pending


def _blocks_of(handle: io.BufferedIOBase) -> Iterator[memoryview]:
    """The file in READ_BYTES blocks, read into one reused buffer (each block is consumed before the next)."""
    buffer = bytearray(READ_BYTES)
    view = memoryview(buffer)
    while length := handle.readinto(buffer):
        yield view[:length]


def _integrity_failure(actor_id: int | None, document_id: int, version_id: int, stage: str, error: Exception) -> None:
    """Log and audit a failed blob. Takes ids: mid-stream, the request's objects may belong to a closed session."""
    db.session.rollback()
    log.error("integrity failure: document %s version %s (%s): %s", document_id, version_id, stage, error)
    actor = db.session.get(User, actor_id) if actor_id is not None else None  # None: the worker's own reading
    audit.record(actor, "document.integrity_failure", f"document:{document_id}", version=version_id, stage=stage,
                 error=str(error))
    db.session.commit()


def _store_unavailable(actor_id: int | None, document_id: int, version_id: int, stage: str,
                       error: StoreUnavailable) -> StoreUnavailable:
    """Log and audit a read the blob store did not serve, under a new incident reference; return the error to
    raise, carrying it. Takes ids, like _integrity_failure. The log line holds the store's own words (its
    address, the blob id); the audit trail and the reader get only the reference."""
    db.session.rollback()
    reference = incident_reference()
    log.error("blob store unavailable, incident %s: document %s version %s (%s): %s", reference, document_id,
              version_id, stage, error)
    actor = db.session.get(User, actor_id) if actor_id is not None else None
    audit.record(actor, "document.store_unavailable", f"document:{document_id}", version=version_id, stage=stage,
                 incident=reference)
    db.session.commit()
    return StoreUnavailable(str(error), reference)


def _record_read(actor: User, version: DocumentVersion, disposition: str, panel_copy: bool,
                 **details: object) -> None:
    receipt = db.session.scalar(select(ReadReceipt).where(ReadReceipt.user_id == actor.id,
                                                          ReadReceipt.version_id == version.id))
    now = clock.now()
    if receipt is None:
        receipt = ReadReceipt(user_id=actor.id, document_id=version.document_id, version_id=version.id,
                              first_at=now, last_at=now, views=0, downloads=0)
        db.session.add(receipt)
    receipt.last_at = now
    if disposition == DOWNLOAD:
        receipt.downloads += 1
    else:
        receipt.views += 1
    copy = {"copy": "panel"} if panel_copy else {}
    action = {VIEW: "document.viewed", READ: "document.read"}.get(disposition, "document.downloaded")
    audit.record(actor, action, f"document:{version.document_id}", version=version.id, number=version.number,
                 **copy, **details)


def _authenticate_whole(blob: StoredBlob) -> None:
    """Decrypt and authenticate the whole blob, keeping none of its plaintext; raise DecryptionError if it fails.

    A first pass over the file, before the pass that sends it: memory stays at one piece whatever the size, at
    the cost of decrypting the file twice (measured in bench/RESULTS.md, "Authenticating before sending").
    """
    for _ in _verified_pieces(blob):
        pass


def verify_whole_limit() -> int:
    """Files up to this size are authenticated whole before their first byte is sent (VERIFY_WHOLE_MAX_BYTES)."""
    return int(current_app.config["VERIFY_WHOLE_MAX_BYTES"])


def open_version(actor: User, version: DocumentVersion, disposition: str, stamp: bool = False) -> Iterator[bytes]:
    """Start reading a version: record the receipt and audit, and return its verified plaintext in pieces.

    A file up to VERIFY_WHOLE_MAX_BYTES is authenticated whole before anything is recorded or sent, so any
    tampering raises IntegrityFailure here and the reader gets the error page, never part of the file. A larger
    file has its first piece authenticated first; a failure later raises IntegrityFailure from the iterator,
    which aborts the response under way. With stamp, the whole PDF is verified and stamped first.

    A blob store that does not answer raises StoreUnavailable (logged and audited) the same way: before sending,
    so the reader is told to try again; while sending, which cuts the response.
    """
    ids = (actor.id, version.document_id, version.id)
    rest: Iterable[bytes] = ()
    try:
        blob = blob_for(actor, version)
        pieces = _verified_pieces(blob)
        if not stamp and blob.size <= verify_whole_limit():
            _authenticate_whole(blob)
        first = next(pieces, b"")
        if stamp:
            text = stamping.stamp_text(actor, clock.format_date(clock.now()))
            first = stamping.stamp(first + b"".join(pieces), text)
        else:
            rest = readahead.read_ahead(pieces)  # its thread starts when the response starts being sent
    except crypto.DecryptionError as exc:
        _integrity_failure(*ids, "before sending", exc)
        raise IntegrityFailure(str(exc)) from exc
    except StoreUnavailable as exc:  # nothing sent yet: the reader is told to try again later
        raise _store_unavailable(*ids, "before sending", exc) from exc
    except stamping.StampFailure as exc:
        log.warning("document %s version %s: %s", version.document_id, version.id, exc)
        raise
    _record_read(actor, version, disposition, blob.panel_copy)
    db.session.commit()
    return _rest(ids, first, rest)


def read_in_memory(actor: User, version: DocumentVersion) -> tuple[bytes, bool]:
    """What this person receives of a version, decrypted and authenticated whole into memory (never to disk), for
    the reading view, and whether it is the panel's copy. The caller records the reading (record_reading).

    Raises IntegrityFailure, audited, if the blob fails to authenticate, and StoreUnavailable, audited, if the
    blob store does not answer. The caller keeps to files of up to verify_whole_limit() bytes, so memory stays
    bounded.
    """
    try:
        blob = blob_for(actor, version)
        return b"".join(_verified_pieces(blob)), blob.panel_copy
    except crypto.DecryptionError as exc:
        _integrity_failure(actor.id, version.document_id, version.id, "before reading", exc)
        raise IntegrityFailure(str(exc)) from exc
    except StoreUnavailable as exc:
        raise _store_unavailable(actor.id, version.document_id, version.id, "before reading", exc) from exc


def record_reading(actor: User, version: DocumentVersion, panel_copy: bool, **details: object) -> None:
    """Record a reading of a version as opening it: the receipt, and the audit event "document.read" with
    `details` (the page); the caller commits."""
    _record_read(actor, version, READ, panel_copy, **details)


def _rest(ids: tuple[int, int, int], first: bytes, pieces: Iterable[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    try:
        yield from pieces
    except crypto.DecryptionError as exc:
        _integrity_failure(*ids, "while sending", exc)
        raise IntegrityFailure(str(exc)) from exc
    except StoreUnavailable as exc:  # bytes have been sent: the response can only be cut short
        raise _store_unavailable(*ids, "while sending", exc) from exc


# Listings and read tracking --------------------------------------------------------------------


def documents_of(portfolio_ids: Iterable[int]) -> list[Document]:
    """Live documents of these portfolios with their current versions (two queries however many)."""
    ids = list(portfolio_ids)
    if not ids:
        return []
    return list(db.session.scalars(
        select(Document).where(Document.portfolio_id.in_(ids), Document.deleted_at.is_(None))
        .options(selectinload(Document.current_version)).order_by(Document.portfolio_id, Document.id)
    ))


def versions_of(document: Document) -> list[DocumentVersion]:
    """Every version of a document, newest first."""
    return list(db.session.scalars(select(DocumentVersion).where(DocumentVersion.document_id == document.id)
                                   .options(selectinload(DocumentVersion.uploaded_by))
                                   .order_by(DocumentVersion.number.desc())))


@dataclass
class Reader:
    """Someone who has read a document, and whether what they read is its current version."""

    name: str
    current: bool
    last_at: datetime


def readers_of(documents: list[Document]) -> dict[int, list[Reader]]:
    """Who has read each document (any version), in one query."""
    if not documents:
        return {}
    current = {d.id: d.current_version_id for d in documents}
    rows = db.session.execute(
        select(ReadReceipt.document_id, ReadReceipt.version_id, ReadReceipt.last_at, User.id, User.name)
        .join(User, User.id == ReadReceipt.user_id)
        .where(ReadReceipt.document_id.in_(list(current)))
        .order_by(ReadReceipt.last_at)
    )
    latest: dict[tuple[int, int], Reader] = {}
    for document_id, version_id, last_at, user_id, name in rows:
        seen = latest.get((document_id, user_id))
        is_current = version_id == current[document_id]
        latest[(document_id, user_id)] = Reader(name, is_current or (seen is not None and seen.current), last_at)
    result: dict[int, list[Reader]] = {d.id: [] for d in documents}
    for (document_id, _), reader in latest.items():
        result[document_id].append(reader)
    for readers in result.values():
        readers.sort(key=lambda r: r.name.lower())
    return result


def panel_for(portfolio_ids: Iterable[int]) -> list[User]:
    """Chairs and members of meetings that sampled any of these portfolios (one query)."""
    ids = list(portfolio_ids)
    if not ids:
        return []
    people = db.session.scalars(
        select(User).join(MeetingMember, MeetingMember.user_id == User.id)
        .join(SampledPortfolio, SampledPortfolio.meeting_id == MeetingMember.meeting_id)
        .where(SampledPortfolio.portfolio_id.in_(ids),
               visibility.seated_on_panel())
        .distinct()
    ).unique()
    return sorted(people, key=lambda u: (u.name.lower(), u.id))


READ, OLDER, UNREAD = "read", "older", "unread"
STATE_LABELS = {READ: "Read", OLDER: "Read an older version", UNREAD: "Not read"}


@dataclass
class ReadinessMatrix:
    """People x documents: whether each person has read the current version, an older one, or nothing."""

    people: list[User]
    documents: list[Document]
    cells: dict[tuple[int, int], str] = field(default_factory=dict)
    # Of the current version: (pages opened in the reading view, pages it has), where both are known.
    pages: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)

    def state(self, person: User, document: Document) -> str:
        """read, older or unread."""
        return self.cells.get((person.id, document.id), UNREAD)

    def pages_read(self, person: User, document: Document) -> str:
        """'read 9 of 12 pages' when the person has read the current version page by page, else ''."""
        read, count = self.pages.get((person.id, document.id), (0, 0))
        if not read or count <= 1:
            return ""
        return f"read {min(read, count)} of {count} pages"

    def read_count(self, person: User) -> int:
        """How many documents this person has read in their current version."""
        return sum(1 for d in self.documents if self.state(person, d) == READ)


def readiness_matrix(people: list[User], documents: list[Document]) -> ReadinessMatrix:
    """Build the matrix with one query, however many people and documents."""
    matrix = ReadinessMatrix(list(people), list(documents))
    if not matrix.people or not matrix.documents:
        return matrix
    current = {d.id: d.current_version_id for d in matrix.documents}
    # Pages opened in the reading view come with each receipt (a page opened always leaves one), in the same query.
    pages = (select(func.count(PageRead.id)).where(PageRead.user_id == ReadReceipt.user_id,
                                                   PageRead.version_id == ReadReceipt.version_id)
             .correlate(ReadReceipt).scalar_subquery())
    rows = db.session.execute(
        select(ReadReceipt.user_id, ReadReceipt.document_id, ReadReceipt.version_id, DocumentVersion.page_count,
               pages)
        .join(DocumentVersion, DocumentVersion.id == ReadReceipt.version_id)
        .where(ReadReceipt.user_id.in_([p.id for p in matrix.people]),
               ReadReceipt.document_id.in_(list(current)))
    )
    for user_id, document_id, version_id, page_count, pages_read in rows:
        key = (user_id, document_id)
        if version_id == current[document_id]:
            matrix.cells[key] = READ
            if page_count and pages_read:
                matrix.pages[key] = (int(pages_read), int(page_count))
        elif matrix.cells.get(key) != READ:
            matrix.cells[key] = OLDER
    return matrix


def my_read_states(user: User, documents: list[Document]) -> dict[int, str]:
    """For one person: read, older or unread for each document."""
    matrix = readiness_matrix([user], documents)
    return {d.id: matrix.state(user, d) for d in documents}


