"""Counting submitted assessments: Part 1 evidence, the Part 2 criteria, agreement and support answers."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from portal.models import Agreement, Assessment
from portal.reviews.template_default import CRITERIA, EVIDENCE_ITEMS, SUPPORT

CRITERIA_KEYS = [key for key, _label, _hint in CRITERIA]
SUPPORT_KEYS = [key for key, _label, _hint in SUPPORT]
EVIDENCE_KEYS = [key for key, _label, _hint in EVIDENCE_ITEMS]
AGREEMENT_KEYS = [a.value for a in Agreement]
# The questions the counts tables list (templates/reviews/_assessments.html), for every page that shows them.
TABLES = {"criteria": CRITERIA, "support": SUPPORT, "evidence": EVIDENCE_ITEMS}


def _tally(values: Iterable[str]) -> dict[str, int]:
    return {value: 0 for value in values}


@dataclass
class Summary:
    """Counts over the submitted assessments of one portfolio (or of a whole meeting).

    evidence[item]["yes"|"no"], criteria[criterion]["yes"|"no"], agreement["agree"|"agree_with_reservations"|
    "disagree"] and support[question]["yes"|"no"|"unclear"] count answers; submitted counts assessments and
    written those submitted in writing by members who sent apologies.
    """

    submitted: int = 0
    written: int = 0
    evidence: dict[str, dict[str, int]] = field(
        default_factory=lambda: {key: _tally(("yes", "no")) for key in EVIDENCE_KEYS})
    criteria: dict[str, dict[str, int]] = field(
        default_factory=lambda: {key: _tally(("yes", "no")) for key in CRITERIA_KEYS})
    agreement: dict[str, int] = field(default_factory=lambda: _tally(AGREEMENT_KEYS))
    support: dict[str, dict[str, int]] = field(
        default_factory=lambda: {key: _tally(("yes", "no", "unclear")) for key in SUPPORT_KEYS})

    def add(self, assessment: Assessment) -> None:
        """Count one submitted assessment's answers."""
        answers = assessment.answer_map
        self.submitted += 1
        self.written += 1 if assessment.written else 0
        found = answers.get("evidence")
        evidence: dict[str, Any] = found if isinstance(found, dict) else {}
        for key, tally in self.evidence.items():
            if evidence.get(key) in tally:
                tally[evidence[key]] += 1
        for group in (self.criteria, self.support):
            for key, tally in group.items():
                if answers.get(key) in tally:
                    tally[answers[key]] += 1
        if answers.get("agreement") in self.agreement:
            self.agreement[answers["agreement"]] += 1


def summarise(assessments: Iterable[Assessment]) -> Summary:
    """Count the submitted assessments among these (drafts are ignored)."""
    summary = Summary()
    for assessment in assessments:
        if assessment.submitted:
            summary.add(assessment)
    return summary
