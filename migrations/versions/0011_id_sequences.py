"""id sequences: on SQLite, the last id handed out for documents and their versions, whose ids are fixed before
an upload's file streams in and its rows are written (PostgreSQL uses the tables' own sequences)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 10:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('id_sequences',
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('last_id', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_id_sequences'))
    )


def downgrade():
    op.drop_table('id_sequences')
