"""The cohort registry, portfolio pseudonyms and the evidence-completeness check. Each verb audits and commits once."""

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from flask import current_app
from sqlalchemy import ColumnElement, Select, SQLColumnExpression, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from portal import audit, clock, paging, visibility
from portal.admin.partnership import new_employer
from portal.extensions import db
from portal.models import (
    DEFAULT_EVIDENCE_REQUIREMENTS,
    Assessor,
    Cohort,
    Document,
    EvidenceType,
    Nqsw,
    Organisation,
    OrganisationKind,
    Portfolio,
    Service,
    User,
)
from portal.portfolios import importer

# Letters that cannot be mistaken for digits (no I, O) or for each other when read aloud (no Q).
PSEUDONYM_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"


# Registry -----------------------------------------------------------------------------------------------


def _cohort_scope(user: User) -> ColumnElement[bool]:
    """The cohorts a person sees: their employers' own and the partnership's shared ones."""
    return or_(Cohort.employer_id.is_(None), user.employer_scope(Cohort.employer_id))


def cohorts(user: User) -> list[tuple[Cohort, int]]:
    """The cohorts this person sees, with how many of the NQSWs they manage are in each, by name."""
    counts = (select(Nqsw.cohort_id, func.count(Nqsw.id).label("n")).where(user.employer_scope(Nqsw.employer_id))
              .group_by(Nqsw.cohort_id).subquery())
    rows = db.session.execute(select(Cohort, func.coalesce(counts.c.n, 0))
                              .outerjoin(counts, counts.c.cohort_id == Cohort.id).where(_cohort_scope(user))
                              .order_by(Cohort.name))
    return [(cohort, int(n)) for cohort, n in rows]


def cohort_name_taken(name: str) -> bool:
    """True if a cohort already has this name (case-insensitive)."""
    return db.session.scalar(select(Cohort.id).where(func.lower(Cohort.name) == name.strip().lower())) is not None


def add_cohort(actor: User, name: str) -> Cohort:
    """Register a cohort such as "Academy 2026": an employer Lead's belongs to their employer, the
    administrator's is shared by the partnership."""
    cohort = Cohort(name=name.strip(), employer_id=actor.own_employer_id)
    db.session.add(cohort)
    db.session.flush()
    audit.record(actor, "cohort.added", f"cohort:{cohort.id}")
    db.session.commit()
    return cohort


# A form offers the registry as a list to choose from up to this many people; past it, the person is named by
# email address, so that the page stays small however large the registry grows.
REGISTRY_CHOICES_MAX = 100


def nqsws(user: User, limit: int | None = None) -> list[Nqsw]:
    """The NQSWs of the employers this person manages, by name (the first `limit` if given)."""
    return list(db.session.scalars(select(Nqsw).options(joinedload(Nqsw.cohort), joinedload(Nqsw.employer))
                                   .where(user.employer_scope(Nqsw.employer_id)).order_by(Nqsw.name, Nqsw.id)
                                   .limit(limit)))


def nqsw_by_email(user: User, email: str) -> Nqsw | None:
    """The NQSW of an employer this person manages with this email address (any case), else None."""
    return db.session.scalar(select(Nqsw).where(func.lower(Nqsw.email) == email.strip().lower(),
                                                user.employer_scope(Nqsw.employer_id)))


def assessor_by_email(user: User, email: str) -> Assessor | None:
    """The Assessor of an employer this person manages with this email address (any case), else None."""
    return db.session.scalar(select(Assessor).where(func.lower(Assessor.email) == email.strip().lower(),
                                                    user.employer_scope(Assessor.organisation_id)))


def _matching(query: str, *columns: SQLColumnExpression[str]) -> ColumnElement[bool]:
    """Any of these columns contains the typed text, whatever its case (autoescaped: % and _ are characters)."""
    needle = query.strip().lower()
    return or_(*(func.lower(column).contains(needle, autoescape=True) for column in columns))


def nqsw_page(user: User, query: str = "", page: int = 1) -> paging.Paged[Nqsw]:
    """One page of the NQSWs of the employers this person manages, by name, those whose name or email address
    contains `query` if it is given, with how many match in all."""
    statement = select(Nqsw).where(user.employer_scope(Nqsw.employer_id))
    if query.strip():
        statement = statement.where(_matching(query, Nqsw.name, Nqsw.email))
    return paging.page_of(db.session, statement.options(joinedload(Nqsw.cohort), joinedload(Nqsw.employer))
                          .order_by(Nqsw.name, Nqsw.id), page)


def nqsw_for(user: User, nqsw_id: int) -> Nqsw | None:
    """One NQSW of an employer this person manages, else None."""
    return db.session.scalar(select(Nqsw).where(Nqsw.id == nqsw_id, user.employer_scope(Nqsw.employer_id)))


def assessors(user: User, limit: int | None = None) -> list[Assessor]:
    """The Assessors of the employers this person manages, by name (the first `limit` if given)."""
    return list(db.session.scalars(select(Assessor).options(joinedload(Assessor.organisation))
                                   .where(user.employer_scope(Assessor.organisation_id))
                                   .order_by(Assessor.name, Assessor.id).limit(limit)))


def assessor_page(user: User, query: str = "", page: int = 1) -> paging.Paged[Assessor]:
    """One page of the Assessors of the employers this person manages, by name, those whose name or email
    address contains `query` if it is given, with how many match in all."""
    statement = select(Assessor).where(user.employer_scope(Assessor.organisation_id))
    if query.strip():
        statement = statement.where(_matching(query, Assessor.name, Assessor.email))
    return paging.page_of(db.session, statement.options(joinedload(Assessor.organisation))
                          .order_by(Assessor.name, Assessor.id), page)


def assessor_for(user: User, assessor_id: int) -> Assessor | None:
    """One Assessor of an employer this person manages, else None."""
    return db.session.scalar(select(Assessor).where(Assessor.id == assessor_id,
                                                    user.employer_scope(Assessor.organisation_id)))


def employers_for(user: User) -> list[Organisation]:
    """The member employers a person may put an NQSW or Assessor in: every one for the administrator, their own
    for an employer Lead."""
    return list(db.session.scalars(select(Organisation).where(Organisation.kind == OrganisationKind.EMPLOYER.value,
                                                              user.employer_scope(Organisation.id))
                                   .order_by(Organisation.name)))


def nqsw(nqsw_id: int) -> Nqsw | None:
    """One NQSW of the registry by id."""
    return db.session.get(Nqsw, nqsw_id)


def assessor(assessor_id: int) -> Assessor | None:
    """One Assessor of the registry by id."""
    return db.session.get(Assessor, assessor_id)


def email_taken(model: type[Nqsw] | type[Assessor], email: str, except_id: int | None = None) -> bool:
    """True if another NQSW (or Assessor) already has this email address."""
    statement = select(model.id).where(func.lower(model.email) == email.strip().lower())
    if except_id is not None:
        statement = statement.where(model.id != except_id)
    return db.session.scalar(statement.limit(1)) is not None


@dataclass
class NqswDetails:
    """What the Lead records about an NQSW."""

    name: str
    email: str
    employer_id: int | None
    cohort_id: int | None
    service: str


def save_nqsw(actor: User, nqsw: Nqsw | None, details: NqswDetails) -> Nqsw:
    """Add an NQSW to the registry, or change one; no account is created."""
    action = "nqsw.updated" if nqsw else "nqsw.added"
    nqsw = nqsw or Nqsw()
    nqsw.name = details.name.strip()
    nqsw.email = details.email.strip().lower()
    nqsw.employer_id = actor.acting_employer(details.employer_id)
    nqsw.cohort_id = details.cohort_id
    nqsw.service = details.service
    db.session.add(nqsw)
    db.session.flush()
    audit.record(actor, action, f"nqsw:{nqsw.id}")
    db.session.commit()
    return nqsw


def save_assessor(actor: User, assessor: Assessor | None, name: str, email: str,
                  organisation_id: int | None) -> Assessor:
    """Add an Assessor to the registry, or change one; no account is created."""
    action = "assessor.updated" if assessor else "assessor.added"
    assessor = assessor or Assessor()
    assessor.name = name.strip()
    assessor.email = email.strip().lower()
    assessor.organisation_id = actor.acting_employer(organisation_id)
    db.session.add(assessor)
    db.session.flush()
    audit.record(actor, action, f"assessor:{assessor.id}")
    db.session.commit()
    return assessor


@dataclass
class PortfolioDetails:
    """What the Lead records about a portfolio."""

    nqsw_id: int
    assessor_id: int | None
    outcome: str | None
    outcome_date: date | None
    exemplar_consent: bool


def save_portfolio(actor: User, portfolio: Portfolio | None, details: PortfolioDetails) -> Portfolio:
    """Register a portfolio with the Internal Panel's outcome, or change it."""
    action = "portfolio.updated" if portfolio else "portfolio.added"
    portfolio = portfolio or Portfolio(created_at=clock.now())
    portfolio.nqsw_id = details.nqsw_id
    portfolio.assessor_id = details.assessor_id
    portfolio.outcome = details.outcome
    portfolio.outcome_date = details.outcome_date
    portfolio.exemplar_consent = details.exemplar_consent
    db.session.add(portfolio)
    db.session.flush()
    audit.record(actor, action, f"portfolio:{portfolio.id}", outcome=details.outcome or "",
                 exemplar_consent=details.exemplar_consent)
    db.session.commit()
    return portfolio


# Pseudonyms ---------------------------------------------------------------------------------------------


def _new_pseudonym(taken: set[str]) -> str:
    """A fresh random label such as C7 (longer numbers once the short ones run low)."""
    for limit in (9, 99, 999, 9999):
        if len(taken) < len(PSEUDONYM_LETTERS) * limit // 2:
            break
    while True:
        label = f"{secrets.choice(PSEUDONYM_LETTERS)}{secrets.randbelow(limit) + 1}"
        if label not in taken:
            return label


def give_pseudonyms(portfolios: Iterable[Portfolio], replace: bool = False) -> list[Portfolio]:
    """Give each portfolio without a label (or every one, if replace) a new unique label; the caller commits."""
    taken = {label for label in db.session.scalars(select(Portfolio.pseudonym).where(Portfolio.pseudonym.is_not(None)))
             if label is not None}
    changed = []
    for portfolio in portfolios:
        if portfolio.pseudonym and not replace:
            continue
        label = _new_pseudonym(taken)
        portfolio.pseudonym = label
        taken.add(label)
        changed.append(portfolio)
    return changed


def assign_pseudonym(actor: User, portfolio: Portfolio) -> str:
    """Give a portfolio a new panel label; the Lead keeps the key (the registry links label and name)."""
    before = portfolio.pseudonym or ""
    give_pseudonyms([portfolio], replace=True)
    audit.record(actor, "portfolio.pseudonymised", f"portfolio:{portfolio.id}", before=before,
                 after=portfolio.pseudonym)
    db.session.commit()
    return portfolio.pseudonym or ""


# Portfolios and the evidence-completeness check ---------------------------------------------------------


@dataclass
class Requirement:
    """One line of the completeness check, e.g. Direct observations: 2 of 3."""

    evidence_type: EvidenceType
    have: int
    need: int

    @property
    def met(self) -> bool:
        """True when the portfolio has enough of this evidence."""
        return self.have >= self.need


@dataclass
class Completeness:
    """The completeness check of one portfolio."""

    requirements: list[Requirement]

    @property
    def complete(self) -> bool:
        """True when every requirement is met."""
        return all(r.met for r in self.requirements)

    @property
    def missing(self) -> list[Requirement]:
        """The requirements not yet met."""
        return [r for r in self.requirements if not r.met]


def evidence_requirements() -> dict[EvidenceType, int]:
    """The configured requirements (EVIDENCE_REQUIREMENTS setting), in the order evidence types are listed."""
    configured = dict(current_app.config.get("EVIDENCE_REQUIREMENTS") or DEFAULT_EVIDENCE_REQUIREMENTS)
    wanted = {str(key): int(value) for key, value in configured.items()}
    unknown = set(wanted) - {kind.value for kind in EvidenceType}
    if unknown:
        current_app.logger.warning("EVIDENCE_REQUIREMENTS names unknown evidence types: %s", sorted(unknown))
    return {kind: wanted[kind.value] for kind in EvidenceType if wanted.get(kind.value, 0) > 0}


def _live_documents() -> list:
    return [Document.deleted_at.is_(None), Document.current_version_id.is_not(None)]


def completeness(portfolio_ids: list[int]) -> dict[int, Completeness]:
    """The completeness check of many portfolios in one query."""
    counts: dict[int | None, dict[str, int]] = {pid: {} for pid in portfolio_ids}  # by Document.portfolio_id
    if portfolio_ids:
        rows = db.session.execute(
            select(Document.portfolio_id, Document.evidence_type, func.count(Document.id))
            .where(Document.portfolio_id.in_(portfolio_ids), *_live_documents())
            .group_by(Document.portfolio_id, Document.evidence_type)
        )
        for pid, kind, n in rows:
            counts[pid][kind] = int(n)
    requirements = evidence_requirements()
    return {
        pid: Completeness([Requirement(kind, counts[pid].get(kind.value, 0), need)
                           for kind, need in requirements.items()])
        for pid in portfolio_ids
    }


def documents_by_type(portfolio: Portfolio) -> list[tuple[EvidenceType, list[Document]]]:
    """The portfolio's documents grouped by evidence type, in the order types are listed."""
    documents = db.session.scalars(select(Document).where(Document.portfolio_id == portfolio.id,
                                                          *_live_documents()).order_by(Document.created_at))
    groups: dict[EvidenceType, list[Document]] = {}
    for document in documents:
        try:
            kind = EvidenceType(document.evidence_type)
        except ValueError:
            kind = EvidenceType.OTHER
        groups.setdefault(kind, []).append(document)
    return [(kind, groups[kind]) for kind in EvidenceType if kind in groups]


def _visible_portfolios(user: User, query: str) -> Select[Portfolio]:
    """The portfolios this person may see now (visibility.visible_portfolio_ids), by the name they see
    (Portfolio.label_for), those whose name contains `query` if it is given."""
    label = Portfolio.label_column(user)
    statement = (select(Portfolio).join(Nqsw, Nqsw.id == Portfolio.nqsw_id)
                 .where(Portfolio.id.in_(visibility.visible_portfolio_ids(user))))
    if query.strip():
        statement = statement.where(_matching(query, label))
    return statement.order_by(func.lower(label), Portfolio.id)


def portfolio_page(user: User, query: str = "", page: int = 1) -> paging.Paged[Portfolio]:
    """One page of the portfolios this person may see now (all of their employers' for a Lead, the open samples
    of their meetings for the panel), by the name they see, with how many match in all."""
    return paging.page_of(db.session, _visible_portfolios(user, query)
                          .options(joinedload(Portfolio.nqsw).joinedload(Nqsw.cohort)), page)


# CSV import ---------------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    """What a confirmed import wrote."""

    nqsws: int
    assessors: int
    organisations: int
    cohorts: int


class RegistryChanged(Exception):
    """An import clashed with a change someone made to the registry meanwhile; nothing was written."""

    def __init__(self, plan: importer.Plan) -> None:
        super().__init__("the registry changed during the import")
        self.plan = plan


class ImportExpired(Exception):
    """The sealed file of a preview is not this person's, is over an hour old, or was tampered with."""


class ImportRefused(Exception):
    """A confirmed file no longer passes the checks (the registry changed since the preview); see `preview`."""

    def __init__(self, preview: "ImportPreview") -> None:
        super().__init__("; ".join(preview.plan.problems))
        self.preview = preview


@dataclass
class ImportPreview:
    """An uploaded CSV checked row by row, and the file sealed for the confirmation form ("" when refused)."""

    plan: importer.Plan
    sealed: str


TOO_LARGE_TO_SEAL = "The file is too large to import in one go: split it into smaller files"


def preview_import(actor: User, data: bytes) -> ImportPreview:
    """Check an uploaded CSV and seal it (encrypted, for this person, for an hour) for confirmation.

    Nothing is written: the person confirms the preview, and confirm_import checks the file again.
    """
    plan = importer.read(data, actor)
    sealed = importer.seal(actor, data) if plan.ok else None
    if plan.ok and sealed is None:
        plan.problems.append(TOO_LARGE_TO_SEAL)
    return ImportPreview(plan, sealed or "")


def confirm_import(actor: User, sealed: str) -> ImportResult:
    """Write a previewed file, checking it again first; all rows or none.

    Raises ImportExpired when the sealed file cannot be used, ImportRefused (with a fresh preview) when the file
    no longer passes the checks, and RegistryChanged when writing clashed with a change made meanwhile.
    """
    data = importer.unseal(actor, sealed)
    if data is None:
        raise ImportExpired
    preview = preview_import(actor, data)
    if not preview.plan.ok:
        raise ImportRefused(preview)
    return import_cohort(actor, preview.plan)


def import_cohort(actor: User, plan: importer.Plan) -> ImportResult:
    """Write a checked plan in one transaction, all rows or none; RegistryChanged if it clashed with the registry."""
    if not plan.ok:
        raise ValueError("only a plan with no bad rows can be imported")
    organisations = {o.name.lower(): o for o in db.session.scalars(select(Organisation))}
    own = db.session.get(Organisation, actor.own_employer_id) if actor.own_employer_id is not None else None
    cohorts = {c.name.lower(): c for c in db.session.scalars(select(Cohort))}
    assessors = {a.email.lower(): a for a in db.session.scalars(select(Assessor))}
    created = ImportResult(0, 0, 0, 0)

    def organisation(name: str) -> Organisation:
        if own is not None:  # an employer Lead's import: the plan checked every name is theirs
            return own
        if name.lower() not in organisations:
            organisations[name.lower()] = new_employer(name)
            created.organisations += 1
        return organisations[name.lower()]

    for row in plan.rows:
        if row["cohort"].lower() not in cohorts:
            cohorts[row["cohort"].lower()] = Cohort(name=row["cohort"], employer_id=actor.own_employer_id)
            created.cohorts += 1
        assessor = None
        if row["assessor_email"]:
            assessor = assessors.get(row["assessor_email"])
            if assessor is None:
                assessor = assessors[row["assessor_email"]] = Assessor(
                    name=row["assessor_name"], email=row["assessor_email"],
                    organisation=own or (organisation(row["assessor_organisation"])
                                         if row["assessor_organisation"] else None))
                created.assessors += 1
        nqsw = Nqsw(name=row["nqsw_name"], email=row["nqsw_email"], employer=organisation(row["employer"]),
                    cohort=cohorts[row["cohort"].lower()], service=(row.service or Service.CHILDREN).value)
        db.session.add(Portfolio(nqsw=nqsw, assessor=assessor, outcome=row.outcome.value if row.outcome else None,
                                 outcome_date=row.outcome_date, exemplar_consent=row.exemplar_consent,
                                 created_at=clock.now()))
        created.nqsws += 1
    try:
        db.session.flush()
        audit.record(actor, "cohort.imported", "", nqsws=created.nqsws, assessors=created.assessors,
                     organisations=created.organisations, cohorts=created.cohorts)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise RegistryChanged(plan) from None
    return created
