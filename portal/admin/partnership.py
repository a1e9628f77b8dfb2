"""The partnership the portal hosts and its member employers, each with its partnership code (E1, E2 ...).

The partnership administrator adds employers and invites their Leads (portal/admin/views.py). Every organisation
of kind "employer" is a member employer; the panel knows each only by its code.
"""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import undefer

from portal import audit
from portal.extensions import db
from portal.models import Nqsw, Organisation, OrganisationKind, Partnership, Portfolio, Role, User

DEFAULT_NAME = "Moderation partnership"


def partnership() -> Partnership | None:
    """The partnership's record (made by the 0007 migration; absent only on a database built without it)."""
    return db.session.scalar(select(Partnership).order_by(Partnership.id).limit(1))


def partnership_name() -> str:
    """The partnership's name as people see it."""
    found = partnership()
    return found.name if found is not None else DEFAULT_NAME


def rename(actor: User, name: str) -> None:
    """Change the partnership's name."""
    found = partnership() or Partnership(name=name)
    before = found.name if found.id is not None else ""
    found.name = name.strip()
    db.session.add(found)
    audit.record(actor, "partnership.renamed", "partnership", before=before, after=found.name)
    db.session.commit()


def next_code() -> str:
    """The next free partnership code: one more than the highest given so far (codes are never reused)."""
    codes = db.session.scalars(select(Organisation.code).where(Organisation.code.is_not(None)))
    numbers = [int(code[1:]) for code in codes if code is not None and code[1:].isdigit()]
    return f"E{max(numbers, default=0) + 1}"


def new_employer(name: str) -> Organisation:
    """A new member employer with the next partnership code, added to the session (the caller audits, commits)."""
    employer = Organisation(name=name.strip(), kind=OrganisationKind.EMPLOYER.value, code=next_code())
    db.session.add(employer)
    return employer


@dataclass
class EmployerSummary:
    """One member employer on the partnership page."""

    employer: Organisation
    nqsws: int
    portfolios: int
    leads: list[User]


def employers() -> list[EmployerSummary]:
    """Every member employer, by code number, with its numbers and its Leads."""
    found = list(db.session.scalars(select(Organisation).options(undefer(Organisation.code))
                                    .where(Organisation.kind == OrganisationKind.EMPLOYER.value)))
    nqsws = dict(db.session.execute(select(Nqsw.employer_id, func.count(Nqsw.id)).group_by(Nqsw.employer_id)).all())
    portfolios = dict(db.session.execute(
        select(Nqsw.employer_id, func.count(Portfolio.id)).join(Portfolio, Portfolio.nqsw_id == Nqsw.id)
        .where(Portfolio.purged_at.is_(None)).group_by(Nqsw.employer_id)).all())
    leads: dict[int, list[User]] = {}
    for lead in db.session.scalars(select(User).where(User.role == Role.LEAD.value).order_by(User.name)):
        leads.setdefault(lead.organisation_id or 0, []).append(lead)

    def order(organisation: Organisation) -> tuple[int, str]:
        code = organisation.code or ""
        return (int(code[1:]) if code[1:].isdigit() else 10**9, organisation.name.lower())

    return [EmployerSummary(o, int(nqsws.get(o.id, 0)), int(portfolios.get(o.id, 0)), leads.get(o.id, []))
            for o in sorted(found, key=order)]


def codes() -> dict[int, str]:
    """Each employer's panel name ("Employer E2"), by organisation id: what the panel sees instead of names."""
    rows = db.session.execute(select(Organisation.id, Organisation.code)
                              .where(Organisation.kind == OrganisationKind.EMPLOYER.value))
    return {organisation_id: f"Employer {code}" if code else "Employer" for organisation_id, code in rows}
