"""Reading a cohort CSV into a plan, row by row, and sealing it between the preview and the confirmation.

The file is read in memory only and nothing is written until the Lead confirms a plan with no bad rows.
Between the two steps the CSV travels in the confirmation form, compressed and encrypted under the
keyring and bound to the Lead and the time, so no plaintext copy is kept anywhere on the server.
"""

import base64
import csv
import io
import json
import re
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select

from portal import clock
from portal.extensions import db
from portal.models import Assessor, Cohort, Nqsw, Organisation, Outcome, Service, User
from portal.security import crypto
from portal.wording import count_of

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000
# A form field above this would be refused by the server's form-size limit.
MAX_SEALED_CHARS = 450_000
SEAL_SECONDS = 3600
_SEAL_COLUMN = "cohort_import.csv"

COLUMNS = ("nqsw_name", "nqsw_email", "employer", "cohort", "service", "assessor_name", "assessor_email",
           "assessor_organisation", "outcome", "outcome_date", "exemplar_consent")
REQUIRED = ("nqsw_name", "nqsw_email", "employer", "cohort", "service")
EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
SERVICES = {"children": Service.CHILDREN, "childrens": Service.CHILDREN, "adults": Service.ADULTS,
            "adult": Service.ADULTS}
OUTCOMES = {"pass": Outcome.PASS, "passed": Outcome.PASS, "fail": Outcome.FAIL, "failed": Outcome.FAIL,
            "extension": Outcome.EXTENSION, "extended": Outcome.EXTENSION}
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0", ""}


@dataclass
class Row:
    """One data row of the file, checked."""

    line: int
    values: dict[str, str]
    service: Service | None = None
    outcome: Outcome | None = None
    outcome_date: date | None = None
    exemplar_consent: bool = False
    errors: list[str] = field(default_factory=list)

    def __getitem__(self, column: str) -> str:
        return self.values.get(column, "")


@dataclass
class Plan:
    """What an import would do, or why it cannot."""

    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # about the whole file
    new_organisations: list[str] = field(default_factory=list)
    new_cohorts: list[str] = field(default_factory=list)
    new_assessors: int = 0

    @property
    def bad_rows(self) -> list[Row]:
        """Rows with at least one error."""
        return [row for row in self.rows if row.errors]

    @property
    def ok(self) -> bool:
        """True when the whole file can be imported."""
        return not self.problems and not self.bad_rows and bool(self.rows)


def _service(text: str) -> Service | None:
    key = re.sub(r"[^a-z]", "", text.lower().replace("services", "").replace("service", ""))
    return SERVICES.get(key)


def _date(text: str) -> date | None:
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def _check(row: Row, today: date) -> None:
    """Field-by-field checks that need no other row and no database."""
    for column in REQUIRED:
        if not row[column]:
            row.errors.append(f"{column} is missing")
    for column, limit in (("nqsw_name", 200), ("assessor_name", 200), ("employer", 200),
                          ("assessor_organisation", 200), ("cohort", 120)):
        if len(row[column]) > limit:
            row.errors.append(f"{column} is longer than {limit} characters")
    for column in ("nqsw_email", "assessor_email"):
        if row[column] and (len(row[column]) > 254 or not EMAIL.match(row[column])):
            row.errors.append(f"{column} “{row[column]}” is not an email address")
    if row["service"]:
        row.service = _service(row["service"])
        if row.service is None:
            row.errors.append(f"service “{row['service']}” is not one the portal knows: write children or adults")
    if row["outcome"]:
        row.outcome = OUTCOMES.get(row["outcome"].lower())
        if row.outcome is None:
            row.errors.append(f"outcome “{row['outcome']}” is not one the portal knows: write pass, fail or extension")
    if row["outcome_date"]:
        row.outcome_date = _date(row["outcome_date"])
        if row.outcome_date is None:
            row.errors.append(f"outcome_date “{row['outcome_date']}” is not a date like 2026-07-31 or 31/07/2026")
        elif row.outcome_date > today:
            row.errors.append("outcome_date is in the future")
    if row["outcome"] and not row["outcome_date"]:
        row.errors.append("outcome_date is missing (needed when there is an outcome)")
    if row["outcome_date"] and not row["outcome"]:
        row.errors.append("outcome is missing (needed when there is an outcome_date)")
    if bool(row["assessor_name"]) != bool(row["assessor_email"]):
        row.errors.append("give both assessor_name and assessor_email, or neither")
    if row["assessor_organisation"] and not row["assessor_email"]:
        row.errors.append("assessor_organisation is given without an Assessor")
    consent = row["exemplar_consent"].lower()
    if consent not in YES | NO:
        row.errors.append(f"exemplar_consent “{row['exemplar_consent']}” is not yes or no")
    row.exemplar_consent = consent in YES


def _decode(data: bytes, plan: Plan) -> str | None:
    if not data.strip():
        plan.problems.append("The file is empty")
        return None
    if len(data) > MAX_BYTES:
        plan.problems.append(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        plan.problems.append("The file is not a CSV saved as UTF-8 text")
        return None


def read(data: bytes, actor: User) -> Plan:
    """Check every row of a CSV against the registry, for the person importing it; write nothing.

    An employer Lead imports only their own employer's NQSWs and Assessors: each row's employer (and any
    assessor_organisation) must be their employer, and the file may not reuse another employer's Assessor or
    cohort. The partnership administrator imports for any employer; a new employer named in the file joins the
    partnership."""
    plan = Plan()
    text = _decode(data, plan)
    if text is None:
        return plan
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader)]
    except (StopIteration, csv.Error):
        plan.problems.append("The file has no header row")
        return plan
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    if missing:
        plan.problems.append("The header row (line 1) lacks the column(s): " + ", ".join(missing))
    if unknown:
        plan.problems.append("The header row (line 1) has unknown column(s): " + ", ".join(unknown))
    if len(set(header)) != len(header):
        plan.problems.append("The header row (line 1) names a column twice")
    if plan.problems:
        return plan
    today = clock.now().date()
    start = 2
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            values = {name: cell.strip() for name, cell in zip(header, cells, strict=False)}
            values["nqsw_email"] = values.get("nqsw_email", "").lower()
            values["assessor_email"] = values.get("assessor_email", "").lower()
            row = Row(line, values)
            if len(cells) != len(header):
                row.errors.append(f"has {count_of(len(cells), 'value', 'values')} but the header has "
                                  f"{count_of(len(header), 'column', 'columns')}")
            _check(row, today)
            plan.rows.append(row)
            if len(plan.rows) > MAX_ROWS:
                plan.problems.append(f"The file has more than {MAX_ROWS} rows: split it")
                return plan
    except csv.Error as exc:
        plan.problems.append(f"Line {start}: the file is not valid CSV ({exc})")
        return plan
    if not plan.rows:
        plan.problems.append("The file has a header row but no data rows")
    _check_against_registry(plan, actor)
    return plan


def _check_against_registry(plan: Plan, actor: User) -> None:
    """Duplicates within the file and with the registry; what would be created."""
    emails = [row["nqsw_email"] for row in plan.rows if row["nqsw_email"]]
    existing_nqsws = set(db.session.scalars(select(func.lower(Nqsw.email)).where(func.lower(Nqsw.email).in_(emails))))
    assessor_emails = {row["assessor_email"] for row in plan.rows if row["assessor_email"]}
    found_assessors = list(db.session.scalars(select(Assessor).where(func.lower(Assessor.email).in_(assessor_emails))))
    existing_assessors = {a.email.lower(): a.name for a in found_assessors}
    foreign_assessors = {a.email.lower() for a in found_assessors if not actor.manages(a.organisation_id)}
    organisations = {name.lower() for name in db.session.scalars(select(Organisation.name))}
    all_cohorts = list(db.session.scalars(select(Cohort)))
    cohorts = {c.name.lower() for c in all_cohorts}
    foreign_cohorts = {c.name.lower() for c in all_cohorts
                       if c.employer_id is not None and not actor.manages(c.employer_id)}
    own = db.session.get(Organisation, actor.own_employer_id) if actor.own_employer_id is not None else None
    if not actor.is_admin and own is None:
        plan.problems.append("Your account belongs to no employer, so you cannot import a cohort. "
                             "Ask the partnership administrator.")
    first_line: dict[str, int] = {}
    assessor_names: dict[str, str] = dict(existing_assessors)
    new_organisations: dict[str, str] = {}
    new_cohorts: dict[str, str] = {}
    new_assessors: set[str] = set()
    for row in plan.rows:
        email = row["nqsw_email"]
        if email in existing_nqsws:
            row.errors.append(f"nqsw_email {email} is already in the registry")
        elif email and email in first_line:
            row.errors.append(f"nqsw_email {email} is also on line {first_line[email]}")
        first_line.setdefault(email, row.line)
        if (assessor := row["assessor_email"]) and row["assessor_name"]:
            known = assessor_names.setdefault(assessor, row["assessor_name"])
            if known.lower() != row["assessor_name"].lower():
                row.errors.append(f"assessor_email {assessor} belongs to an Assessor named “{known}”")
            if assessor not in existing_assessors:
                new_assessors.add(assessor)
            elif assessor in foreign_assessors:
                row.errors.append(f"assessor_email {assessor} is registered for another employer: "
                                  "ask the partnership administrator")
        if own is not None:
            for column in ("employer", "assessor_organisation"):
                if row[column] and row[column].lower() != own.name.lower():
                    row.errors.append(f"{column} “{row[column]}” is not your employer: you import {own.name}'s "
                                      "cohort only")
        elif actor.is_admin:
            for name in (row["employer"], row["assessor_organisation"]):
                if name and name.lower() not in organisations:
                    new_organisations.setdefault(name.lower(), name)
        if row["cohort"].lower() in foreign_cohorts:
            row.errors.append(f"cohort “{row['cohort']}” is another employer's: choose another name")
        elif row["cohort"] and row["cohort"].lower() not in cohorts:
            new_cohorts.setdefault(row["cohort"].lower(), row["cohort"])
    plan.new_organisations = sorted(new_organisations.values(), key=str.lower)
    plan.new_cohorts = sorted(new_cohorts.values(), key=str.lower)
    plan.new_assessors = len(new_assessors)


def seal(actor: User, data: bytes) -> str | None:
    """The file, compressed and encrypted for the confirmation form; None if too large for a form."""
    payload = json.dumps({"by": actor.id, "at": int(clock.now().timestamp()),
                          "csv": base64.b64encode(zlib.compress(data, 9)).decode("ascii")})
    sealed = crypto.installed().encrypt_field(_SEAL_COLUMN, payload)
    return sealed if len(sealed) <= MAX_SEALED_CHARS else None


def unseal(actor: User, sealed: str) -> bytes | None:
    """The file sealed by this person within the last hour, or None."""
    try:
        payload = json.loads(crypto.installed().decrypt_field(_SEAL_COLUMN, sealed))
        if payload["by"] != actor.id or not 0 <= clock.now().timestamp() - payload["at"] <= SEAL_SECONDS:
            return None
        return zlib.decompressobj().decompress(base64.b64decode(payload["csv"]), MAX_BYTES + 1)
    except (crypto.DecryptionError, ValueError, KeyError, TypeError, zlib.error):
        return None
