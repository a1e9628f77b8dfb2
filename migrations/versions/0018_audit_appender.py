"""audit events are recorded unchained and chained by one appender: seq and prev_hash stay NULL until then, and
each event has a random ref its details are encrypted bound to (an event chained before has its seq as its ref,
which is what its details were bound to)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 19:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ref', sa.String(length=32), nullable=True))
    op.execute("UPDATE audit_events SET ref = CAST(seq AS VARCHAR(32))")
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('ref', existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column('seq', existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=True)
        batch_op.create_unique_constraint(batch_op.f('uq_audit_events_ref'), ['ref'])
        batch_op.create_index('ix_audit_events_unchained', ['id'], unique=False,
                              sqlite_where=sa.text('seq IS NULL'), postgresql_where=sa.text('seq IS NULL'))


def downgrade():
    # Only a trail whose events all have their seq as their ref can go back (the earlier schema binds the details
    # to the seq); an event recorded after the upgrade has a random ref, so going back is refused then.
    connection = op.get_bind()
    unchained = connection.execute(sa.text(
        "SELECT count(*) FROM audit_events WHERE seq IS NULL OR ref <> CAST(seq AS VARCHAR(32))")).scalar()
    if unchained:
        raise RuntimeError(f"{unchained} audit events were recorded after this upgrade: their details are bound to "
                           "their ref, which the earlier schema does not have; restore a backup instead")
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_unchained', sqlite_where=sa.text('seq IS NULL'),
                            postgresql_where=sa.text('seq IS NULL'))
        batch_op.drop_constraint(batch_op.f('uq_audit_events_ref'), type_='unique')
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('seq', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('ref')
