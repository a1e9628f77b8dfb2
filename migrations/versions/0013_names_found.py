"""document versions' names check: whether each version's text was searched for people's names, what was found
(encrypted) and when

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 13:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('document_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('names_check', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('names_found', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('names_checked_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('document_versions', schema=None) as batch_op:
        batch_op.drop_column('names_checked_at')
        batch_op.drop_column('names_found')
        batch_op.drop_column('names_check')
