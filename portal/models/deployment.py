"""What every host of one deployment must agree on: its SECRET_KEY and the key-encryption keys in use.

Neither the SECRET_KEY nor any key is stored: only check values (HMACs of fixed labels), which show whether a
host holds the same secret without revealing it.
"""

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UTCDateTime


class Deployment(Base):
    """The single row (id 1) every host compares itself with when it starts and every few seconds after."""

    __tablename__ = "deployment"

    id: Mapped[int] = mapped_column(primary_key=True)
    secret_check: Mapped[str] = mapped_column(String(64))  # crypto.secret_check(SECRET_KEY)
    active_key_id: Mapped[str] = mapped_column(String(20))  # the key every host encrypts under
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KeyCheck(Base):
    """A key-encryption key the deployment knows, by id, with its check value (Keyring.check_value)."""

    __tablename__ = "key_checks"

    key_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    check_value: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set once the key has been active: from then on the database may hold values under it, so every host needs it.
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
