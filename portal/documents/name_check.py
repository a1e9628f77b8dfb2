"""The names check: which people's names a document's text still carries, page by page, so the Lead can upload a
redacted version before the panel reads it.

Removing the names hidden in a file's metadata is the panel copy's job (portal/documents/cleaning.py); this looks
at the words the panel will read. It runs at upload, on the plaintext already in memory for the panel copy, and
again on every sampled document when a sample is drawn (the `name-check` job), since the registry may have grown
since the upload. Text is extracted in memory only (portal/reading/extract.py); nothing is written to disk. The
findings hold names, so they are encrypted like every free text and shown to the Lead alone; everyone else sees
at most a count.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import literal, select, union_all

from portal import clock
from portal.documents.names import Finder, Found, Name, describe_pages
from portal.extensions import db
from portal.models import (
    Assessor,
    Document,
    DocumentVersion,
    NamesCheck,
    Nqsw,
    Organisation,
    OrganisationKind,
    Portfolio,
)
from portal.reading import extract

READABLE = frozenset({"pdf", "docx", "txt"})  # the kinds whose text the portal can read

NQSW, ASSESSOR = "the NQSW", "the Assessor"
OTHER_NQSW, OTHER_ASSESSOR = "another NQSW in the registry", "an Assessor in the registry"
EMPLOYER = "an employer in the partnership"


def names_for(portfolio: Portfolio) -> list[Name]:
    """The names to look for in a portfolio's documents: its NQSW's and Assessor's first, then everyone else in the
    registry and the partnership's employers (one query, whatever its size)."""
    names = [Name(portfolio.nqsw.name, NQSW)]
    if portfolio.assessor is not None:
        names.append(Name(portfolio.assessor.name, ASSESSOR))
    return names + _registry()


def _registry() -> list[Name]:
    """Everyone in the registry, NQSWs first, then the partnership's employers when there are several (the panel
    knows each only by a code, so an employer's name in a document identifies it); one query."""
    everyone = union_all(select(Nqsw.name, literal(OTHER_NQSW).label("who"), literal(0).label("part"),
                                Nqsw.id.label("at")),
                         select(Assessor.name, literal(OTHER_ASSESSOR), literal(1), Assessor.id),
                         select(Organisation.name, literal(EMPLOYER), literal(2), Organisation.id)
                         .where(Organisation.kind == OrganisationKind.EMPLOYER.value))
    rows = db.session.execute(everyone.order_by("part", "at")).all()
    if sum(1 for row in rows if row.who == EMPLOYER) < 2:
        rows = [row for row in rows if row.who != EMPLOYER]  # a partnership of one: its name identifies no one
    return [Name(row.name, row.who) for row in rows]


def finder_for(portfolio: Portfolio | None) -> Finder:
    """A finder for a portfolio's names (built before a file streams: nothing touches the database meanwhile); for
    a document in no portfolio, the registry's names."""
    return Finder(names_for(portfolio) if portfolio is not None else _registry())


def pages_of(kind: str, plaintext: bytes) -> tuple[list[str], bool]:
    """A document's text as a list of pages (PDF) or one text (Word, plain text), and whether it has pages.
    Raises extract.Unreadable."""
    if kind == "pdf":
        return extract.pdf_texts(plaintext), True
    if kind == "docx":
        return [extract.docx_text(plaintext)], False
    return [extract.plain_text(plaintext)], False


def check(version: DocumentVersion, kind: str, plaintext: bytes | None, finder: Finder) -> None:
    """Search one version's text and record the outcome on its row (the caller commits). `plaintext` is None when
    the file was too large to read into memory."""
    version.names_checked_at = clock.now()
    found: list[Found] = []
    if kind not in READABLE:
        version.names_check = NamesCheck.NO_TEXT
    elif plaintext is None:
        version.names_check = NamesCheck.TOO_LARGE
    else:
        try:
            pages, paged = pages_of(kind, plaintext)
        except extract.Unreadable:
            version.names_check = NamesCheck.UNREADABLE
        else:
            found = finder.find(pages, paged)
            version.names_check = NamesCheck.NAMED if found else NamesCheck.CLEAR
    version.names_found = json.dumps([item.as_dict() for item in found]) if found else None


@dataclass(frozen=True)
class Finding:
    """One name found in a version, as the Lead is told it."""

    name: str
    who: str
    where: str  # "on pages 1 and 3", or "in the document"


def findings(version: DocumentVersion) -> list[Finding]:
    """What the check found in a version (for the Lead's eyes only)."""
    if version.names_check != NamesCheck.NAMED or not version.names_found:
        return []
    return [Finding(item["name"], item["who"],
                    f"on {describe_pages(item['pages'])}" if item["pages"] else "in the document")
            for item in json.loads(version.names_found)]


def naming(documents: Iterable[Document]) -> list[tuple[Document, list[Finding]]]:
    """The documents whose current version still names someone, with what was found (no query)."""
    return [(d, findings(d.current_version)) for d in documents
            if d.current_version is not None and d.current_version.names_check == NamesCheck.NAMED]


CHECK_LABELS = {
    None: "Not checked yet",
    NamesCheck.CLEAR: "No names found",
    NamesCheck.NAMED: "Names found",
    NamesCheck.NO_TEXT: "Not checked: the portal cannot read the text of this kind of file",
    NamesCheck.TOO_LARGE: "Not checked: the file is too large to read",
    NamesCheck.UNREADABLE: "Not checked: the file is damaged or protected with a password",
}


def label(version: DocumentVersion) -> str:
    """The outcome of a version's check in words."""
    return CHECK_LABELS.get(NamesCheck(version.names_check) if version.names_check else None, CHECK_LABELS[None])


@dataclass(frozen=True)
class SampleNames:
    """For a meeting's readiness: how many sampled documents still name someone, and how many could not be
    checked. Counts only: the names themselves are for the Lead, on each document's page."""

    documents: int
    naming: int
    not_checked: int


def sample_names(documents: Iterable[Document]) -> SampleNames:
    """Counts over the current versions of these documents (already loaded: no query)."""
    checks = [d.current_version.names_check for d in documents if d.current_version is not None]
    return SampleNames(len(checks), sum(1 for c in checks if c == NamesCheck.NAMED),
                       sum(1 for c in checks if c not in (NamesCheck.NAMED, NamesCheck.CLEAR)))
