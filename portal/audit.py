"""The audit trail: record(actor, action, target, **details) and verification of the hash chain.

Each event's HMAC covers its fields and the previous event's hash, keyed from the keyring, so an edited,
inserted or deleted row breaks the chain at that point. Events are chained when their transaction commits, in
one short step at its very end: committers serialise on the single audit_head row only for that step.

Chain format (v1): hash = HMAC-SHA256, under the key HKDF derives from the KEK named by key_id for
"portal audit chain v1", of the compact JSON array
[seq, at (UTC ISO 8601, microseconds), actor_id, action, target, details, ip, prev_hash], where details is the
plaintext JSON object (sorted keys, compact) and the first event's prev_hash is 64 zeros. The details column
stores that JSON field-encrypted (audit_events.details, bound to the event's seq); the HMAC covers the plaintext,
not the ciphertext, so `keys rotate` can re-encrypt the details without breaking the chain, while an altered
ciphertext, or one copied from another event, fails to decrypt and is reported as an edit.
"""

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from flask import has_request_context, request
from sqlalchemy import Connection, Row, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.event import listens_for
from sqlalchemy.orm import Session, SessionTransaction

from portal import clock
from portal.extensions import db
from portal.models import AuditEvent, AuditHead, User
from portal.models.audit import UNREADABLE_DETAILS
from portal.models.base import RowValue
from portal.security import crypto, tokens

_PURPOSE = "portal audit chain v1"
GENESIS = "0" * 64
# Security events also go to the log for monitoring; details stay out of it (they may name people).
_log = logging.getLogger("portal.audit")


def _digest(key: bytes, event: AuditEvent | Row | dict[str, Any]) -> str:
    """The event's HMAC over its fields in the chain format above (details as plaintext JSON)."""
    get: Callable[[str], Any] = event.get if isinstance(event, dict) else lambda name: getattr(event, name)
    at = get("at")
    fields = [
        get("seq"),
        clock.as_utc(at).isoformat(timespec="microseconds"),
        get("actor_id"),
        get("action"),
        get("target"),
        get("details"),
        get("ip"),
        get("prev_hash"),
    ]
    return tokens.keyed_hash(key, json.dumps(fields, separators=(",", ":")))


def client_ip() -> str:
    """Return the address of the current request, or '' outside a request."""
    return (request.remote_addr or "") if has_request_context() else ""


def _create_head(connection: Connection) -> None:
    """Create the head row for the very first event; a concurrent first writer may win the race (then its row
    is used)."""
    insert_head = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(AuditHead)
    connection.execute(insert_head.values(id=1, seq=0, hash=GENESIS).on_conflict_do_nothing())


# Built once: every audited transaction runs them.
_BUMP_HEAD = update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + bindparam("events"))
_BUMP_AND_READ_HEAD = _BUMP_HEAD.returning(AuditHead.seq, AuditHead.hash)
_READ_HEAD = select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
_SET_HEAD_HASH = update(AuditHead).where(AuditHead.id == 1).values(hash=bindparam("new_hash"))
_APPEND = insert(AuditEvent)
# PostgreSQL appends the events and moves the head's hash in one statement.
_APPEND_AND_SET_HEAD_HASH = insert(AuditEvent).add_cte(_SET_HEAD_HASH.cte("head_hash"))
_PENDING = "audit_pending"


def _advance_head(connection: Connection, events: int) -> tuple[int, str]:
    """Move the head on by `events` and return (the seq of the last of them, the previous event's hash).

    The update comes first so that it takes the head row's write lock: concurrent committers queue behind it. Where
    the database can return the updated row (PostgreSQL; SQLite 3.35 and later) that saves reading it again.
    """
    for _ in range(2):
        if connection.dialect.update_returning:
            head = connection.execute(_BUMP_AND_READ_HEAD, {"events": events}).first()
        else:
            bumped = connection.execute(_BUMP_HEAD, {"events": events}).rowcount
            head = connection.execute(_READ_HEAD).one() if bumped else None
        if head is not None:
            return head.seq, head.hash
        _create_head(connection)
    raise RuntimeError("the audit head row could not be created")


def record(actor: User | None, action: str, target: str = "", **details: Any) -> None:
    """Add one event to the current transaction; it joins the chain when the transaction commits.

    Nothing touches the chain's head until then: the event waits in the session, and _chain_pending (run by
    every commit, after the session's own changes are flushed) appends the transaction's events in the order
    they were recorded, so the head row is locked only for the last statements and the COMMIT, not for the rest
    of the request. An event is therefore written if and only if its transaction commits.
    """
    session = db.session()
    session.connection()  # the transaction the event belongs to (its end forgets events it did not commit)
    session.info.setdefault(_PENDING, []).append({
        "at": clock.now(),
        "actor_id": actor.id if actor is not None else None,
        "action": action,
        "target": target,
        "details": json.dumps(details, sort_keys=True, default=str, separators=(",", ":")),
        "ip": client_ip(),
    })


@listens_for(Session, "before_commit")
def _chain_pending(session: Session) -> None:
    """Append the transaction's recorded events to the chain, just before it commits."""
    pending = session.info.get(_PENDING)
    if not pending or session.in_nested_transaction():
        return
    session.flush()  # the session's own rows first: a writer never holds the head while it waits for another row
    keyring = crypto.installed()
    kid, key = keyring.derive(_PURPOSE)
    connection = session.connection()
    last, prev_hash = _advance_head(connection, len(pending))
    rows = []
    for seq, fields in enumerate(pending, start=last - len(pending) + 1):
        row = {**fields, "seq": seq, "key_id": kid, "prev_hash": prev_hash}
        row["hash"] = prev_hash = _digest(key, row)
        rows.append(row)
    # The details are encrypted bound to the event's seq (its identity in the chain, known before the INSERT).
    values = [{**row, "details": RowValue(row["details"], row["seq"])} for row in rows]
    if connection.dialect.name == "postgresql":
        connection.execute(_APPEND_AND_SET_HEAD_HASH.values(values), {"new_hash": prev_hash})
    else:
        connection.execute(_APPEND, values)
        connection.execute(_SET_HEAD_HASH, {"new_hash": prev_hash})
    pending.clear()
    for row in rows:
        _log.info("audit event %s: %s %s by user %s from %s", row["seq"], row["action"], row["target"],
                  row["actor_id"], row["ip"])


@listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction: SessionTransaction) -> None:
    """A transaction that ends without committing takes its events with it, as it does its other changes."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


@dataclass
class ChainProblem:
    """Where the chain first fails to verify."""

    seq: int
    event_id: int | None
    reason: str


def _events() -> Iterator[Row]:
    """Every event in chain order, as plain rows (no ORM objects: a walk of the whole trail is linear and lean)."""
    columns = (AuditEvent.id, AuditEvent.seq, AuditEvent.at, AuditEvent.actor_id, AuditEvent.action,
               AuditEvent.target, AuditEvent.details, AuditEvent.ip, AuditEvent.key_id, AuditEvent.prev_hash,
               AuditEvent.hash)
    yield from db.session.execute(select(*columns).order_by(AuditEvent.seq).execution_options(yield_per=2000))


def verify(anchor: tuple[int, str] | None = None) -> tuple[int, ChainProblem | None]:
    """Walk the chain; return (events checked, the first problem or None).

    The chain alone cannot show that its latest events were deleted and the head row wound back to match:
    someone with write access to the database can do both. An anchor (an event's seq and hash, as printed by
    an earlier verification and kept where the database's administrators cannot change it) closes that gap:
    that event must still be there, with that hash, and the chain must reach it.
    """
    keyring = crypto.installed()
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    for event in _events():
        if event.seq != expected_seq:
            return checked, ChainProblem(expected_seq, None, "missing: an event was deleted")
        if event.prev_hash != expected_prev:
            return checked, ChainProblem(event.seq, event.id, "does not follow the previous event")
        if event.details == UNREADABLE_DETAILS:
            return checked, ChainProblem(event.seq, event.id, "edited: its details do not decrypt")
        _, key = keyring.derive(_PURPOSE, event.key_id)
        if not tokens.equal(_digest(key, event), event.hash):
            return checked, ChainProblem(event.seq, event.id, "edited: its contents do not match its hash")
        if anchor is not None and event.seq == anchor[0] and not tokens.equal(event.hash, anchor[1]):
            return checked, ChainProblem(event.seq, event.id, "replaced: its hash is not the anchor's")
        expected_prev, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    if anchor is not None and anchor[0] > checked:
        return checked, ChainProblem(checked + 1, None, f"missing: the trail ends before event {anchor[0]}, "
                                                        "which the anchor recorded")
    stored = db.session.get(AuditHead, 1)
    if stored is not None and (stored.seq != checked or stored.hash != expected_prev):
        return checked, ChainProblem(checked + 1, None, "missing: the latest events were deleted")
    return checked, None


def head() -> tuple[int, str]:
    """The latest event's seq and hash: the anchor to keep for the next verification."""
    found = db.session.get(AuditHead, 1)
    return (found.seq, found.hash) if found is not None else (0, GENESIS)
