"""neutral document titles: a title copied from the uploaded file's name becomes the evidence type's label

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 14:10:00.000000

Until this revision a document uploaded without a title was titled by its file name, which the panel sees and
which often names the NQSW ("Jane Smith 6-month review"). New uploads are titled by their evidence type; this
upgrade does the same for existing documents whose title is still exactly their first version's file name
without its extension, and leaves every title the Lead typed alone. Titles and file names are field-encrypted,
so they are decrypted with the keyring the portal loads, compared, and the new title is encrypted as
EncryptedText would write it. Deleted documents (tombstones) are skipped. Re-running is harmless.

Downgrading changes nothing: the file names are still there for the Lead, but which titles were copied from
them is not recorded, so the old titles are not put back.
"""
import sqlalchemy as sa
from alembic import op
from flask import current_app

from portal.models.documents import EVIDENCE_LABELS, EvidenceType
from portal.security.crypto import Keyring

# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

BATCH = 500


def upgrade():
    keyring: Keyring = current_app.extensions["keyring"]
    connection = op.get_bind()
    documents = sa.table("documents", sa.column("id", sa.Integer()), sa.column("title", sa.Text()),
                         sa.column("evidence_type", sa.String()), sa.column("deleted_at", sa.DateTime()))
    versions = sa.table("document_versions", sa.column("document_id", sa.Integer()),
                        sa.column("number", sa.Integer()), sa.column("filename", sa.Text()))
    last = 0
    while True:
        rows = connection.execute(
            sa.select(documents.c.id, documents.c.title, documents.c.evidence_type, versions.c.filename)
            .join(versions, (versions.c.document_id == documents.c.id) & (versions.c.number == 1))
            .where(documents.c.id > last, documents.c.deleted_at.is_(None))
            .order_by(documents.c.id).limit(BATCH)).all()
        if not rows:
            return
        for document_id, title, evidence_type, filename in rows:
            stem = keyring.decrypt_field("document_versions.filename", filename).rsplit(".", 1)[0]
            if keyring.decrypt_field("documents.title", title) == stem:
                label = EVIDENCE_LABELS[EvidenceType(evidence_type)]
                connection.execute(sa.update(documents).where(documents.c.id == document_id)
                                   .values(title=keyring.encrypt_field("documents.title", label)))
        last = rows[-1][0]


def downgrade():
    pass
