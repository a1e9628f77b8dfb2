"""encrypt free text: audit details, meeting titles, agenda templates, redraw reasons

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 11:30:00.000000

These columns held plaintext under 0001 and are field-encrypted from now on (EncryptedText, DESIGN section 5):
audit_events.details, meetings.title, meeting_templates.text and sample_draws.reason. Upgrading encrypts every
existing value in place, in batches, under the active key of the keyring the portal loads (instance/keyring.json
or PORTAL_KEYRING_JSON), with the table and column as associated data, exactly as the models would have written
it. A value that already decrypts for its column is left alone, so a re-run after an interruption is harmless.

Audit details keep their place in the hash chain: each event's HMAC covers the plaintext details, which do not
change here, so `flask --app portal audit verify` passes before and after. meetings.title becomes TEXT, since a
ciphertext is longer than the 200 characters a title may have (the form still enforces that limit).

Downgrading decrypts the values in place and makes meetings.title VARCHAR(200) again; it needs every key the
values are under, so run it before retiring any key.
"""
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op
from flask import current_app

from portal.security.crypto import DecryptionError, Keyring

# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# (table, column): each value's associated data is "table.column", as EncryptedText binds it.
COLUMNS = (
    ("audit_events", "details"),
    ("meetings", "title"),
    ("meeting_templates", "text"),
    ("sample_draws", "reason"),
)
BATCH = 500


def _plaintext(keyring: Keyring, label: str, value: str) -> str | None:
    """The value decrypted if it is already a ciphertext of this column, else None (it is plaintext)."""
    try:
        return keyring.decrypt_field(label, value)
    except DecryptionError:
        return None


def _rewrite(table_name: str, column_name: str, change: Callable[[str], str | None]) -> None:
    """Replace each non-null value by change(value) (None: leave it), walking the table by id in batches."""
    connection = op.get_bind()
    table = sa.table(table_name, sa.column("id", sa.Integer()), sa.column(column_name, sa.Text()))
    column, last = table.c[column_name], 0
    while True:
        rows = connection.execute(
            sa.select(table.c.id, column).where(table.c.id > last, column.is_not(None))
            .order_by(table.c.id).limit(BATCH)).all()
        if not rows:
            return
        for row_id, value in rows:
            new = change(value)
            if new is not None:
                connection.execute(sa.update(table).where(table.c.id == row_id).values({column_name: new}))
        last = rows[-1][0]


def upgrade():
    keyring: Keyring = current_app.extensions["keyring"]
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.alter_column('title', existing_type=sa.String(length=200), type_=sa.Text(),
                              existing_nullable=False)
    for table_name, column_name in COLUMNS:
        label = f"{table_name}.{column_name}"

        def encrypt(value: str, label: str = label) -> str | None:
            if _plaintext(keyring, label, value) is not None:
                return None  # encrypted already (an earlier, interrupted run)
            return keyring.encrypt_field(label, value)

        _rewrite(table_name, column_name, encrypt)


def downgrade():
    keyring: Keyring = current_app.extensions["keyring"]
    for table_name, column_name in COLUMNS:
        label = f"{table_name}.{column_name}"
        _rewrite(table_name, column_name, lambda value, label=label: _plaintext(keyring, label, value))
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.alter_column('title', existing_type=sa.Text(), type_=sa.String(length=200),
                              existing_nullable=False)
