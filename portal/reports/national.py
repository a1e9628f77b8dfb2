"""The submission to the national moderation panel: the partnership summary report and a random sample of the
meeting's assessment records, pseudonymised (portfolio labels and employer codes only), as one ZIP of PDF and
DOCX files with a manifest of their SHA-256 digests.

The sample is drawn as the panel's sample is (portal/meetings/sampling.py): the submitted assessments' ids are
put in order of HMAC-SHA256(seed, id) and the first `size` are taken, where size is SHARE_PERCENT of them rounded
up, at least one. The seed is fresh for each export and recorded, with the ids and the picks, in the manifest and
in the audit trail (`national_export.created`), so anyone can re-run it.
"""

import hashlib
import io
import json
import math
import secrets
import zipfile
from dataclasses import replace

from sqlalchemy import select

from portal import audit, clock
from portal.extensions import db
from portal.meetings.sampling import draw_key
from portal.models import Assessment, AssessmentStatus, Meeting, SampledPortfolio, User
from portal.reports import content, minutes_data
from portal.reports.render import Heading, Paragraph, Report, Table, to_docx, to_pdf
from portal.reviews import form_schema

SHARE_PERCENT = 5
METHOD = "hmac-sha256-order, first ceil(5% of n), at least 1"


def meeting(meeting_id: int) -> Meeting | None:
    """The meeting to export (the administrator, the only one who may, sees every meeting)."""
    return db.session.get(Meeting, meeting_id)


def exportable(meeting: Meeting) -> bool:
    """Only a meeting whose minutes are published is submitted."""
    return meeting.minutes_published_at is not None


def assessments_of(meeting: Meeting) -> list[Assessment]:
    """The meeting's submitted assessments of its sampled portfolios, by id: the population of the sample."""
    sampled = select(SampledPortfolio.portfolio_id).where(SampledPortfolio.meeting_id == meeting.id)
    return list(db.session.scalars(select(Assessment).where(
        Assessment.meeting_id == meeting.id, Assessment.status == AssessmentStatus.SUBMITTED.value,
        Assessment.portfolio_id.in_(sampled)).order_by(Assessment.id)))


def pick(seed: str, ids: list[int]) -> list[int]:
    """The sample of assessment ids: SHARE_PERCENT rounded up, at least one, in HMAC order under the seed."""
    if not ids:
        return []
    size = max(1, math.ceil(len(ids) * SHARE_PERCENT / 100))
    return sorted(ids, key=lambda i: (draw_key(seed, i), i))[:size]


def _codes(meeting: Meeting) -> dict[int, str]:
    from portal.meetings.services import employer_code

    return {s.portfolio_id: employer_code(s.portfolio) for s in meeting.sampled}


def _assessment_report(number: int, assessment: Assessment, label: str, code: str) -> Report:
    """One assessment record with the member shown by number only."""
    schema = json.loads(assessment.template.schema or "{}")
    answers = json.loads(assessment.answers or "{}")
    report = Report(f"Assessment record {number}: {label} (Employer {code})")
    report.add(Heading(1, report.title),
               Paragraph(f"Submitted {clock.format_date(assessment.submitted_at)} by a panel member"
                         + (" in writing (apologies sent)." if assessment.written else ".")))
    for section in schema.get("sections", []):
        rows = [[question["label"], form_schema.display(question, form_schema.answer_of(answers, question))]
                for question in section.get("questions", [])]
        report.add(Heading(2, section.get("title", "")), Table(section.get("title", ""), ["Question", "Answer"], rows))
    return report


def build(actor: User, meeting: Meeting) -> tuple[str, bytes]:
    """The ZIP for this meeting and its file name; audited with the seed, population, picks and digests."""
    data = minutes_data.build(meeting, actor)
    # Pseudonymised: the panel's labels, never the NQSW's name the administrator would otherwise see.
    data.panel.portfolios = [replace(item, label=f"Portfolio {item.portfolio.pseudonym}" if item.portfolio.pseudonym
                                     else f"Portfolio {index}")
                             for index, item in enumerate(data.panel.portfolios, start=1)]
    labels = {item.portfolio.id: item.label for item in data.panel.portfolios}
    codes = _codes(meeting)
    population = assessments_of(meeting)
    seed = secrets.token_hex(16)
    picks = pick(seed, [a.id for a in population])
    by_id = {a.id: a for a in population}
    files: dict[str, bytes] = {}
    summary = content.summary_report(data, pseudonymised=True)
    files["partnership-summary-report.pdf"] = to_pdf(summary)
    files["partnership-summary-report.docx"] = to_docx(summary)
    for number, assessment_id in enumerate(picks, start=1):
        assessment = by_id[assessment_id]
        document = _assessment_report(number, assessment, labels.get(assessment.portfolio_id, "Portfolio"),
                                      codes.get(assessment.portfolio_id, "not recorded"))
        files[f"assessment-record-{number}.pdf"] = to_pdf(document)
        files[f"assessment-record-{number}.docx"] = to_docx(document)
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    manifest = {"meeting_date": meeting.held_on.isoformat(), "created": clock.now().isoformat(timespec="seconds"),
                "sample": {"method": METHOD, "seed": seed, "share_percent": SHARE_PERCENT,
                           "population": [a.id for a in population], "picks": picks},
                "files": digests}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, contents in files.items():
            archive.writestr(name, contents)
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
    audit.record(actor, "national_export.created", f"meeting:{meeting.id}", seed=seed,
                 population=[a.id for a in population], picks=picks, files=digests)
    db.session.commit()
    return f"national-moderation-{meeting.held_on.isoformat()}-{meeting.id}.zip", buffer.getvalue()
