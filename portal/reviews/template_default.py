"""The default assessment form, after the Skills for Care external moderation reviewer template.

Answer keys are a contract: reports count "evidence" items, the Part 2 criteria, "agreement" and the
support questions by these exact keys, so a new template version must keep them (see form_schema.REQUIRED_KEYS).
"""

from typing import Any

DEFAULT_NAME = "External moderation reviewer template"

YES_NO = [["yes", "Yes"], ["no", "No"]]
YES_NO_UNCLEAR = [["yes", "Yes"], ["no", "No"], ["unclear", "Not clear from the evidence"]]

EVIDENCE_ITEMS = [
    ("agreement", "Support and assessment agreement", None),
    ("pdp", "Professional development plans", None),
    ("review_3_month", "3-month review", None),
    ("review_6_month", "6-month review", None),
    ("final_report", "Final assessment report", "With the Assessor's recommendation"),
    ("critical_reflection", "Critical reflections", None),
    ("direct_observation", "Direct observations", "At least 3 observations of practice"),
    ("supervision", "Supervision records", None),
    ("protected_time", "Record of protected time", None),
    ("people_feedback", "Feedback from people who use services and carers", None),
]

CRITERIA = [
    ("accurate", "Is the decision accurate?",
     "The evidence shows practice at the level of the Knowledge and Skills Statement (KSS) and the "
     "Professional Capabilities Framework (PCF) for the end of the ASYE."),
    ("valid", "Is the evidence valid?",
     "The evidence is the NQSW's own work and relevant to the KSS and PCF."),
    ("robust", "Is the decision robust?",
     "The judgement is well reasoned and consistent with evidence from different sources across the year."),
    ("sufficient", "Is the evidence sufficient?",
     "There is enough evidence, across the year, to support the decision against the KSS and PCF."),
]

SUPPORT = [
    ("supervision_frequency", "Did the NQSW have supervision at the required frequency?",
     "Weekly for the first 6 weeks, at least fortnightly until 6 months, then at least monthly."),
    ("protected_time", "Did the NQSW have 10% protected time for professional development?", None),
    ("reduced_workload", "Did the NQSW have a reduced workload?",
     "A workload reduced from that of an experienced social worker during the ASYE."),
    ("reviews_3_and_6_months", "Were reviews held at 3 and 6 months?", None),
]


def _choice(key: str, label: str, hint: str | None, options: list[list[str]], group: str | None = None
            ) -> dict[str, Any]:
    question: dict[str, Any] = {"key": key, "type": "choice", "label": label, "options": options, "required": True}
    if hint:
        question["hint"] = hint
    if group:
        question["group"] = group
    return question


def _text(key: str, label: str, hint: str, required: bool = False) -> dict[str, Any]:
    return {"key": key, "type": "text", "label": label, "hint": hint, "required": required}


DEFAULT_SCHEMA: dict[str, Any] = {
    "sections": [
        {
            "key": "part1",
            "title": "Part 1: evidence in the portfolio",
            "hint": "Is each piece of evidence present in the portfolio?",
            "questions": [_choice(key, label, hint, YES_NO, group="evidence") for key, label, hint in EVIDENCE_ITEMS]
            + [_text("evidence_comment", "Comments on the evidence (optional)",
                     "For example, evidence that is missing, late or hard to find.")],
        },
        {
            "key": "part2",
            "title": "Part 2: the decision",
            "hint": "Judge the Internal Panel's decision against the KSS and the PCF.",
            "questions": [
                q for key, label, hint in CRITERIA
                for q in (_choice(key, label, hint, YES_NO),
                          _text(f"{key}_comment", f"Comments: {label[:-1].lower()} (optional)",
                                "Give reasons, with examples from the portfolio."))
            ] + [
                _choice("agreement", "Do you agree with the Internal Panel's decision?", None,
                        [["agree", "Agree"], ["agree_with_reservations", "Agree with reservations"],
                         ["disagree", "Disagree"]]),
                _text("agreement_comment", "Reasons for your view (optional)",
                      "Needed most when you have reservations or disagree."),
            ],
        },
        {
            "key": "support",
            "title": "Quality of support",
            "hint": "Did the programme give the NQSW the support the ASYE requires?",
            "questions": [_choice(key, label, hint, YES_NO_UNCLEAR) for key, label, hint in SUPPORT]
            + [_text("support_comment", "Comments on the support (optional)",
                     "For example, what the evidence shows or leaves unclear.")],
        },
        {
            "key": "part3",
            "title": "Part 3: feedback",
            "hint": "Feedback the Chair may share, after the meeting, with the Assessor and the NQSW.",
            "questions": [
                _text("feedback_assessor", "Feedback to the Assessor",
                      "What went well in the assessment and what could be better.", required=True),
                _text("feedback_nqsw", "Feedback to the NQSW",
                      "What went well in the portfolio and what could be better.", required=True),
                _text("exemplars", "Exemplar suggestions (optional)",
                      "Pieces of work that could be shared with other NQSWs and Assessors, as examples."),
                _text("themes", "Themes for the programme (optional)",
                      "Issues the ASYE Steering Group should consider."),
            ],
        },
    ]
}
