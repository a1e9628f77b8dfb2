"""passkeys and security keys: each person's WebAuthn credentials, and the challenges waiting for an answer

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 09:36:15.718808

`passkeys` holds each credential's id, public key (COSE), signature counter, name and when it was last used.
`passkey_challenges` holds the challenges of ceremonies under way: each is deleted when answered, and after five
minutes whether answered or not. Downgrading drops both tables (people keep their authenticator apps and recovery
codes; anyone who had only passkeys needs the Lead's reset).
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('passkey_challenges',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('challenge', sa.LargeBinary(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('session_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_passkey_challenges_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_passkey_challenges'))
    )
    with op.batch_alter_table('passkey_challenges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_passkey_challenges_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_passkey_challenges_user_id'), ['user_id'], unique=False)

    op.create_table('passkeys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('credential_id', sa.String(length=1400), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('sign_count', sa.BigInteger(), nullable=False),
    sa.Column('user_handle', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('transports', sa.String(length=200), nullable=False),
    sa.Column('user_verified', sa.Boolean(), nullable=False),
    sa.Column('backed_up', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_passkeys_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_passkeys')),
    sa.UniqueConstraint('credential_id', name=op.f('uq_passkeys_credential_id'))
    )
    with op.batch_alter_table('passkeys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_passkeys_user_id'), ['user_id'], unique=False)



def downgrade():
    with op.batch_alter_table('passkeys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_passkeys_user_id'))

    op.drop_table('passkeys')
    with op.batch_alter_table('passkey_challenges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_passkey_challenges_user_id'))
        batch_op.drop_index(batch_op.f('ix_passkey_challenges_created_at'))

    op.drop_table('passkey_challenges')
