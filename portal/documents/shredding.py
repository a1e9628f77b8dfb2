"""Deleting a document by crypto-shredding (DESIGN capability 12).

A document is deleted by destroying the wrapped data key of every version and of its panel copy first
(committed), then removing the blobs: once the keys are gone the blobs are unreadable, even in old copies of
the blob store, so a crash between the two steps leaves only orphans for `storage gc`. The Document row stays
as a tombstone. The retention purge (portal/ops/retention.py) deletes a portfolio's documents the same way.
"""

import logging

from portal import audit, clock
from portal.documents.storage import current_store
from portal.extensions import db
from portal.models import Document, User
from portal.reading import services as reading

log = logging.getLogger(__name__)

DELETED_TITLE = "Deleted document"


def shred(document: Document) -> list[str]:
    """Destroy the data keys and names of every version and its panel copy; return the blob ids to delete."""
    now = clock.now()
    blob_ids = []
    for version in document.versions:
        if version.shredded_at is None:
            version.wrapped_key = None
            version.kek_id = None
            version.shredded_at = now
            # The name and digest could still identify the content: a tombstone keeps neither.
            version.filename = ""
            version.digest = ""
        blob_ids.append(version.blob_id)
        copy = version.panel_copy
        if copy is not None:
            if copy.shredded_at is None:
                copy.wrapped_key, copy.kek_id, copy.shredded_at, copy.digest = None, None, now, ""
            blob_ids.append(copy.blob_id)
    document.deleted_at = document.deleted_at or now
    document.title = DELETED_TITLE
    reading.forget_documents([document.id])  # the panel's private notes and page records go with it
    return blob_ids


def delete_blobs(blob_ids: list[str]) -> None:
    """Remove the blobs of shredded versions (their keys are already gone), then scrub freed database pages."""
    store = current_store()
    for blob_id in blob_ids:
        store.delete(blob_id)
    scrub_freed_pages(wait_seconds=2)


def scrub_freed_pages(wait_seconds: int = 60) -> bool:
    """On SQLite, overwrite old copies of changed pages and empty the write-ahead log; True when done.

    Every connection sets secure_delete, so the new copy of a page that held a destroyed key has zeros
    there; but the old copy stays in the database file, and the log holds it too, until a checkpoint writes
    the new copies back and the log is truncated. A checkpoint waits for a writer (an upload holds the write
    lock while it streams), so a deletion waits briefly and otherwise leaves it to `storage gc`.
    PostgreSQL has no such step here: docs/operations.md says how dead row versions are cleared there.
    """
    if db.engine.dialect.name != "sqlite":
        return True
    with db.engine.connect() as connection:
        usual = int(connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one())
        connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(wait_seconds * 1000)}")
        try:
            busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()[0]
        finally:
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {usual}")
    if busy:
        log.info("the database is busy: destroyed keys are scrubbed from its files at the next storage gc")
    return not busy


def delete_document(actor: User | None, document: Document, reason: str = "") -> None:
    """Crypto-shred every version of a document, commit, then delete its blobs, leaving a tombstone.

    The reason goes into the audit record with the actor, so the trail says who deleted it and why.
    """
    blob_ids = shred(document)
    audit.record(actor, "document.deleted", f"document:{document.id}", versions=len(document.versions),
                 portfolio=document.portfolio_id, reason=reason.strip())
    db.session.commit()
    delete_blobs(blob_ids)
