"""Deletion by crypto-shredding, the retention purge and blob garbage collection (DESIGN capability 12).

A document is deleted by destroying the wrapped data key of every version and of its panel copy first
(committed), then removing the blobs: once the keys are gone the blobs are unreadable, even in old copies of
the blob store, so a crash between the two steps leaves only orphans for `storage gc`. The Document row stays
as a tombstone.
"""

import json
import logging
from collections import defaultdict
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from portal import audit, clock
from portal.documents.storage import current_store
from portal.extensions import db
from portal.models import (
    Document,
    DocumentVersion,
    Meeting,
    PanelCopy,
    PanelView,
    Portfolio,
    SampledPortfolio,
    SampleDraw,
    User,
)
from portal.reading import services as reading

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 365
DEFAULT_GC_GRACE_SECONDS = 3600  # an upload's blob is renamed into place just before its row commits
_DELETED_TITLE = "Deleted document"


def _shred(document: Document) -> list[str]:
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
    document.title = _DELETED_TITLE
    reading.forget_documents([document.id])  # the panel's private notes and page records go with it
    return blob_ids


def _delete_blobs(blob_ids: list[str]) -> None:
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
    blob_ids = _shred(document)
    audit.record(actor, "document.deleted", f"document:{document.id}", versions=len(document.versions),
                 portfolio=document.portfolio_id, reason=reason.strip())
    db.session.commit()
    _delete_blobs(blob_ids)


def retention_days() -> int:
    """Days after a meeting's minutes are published that the portfolios it moderated are kept."""
    return int(current_app.config.get("RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


def _moderating_meetings() -> dict[int, list[datetime | None]]:
    """For each portfolio, when the minutes of each meeting that moderated it were published (None: not yet).

    A meeting moderated a portfolio if the portfolio was in one of its draws' populations (eligible, whether
    picked or not) or in its sample. Populations are stored as JSON, and meetings are few (two or three a year),
    so they are read whole.
    """
    moderated: dict[int, list[datetime | None]] = defaultdict(list)
    draws = db.session.execute(select(SampleDraw.population, Meeting.minutes_published_at)
                               .join(Meeting, Meeting.id == SampleDraw.meeting_id))
    for population, published in draws:
        for portfolio_id in json.loads(population):
            moderated[int(portfolio_id)].append(published)
    samples = db.session.execute(select(SampledPortfolio.portfolio_id, Meeting.minutes_published_at)
                                 .join(Meeting, Meeting.id == SampledPortfolio.meeting_id))
    for portfolio_id, published in samples:
        moderated[portfolio_id].append(published)
    return moderated


def _kept_exemplars(portfolio_ids: list[int]) -> set[int]:
    """Portfolios with recorded consent of which a panel confirmed an exemplar: these are kept.

    The confirmed exemplars are free text, encrypted field by field, so whether one is empty is read here.
    """
    views = db.session.execute(
        select(PanelView.portfolio_id, PanelView.exemplars_confirmed)
        .join(Portfolio, Portfolio.id == PanelView.portfolio_id)
        .where(PanelView.portfolio_id.in_(portfolio_ids), Portfolio.exemplar_consent.is_(True)))
    return {portfolio_id for portfolio_id, exemplars in views if (exemplars or "").strip()}


def due_portfolios() -> list[tuple[Portfolio, datetime]]:
    """Portfolios every moderating meeting of which published its minutes over RETENTION_DAYS ago.

    That covers the portfolios a meeting was drawn from but did not sample, as well as the sampled ones. A
    portfolio some meeting still has to finish with is kept, as is one never moderated (it never reached a
    panel; the programme's own rules apply), and one with recorded consent whose exemplar a panel confirmed.
    """
    cutoff = clock.now() - timedelta(days=retention_days())
    due: dict[int, datetime] = {}
    for portfolio_id, published in _moderating_meetings().items():
        if all(published):
            latest = max(clock.as_utc(when) for when in published if when is not None)
            if latest <= cutoff:
                due[portfolio_id] = latest
    if not due:
        return []
    kept = _kept_exemplars(list(due))
    portfolios = db.session.scalars(select(Portfolio).where(Portfolio.id.in_(list(due)), Portfolio.purged_at.is_(None))
                                    .order_by(Portfolio.id))
    return [(p, due[p.id]) for p in portfolios if p.id not in kept]


def purge_portfolio(actor: User | None, portfolio: Portfolio) -> int:
    """Crypto-shred every document of a portfolio and record the deletion; return how many were deleted."""
    documents = db.session.scalars(select(Document).where(
        Document.portfolio_id == portfolio.id, Document.deleted_at.is_(None))).all()
    blob_ids = [blob_id for document in documents for blob_id in _shred(document)]
    portfolio.purged_at = clock.now()
    audit.record(actor, "portfolio.purged", f"portfolio:{portfolio.id}", documents=len(documents),
                 versions=sum(len(document.versions) for document in documents), retention_days=retention_days())
    db.session.commit()
    _delete_blobs(blob_ids)
    return len(documents)


def purge(actor: User | None, portfolios: list[Portfolio]) -> dict[int, int]:
    """Purge each portfolio in its own transaction; return documents deleted by portfolio id."""
    return {portfolio.id: purge_portfolio(actor, portfolio) for portfolio in portfolios}


def collect_garbage(grace_seconds: float = DEFAULT_GC_GRACE_SECONDS) -> list[str]:
    """Remove blobs no live version names, and temporary files, older than the grace period."""
    known = set(db.session.scalars(select(DocumentVersion.blob_id).where(DocumentVersion.wrapped_key.is_not(None))))
    known |= set(db.session.scalars(select(PanelCopy.blob_id).where(PanelCopy.wrapped_key.is_not(None))))
    db.session.rollback()  # end the read, so the scrub's checkpoint does not wait for this session
    removed = current_store().remove_orphans(known, grace_seconds=grace_seconds)
    scrub_freed_pages()
    return removed
