"""indexes on nqsws.name and assessors.name: the registry's lists sort and page by name

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 14:00:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('nqsws', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nqsws_name'), ['name'], unique=False)
    with op.batch_alter_table('assessors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assessors_name'), ['name'], unique=False)


def downgrade():
    with op.batch_alter_table('assessors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assessors_name'))
    with op.batch_alter_table('nqsws', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nqsws_name'))
