"""Backups: a consistent database snapshot, the encrypted blobs and a manifest of SHA-256 digests.

SQLite is copied with the sqlite3 online backup API. PostgreSQL is dumped table by table, in dependency
order, inside one REPEATABLE READ transaction (one snapshot), with the database's own bulk path: COPY ... TO
STDOUT in its text format (UTC, ISO dates, hex bytea), so no pg_dump is needed and no row passes through
Python. Columns whose foreign keys are added after both tables (use_alter) are dumped as NULL, with their values
in a second file applied after every table is in. Restore reads them back with COPY FROM into PostgreSQL, or
parses them into any other database; backups of the earlier format (JSON lines, FORMAT 1) still restore.
Values are copied as stored: encrypted columns stay ciphertext. The keyring is never written: a backup is
useless without it, and it must be kept separately.
"""

import base64
import functools
import hashlib
import json
import os
import re
import shutil
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    Select,
    Table,
    bindparam,
    create_engine,
    func,
    inspect,
    null,
    or_,
    select,
    text,
)
from sqlalchemy.types import TypeDecorator

from portal import audit, clock
from portal.documents.storage import current_store
from portal.extensions import current_flask_app, db
from portal.models import Base
from portal.ops import deployment
from portal.ops.keys import current_keyring
from portal.security import tokens

MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
DUMP_DIR = "database"
BLOB_DIR = "blobs"
FORMAT = 2  # 1: PostgreSQL dumped as JSON lines (still restored); 2: with COPY
COPY_SUFFIX = ".copy"  # a table in PostgreSQL's COPY text format
LATER_SUFFIX = ".later.copy"  # its use_alter columns: the key, then their values
_SEAL_PURPOSE = "portal backup manifest v1"
_SKIPPED_ON_RESTORE = {"user_sessions"}  # nobody stays signed in across a restore
# Written by the restoring host when it starts (portal/ops/deployment.py); the backup's records replace them, so the
# restored portal keeps its deployment's SECRET_KEY and key checks.
_REPLACED_ON_RESTORE = {"deployment", "key_checks"}
_READ_BYTES = 1 << 20


class BackupError(Exception):
    """The backup cannot be written or restored; the message says why."""


@dataclass
class Summary:
    """What a backup or restore copied."""

    database: str = ""
    rows: int = 0
    blobs: int = 0
    files: int = 0
    warnings: list[str] = field(default_factory=list)


# Tables as stored --------------------------------------------------------------------------------------------


@functools.cache
def stored_tables() -> tuple[Table, ...]:
    """Every model table in dependency order, with column types that read and write values as stored."""
    plain = MetaData()
    tables = []
    for table in Base.metadata.sorted_tables:
        columns = [Column(c.name, c.type.impl_instance if isinstance(c.type, TypeDecorator) else c.type,
                          primary_key=c.primary_key) for c in table.columns]
        tables.append(Table(table.name, plain, *columns))
    return tuple(tables)


def _deferred_columns() -> dict[str, list[str]]:
    """Columns whose foreign keys are added after both tables (use_alter): restored by a later update."""
    deferred: dict[str, list[str]] = {}
    for table in Base.metadata.sorted_tables:
        for constraint in table.foreign_key_constraints:
            if constraint.use_alter:
                deferred.setdefault(table.name, []).extend(c.name for c in constraint.columns)
    return deferred


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$n": str(value)}
    if isinstance(value, dict | list):  # a JSON column: tagged so it is never mistaken for a tag
        return {"$j": value}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        (tag, body), = value.items()
        decoders: dict[str, Callable[[Any], Any]] = {
            "$b": base64.b64decode, "$dt": datetime.fromisoformat, "$d": date.fromisoformat, "$n": Decimal,
            "$j": lambda v: v}
        return decoders[tag](body)
    return value


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_READ_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def _private_file(path: Path) -> Any:
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def _alembic_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


# Create ---------------------------------------------------------------------------------------------------


def create(directory: Path) -> Summary:
    """Write the database snapshot, then the blobs, then the sealed manifest into a new or empty directory."""
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise BackupError(f"{directory} is not empty")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    summary = Summary(database=db.engine.dialect.name)
    if db.engine.dialect.name == "sqlite":
        revision, referenced = _snapshot_sqlite(directory / SQLITE_FILE, summary)
    else:
        revision, referenced = _dump_tables(directory / DUMP_DIR, summary)
    _copy_blobs(directory / BLOB_DIR, referenced, summary)
    _write_manifest(directory, revision, summary)
    audit.record(None, "backup.created", "", rows=summary.rows, blobs=summary.blobs)
    db.session.commit()
    return summary


def _snapshot_sqlite(target: Path, summary: Summary) -> tuple[str | None, set[str]]:
    """Copy the live database with SQLite's online backup API (a consistent copy even while in use)."""
    raw = db.engine.raw_connection()
    try:
        source = raw.driver_connection
        if source is None:  # only once the pool has invalidated the connection
            raise BackupError("the database connection was lost before the snapshot began")
        destination = sqlite3.connect(target)
        try:
            source.backup(destination)
        finally:
            destination.close()
    finally:
        raw.close()
    os.chmod(target, 0o600)
    engine = create_engine(f"sqlite:///{target}")
    try:
        with engine.connect() as connection:
            summary.rows = sum(connection.execute(select(func.count()).select_from(t)).scalar_one()
                               for t in stored_tables())
            return _alembic_revision(connection), _referenced_blobs(connection)
    finally:
        engine.dispose()


def _referenced_blobs(connection: Connection) -> set[str]:
    """Blobs the snapshot's rows need: every version's and every panel copy's whose key is not destroyed."""
    found: set[str] = set()
    for table in stored_tables():
        if table.name in ("document_versions", "panel_copies"):
            found.update(connection.execute(select(table.c.blob_id).where(table.c.wrapped_key.is_not(None))).scalars())
    return found


def _dump_tables(target: Path, summary: Summary) -> tuple[str | None, set[str]]:
    """COPY every table out inside one REPEATABLE READ transaction, parents before children."""
    target.mkdir(mode=0o700)
    deferred = _deferred_columns()
    with db.engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection, connection.begin():
        for setting in ("TimeZone = 'UTC'", "DateStyle = 'ISO, YMD'", "bytea_output = 'hex'"):
            connection.execute(text(f"SET LOCAL {setting}"))
        driver = connection.connection.driver_connection
        assert driver is not None  # a connection checked out of the pool has its driver's connection
        cursor = driver.cursor()
        try:
            for table in stored_tables():
                later = deferred.get(table.name, [])
                rows = select(*(null().label(c.name) if c.name in later else c for c in table.columns)).order_by(
                    *table.primary_key.columns)
                summary.rows += _copy_out(cursor, connection, rows, target / f"{table.name}{COPY_SUFFIX}")
                if later:
                    key = table.c[_key(table)]
                    rows = select(key, *(table.c[n] for n in later)).where(
                        or_(*(table.c[n].is_not(None) for n in later))).order_by(key)
                    _copy_out(cursor, connection, rows, target / f"{table.name}{LATER_SUFFIX}")
        finally:
            cursor.close()
        return _alembic_revision(connection), _referenced_blobs(connection)


def _copy_out(cursor: Any, connection: Connection, query: Select, path: Path) -> int:
    """COPY the query's rows out into a new private file; return their number."""
    rows = 0
    statement = f"COPY ({query.compile(dialect=connection.dialect)}) TO STDOUT"
    with _private_file(path) as handle, cursor.copy(statement) as copy:
        for block in copy:
            data = bytes(block)
            handle.write(data)
            rows += data.count(b"\n")  # newlines inside values are escaped: one per row
    return rows


# PostgreSQL's COPY text format: tab between columns, \N for NULL, backslash escapes inside values.
_COPY_ESCAPE = re.compile(r"\\(.)")
_COPY_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _copy_field(value: str) -> str | None:
    if value == "\\N":
        return None
    if "\\" not in value:
        return value
    return _COPY_ESCAPE.sub(lambda m: _COPY_ESCAPES.get(m.group(1), m.group(1)), value)


def _copy_converter(column: Column) -> Any:
    """How a value of this column, as COPY wrote it, becomes the Python value the column takes."""
    kind = column.type
    if isinstance(kind, Boolean):
        return lambda v: v == "t"
    if isinstance(kind, Integer):
        return int
    if isinstance(kind, DateTime):
        return datetime.fromisoformat
    if isinstance(kind, Date):
        return date.fromisoformat
    if isinstance(kind, LargeBinary):
        return lambda v: bytes.fromhex(v[2:])  # hex format: \x then the bytes
    if isinstance(kind, Numeric):
        return Decimal
    return str


def _copy_rows(path: Path, columns: list[Column]) -> Iterator[dict]:
    """Parse a COPY text file into rows of Python values."""
    names = [c.name for c in columns]
    converters = [_copy_converter(c) for c in columns]
    with path.open("r", encoding="utf-8", newline="\n") as handle:
        for line in handle:
            fields = [_copy_field(v) for v in line.rstrip("\n").split("\t")]
            yield {n: None if v is None else convert(v)
                   for n, convert, v in zip(names, converters, fields, strict=True)}


def _copy_blobs(target: Path, referenced: set[str], summary: Summary) -> None:
    """Copy every complete blob; warn about any the snapshot needs but the store lacks."""
    target.mkdir(mode=0o700)
    store = current_store()
    present = set(store.ids())
    for blob_id in sorted(present):
        with store.open(blob_id) as source, _private_file(target / blob_id) as copy:
            shutil.copyfileobj(source, copy, _READ_BYTES)
        summary.blobs += 1
    for blob_id in sorted(referenced - present):
        summary.warnings.append(f"blob {blob_id} is named by the database but missing from the store "
                                "(deleted while the backup ran, or lost: `keys verify` will report it)")


def _seal(body: dict[str, Any], kid: str | None = None) -> tuple[str, str]:
    kid, key = current_keyring().derive(_SEAL_PURPOSE, kid)
    return kid, tokens.keyed_hash(key, json.dumps(body, sort_keys=True, separators=(",", ":")))


def _write_manifest(directory: Path, revision: str | None, summary: Summary) -> None:
    files = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        files[path.relative_to(directory).as_posix()] = {"sha256": _sha256_file(path), "size": path.stat().st_size}
    body = {"format": FORMAT, "created_at": clock.now().isoformat(), "database": summary.database,
            "alembic_revision": revision, "rows": summary.rows, "files": files}
    kid, seal = _seal(body)
    with _private_file(directory / MANIFEST) as handle:
        handle.write(json.dumps({**body, "seal": {"key_id": kid, "hmac": seal}}, indent=1).encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())
    summary.files = len(files)


# Verify ---------------------------------------------------------------------------------------------------


def read_manifest(directory: Path) -> dict[str, Any]:
    """Return the manifest of a backup, refusing a missing or unreadable one."""
    try:
        manifest: dict[str, Any] = json.loads((Path(directory) / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"no readable {MANIFEST} in {directory}: {exc}") from exc
    return manifest


def verify(directory: Path) -> list[str]:
    """Check the manifest's seal and every file's size and SHA-256; return the problems found."""
    directory = Path(directory)
    try:
        manifest = read_manifest(directory)
    except BackupError as exc:
        return [str(exc)]
    problems = []
    body = {k: v for k, v in manifest.items() if k != "seal"}
    seal = manifest.get("seal") or {}
    try:
        if not tokens.equal(_seal(body, seal.get("key_id"))[1], seal.get("hmac", "")):
            problems.append(f"{MANIFEST}: its seal does not match (the manifest was edited)")
    except Exception as exc:  # a missing key or a malformed seal both mean: cannot trust this manifest
        problems.append(f"{MANIFEST}: its seal cannot be checked ({exc})")
    files = manifest.get("files", {})
    for name, expected in sorted(files.items()):
        path = directory / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif path.stat().st_size != expected["size"] or _sha256_file(path) != expected["sha256"]:
            problems.append(f"{name}: its contents do not match the manifest")
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        name = path.relative_to(directory).as_posix()
        if name != MANIFEST and name not in files:
            problems.append(f"{name}: not in the manifest")
    return problems


# Restore --------------------------------------------------------------------------------------------------


def restore(directory: Path) -> Summary:
    """Restore a verified backup into this instance's empty database and empty blob store."""
    directory = Path(directory)
    problems = verify(directory)
    if problems:
        raise BackupError("the backup does not verify: " + "; ".join(problems[:5]))
    manifest = read_manifest(directory)
    store = current_store()
    if any(True for _ in store.ids()):
        raise BackupError(f"{store.describe()} is not empty")
    _prepare_schema(manifest.get("alembic_revision"))
    summary = Summary(database=manifest["database"])
    engine = db.engine
    with engine.connect() as connection, connection.begin():
        later: list[Deferred] = []
        for table in stored_tables():
            if table.name in _REPLACED_ON_RESTORE:
                connection.execute(table.delete())
        if manifest["database"] != "sqlite" and manifest.get("format", 1) >= 2:
            summary.rows += _restore_copies(connection, directory / DUMP_DIR, later)
        else:
            for table, rows in _source_rows(directory, manifest):
                summary.rows += _insert(connection, table, rows, later)
        _set_later(connection, later)
        if engine.dialect.name == "postgresql":
            _reset_sequences(connection)
        blobs = [n.split("/", 1)[1] for n in manifest["files"] if n.startswith(BLOB_DIR + "/")]
        for blob_id in blobs:  # written before the rows commit, so a failure leaves only collectable orphans
            with (directory / BLOB_DIR / blob_id).open("rb") as source, store.write(blob_id) as copy:
                shutil.copyfileobj(source, copy, _READ_BYTES)
        summary.blobs = len(blobs)
    db.session.remove()
    findings = deployment.check(current_flask_app())
    summary.warnings.extend(f"this host cannot serve the restored portal: {p}" for p in findings.problems)
    audit.record(None, "backup.restored", "", rows=summary.rows, blobs=summary.blobs,
                 created_at=manifest["created_at"])
    db.session.commit()
    return summary


def _prepare_schema(revision: str | None) -> None:
    """Create the tables when the database has none; refuse a database that holds data or another revision."""
    with db.engine.connect() as connection:
        existing = set(inspect(connection).get_table_names())
        for table in stored_tables():
            if table.name in existing and table.name not in _REPLACED_ON_RESTORE and connection.execute(
                    select(func.count()).select_from(table)).scalar_one():
                raise BackupError(f"the database is not empty (table {table.name} has rows)")
        current = _alembic_revision(connection)
    if current is not None and revision is not None and current != revision:
        raise BackupError(f"the database is at migration {current} but the backup is at {revision}: "
                          "restore into a database migrated to the backup's revision, then run `db upgrade`")
    if not existing & {t.name for t in stored_tables()}:
        Base.metadata.create_all(db.engine)


def _source_rows(directory: Path, manifest: dict[str, Any]) -> Iterator[tuple[Table, Iterable[dict]]]:
    """Yield (table, rows) in dependency order from the SQLite snapshot or the JSON lines dump."""
    tables = [t for t in stored_tables() if t.name not in _SKIPPED_ON_RESTORE]
    if manifest["database"] == "sqlite":
        engine = create_engine(f"sqlite:///{directory / SQLITE_FILE}")
        try:
            with engine.connect() as connection:
                for table in tables:
                    query = select(table).order_by(*table.primary_key.columns)
                    yield table, (dict(r) for r in connection.execute(query).mappings())
        finally:
            engine.dispose()
    else:
        for table in tables:
            path = directory / DUMP_DIR / f"{table.name}.jsonl"
            with path.open("rb") as handle:
                yield table, ({k: _decode(v) for k, v in json.loads(line).items()} for line in handle)


# A row's use_alter columns set after every table is in: (table, {the row's key and each column: value}).
Deferred = tuple[Table, dict[str, Any]]


def _insert(connection: Connection, table: Table, rows: Iterable[dict], later: list[Deferred]) -> int:
    """Insert rows in batches; use_alter columns go to `later`, to be set once every table is in."""
    deferred = _deferred_columns().get(table.name, [])
    aware = [c.name for c in table.columns if isinstance(c.type, DateTime) and c.type.timezone]
    batch, count = [], 0
    for row in rows:
        for name in aware:  # SQLite gives naive UTC; PostgreSQL must not read them in its own time zone
            if isinstance(row.get(name), datetime):
                row[name] = row[name].replace(tzinfo=row[name].tzinfo or UTC)
        if deferred and any(row.get(n) is not None for n in deferred):
            later.append((table, {_LATER_KEY: row[_key(table)], **{n: row[n] for n in deferred}}))
            row = {**row, **dict.fromkeys(deferred)}
        batch.append(row)
        if len(batch) >= 500:
            connection.execute(table.insert(), batch)
            count, batch = count + len(batch), []
    if batch:
        connection.execute(table.insert(), batch)
        count += len(batch)
    return count


_LATER_KEY = "_later_key"


def _set_later(connection: Connection, later: list[tuple[Table, dict]]) -> None:
    """Set the use_alter columns once every table is in: one executemany per table and set of columns."""
    groups: dict[tuple[str, tuple[str, ...]], list[dict]] = {}
    tables = {}
    for table, values in later:
        names = tuple(n for n in values if n != _LATER_KEY)
        groups.setdefault((table.name, names), []).append(values)
        tables[table.name] = table
    for (name, names), rows in groups.items():
        table = tables[name]
        statement = table.update().where(table.c[_key(table)] == bindparam(_LATER_KEY)).values(
            {n: bindparam(n) for n in names})
        connection.execute(statement, rows)


def _restore_copies(connection: Connection, folder: Path, later: list[tuple[Table, dict]]) -> int:
    """Load a COPY dump: COPY FROM into PostgreSQL, parsed rows into anything else; return the rows loaded."""
    count = 0
    postgres = connection.dialect.name == "postgresql"
    quote = connection.dialect.identifier_preparer.quote
    deferred = _deferred_columns()
    for table in stored_tables():
        if table.name in _SKIPPED_ON_RESTORE:
            continue
        path = folder / f"{table.name}{COPY_SUFFIX}"
        if postgres:
            names = ", ".join(quote(c.name) for c in table.columns)
            driver = connection.connection.driver_connection
            assert driver is not None  # as above
            cursor = driver.cursor()
            try:
                with path.open("rb") as handle, cursor.copy(f"COPY {quote(table.name)} ({names}) FROM STDIN") as copy:
                    for block in iter(functools.partial(handle.read, _READ_BYTES), b""):
                        copy.write(block)
                        count += block.count(b"\n")
            finally:
                cursor.close()
        else:
            count += _insert(connection, table, _copy_rows(path, list(table.columns)), [])
        later_names = deferred.get(table.name, [])
        if later_names:
            columns = [table.c[_key(table)], *(table.c[n] for n in later_names)]
            for row in _copy_rows(folder / f"{table.name}{LATER_SUFFIX}", columns):
                later.append((table, {_LATER_KEY: row.pop(_key(table)), **row}))
    return count


def _key(table: Table) -> str:
    (column,) = table.primary_key.columns
    return column.name


def _reset_sequences(connection: Connection) -> None:
    """Move each PostgreSQL id sequence past the restored rows so new rows get fresh ids."""
    for table in stored_tables():
        columns = list(table.primary_key.columns)
        if len(columns) != 1 or not isinstance(columns[0].type, Integer):
            continue
        name = columns[0].name
        sequence = connection.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                      {"t": table.name, "c": name}).scalar()
        if sequence:
            top = func.max(table.c[name])
            connection.execute(select(func.setval(sequence, func.coalesce(top, 1), top.is_not(None))))
