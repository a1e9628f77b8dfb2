"""Keys: adding, activating and retiring them, re-wrapping under the active key, and blob verification (DESIGN 5).

A new key reaches every host before anything is encrypted under it (portal/ops/deployment.py keeps the deployment's
records): `add_key` adds it, not active, and records its check value; `activate` makes it the deployment's active
key, which every host follows within DEPLOYMENT_CHECK_SECONDS; `rewrap` then re-wraps every document data key and
re-encrypts every EncryptedText value (found from the models' metadata, so the audit trail's details, meeting
titles and redraw reasons among them) under it in batches, each committed on its own, so a run killed halfway
resumes where it stopped: rows already under the active key are skipped. `rotate` does all three on one host.
Blobs are never touched. Recovery codes (keyed hashes of codes only their owners know) and the audit chain's
HMACs cannot be re-keyed, so the KEKs they name stay in the keyring until `retire` finds nothing that uses them;
the HMACs cover the audit details' plaintext, so re-encrypting the details leaves the chain intact.

Encrypted values are bound to their rows (format f2, portal/models/base.py); `bind_fields_to_rows` is how
migration 0006 moved the values of earlier versions (format f1, bound to their column only) to it.
"""

import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import (
    ARRAY,
    Column,
    ColumnElement,
    Engine,
    Integer,
    Label,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy.types import TypeDecorator, TypeEngine

from portal import audit, clock
from portal.documents.storage import BlobStore, current_store
from portal.extensions import current_flask_app, db
from portal.models import AuditEvent, Base, Document, DocumentVersion, KeyCheck, PanelCopy, RecoveryCode, User
from portal.models.base import EncryptedText
from portal.ops import deployment
from portal.security import crypto, streams
from portal.security.crypto import Keyring, KeyringError

log = logging.getLogger("portal.ops.keys")

BATCH_SIZE = 1000
# Rows holding a wrapped data key: each document version's blob and its panel copy's.
DATA_KEY_MODELS: tuple[type[DocumentVersion] | type[PanelCopy], ...] = (DocumentVersion, PanelCopy)

# Called after each committed batch with the running count of rows changed; tests use it to simulate a kill.
after_batch: Callable[[int], None] | None = None


class RotationBlocked(Exception):
    """A stored value does not decrypt, so it cannot be moved to the new key; the batches before it are kept."""


class KeyringNotWritable(Exception):
    """The keyring comes from the environment (or the app's configuration, or a read-only file), so the portal
    cannot save it."""

    def __init__(self, keyring: Keyring, reason: str = "the keyring is not kept in a file the portal can write"
                 ) -> None:
        super().__init__(reason)
        self.keyring = keyring


# The keyring itself ----------------------------------------------------------------------------------------


def current_keyring() -> Keyring:
    """Return the keyring the application is using."""
    keyring: Keyring = current_app.extensions["keyring"]
    return keyring


def save_keyring(keyring: Keyring) -> None:
    """Write the keyring file (0600, atomically) and start using it; refuse when it is not file-backed."""
    app = current_flask_app()
    path = deployment.keyring_file(app)
    if path is None:
        raise KeyringNotWritable(keyring)
    try:
        keyring.save(path)
    except OSError as exc:  # a mounted secret is usually read-only
        raise KeyringNotWritable(keyring, f"the keyring file cannot be written: {exc.strerror or exc}") from exc
    deployment.use_keyring(app, keyring)
    state = app.extensions.get("deployment")
    if state is not None:
        state.keyring_mtime = path.stat().st_mtime_ns  # this process already holds what it wrote


# What is encrypted, and under which key --------------------------------------------------------------------


@dataclass(frozen=True)
class EncryptedTable:
    """A table with EncryptedText columns, its primary key columns for keyset paging and its rows' identity."""

    table: Table
    key: tuple[Column, ...]
    columns: tuple[Column, ...]
    identity: Column  # what the values are bound to (EncryptedText.row): the id, or the audit trail's seq

    def after(self, last: tuple) -> ColumnElement[bool]:
        """Rows whose key sorts after `last`."""
        return self.key[0] > last[0] if len(self.key) == 1 else tuple_(*self.key) > tuple_(*last)

    def at(self, key: tuple) -> list[ColumnElement[bool]]:
        """The conditions selecting the row with this key."""
        return [column == value for column, value in zip(self.key, key, strict=True)]


def encryption_of(column: Column) -> EncryptedText:
    """The EncryptedText type of one of an EncryptedTable's columns."""
    kind = column.type
    assert isinstance(kind, EncryptedText)  # EncryptedTable.columns holds only these
    return kind


def encrypted_tables() -> list[EncryptedTable]:
    """Every table holding EncryptedText columns, found by walking the models' metadata."""
    found = []
    for table in Base.metadata.sorted_tables:
        columns = tuple(c for c in table.columns if isinstance(c.type, EncryptedText))
        if columns:
            (identity,) = {table.c[encryption_of(c).row] for c in columns}
            found.append(EncryptedTable(table, tuple(table.primary_key.columns), columns, identity))
    return found


def _raw(column: Column) -> Label[str]:
    """The column as stored (ciphertext), without EncryptedText's decryption."""
    return type_coerce(column, Text).label(column.name)


def _raw_rows(item: EncryptedTable, batch_size: int, where: ColumnElement[bool] | None = None
              ) -> Iterator[list[tuple[tuple, object, tuple]]]:
    """Yield the table's rows (those matching `where`) as (key, identity, stored ciphertexts) in key order, one
    batch at a time."""
    width, last = len(item.key), None
    while True:
        query = (select(*item.key, item.identity.label("_identity"), *(_raw(c) for c in item.columns))
                 .order_by(*item.key).limit(batch_size))
        if where is not None:
            query = query.where(where)
        if last is not None:
            query = query.where(item.after(last))
        rows = [(tuple(r[:width]), r[width], tuple(r[width + 1:])) for r in db.session.execute(query).all()]
        if not rows:
            return
        yield rows
        last = rows[-1][0]


@dataclass
class KeyUsage:
    """How many rows depend on each KEK, by kind."""

    data_keys: Counter = field(default_factory=Counter)
    fields: Counter = field(default_factory=Counter)
    recovery_codes: Counter = field(default_factory=Counter)
    audit_events: Counter = field(default_factory=Counter)

    def kids(self) -> list[str]:
        """Every KEK id that something uses, sorted."""
        return sorted(set(self.data_keys) | set(self.fields) | set(self.recovery_codes) | set(self.audit_events))

    def uses(self, kid: str) -> int:
        """How many rows of any kind depend on this KEK."""
        return self.data_keys[kid] + self.fields[kid] + self.recovery_codes[kid] + self.audit_events[kid]

    def pending(self, active: str) -> int:
        """Data keys and field values not yet under the active KEK (what a rotation still has to do)."""
        return sum(n for k, n in self.data_keys.items() if k != active) + sum(
            n for k, n in self.fields.items() if k != active)


def _field_key_id(column: ColumnElement) -> ColumnElement[str]:
    """The KEK id of a stored field value ("f2.KID.body"), computed by the database: the text between its first
    two dots (SQLite has no split_part)."""
    if db.engine.dialect.name == "postgresql":
        return func.split_part(column, ".", 2)
    rest = func.substr(column, func.instr(column, ".") + 1)
    return func.substr(rest, 1, func.instr(rest, ".") - 1)


def usage() -> KeyUsage:
    """Count data keys, field values, unused recovery codes and audit events under each KEK (in the database)."""
    result = KeyUsage()
    for model in DATA_KEY_MODELS:
        rows = db.session.execute(select(model.kek_id, func.count()).where(
            model.wrapped_key.is_not(None)).group_by(model.kek_id))
        result.data_keys.update(dict(rows.all()))
    for item in encrypted_tables():
        for column in item.columns:
            kid = _field_key_id(type_coerce(column, Text)).label("kid")
            rows = db.session.execute(select(kid, func.count()).where(column.is_not(None)).group_by(kid))
            result.fields.update(dict(rows.all()))
    rows = db.session.execute(select(RecoveryCode.key_id, func.count()).where(
        RecoveryCode.used_at.is_(None)).group_by(RecoveryCode.key_id))
    result.recovery_codes.update(dict(rows.all()))
    rows = db.session.execute(select(AuditEvent.key_id, func.count()).group_by(AuditEvent.key_id))
    result.audit_events.update(dict(rows.all()))
    return result


# Rotation -------------------------------------------------------------------------------------------------


@dataclass
class RotationResult:
    """What one run of a rotation did."""

    active: str
    added: bool = False
    data_keys: int = 0
    fields: int = 0
    batches: int = 0
    complete: bool = False


class _Budget:
    """Counts committed batches and stops the run after `limit` of them (None: no limit)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.batches = 0
        self.changed = 0

    def committed(self, changed: int) -> None:
        self.batches += 1
        self.changed += changed
        if after_batch is not None:
            after_batch(self.changed)

    @property
    def spent(self) -> bool:
        return self.limit is not None and self.batches >= self.limit


def _rewrap_data_keys(keyring: Keyring, batch_size: int, budget: _Budget) -> int:
    done = 0
    for model in DATA_KEY_MODELS:
        table = model.__table__
        while not budget.spent:
            rows = db.session.execute(
                select(model.id, model.kek_id, model.wrapped_key)
                .where(model.wrapped_key.is_not(None), model.kek_id != keyring.active_id)
                .order_by(model.id).limit(batch_size)).all()
            if not rows:
                break
            fresh = []
            for row_id, kid, wrapped in rows:
                try:
                    data_key = keyring.unwrap(kid or "", wrapped or b"")  # the query left out shredded rows
                except crypto.DecryptionError:
                    what = "document version" if model is DocumentVersion else "panel copy"
                    raise RotationBlocked(f"the data key of {what} {row_id} does not unwrap under {kid}: it was "
                                          "altered; run `keys verify` to see which blobs it affects") from None
                new_kid, new_wrapped = keyring.wrap(data_key)
                fresh.append({"key": row_id, "old_wrapped_key": wrapped, "new_wrapped_key": new_wrapped,
                              "new_kek_id": new_kid})
            # Matching the old wrapped key means a row shredded meanwhile is never given its key back.
            _write_batch(table, table.c.id, [table.c.wrapped_key], [table.c.kek_id], fresh)
            db.session.commit()
            done += len(rows)
            budget.committed(len(rows))
    return done


def _readable(keyring: Keyring, item: EncryptedTable, key: tuple, identity: object, column: Column,
              stored: str) -> str:
    """The plaintext of a stored value, or RotationBlocked naming the row when it does not decrypt."""
    try:
        return keyring.decrypt_row_field(encryption_of(column).column, identity, stored)
    except crypto.DecryptionError:
        row = ", ".join(f"{k.name} {v}" for k, v in zip(item.key, key, strict=True))
        hint = " (run `audit verify`: the trail was tampered with)" if item.table.name == "audit_events" else ""
        raise RotationBlocked(f"{item.table.name}.{column.name} of the row with {row} does not decrypt: it was "
                              f"altered or copied from elsewhere{hint}") from None


def _stored_type(column: Column) -> TypeEngine:
    """The column's type as stored (an EncryptedText column holds its ciphertext as text)."""
    return column.type.impl_instance if isinstance(column.type, TypeDecorator) else column.type


def _write_batch(table: Table, key: Column, compared: list[Column], assigned: list[Column], rows: list[dict]) -> None:
    """Set each row's new values where the row still holds every compared column's old value.

    `rows` hold "key", "old_<column>" for each compared column and "new_<column>" for each compared or assigned
    one. On PostgreSQL one statement writes the batch (UPDATE ... FROM unnest of one array per column, compiled
    once); elsewhere (SQLite, in process) one executemany of a statement compiled once.
    """
    targets = [*compared, *assigned]
    if db.engine.dialect.name == "postgresql":
        arrays = [("key", key.type), *((f"old_{c.name}", _stored_type(c)) for c in compared),
                  *((f"new_{c.name}", _stored_type(c)) for c in targets)]
        fresh = func.unnest(*(bindparam(name, type_=ARRAY(kind)) for name, kind in arrays)).table_valued(
            *(name for name, _ in arrays)).render_derived(name="fresh")
        db.session.execute(update(table).where(key == fresh.c.key, *(
            type_coerce(c, _stored_type(c)).is_not_distinct_from(fresh.c[f"old_{c.name}"]) for c in compared))
            .values({c.name: fresh.c[f"new_{c.name}"] for c in targets}),
            {name: [row[name] for row in rows] for name, _ in arrays})
        return
    db.session.execute(update(table).where(key == bindparam("key"), *(
        type_coerce(c, _stored_type(c)).is_not_distinct_from(bindparam(f"old_{c.name}", type_=_stored_type(c)))
        for c in compared)).values({c.name: bindparam(f"new_{c.name}", type_=_stored_type(c)) for c in targets}),
        rows)


def _stale(item: EncryptedTable, active: str) -> ColumnElement[bool]:
    """Rows with a value not under the active key: the only ones a rotation reads."""
    prefix = f"{crypto.ROW_FIELD_PREFIX}.{active}."
    return or_(*(and_(c.is_not(None), ~type_coerce(c, Text).startswith(prefix, autoescape=True))
                 for c in item.columns))


def _reencrypt_fields(keyring: Keyring, batch_size: int, budget: _Budget) -> int:
    """Re-encrypt each batch of stale rows in one statement (_write_batch), committed on its own.

    Every encrypted column of a row is written back (unchanged where it is already under the active key), and
    only where the row still holds every value that was read: a value a worker rewrote meanwhile is left for
    the next run.
    """
    done = 0
    for item in encrypted_tables():
        for rows in _raw_rows(item, batch_size, _stale(item, keyring.active_id)):
            if budget.spent:
                return done
            fresh = []
            for key, identity, values in rows:
                row = {"key": key[0]}
                for column, old in zip(item.columns, values, strict=True):
                    new = old
                    if old is not None and Keyring.field_key_id(old) != keyring.active_id:
                        plaintext = _readable(keyring, item, key, identity, column, old)
                        new = keyring.encrypt_row_field(encryption_of(column).column, identity, plaintext)
                    row[f"old_{column.name}"], row[f"new_{column.name}"] = old, new
                fresh.append(row)
            _write_batch(item.table, item.key[0], list(item.columns), [], fresh)
            db.session.commit()
            done += len(rows)
            budget.committed(len(rows))
    return done


def recorded_keys() -> dict[str, KeyCheck]:
    """The keys the deployment's database knows, by id."""
    return {k.key_id: k for k in db.session.scalars(select(KeyCheck))}


def add_key(actor: User | None, record: bool = True) -> str:
    """Add a new key, not active, to this host's keyring file and record its check value; return its id.

    Nothing is encrypted under it until `activate`, so hosts that do not have it yet keep serving. Raises
    KeyringNotWritable, carrying the keyring with the new key, when the keyring is not kept in a writable file:
    the key is then recorded by the first host that starts with it.
    """
    keyring = current_keyring()
    taken = set(recorded_keys())  # an id the deployment knows (another host may have added it) is never reused
    kid = keyring.next_key_id(taken)
    grown = keyring.with_new_key(activate=False, taken=taken)
    save_keyring(grown)
    deployment.register_keys(db.session.connection(), grown, [kid], activated=False)
    if record:
        audit.record(actor, "keys.added", f"kek:{kid}")
    db.session.commit()
    return kid


def activate(actor: User | None, kid: str, added: bool = False) -> datetime:
    """Make `kid` the deployment's active key: every host encrypts under it within DEPLOYMENT_CHECK_SECONDS.

    Refuses a key this host's keyring lacks. Returns when it was activated. `added`: the key was added by the
    same command (`rotate`), which is recorded now, under the new key, rather than under the old one.
    """
    app = current_flask_app()
    keyring = current_keyring()
    if kid not in keyring.keys:
        raise KeyringError(f"key {kid!r} is not in this host's keyring: give every host the keyring holding it first")
    connection = db.session.connection()
    recorded = recorded_keys()
    if kid not in recorded:
        deployment.register_keys(connection, keyring, [kid], activated=True)
    deployment.mark_active(connection, kid)
    activated = keyring.with_active(kid)
    deployment.use_keyring(app, activated)
    if added:
        audit.record(actor, "keys.added", f"kek:{kid}")
    audit.record(actor, "keys.activated", f"kek:{kid}")
    db.session.commit()
    if deployment.keyring_file(app) is not None:
        with contextlib.suppress(KeyringNotWritable):  # the deployment's record is what every host follows
            save_keyring(activated)  # so that the file says the same on a single host
    deployment.check(app)
    return clock.now()


def rewrap(actor: User | None, batch_size: int = BATCH_SIZE, limit: int | None = None, wait: bool = True,
           say: Callable[[str], None] | None = None) -> RotationResult:
    """Move every data key and field value under the deployment's active key, in batches (resumable).

    With `wait`, first lets every running host follow the latest activation, so none writes under the old key
    behind the re-wrap. Commits once per batch by design, so that a killed run keeps its progress. `limit` stops
    after that many batches.
    """
    findings = deployment.check(current_flask_app())
    if not findings.ready:
        raise KeyringError("this host cannot re-wrap: " + "; ".join(findings.reasons))
    if wait and findings.activated_at is not None:
        deployment.wait_for_hosts(findings.activated_at, say=say)
    keyring = current_keyring()
    result = RotationResult(active=keyring.active_id)
    budget = _Budget(limit)
    result.data_keys = _rewrap_data_keys(keyring, batch_size, budget)
    result.fields = _reencrypt_fields(keyring, batch_size, budget)
    result.batches = budget.batches
    result.complete = usage().pending(keyring.active_id) == 0
    if result.complete:
        audit.record(actor, "keys.rotated", f"kek:{keyring.active_id}", data_keys=result.data_keys,
                     fields=result.fields)
        db.session.commit()
    return result


def rotate(actor: User | None, batch_size: int = BATCH_SIZE, limit: int | None = None, wait: bool = True,
           say: Callable[[str], None] | None = None) -> RotationResult:
    """On one host: add a key, let the portal's workers load it, activate it, then re-wrap everything under it.

    When a rotation is unfinished (something is still under an older key) it is resumed instead. Raises
    KeyringNotWritable, carrying the keyring with the new key, when the keyring is not file-backed.
    """
    added = False
    if usage().pending(current_keyring().active_id) == 0:
        added_at = clock.now()
        kid = add_key(actor, record=False)
        if wait:
            deployment.wait_for_hosts(added_at, say=say)  # every worker reloads the keyring file
        activate(actor, kid, added=True)
        added = True
    result = rewrap(actor, batch_size, limit, wait=wait, say=say)
    result.added = added
    return result


def retire(actor: User | None, kid: str) -> None:
    """Remove a KEK from the keyring once nothing uses it; raise KeyringError saying why when something does."""
    keyring = current_keyring()
    if kid not in keyring.keys:
        raise KeyringError(f"key {kid!r} is not in the keyring")
    if kid == keyring.active_id:
        raise KeyringError(f"key {kid!r} is the active key")
    found = usage()
    if found.uses(kid):
        raise KeyringError(
            f"key {kid!r} is still used by {found.data_keys[kid]} data keys, {found.fields[kid]} field values, "
            f"{found.recovery_codes[kid]} unused recovery codes and {found.audit_events[kid]} audit events")
    db.session.execute(delete(KeyCheck).where(KeyCheck.key_id == kid))
    audit.record(actor, "keys.retired", f"kek:{kid}")
    db.session.commit()
    save_keyring(keyring.without(kid))


# Binding fields to their rows (migration 0006) -------------------------------------------------------------


@dataclass(frozen=True)
class FieldTable:
    """A table as a migration sees it: its name, the column its values are bound to, its encrypted columns."""

    name: str
    identity: str
    columns: tuple[str, ...]


def _moved(keyring: Keyring, label: str, identity: object, value: str | None, unbind: bool) -> str | None:
    """The value in the other format, or None when it needs no change (or cannot be read: then it is logged)."""
    if value is None:
        return None
    prefix = value.split(".", 1)[0]
    source, target = ("f2", "f1") if unbind else ("f1", "f2")
    if prefix == target:
        return None
    try:
        if prefix != source:
            raise crypto.DecryptionError("not a stored field value")
        if unbind:
            return keyring.encrypt_field(label, keyring.decrypt_row_field(label, identity, value))
        return keyring.encrypt_row_field(label, identity, keyring.decrypt_field(label, value))
    except crypto.DecryptionError as exc:
        # Already unreadable where it is: left as it is, so it is reported as an integrity failure when read.
        log.warning("%s of the row with identity %s does not decrypt and is left as it is: %s", label, identity, exc)
        return None


def bind_fields_to_rows(engine: Engine, keyring: Keyring, tables: list[FieldTable], batch_size: int = BATCH_SIZE,
                        unbind: bool = False) -> int:
    """Re-encrypt every field of these tables from format f1 to f2 (bound to its row), or back with `unbind`.

    Walks each table by id in batches, each read and written in a transaction of its own on a connection of its
    own, so a run that is killed keeps what it did and a re-run skips values already converted. A value is
    replaced only if it has not changed since it was read. Returns how many rows changed.
    """
    budget = _Budget(None)
    for item in tables:
        columns = [sql_column(name, Text) for name in item.columns]
        identity = sql_column(item.identity, Integer)
        table = sql_table(item.name, sql_column("id", Integer), *columns,
                          *([identity] if item.identity != "id" else []))
        key, identity = table.c.id, table.c[item.identity]
        last = None
        while True:
            with engine.begin() as connection:
                query = select(key, identity, *(table.c[n] for n in item.columns)).order_by(key).limit(batch_size)
                rows = connection.execute(query if last is None else query.where(key > last)).all()
                changed = 0
                for row in rows:
                    stored = dict(zip(item.columns, row[2:], strict=True))
                    fresh = {name: new for name, value in stored.items()
                             if (new := _moved(keyring, f"{item.name}.{name}", row[1], value, unbind)) is not None}
                    if fresh:
                        connection.execute(update(table).where(key == row[0], *(
                            table.c[name] == stored[name] for name in fresh)).values(fresh))
                        changed += 1
            if not rows:
                break
            last = rows[-1][0]
            if changed:
                budget.committed(changed)
    return budget.changed


# Verification ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlobFailure:
    """A document version whose blob did not decrypt or did not match its digest."""

    document_id: int
    version: int
    reason: str


def verify_blobs() -> tuple[int, list[BlobFailure]]:
    """Decrypt every blob that still has a key (each version's and each panel copy's), check it against its digest."""
    keyring, store = current_keyring(), current_store()
    checked, failures = 0, []
    query = (select(DocumentVersion).join(Document, DocumentVersion.document_id == Document.id)
             .where(DocumentVersion.wrapped_key.is_not(None)).order_by(DocumentVersion.id)
             .execution_options(yield_per=200))
    for version in db.session.scalars(query):
        checked += 1
        context = streams.blob_context(version.document_id, version.id, version.blob_id)
        reason = _check_blob(keyring, store, version, context)
        if reason:
            failures.append(BlobFailure(version.document_id, version.number, reason))
    copies = (select(PanelCopy, DocumentVersion).join(DocumentVersion, DocumentVersion.id == PanelCopy.version_id)
              .where(PanelCopy.wrapped_key.is_not(None)).order_by(PanelCopy.id).execution_options(yield_per=200))
    for copy, version in db.session.execute(copies):
        checked += 1
        context = streams.panel_copy_context(version.document_id, version.id, copy.blob_id)
        reason = _check_blob(keyring, store, copy, context)
        if reason:
            failures.append(BlobFailure(version.document_id, version.number, f"panel copy {reason}"))
    return checked, failures


def _check_blob(keyring: Keyring, store: BlobStore, row: DocumentVersion | PanelCopy, context: bytes) -> str | None:
    """Return why a row's blob fails, or None when it decrypts to its stored digest."""
    if not store.exists(row.blob_id):
        return "blob is missing"
    try:
        data_key = keyring.unwrap(row.kek_id or "", row.wrapped_key or b"")
        digest = streams.content_digest()
        with store.open(row.blob_id) as handle:
            for chunk in streams.decrypt_chunks(data_key, context, iter(lambda: handle.read(1 << 20), b"")):
                digest.update(chunk)
    except KeyringError as exc:
        return f"key missing: {exc}"
    except crypto.DecryptionError as exc:
        return f"does not decrypt: {exc}"
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if digest.hexdigest() != row.digest:
        return "decrypts but does not match its digest"
    return None
