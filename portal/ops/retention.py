"""The retention purge and blob garbage collection (DESIGN capability 12).

A purged portfolio's documents are deleted as any document is, by crypto-shredding
(portal/documents/shredding.py); the portfolio row stays, marked purged.
"""

import json
from collections import defaultdict
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from portal import audit, clock
from portal.documents import shredding
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

DEFAULT_RETENTION_DAYS = 365
DEFAULT_GC_GRACE_SECONDS = 3600  # an upload's blob is renamed into place just before its row commits


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
    blob_ids = [blob_id for document in documents for blob_id in shredding.shred(document)]
    portfolio.purged_at = clock.now()
    audit.record(actor, "portfolio.purged", f"portfolio:{portfolio.id}", documents=len(documents),
                 versions=sum(len(document.versions) for document in documents), retention_days=retention_days())
    db.session.commit()
    shredding.delete_blobs(blob_ids)
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
    shredding.scrub_freed_pages()
    return removed
