"""The reading view's records: pages each person opened, their reading preferences and their private notes."""

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, EncryptedText, UTCDateTime


class PageRead(Base):
    """That a person opened one page of a document version in the reading view (first time only)."""

    __tablename__ = "page_reads"
    __table_args__ = (UniqueConstraint("user_id", "version_id", "page", name="uq_page_reads_user_version_page"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id"), index=True)
    page: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReadingPreferences(Base):
    """A person's choice of text size, line spacing and background colour for the reading view."""

    __tablename__ = "reading_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    text_size: Mapped[str] = mapped_column(String(20), default="standard")
    line_spacing: Mapped[str] = mapped_column(String(20), default="standard")
    background: Mapped[str] = mapped_column(String(20), default="white")


class ReadingNote(Base):
    """A person's private note on a document (and optionally one page of it): nobody else ever sees it."""

    __tablename__ = "reading_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    page: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(EncryptedText("reading_notes.body"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
