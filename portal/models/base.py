"""The declarative base and column types shared by every model."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
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


class EncryptedText(TypeDecorator[str]):
    """Free text or a secret, encrypted field by field with its table and column as associated data.

    A value that fails to decrypt raises DecryptionError, unless the column names an `unreadable` text to read
    instead: the audit trail's details do, so that one altered row neither hides the rest of the trail nor stops
    `audit verify` from naming it.
    """

    impl = Text
    cache_ok = True

    def __init__(self, column: str, *args: Any, unreadable: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.column = column
        self.unreadable = unreadable

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else crypto.installed().encrypt_field(self.column, value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        try:
            return crypto.installed().decrypt_field(self.column, value)
        except crypto.DecryptionError:
            if self.unreadable is None:
                raise
            return self.unreadable
