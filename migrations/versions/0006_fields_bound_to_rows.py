"""encrypted fields bound to their rows; the deployment's records of its SECRET_KEY and keys

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 16:00:00.000000

Until this revision each encrypted field (format "f1") was bound only to its table and column, so a ciphertext
copied to another row of the same column decrypted there: swapping two people's TOTP secrets in the database
swapped their authenticators. From now on every field is bound to its table, column and row (format "f2": the
row's id, or an audit event's seq) and the portal refuses f1 values. Upgrading re-encrypts every existing value
from f1 to f2 under the keyring the portal loads, in batches of 500 rows, each committed on its own (outside the
migration's transaction, like `keys rotate`), so an upgrade that is interrupted keeps its progress and running it
again finishes the job: values already in f2 are skipped, and a value is replaced only if it has not changed since
it was read. A value that does not decrypt (already altered) is logged and left as it is; the portal reports it as
an integrity failure when it is read. Run it before retiring any key the values are under.

It also adds `deployment` and `key_checks` (portal/models/deployment.py): check values of the SECRET_KEY and of
each key id, which every host of a deployment compares itself with.

Downgrading turns f2 values back into f1 in the same way and drops the two tables.
"""
import sqlalchemy as sa
from alembic import op
from flask import current_app

from portal.ops.keys import FieldTable, bind_fields_to_rows

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

BATCH = 500
# Every encrypted column at this revision, and what its values are bound to.
TABLES = [
    FieldTable("users", "id", ("totp_secret",)),
    FieldTable("meetings", "id", ("title", "agenda", "terms_of_reference")),
    FieldTable("sample_draws", "id", ("reason",)),
    FieldTable("meeting_templates", "id", ("text",)),
    FieldTable("documents", "id", ("title",)),
    FieldTable("document_versions", "id", ("filename", "digest")),
    FieldTable("panel_copies", "id", ("digest",)),
    FieldTable("outbox", "id", ("body",)),
    FieldTable("assessments", "id", ("answers",)),
    FieldTable("panel_views", "id", ("decision_view", "support_view", "exemplars_confirmed", "feedback_assessor",
                                     "feedback_nqsw")),
    FieldTable("minutes", "id", ("notes",)),
    FieldTable("minutes_revisions", "id", ("notes", "reason")),
    FieldTable("meeting_themes", "id", ("note",)),
    FieldTable("actions", "id", ("description", "owner")),
    FieldTable("key_messages", "id", ("text",)),
    FieldTable("audit_events", "seq", ("details",)),
]


def _rebind(unbind: bool) -> None:
    # The batches commit on connections of their own: the migration's transaction is committed first and its
    # connection left idle (an autocommit block), so on SQLite it holds no lock they would wait for.
    with op.get_context().autocommit_block():
        bind_fields_to_rows(op.get_bind().engine, current_app.extensions["keyring"], TABLES, BATCH, unbind=unbind)


def upgrade():
    _rebind(unbind=False)
    op.create_table('deployment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('secret_check', sa.String(length=64), nullable=False),
    sa.Column('active_key_id', sa.String(length=20), nullable=False),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deployment'))
    )
    op.create_table('key_checks',
    sa.Column('key_id', sa.String(length=20), nullable=False),
    sa.Column('check_value', sa.String(length=64), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_key_checks'))
    )


def downgrade():
    op.drop_table('key_checks')
    op.drop_table('deployment')
    _rebind(unbind=True)
