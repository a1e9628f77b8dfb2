"""Key rotation, key status and retirement, and blob verification (DESIGN section 5).

Rotation re-wraps every document data key and re-encrypts every EncryptedText value (found from the models'
metadata, so the audit trail's details, meeting titles and redraw reasons among them) under the active KEK in
batches, each committed on its own, so a rotation killed halfway resumes where it stopped: rows already under
the active KEK are skipped. Blobs are never touched. Recovery codes (keyed hashes of codes only their owners
know) and the audit chain's HMACs cannot be re-keyed, so the KEKs they name stay in the keyring until
`retire` finds nothing that uses them; the HMACs cover the audit details' plaintext, so re-encrypting the
details leaves the chain intact.
"""

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from sqlalchemy import Column, ColumnElement, Table, Text, func, select, tuple_, type_coerce, update

from portal import audit
from portal.extensions import db
from portal.models import AuditEvent, Base, Document, DocumentVersion, PanelCopy, RecoveryCode, User
from portal.models.base import EncryptedText
from portal.security import crypto, streams
from portal.security.crypto import Keyring, KeyringError
from portal.storage import BlobStore, current_store

BATCH_SIZE = 200
# Rows holding a wrapped data key: each document version's blob and its panel copy's.
DATA_KEY_MODELS: tuple[type[DocumentVersion] | type[PanelCopy], ...] = (DocumentVersion, PanelCopy)

# Called after each committed batch with the running count of rows changed; tests use it to simulate a kill.
after_batch: Callable[[int], None] | None = None


class RotationBlocked(Exception):
    """A stored value does not decrypt, so it cannot be moved to the new key; the batches before it are kept."""


class KeyringNotWritable(Exception):
    """The keyring comes from the environment (or the app's configuration), so the portal cannot save it."""

    def __init__(self, keyring: Keyring) -> None:
        super().__init__("the keyring is not kept in a file the portal can write")
        self.keyring = keyring


# The keyring itself ----------------------------------------------------------------------------------------


def current_keyring() -> Keyring:
    """Return the keyring the application is using."""
    return current_app.extensions["keyring"]


def _keyring_file() -> Path | None:
    """The keyring file when the keyring was loaded from it; None when it came from elsewhere."""
    if current_app.config.get("KEYRING") is not None or current_app.config.get("KEYRING_JSON"):
        return None
    return Path(current_app.config["KEYRING_FILE"])


def _use(keyring: Keyring) -> None:
    current_app.extensions["keyring"] = keyring
    crypto.install(keyring)


def save_keyring(keyring: Keyring) -> None:
    """Write the keyring file (0600, atomically) and start using it; refuse when it is not file-backed."""
    path = _keyring_file()
    if path is None:
        raise KeyringNotWritable(keyring)
    keyring.save(path)
    _use(keyring)


# What is encrypted, and under which key --------------------------------------------------------------------


@dataclass(frozen=True)
class EncryptedTable:
    """A table with EncryptedText columns, and its primary key columns for keyset paging."""

    table: Table
    key: tuple[Column, ...]
    columns: tuple[Column, ...]

    def after(self, last: tuple) -> ColumnElement[bool]:
        """Rows whose key sorts after `last`."""
        return self.key[0] > last[0] if len(self.key) == 1 else tuple_(*self.key) > tuple_(*last)

    def at(self, key: tuple) -> list[ColumnElement[bool]]:
        """The conditions selecting the row with this key."""
        return [column == value for column, value in zip(self.key, key, strict=True)]


def encrypted_tables() -> list[EncryptedTable]:
    """Every table holding EncryptedText columns, found by walking the models' metadata."""
    found = []
    for table in Base.metadata.sorted_tables:
        columns = tuple(c for c in table.columns if isinstance(c.type, EncryptedText))
        if columns:
            found.append(EncryptedTable(table, tuple(table.primary_key.columns), columns))
    return found


def _raw(column: Column) -> object:
    """The column as stored (ciphertext), without EncryptedText's decryption."""
    return type_coerce(column, Text).label(column.name)


def _raw_rows(item: EncryptedTable, batch_size: int) -> Iterator[list[tuple[tuple, tuple]]]:
    """Yield the table's rows as (key, stored ciphertexts) in key order, one batch at a time."""
    width, last = len(item.key), None
    while True:
        query = select(*item.key, *(_raw(c) for c in item.columns)).order_by(*item.key).limit(batch_size)
        if last is not None:
            query = query.where(item.after(last))
        rows = [(tuple(r[:width]), tuple(r[width:])) for r in db.session.execute(query).all()]
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


def usage() -> KeyUsage:
    """Count data keys, field values, unused recovery codes and audit events under each KEK."""
    result = KeyUsage()
    for model in DATA_KEY_MODELS:
        rows = db.session.execute(select(model.kek_id, func.count()).where(
            model.wrapped_key.is_not(None)).group_by(model.kek_id))
        result.data_keys.update(dict(rows.all()))
    for item in encrypted_tables():
        for batch in _raw_rows(item, 1000):
            result.fields.update(Keyring.field_key_id(v) for _, values in batch for v in values if v is not None)
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
        while not budget.spent:
            rows = db.session.execute(
                select(model.id, model.kek_id, model.wrapped_key)
                .where(model.wrapped_key.is_not(None), model.kek_id != keyring.active_id)
                .order_by(model.id).limit(batch_size)).all()
            if not rows:
                break
            for row_id, kid, wrapped in rows:
                try:
                    data_key = keyring.unwrap(kid, wrapped)
                except crypto.DecryptionError:
                    what = "document version" if model is DocumentVersion else "panel copy"
                    raise RotationBlocked(f"the data key of {what} {row_id} does not unwrap under {kid}: it was "
                                          "altered; run `keys verify` to see which blobs it affects") from None
                new_kid, new_wrapped = keyring.wrap(data_key)
                # Matching the old wrapped key means a row shredded meanwhile is never given its key back.
                db.session.execute(
                    update(model).where(model.id == row_id, model.wrapped_key == wrapped)
                    .values(kek_id=new_kid, wrapped_key=new_wrapped))
            db.session.commit()
            done += len(rows)
            budget.committed(len(rows))
    return done


def _readable(keyring: Keyring, item: EncryptedTable, key: tuple, column: Column, stored: str) -> str:
    """The plaintext of a stored value, or RotationBlocked naming the row when it does not decrypt."""
    try:
        return keyring.decrypt_field(column.type.column, stored)
    except crypto.DecryptionError:
        row = ", ".join(f"{k.name} {v}" for k, v in zip(item.key, key, strict=True))
        hint = " (run `audit verify`: the trail was tampered with)" if item.table.name == "audit_events" else ""
        raise RotationBlocked(f"{item.table.name}.{column.name} of the row with {row} does not decrypt: it was "
                              f"altered or copied from elsewhere{hint}") from None


def _reencrypt_fields(keyring: Keyring, batch_size: int, budget: _Budget) -> int:
    done = 0
    for item in encrypted_tables():
        for rows in _raw_rows(item, batch_size):
            if budget.spent:
                return done
            changed = 0
            for key, values in rows:
                stale = {c: v for c, v in zip(item.columns, values, strict=True)
                         if v is not None and Keyring.field_key_id(v) != keyring.active_id}
                if not stale:
                    continue
                fresh = {c.name: type_coerce(keyring.encrypt_field(c.type.column, _readable(keyring, item, key, c, v)),
                                             Text) for c, v in stale.items()}
                # Only if unchanged since read: a value a worker rewrote meanwhile is left for the next run.
                db.session.execute(update(item.table).where(
                    *item.at(key), *(type_coerce(c, Text) == v for c, v in stale.items())).values(fresh))
                changed += 1
            if changed:
                db.session.commit()
                done += changed
                budget.committed(changed)
    return done


def rotate(actor: User | None, batch_size: int = BATCH_SIZE, limit: int | None = None) -> RotationResult:
    """Add a KEK (unless a rotation is unfinished) and move every data key and field value under it.

    Commits once per batch by design, so that a killed run keeps its progress. `limit` stops after that many
    batches. Raises KeyringNotWritable, carrying the new keyring, when the keyring is not file-backed.
    """
    keyring = current_keyring()
    result = RotationResult(active=keyring.active_id)
    if usage().pending(keyring.active_id) == 0:
        keyring = keyring.with_new_key()
        save_keyring(keyring)
        result.active, result.added = keyring.active_id, True
        audit.record(actor, "keys.added", f"kek:{keyring.active_id}")
        db.session.commit()
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
    remaining = Keyring(keys={k: v for k, v in keyring.keys.items() if k != kid}, active_id=keyring.active_id)
    save_keyring(remaining)
    audit.record(actor, "keys.retired", f"kek:{kid}")
    db.session.commit()


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
        data_key = keyring.unwrap(row.kek_id, row.wrapped_key)
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
