"""Encrypted documents, their versions and who has read them."""

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, EncryptedText, UTCDateTime
from portal.models.users import User


class EvidenceType(enum.StrEnum):
    """The kinds of evidence an ASYE portfolio holds (DESIGN capability 4)."""

    AGREEMENT = "agreement"
    PDP = "pdp"
    REVIEW_3_MONTH = "review_3_month"
    REVIEW_6_MONTH = "review_6_month"
    FINAL_REPORT = "final_report"
    CRITICAL_REFLECTION = "critical_reflection"
    DIRECT_OBSERVATION = "direct_observation"
    SUPERVISION = "supervision"
    PROTECTED_TIME = "protected_time"
    PEOPLE_FEEDBACK = "people_feedback"
    OTHER = "other"

    @property
    def label(self) -> str:
        """As people say it."""
        return EVIDENCE_LABELS[self]


EVIDENCE_LABELS = {
    EvidenceType.AGREEMENT: "Support and assessment agreement",
    EvidenceType.PDP: "Professional development plans",
    EvidenceType.REVIEW_3_MONTH: "3-month review",
    EvidenceType.REVIEW_6_MONTH: "6-month review",
    EvidenceType.FINAL_REPORT: "Final assessment report",
    EvidenceType.CRITICAL_REFLECTION: "Critical reflections",
    EvidenceType.DIRECT_OBSERVATION: "Direct observations",
    EvidenceType.SUPERVISION: "Supervision records",
    EvidenceType.PROTECTED_TIME: "Protected-time record",
    EvidenceType.PEOPLE_FEEDBACK: "Feedback from people who use services",
    EvidenceType.OTHER: "Other evidence",
}

# The default evidence-completeness check: how many documents of each type a portfolio needs.
# The PORTAL_EVIDENCE_REQUIREMENTS setting replaces it.
DEFAULT_EVIDENCE_REQUIREMENTS: dict[str, int] = {
    EvidenceType.AGREEMENT: 1,
    EvidenceType.PDP: 1,
    EvidenceType.REVIEW_3_MONTH: 1,
    EvidenceType.REVIEW_6_MONTH: 1,
    EvidenceType.FINAL_REPORT: 1,
    EvidenceType.CRITICAL_REFLECTION: 1,
    EvidenceType.DIRECT_OBSERVATION: 3,
    EvidenceType.SUPERVISION: 1,
    EvidenceType.PROTECTED_TIME: 1,
    EvidenceType.PEOPLE_FEEDBACK: 1,
}


class Cleaning(enum.StrEnum):
    """What the panel receives of a version: a copy without hidden identifying details, or why not."""

    CLEANED = "cleaned"  # a panel copy exists
    NOTHING_HIDDEN = "nothing_hidden"  # plain text: nothing but its text
    NOT_POSSIBLE = "not_possible"  # Word 97-2003: cannot be rewritten safely
    TOO_LARGE = "too_large"  # over PANEL_COPY_MAX_BYTES
    UNREADABLE = "unreadable"  # damaged or password-protected: could not be read to be cleaned

    @property
    def warns(self) -> bool:
        """True when the panel receives the file as uploaded, with whatever names it hides."""
        return self in (Cleaning.NOT_POSSIBLE, Cleaning.TOO_LARGE, Cleaning.UNREADABLE)

    @property
    def label(self) -> str:
        """What the panel receives, as the Lead is told it."""
        return CLEANING_LABELS[self]


class NamesCheck(enum.StrEnum):
    """Whether a version's text was searched for people's names (portal/documents/name_check.py), or why not."""

    CLEAR = "clear"  # searched: no name found
    NAMED = "named"  # searched: names_found says which names, on which pages
    NO_TEXT = "no_text"  # an image, spreadsheet or older Word file: the portal cannot read its text
    TOO_LARGE = "too_large"  # over PANEL_COPY_MAX_BYTES: not read into memory
    UNREADABLE = "unreadable"  # damaged or password-protected


CLEANING_LABELS = {
    Cleaning.CLEANED: "A copy without the names hidden in the file (properties, comment and change authors)",
    Cleaning.NOTHING_HIDDEN: "The file itself: a text file hides no names",
    Cleaning.NOT_POSSIBLE: "The file as uploaded, with any names hidden in it: Word 97-2003 (.doc) files cannot be "
                           "cleaned. Save it as .docx or PDF and upload it as a new version",
    Cleaning.TOO_LARGE: "The file as uploaded, with any names hidden in it: it is too large to clean. Make it "
                        "smaller and upload it as a new version",
    Cleaning.UNREADABLE: "The file as uploaded, with any names hidden in it: it could not be read to be cleaned "
                         "(it may be damaged or protected with a password). Save it again and upload it as a "
                         "new version",
}
LEGACY_CLEANING_LABEL = ("The file as uploaded, with any names hidden in it: it was stored before the portal made "
                         "cleaned copies. Whoever runs the portal can make them with `flask documents clean`")


class Document(Base):
    """A document in a portfolio (or a meeting's papers); its content lives in versions."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int | None] = mapped_column(ForeignKey("portfolios.id"), index=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id"), index=True)
    evidence_type: Mapped[str] = mapped_column(String(40), default=EvidenceType.OTHER.value)
    title: Mapped[str] = mapped_column(EncryptedText("documents.title"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("document_versions.id", use_alter=True, name="fk_documents_current_version")
    )
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a tombstone: keys and blobs destroyed

    versions: Mapped[list["DocumentVersion"]] = relationship(
        back_populates="document", foreign_keys="DocumentVersion.document_id", order_by="DocumentVersion.number"
    )
    current_version: Mapped["DocumentVersion | None"] = relationship(foreign_keys=[current_version_id],
                                                                     post_update=True)


class DocumentVersion(Base):
    """One uploaded version: an encrypted blob whose data key is wrapped under a KEK."""

    __tablename__ = "document_versions"
    __table_args__ = (UniqueConstraint("document_id", "number", name="uq_document_versions_document_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    blob_id: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(EncryptedText("document_versions.filename"))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(EncryptedText("document_versions.digest"))  # BLAKE3-256 of the plaintext
    kek_id: Mapped[str | None] = mapped_column(String(20))
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)  # None once crypto-shredded
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the panel receives (a Cleaning value); None for versions stored before panel copies existed.
    cleaning: Mapped[str | None] = mapped_column(String(20))
    page_count: Mapped[int | None] = mapped_column(Integer)  # of a PDF, once the reading view has counted them
    # The names check (portal/documents/name_check.py): a NamesCheck value, None until first checked; what was found
    # (JSON: [{"name", "who", "pages"}], encrypted, since it holds names) and when.
    names_check: Mapped[str | None] = mapped_column(String(20))
    names_found: Mapped[str | None] = mapped_column(EncryptedText("document_versions.names_found"))
    names_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    document: Mapped[Document] = relationship(back_populates="versions", foreign_keys=[document_id])
    uploaded_by: Mapped[User] = relationship()
    panel_copy: Mapped["PanelCopy | None"] = relationship(back_populates="version", uselist=False)


class PanelCopy(Base):
    """The copy of a version everyone but the Lead receives: the same content without identifying metadata.

    A blob of its own with its own data key and digest, bound to its version (and to being a panel copy) by its
    Cobblestone context; rotated, verified, backed up, shredded and collected like the version's own blob.
    """

    __tablename__ = "panel_copies"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id"), unique=True)
    blob_id: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(EncryptedText("panel_copies.digest"))  # BLAKE3-256 of the plaintext
    kek_id: Mapped[str | None] = mapped_column(String(20))
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)  # None once crypto-shredded
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    version: Mapped[DocumentVersion] = relationship(back_populates="panel_copy")


class ReadReceipt(Base):
    """Who has opened or downloaded a document version, when first and last, and how often."""

    __tablename__ = "read_receipts"
    __table_args__ = (UniqueConstraint("user_id", "version_id", name="uq_read_receipts_user_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id"), index=True)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    views: Mapped[int] = mapped_column(Integer, default=0)
    downloads: Mapped[int] = mapped_column(Integer, default=0)


class IdSequence(Base):
    """On SQLite, which has no sequences: the last id handed out for a table whose ids are fixed before its rows
    are written (portal/documents/identifiers.py). PostgreSQL uses the tables' own sequences instead."""

    __tablename__ = "id_sequences"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)  # the table
    last_id: Mapped[int] = mapped_column(BigInteger)
