"""The declarative base and column types shared by every model."""

import functools
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    Column,
    ColumnDefault,
    ColumnElement,
    Connection,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    cast,
    event,
    literal_column,
    type_coerce,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import CompileError
from sqlalchemy.orm import DeclarativeBase, Mapper
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.sql.expression import FromClause
from sqlalchemy.types import TypeDecorator

from portal.security import crypto

# Named constraints so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every model."""

    metadata = MetaData(naming_convention=NAMING)
    # Every model maps one Table (none maps a join or a query), so its table has Table's API: insert, update.
    __table__: ClassVar[Table]


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored with its zone and always read back as an aware UTC datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: use portal.clock.now()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class RowValue(str):
    """Plaintext on its way to an EncryptedText column, with the identity of the row it belongs to.

    It is a str equal to the plaintext, so code that meets one reads the text it expects. `row` is None while an
    INSERT has not given the row its id yet: the column is then written as PENDING and sealed once the id is known.
    """

    __slots__ = ("row",)
    row: object | None

    def __new__(cls, text: str, row: object | None) -> "RowValue":
        value = super().__new__(cls, text)
        value.row = row
        return value


# Written by the INSERT of a row whose id is not known yet, and replaced in the same flush: never a ciphertext.
PENDING = f"{crypto.ROW_FIELD_PREFIX}.pending"


class EncryptedText(TypeDecorator[str]):
    """Free text or a secret, encrypted field by field and bound to its table, column and row (format f2).

    The associated data is "table.column" and the row's identity: its primary key, or for the audit trail the
    event's sequence number (`row="seq"`, known before the INSERT and covered by the chain's HMACs), so a
    ciphertext copied to another row, column or table does not decrypt there. The identity is never stored with
    the value: every SELECT of the column reads the row's own identity with it (column_expression), so swapping
    two rows' ciphertexts is caught on the next read. Writes go through the ORM, whose mapper events (below)
    hand each value over as a RowValue carrying its row; a plain str is refused.

    A value that fails to decrypt raises crypto.FieldIntegrityError, unless the column names an `unreadable` text
    to read instead: the audit trail's details do, so that one altered row neither hides the rest of the trail
    nor stops `audit verify` from naming it.
    """

    impl = Text
    cache_ok = True

    def __init__(self, column: str, *args: Any, unreadable: str | None = None, row: str = "id",
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.column = column
        self.unreadable = unreadable
        self.row = row

    @property
    def table_name(self) -> str:
        """The table this column belongs to."""
        return self.column.split(".", 1)[0]

    def identity_of(self, table: FromClause) -> ColumnElement[Any]:
        """The column that holds the row identity in `table` (the model's table, an alias or a subquery)."""
        found = table.corresponding_column(Base.metadata.tables[self.table_name].c[self.row])
        if found is None:
            raise CompileError(f"{self.column} can only be selected from a query that also has its row's "
                               f"{self.row}: it is bound to its row")
        return found

    def column_expression(self, colexpr: ColumnElement[str]) -> ColumnElement[str]:
        table = getattr(colexpr, "table", None)
        if table is None:
            raise CompileError(f"{self.column} can only be selected as a column of its table: it is bound to its row")
        identity = cast(self.identity_of(table), String)
        return type_coerce(identity + literal_column("'.'", String) + type_coerce(colexpr, Text), self)

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, RowValue):
            raise TypeError(f"{self.column} is bound to its row: set it on the model and let the session write it")
        if value.row is None:
            return PENDING
        return crypto.installed().encrypt_row_field(self.column, value.row, value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        row, _, stored = value.partition(".")
        try:
            return crypto.installed().decrypt_row_field(self.column, row, stored)
        except crypto.FieldIntegrityError:
            if self.unreadable is None:
                raise
            return self.unreadable


# Sealing values to their rows on write ----------------------------------------------------------------------


@functools.cache
def _encrypted_attributes(mapper: Mapper[Any]) -> tuple[tuple[str, Column[Any], EncryptedText], ...]:
    """(attribute key, column, type) of each EncryptedText column the mapper writes."""
    found = []
    for prop in mapper.column_attrs:
        for column in prop.columns:
            if isinstance(column, Column) and isinstance(column.type, EncryptedText):
                found.append((prop.key, column, column.type))
    return tuple(found)


def _identity(target: object, kind: EncryptedText) -> object | None:
    """The row identity the value is bound to, or None while the row has not been given its id."""
    found = target.__dict__.get(kind.row)
    if found is None:
        state = instance_state(target)
        if state.key is not None:  # persistent: the primary key is known even when its attribute is expired
            mapper = state.mapper
            names = [mapper.get_property_by_column(c).key for c in mapper.primary_key]
            found = dict(zip(names, state.key[1], strict=True)).get(kind.row)
            if found is None:
                found = getattr(target, kind.row)
    return found


def _before_insert(mapper: Mapper[Any], connection: Connection, target: object) -> None:
    """Hand each encrypted value to the INSERT with its row, or as pending while the row has no id yet."""
    values = target.__dict__
    for key, column, kind in _encrypted_attributes(mapper):
        value = values.get(key)
        if value is None and isinstance(column.default, ColumnDefault) and column.default.is_scalar:
            value = column.default.arg  # applied here, since a default the INSERT adds would carry no row
        if value is None:
            continue
        values[key] = RowValue(_text(kind, value), _identity(target, kind))


def _after_insert(mapper: Mapper[Any], connection: Connection, target: object) -> None:
    """Seal the values written as pending now that the row has its id (same transaction, same flush)."""
    values = target.__dict__
    sealed = {}
    for key, column, kind in _encrypted_attributes(mapper):
        value = values.get(key)
        if isinstance(value, RowValue):
            if value.row is None:
                sealed[column.name] = RowValue(value, _identity(target, kind))
            values[key] = str(value)
    if sealed:
        table = mapper.local_table
        assert isinstance(table, Table)  # every model maps one Table (see Base)
        key_columns = list(table.primary_key.columns)
        connection.execute(update(table).where(*[c == values[mapper.get_property_by_column(c).key]
                                                  for c in key_columns]).values(sealed))


def _before_update(mapper: Mapper[Any], connection: Connection, target: object) -> None:
    """Hand each changed encrypted value to the UPDATE with its row."""
    state = instance_state(target)
    for key, _column, kind in _encrypted_attributes(mapper):
        if key not in state.committed_state:
            continue
        value = state.dict.get(key)
        if value is not None:
            state.dict[key] = RowValue(_text(kind, value), _identity(target, kind))


def _after_update(mapper: Mapper[Any], connection: Connection, target: object) -> None:
    values = target.__dict__
    for key, _column, _kind in _encrypted_attributes(mapper):
        if isinstance(values.get(key), RowValue):
            values[key] = str(values[key])


def _text(kind: EncryptedText, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{kind.column} holds text, not {type(value).__name__}")
    return value


for _name, _listener in (("before_insert", _before_insert), ("after_insert", _after_insert),
                         ("before_update", _before_update), ("after_update", _after_update)):
    event.listen(Base, _name, _listener, propagate=True)
