"""The audit trail: record(actor, action, target, **details), the appender that chains events, and verification.

Each event's HMAC covers its fields and the previous event's hash, keyed from the keyring, so an edited,
inserted or deleted row breaks the chain at that point.

An event is written in the transaction of what it records, so it exists if and only if that transaction commits,
but it is written unchained: with no seq or prev_hash, and sealed by an HMAC over its own fields and its random
ref, so it cannot be altered unnoticed before it is chained. Appenders take turns (on PostgreSQL a transaction-level
advisory lock, then the single audit_head row; on SQLite the database's write lock) and chain every unchained event
they can see in the order they were written (their ids), in batches. Each transaction that writes events then tries
to be the appender, just before it commits:
  - if no one else is appending, it chains its own events and every other one waiting, and commits them together;
  - if someone is (PostgreSQL only), it commits at once, unchained: the appender at work, or the next one, takes
    its events, so concurrent requests never queue behind each other's commits for the chain.
The worker's audit-chain job, the audit trail, subject access exports and `audit verify` chain whatever is still
waiting (after the last burst of requests, say) before they read, waiting for their turn if need be.
The appender refuses an event whose seal does not match (it was altered after it was recorded): it stays
unchained, the log says so, and `audit verify` reports it.

Chain format (v1): hash = HMAC-SHA256, under the key HKDF derives from the KEK named by key_id for
"portal audit chain v1", of the compact JSON array
[seq, at (UTC ISO 8601, microseconds), actor_id, action, target, details, ip, prev_hash], where details is the
plaintext JSON object (sorted keys, compact) and the first event's prev_hash is 64 zeros. Seal format (v1):
HMAC-SHA256 under the key for "portal audit seal v1" of [ref, at, actor_id, action, target, details, ip], held in
the hash column until the event is chained. The details column stores that JSON field-encrypted
(audit_events.details, bound to the event's ref); the HMACs cover the plaintext, not the ciphertext, so
`keys rotate` can re-encrypt the details without breaking the chain, while an altered ciphertext, or one copied
from another event, fails to decrypt and is reported as an edit.
"""

import json
import logging
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from flask import has_request_context, request
from sqlalchemy import Connection, Engine, Row, bindparam, exists, func, insert, select, update
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
_SEAL_PURPOSE = "portal audit seal v1"
GENESIS = "0" * 64
BATCH = 1000  # events chained per statement batch
# Security events also go to the log for monitoring; details stay out of it (they may name people).
_log = logging.getLogger("portal.audit")


def _fields_getter(event: AuditEvent | Row | dict[str, Any]) -> Callable[[str], Any]:
    return event.get if isinstance(event, dict) else lambda name: getattr(event, name)


def _digest(key: bytes, event: AuditEvent | Row | dict[str, Any]) -> str:
    """The event's chain HMAC over its fields in the chain format above (details as plaintext JSON)."""
    get = _fields_getter(event)
    fields = [get("seq"), clock.as_utc(get("at")).isoformat(timespec="microseconds"), get("actor_id"),
              get("action"), get("target"), get("details"), get("ip"), get("prev_hash")]
    return tokens.keyed_hash(key, json.dumps(fields, separators=(",", ":")))


def _seal(key: bytes, event: AuditEvent | Row | dict[str, Any]) -> str:
    """The unchained event's seal: an HMAC over its own fields and its ref (the seal format above)."""
    get = _fields_getter(event)
    fields = [get("ref"), clock.as_utc(get("at")).isoformat(timespec="microseconds"), get("actor_id"),
              get("action"), get("target"), get("details"), get("ip")]
    return tokens.keyed_hash(key, json.dumps(fields, separators=(",", ":")))


def client_ip() -> str:
    """Return the address of the current request, or '' outside a request."""
    return (request.remote_addr or "") if has_request_context() else ""


def _create_head(connection: Connection) -> None:
    """Create the head row for the very first event; a concurrent first writer may win the race (then its row
    is used)."""
    insert_head = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(AuditHead)
    connection.execute(insert_head.values(id=1, seq=0, hash=GENESIS).on_conflict_do_nothing())


# Built once: every audited transaction runs some of them.
_LOCK_HEAD = update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq)
_LOCK_AND_READ_HEAD = _LOCK_HEAD.returning(AuditHead.seq, AuditHead.hash)
_READ_HEAD = select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
_SET_HEAD = update(AuditHead).where(AuditHead.id == 1).values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
_APPEND = insert(AuditEvent)
_APPEND_AND_SET_HEAD = insert(AuditEvent).add_cte(_SET_HEAD.cte("head_end"))
_UNCHAINED = (select(AuditEvent.id, AuditEvent.ref, AuditEvent.at, AuditEvent.actor_id, AuditEvent.action,
                     AuditEvent.target, AuditEvent.details, AuditEvent.ip, AuditEvent.key_id, AuditEvent.hash)
              .where(AuditEvent.seq.is_(None)).order_by(AuditEvent.id))
_ANY_UNCHAINED = select(exists().where(AuditEvent.seq.is_(None)))
_CHAIN_ONE = (update(AuditEvent).where(AuditEvent.id == bindparam("event_id"), AuditEvent.seq.is_(None))
              .values(seq=bindparam("seq"), prev_hash=bindparam("prev_hash"), hash=bindparam("hash"),
                      key_id=bindparam("key_id")))
_PENDING = "audit_pending"


# PostgreSQL: the appenders' turn is this transaction-level advisory lock (a constant of the portal's own), so one that
# finds it taken learns so in one round trip and goes on without waiting.
APPENDER_LOCK = 0x61756469745F6170  # "audit_ap"
_TRY_TURN = select(func.pg_try_advisory_xact_lock(APPENDER_LOCK))
_WAIT_TURN = select(func.pg_advisory_xact_lock(APPENDER_LOCK))


def _take_head(connection: Connection, wait: bool) -> tuple[int, str] | None:
    """Take the appenders' turn and the head row, and return the head's (seq, hash); or None, at once, if `wait`
    is False and another appender has the turn (PostgreSQL; SQLite's writers are serialised by the database)."""
    if connection.dialect.name == "postgresql":
        if not wait and not connection.execute(_TRY_TURN).scalar():
            return None  # another appender is at work: it, or the next one, takes these events
        if wait:
            connection.execute(_WAIT_TURN)
    for _ in range(2):
        if connection.dialect.update_returning:
            head = connection.execute(_LOCK_AND_READ_HEAD).first()
        else:
            locked = connection.execute(_LOCK_HEAD).rowcount
            head = connection.execute(_READ_HEAD).one() if locked else None
        if head is not None:
            return head.seq, head.hash
        _create_head(connection)
    raise RuntimeError("the audit head row could not be created")


class _Chain:
    """The chain's end while an appender has the turn: each event given to it gets the next seq and hash."""

    def __init__(self, head: tuple[int, str]) -> None:
        self.last, self.hash = head
        self.kid, self.key = crypto.installed().derive(_PURPOSE)
        self.moved = False

    def add(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The event's chain columns (seq, prev_hash, hash, key_id), now that it is the chain's last."""
        row = {**fields, "seq": self.last + 1, "prev_hash": self.hash}
        self.last, self.hash, self.moved = self.last + 1, _digest(self.key, row), True
        _log.info("audit event %s: %s %s by user %s from %s", self.last, fields["action"], fields["target"],
                  fields["actor_id"], fields["ip"])
        return {"seq": self.last, "prev_hash": row["prev_hash"], "hash": self.hash, "key_id": self.kid}


def _seal_problem(keyring: crypto.Keyring, event: Row) -> str | None:
    """What is wrong with an unchained event's seal, or None when the event is as it was recorded."""
    if event.details == UNREADABLE_DETAILS:
        return "its details do not decrypt"
    _, key = keyring.derive(_SEAL_PURPOSE, event.key_id)
    return None if tokens.equal(_seal(key, event), event.hash) else "its contents do not match its seal"


def _chain_waiting(connection: Connection, chain: _Chain) -> None:
    """Chain the events waiting unchained, oldest first, in batches. One whose seal does not match is left
    unchained and logged (`audit verify` reports it); the others are chained."""
    keyring = crypto.installed()
    seen = 0
    while True:
        batch = connection.execute(_UNCHAINED.where(AuditEvent.id > seen).limit(BATCH)).all()
        updates = []
        for event in batch:
            seen = event.id
            if (problem := _seal_problem(keyring, event)) is not None:
                _log.error("audit event id %s is left unchained: it was altered after it was recorded (%s); "
                           "`audit verify` reports it", event.id, problem)
                continue
            updates.append({"event_id": event.id, **chain.add(event._asdict())})
        if updates:
            connection.execute(_CHAIN_ONE, updates)
        if len(batch) < BATCH:
            return


def _stored(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events as the INSERT takes them: the details encrypted bound to each event's ref."""
    return [{**row, "details": RowValue(row["details"], row["ref"])} for row in rows]


def append(connection: Connection, wait: bool = True, own: list[dict[str, Any]] | None = None) -> int | None:
    """Chain every unchained event on this connection's transaction, oldest first, then insert `own` (events of
    this transaction not written yet) chained after them; return how many were chained, or None if `wait` is
    False and another appender has the turn (it, or the next one, chains them; `own` is then not written)."""
    head = _take_head(connection, wait)
    if head is None:
        return None
    chain = _Chain(head)
    _chain_waiting(connection, chain)
    rows = _stored([{**fields, **chain.add(fields)} for fields in own or []])
    end = {"new_seq": chain.last, "new_hash": chain.hash}
    if rows and connection.dialect.name == "postgresql":  # the events and the head's new end in one statement
        connection.execute(_APPEND_AND_SET_HEAD.values(rows), end)
    else:
        if rows:
            connection.execute(_APPEND, rows)
        if chain.moved:
            connection.execute(_SET_HEAD, end)
    return chain.last - head[0]


def chain_pending(engine: Engine | None = None) -> int:
    """Chain whatever is still unchained, on a transaction of its own, waiting for the head if need be (the
    worker's job, and what the audit trail, exports and verification run before they read the chain)."""
    engine = engine or db.engine
    with engine.connect() as connection:
        if not connection.execute(_ANY_UNCHAINED).scalar():
            return 0
    with engine.begin() as connection:
        return append(connection) or 0


def record(actor: User | None, action: str, target: str = "", **details: Any) -> None:
    """Add one event to the current transaction; it is written when the transaction commits (see the module's
    notes: chained then, or sealed to wait for the appender at work).

    The event waits in the session until then: _write_pending (run by every commit, after the session's own
    changes are flushed) writes the transaction's events in the order they were recorded. An event is therefore
    written if and only if its transaction commits.
    """
    session = db.session()
    session.connection()  # the transaction the event belongs to (its end forgets events it did not commit)
    session.info.setdefault(_PENDING, []).append({
        "ref": secrets.token_hex(16),
        "at": clock.now(),
        "actor_id": actor.id if actor is not None else None,
        "action": action,
        "target": target,
        "details": json.dumps(details, sort_keys=True, default=str, separators=(",", ":")),
        "ip": client_ip(),
    })


@listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    """Write the transaction's recorded events just before it commits: chained, with any others waiting before
    them, if this transaction can have the appenders' turn without waiting for it; else sealed and unchained."""
    pending = session.info.get(_PENDING)
    if not pending or session.in_nested_transaction():
        return
    session.flush()  # the session's own rows first (their order in the transaction is the order of what happened)
    connection = session.connection()
    if append(connection, wait=False, own=pending) is None:
        # Another appender is at work: it, or the next one, chains these.
        kid, key = crypto.installed().derive(_SEAL_PURPOSE)
        connection.execute(_APPEND, _stored([{**fields, "key_id": kid, "hash": _seal(key, fields)}
                                             for fields in pending]))
    pending.clear()


@listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction: SessionTransaction) -> None:
    """A transaction that ends without committing takes its events with it, as it does its other changes."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


@dataclass
class ChainProblem:
    """Where the chain first fails to verify (seq None: an event not chained yet)."""

    seq: int | None
    event_id: int | None
    reason: str

    @property
    def where(self) -> str:
        """The place for people to read: "event 12 (row id 40)", or "an unchained event (row id 41)"."""
        place = f"event {self.seq}" if self.seq is not None else "an unchained event"
        return place + (f" (row id {self.event_id})" if self.event_id else "")


def _events() -> Iterator[Row]:
    """Every chained event in chain order, as plain rows (no ORM objects: a walk of the whole trail is linear and
    lean)."""
    columns = (AuditEvent.id, AuditEvent.seq, AuditEvent.at, AuditEvent.actor_id, AuditEvent.action,
               AuditEvent.target, AuditEvent.details, AuditEvent.ip, AuditEvent.key_id, AuditEvent.prev_hash,
               AuditEvent.hash)
    statement = select(*columns).where(AuditEvent.seq.is_not(None)).order_by(AuditEvent.seq)
    yield from db.session.execute(statement.execution_options(yield_per=2000))


def _unchained_problem() -> ChainProblem | None:
    """The first event still unchained whose seal does not match (after chain_pending only the appender's refusals
    and events written since are unchained)."""
    keyring = crypto.installed()
    for event in db.session.execute(_UNCHAINED.execution_options(yield_per=2000)):
        if (problem := _seal_problem(keyring, event)) is not None:
            return ChainProblem(None, event.id, f"edited before it was chained: {problem}")
    return None


def verify(anchor: tuple[int, str] | None = None) -> tuple[int, ChainProblem | None]:
    """Walk the chain; return (events checked, the first problem or None).

    The chain alone cannot show that its latest events were deleted and the head row wound back to match:
    someone with write access to the database can do both. An anchor (an event's seq and hash, as printed by
    an earlier verification and kept where the database's administrators cannot change it) closes that gap:
    that event must still be there, with that hash, and the chain must reach it.

    Events not chained yet are chained first; any that the appender refuses (their seal does not match) are
    reported after the chain itself verifies.
    """
    chain_pending()
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
    return checked, _unchained_problem()


def head() -> tuple[int, str]:
    """The latest event's seq and hash: the anchor to keep for the next verification."""
    found = db.session.get(AuditHead, 1)
    return (found.seq, found.hash) if found is not None else (0, GENESIS)
