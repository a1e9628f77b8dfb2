"""panel copies: everyone but the Lead receives a copy of each file without its identifying metadata

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 07:00:00.000000

Adds the panel_copies table (one encrypted blob per document version, with its own wrapped data key and digest)
and document_versions.cleaning, which says what the panel receives of the version. Versions stored before this
revision have cleaning NULL: `flask --app portal documents clean` makes their panel copies (docs/operations.md).
Downgrading drops both; the panel copies' blobs are then orphans that `storage gc` removes.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('panel_copies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('blob_id', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('digest', sa.Text(), nullable=False),
    sa.Column('kek_id', sa.String(length=20), nullable=True),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('shredded_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['version_id'], ['document_versions.id'],
                            name=op.f('fk_panel_copies_version_id_document_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_panel_copies')),
    sa.UniqueConstraint('blob_id', name=op.f('uq_panel_copies_blob_id')),
    sa.UniqueConstraint('version_id', name=op.f('uq_panel_copies_version_id'))
    )
    with op.batch_alter_table('document_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cleaning', sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table('document_versions', schema=None) as batch_op:
        batch_op.drop_column('cleaning')
    op.drop_table('panel_copies')
