"""meeting members' added_at: when each person was added, for the Chair's sign-in check before the meeting

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 10:45:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('meeting_members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('added_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('meeting_members', schema=None) as batch_op:
        batch_op.drop_column('added_at')
