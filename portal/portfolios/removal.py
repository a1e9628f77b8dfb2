"""Removing a registry entry (an NQSW or an Assessor), with an NQSW's empty portfolios, only when nothing else
refers to them. Each verb audits and commits once."""

import json
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import case, delete, exists, func, select
from sqlalchemy.exc import IntegrityError

from portal import audit, clock
from portal.extensions import db, rows_affected
from portal.models import (
    Assessment,
    Assessor,
    Document,
    Meeting,
    Nqsw,
    PanelView,
    Portfolio,
    SampledPortfolio,
    SampleDraw,
    User,
)


class EntryInUse(Exception):
    """A registry entry cannot be removed: the message says, in plain words, what still refers to it."""

    def __init__(self, message: str, found: "Dependents | None" = None) -> None:
        super().__init__(message)
        self.found = found  # None when the entry no longer exists


@dataclass
class PortfolioUse:
    """A portfolio that refers to a registry entry, with everything that makes it more than an empty row."""

    portfolio: Portfolio
    documents: int = 0  # not deleted
    deleted_documents: int = 0  # tombstones left by a deletion or the retention purge
    sampled_on: list[date] = field(default_factory=list)  # the dates of the meetings that sampled it
    assessments: int = 0
    panel_views: int = 0  # the Chair's recorded view and feedback

    @property
    def reasons(self) -> list[str]:
        """Why the portfolio cannot be removed with its NQSW, e.g. "it has 3 documents"; empty when it can."""
        reasons = []
        if self.portfolio.purged_at is not None:
            reasons.append(f"it was purged under the retention policy on {clock.format_date(self.portfolio.purged_at)}")
        if self.documents:
            reasons.append(f"it has {_count(self.documents, 'document')}")
        if self.deleted_documents:
            reasons.append(f"it has {_count(self.deleted_documents, 'deleted document')} (kept as a record)")
        reasons += [f"it was sampled for the meeting on {clock.format_date(held_on)}" for held_on in self.sampled_on]
        if self.assessments:
            reasons.append(f"it has {_count(self.assessments, 'assessment')}")
        if self.panel_views:
            reasons.append("the panel recorded its view or feedback on it")
        return reasons

    @property
    def why(self) -> str:
        """The reasons as one phrase, e.g. "it has 3 documents and it has 1 assessment"."""
        return _and(self.reasons)

    @property
    def empty(self) -> bool:
        """True when nothing but the row itself would be lost by removing the portfolio."""
        return not self.reasons


@dataclass
class Dependents:
    """What still refers to an NQSW or Assessor: the portfolios naming them, with what each one holds."""

    entry: Nqsw | Assessor
    kind: str  # "nqsw" or "assessor"
    portfolios: list[PortfolioUse]

    @property
    def name(self) -> str:
        """The person's name, as the confirmation page shows it."""
        return self.entry.name

    @property
    def removable(self) -> bool:
        """True when the entry may be removed: an Assessor named on no portfolio, an NQSW with only empty ones."""
        if self.kind == "nqsw":
            # An imported NQSW always has a portfolio; while it is empty, removing both loses nothing.
            return all(use.empty for use in self.portfolios)
        return not self.portfolios

    @property
    def message(self) -> str:
        """Why the entry cannot be removed and what the Lead can do instead; empty when it can be removed."""
        if self.removable:
            return ""
        count = len(self.portfolios)
        if self.kind == "nqsw":
            # A portfolio with anything in it is never deleted by hand (retention leaves a tombstone row), so
            # there is nothing to do "first": the entry stays.
            if count == 1:
                return (f"{self.name} has a portfolio that is not empty: {self.portfolios[0].why}. The entry can be "
                        "removed only together with an empty portfolio, so keep the entry.")
            kept = sum(1 for use in self.portfolios if not use.empty)
            return (f"{self.name} has {count} portfolios and {kept} of them {'is' if kept == 1 else 'are'} not "
                    "empty (see below). The entry can be removed only together with empty portfolios, so keep "
                    "the entry.")
        purged = sum(1 for use in self.portfolios if use.portfolio.purged_at is not None)
        if purged:
            return (f"{self.name} is named as the Assessor on {_count(count, 'portfolio')}, "
                    f"{'one' if purged == 1 else purged} purged under the retention policy. A purged portfolio "
                    "cannot be changed, so keep the entry.")
        return (f"{self.name} is named as the Assessor on {_count(count, 'portfolio')}. Choose another Assessor "
                f"(or none) on {'that portfolio' if count == 1 else 'those portfolios'} first, or keep the entry.")


def _count(n: int, noun: str) -> str:
    return f"no {noun}s" if n == 0 else f"1 {noun}" if n == 1 else f"{n} {noun}s"


def _and(parts: list[str]) -> str:
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else "".join(parts)


def dependents(entry: Nqsw | Assessor) -> Dependents:
    """Every portfolio that refers to this NQSW or Assessor (the only foreign keys to either table)."""
    column = Portfolio.nqsw_id if isinstance(entry, Nqsw) else Portfolio.assessor_id
    uses = {p.id: PortfolioUse(p) for p in db.session.scalars(select(Portfolio).where(column == entry.id)
                                                               .order_by(Portfolio.id))}
    if uses:
        gone = func.sum(case((Document.deleted_at.is_not(None), 1), else_=0))
        for pid, total, deleted in db.session.execute(select(Document.portfolio_id, func.count(Document.id), gone)
                                                      .where(Document.portfolio_id.in_(uses))
                                                      .group_by(Document.portfolio_id)):
            uses[pid].documents, uses[pid].deleted_documents = int(total) - int(deleted), int(deleted)
        for model, attribute in ((Assessment, "assessments"), (PanelView, "panel_views")):
            for pid, n in db.session.execute(select(model.portfolio_id, func.count(model.id))
                                             .where(model.portfolio_id.in_(uses)).group_by(model.portfolio_id)):
                setattr(uses[pid], attribute, int(n))
        for pid, held_on in _sampled_on(list(uses)):
            if held_on not in uses[pid].sampled_on:
                uses[pid].sampled_on.append(held_on)
    return Dependents(entry, "nqsw" if isinstance(entry, Nqsw) else "assessor", list(uses.values()))


def _sampled_on(portfolio_ids: list[int]) -> list[tuple[int, date]]:
    """(portfolio id, meeting date) for every sample these portfolios are in or were drawn into, by date."""
    found: list[tuple[int, date]] = list(db.session.execute(
        select(SampledPortfolio.portfolio_id, Meeting.held_on).join(Meeting, Meeting.id == SampledPortfolio.meeting_id)
        .where(SampledPortfolio.portfolio_id.in_(portfolio_ids))))
    # A redraw drops the earlier picks from the sample, but the superseded draw still names them (and its
    # verification page labels them), so having been picked once counts as having been sampled.
    wanted = set(portfolio_ids)
    for picks, held_on in db.session.execute(select(SampleDraw.picks, Meeting.held_on)
                                             .join(Meeting, Meeting.id == SampleDraw.meeting_id)
                                             .where(SampleDraw.current.is_(False))):
        found += [(int(pid), held_on) for pid in json.loads(picks) if int(pid) in wanted]
    return sorted(found, key=lambda row: (row[1], row[0]))


def _empty_portfolio() -> list:
    """PortfolioUse.empty as SQL, less the past draws' picks (no transaction can add to those), for a re-check."""
    return [Portfolio.purged_at.is_(None), *(~exists().where(model.portfolio_id == Portfolio.id)
                                             for model in (Document, SampledPortfolio, Assessment, PanelView))]


def remove_entry(actor: User, entry: Nqsw | Assessor) -> int:
    """Delete an NQSW (with their empty portfolios) or Assessor and return how many portfolios went too.

    Raises EntryInUse, changing nothing, when anything but empty portfolios of the NQSW refers to the entry.
    """
    found = dependents(entry)
    if not found.removable:
        raise EntryInUse(found.message, found)
    model: type[Nqsw | Assessor] = Nqsw if isinstance(entry, Nqsw) else Assessor
    column = Portfolio.nqsw_id if isinstance(entry, Nqsw) else Portfolio.assessor_id
    entry_id, name = entry.id, entry.name
    # Only an NQSW's portfolios get here (an Assessor named on any is refused above), all found empty.
    portfolio_ids = [use.portfolio.id for use in found.portfolios]
    try:
        # Each statement re-checks what it deletes, so a document, sample or assessment added since the check
        # above keeps the portfolio, and a portfolio added since keeps the entry; on PostgreSQL the foreign keys
        # also refuse rows inserted by a concurrent transaction. A past draw's picks cannot change meanwhile.
        portfolios = rows_affected(db.session.execute(delete(Portfolio).where(Portfolio.id.in_(portfolio_ids),
                                                                Portfolio.nqsw_id == entry_id, *_empty_portfolio())
                                        .execution_options(synchronize_session=False))) if portfolio_ids else None
        deleted = rows_affected(db.session.execute(delete(model).where(model.id == entry_id,
                                                                       ~exists().where(column == entry_id))
                                                   .execution_options(synchronize_session=False)))
        if deleted == 1 and (portfolios is None or portfolios == len(portfolio_ids)):
            for row in [entry, *(use.portfolio for use in found.portfolios)]:
                db.session.expunge(row)  # the rows are gone: the caller may still read the name it showed
            # Only kinds and ids: the person's name and email must not outlive the row in the audit trail.
            for portfolio_id in portfolio_ids:
                audit.record(actor, "portfolio.removed", f"portfolio:{portfolio_id}", nqsw=entry_id)
            audit.record(actor, f"{found.kind}.removed", f"{found.kind}:{entry_id}",
                         **({"portfolios": portfolio_ids} if portfolio_ids else {}))
            db.session.commit()
            return len(portfolio_ids)
    except IntegrityError:
        pass
    db.session.rollback()
    current = db.session.get(Nqsw, entry_id) if model is Nqsw else db.session.get(Assessor, entry_id)
    if current is None:
        raise EntryInUse(f"{name} has already been removed from the registry.")
    now = dependents(current)
    raise EntryInUse(now.message or "The registry changed while you were removing the entry: check what removing "
                     "it will do now, and confirm again.", now)
