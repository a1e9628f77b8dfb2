"""the audit trail's filters read a page newest first from an index on (column, seq)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 18:10:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

COLUMNS = ('actor_id', 'action', 'target')


def upgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        for column in COLUMNS:
            batch_op.drop_index(f'ix_audit_events_{column}')
            batch_op.create_index(f'ix_audit_events_{column}_seq', [column, 'seq'], unique=False)


def downgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        for column in COLUMNS:
            batch_op.drop_index(f'ix_audit_events_{column}_seq')
            batch_op.create_index(f'ix_audit_events_{column}', [column], unique=False)
