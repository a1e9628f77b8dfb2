"""The append-only, hash-chained audit log."""

import json
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, EncryptedText, UTCDateTime
from portal.models.users import User

# What an event's details read as when their stored ciphertext fails to decrypt (never valid JSON, so never
# what portal.audit.record wrote); `audit verify` reports such an event as edited.
UNREADABLE_DETAILS = "(these details do not decrypt: the stored value was altered)"


class AuditEvent(Base):
    """One event; its hash covers its own fields and the previous event's hash."""

    __tablename__ = "audit_events"
    # The audit trail's filters (a person, an exact action, a target) each read a page newest first: an index on
    # the filtered column and seq finds that page without sorting every matching event.
    # The appender finds the events not chained yet (seq NULL) without reading the chained ones.
    __table_args__ = (Index("ix_audit_events_actor_id_seq", "actor_id", "seq"),
                      Index("ix_audit_events_action_seq", "action", "seq"),
                      Index("ix_audit_events_target_seq", "target", "seq"),
                      Index("ix_audit_events_unchained", "id", sqlite_where=text("seq IS NULL"),
                            postgresql_where=text("seq IS NULL")))

    id: Mapped[int] = mapped_column(primary_key=True)
    # The event's place in the chain, given by the appender (portal/audit.py); NULL until then.
    seq: Mapped[int | None] = mapped_column(Integer, unique=True)
    # The event's own identity, random and given when it is recorded: its details are encrypted bound to it, and
    # its seal covers it. (Events chained before there were refs have their seq's digits as their ref.)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(120), default="")
    # JSON of the event's details; they may name people, so they are encrypted like other free text, bound to the
    # event's ref (known before the INSERT, unlike its id, and before the event has its seq).
    details: Mapped[str] = mapped_column(
        EncryptedText("audit_events.details", unreadable=UNREADABLE_DETAILS, row="ref"), default="{}")
    ip: Mapped[str] = mapped_column(String(45), default="")
    key_id: Mapped[str] = mapped_column(String(20))
    # NULL until the event is chained.
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    # The chain's HMAC once chained; until then the event's seal (an HMAC over its own fields and ref).
    hash: Mapped[str] = mapped_column(String(64))

    actor: Mapped[User | None] = relationship()

    @property
    def details_readable(self) -> bool:
        """False when the stored details failed to decrypt (the row was altered)."""
        return self.details != UNREADABLE_DETAILS

    @property
    def details_summary(self) -> str:
        """The details as "name: value" pairs for people to read, or the notice that they do not decrypt."""
        if not self.details_readable:
            return UNREADABLE_DETAILS
        return "; ".join(f"{name}: {value}" for name, value in json.loads(self.details or "{}").items())


class AuditHead(Base):
    """A single row holding the chain's latest sequence number and hash; locking it serialises writers."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64), default="0" * 64)
