"""reading: the pages each person opened in the reading view, reading preferences, private notes, page counts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 11:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('document_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('page_count', sa.Integer(), nullable=True))
    op.create_table('page_reads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('page', sa.Integer(), nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_page_reads_document_id_documents')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_page_reads_user_id_users')),
    sa.ForeignKeyConstraint(['version_id'], ['document_versions.id'],
                            name=op.f('fk_page_reads_version_id_document_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_page_reads')),
    sa.UniqueConstraint('user_id', 'version_id', 'page', name='uq_page_reads_user_version_page')
    )
    with op.batch_alter_table('page_reads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_page_reads_document_id'), ['document_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_page_reads_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_page_reads_version_id'), ['version_id'], unique=False)
    op.create_table('reading_preferences',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('text_size', sa.String(length=20), nullable=False),
    sa.Column('line_spacing', sa.String(length=20), nullable=False),
    sa.Column('background', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_reading_preferences_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_reading_preferences'))
    )
    op.create_table('reading_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('page', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_reading_notes_document_id_documents')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_reading_notes_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reading_notes'))
    )
    with op.batch_alter_table('reading_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reading_notes_document_id'), ['document_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reading_notes_user_id'), ['user_id'], unique=False)


def downgrade():
    op.drop_table('reading_notes')
    op.drop_table('reading_preferences')
    op.drop_table('page_reads')
    with op.batch_alter_table('document_versions', schema=None) as batch_op:
        batch_op.drop_column('page_count')
