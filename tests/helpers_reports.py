"""Builds a meeting with a drawn sample, panel views and submitted assessments, straight in the database;
counts the SQL statements a page runs."""

import json
from dataclasses import dataclass
from datetime import date, timedelta

from flask import Flask

from portal import clock
from portal.extensions import db
from portal.models import (
    Assessment,
    AssessmentTemplate,
    Assessor,
    Attendance,
    Cohort,
    Meeting,
    MeetingMember,
    Nqsw,
    Organisation,
    PanelRole,
    PanelView,
    Portfolio,
    SampledPortfolio,
    SampleDraw,
    User,
)

ANSWERS = {"accurate": "yes", "valid": "yes", "robust": "no", "sufficient": "yes", "agreement": "agree",
           "evidence": {"agreement": "yes", "pdp": "yes", "final_report": "no"}}


@dataclass
class Built:
    """Ids of what was built."""

    meeting_id: int
    portfolio_ids: list[int]
    nqsw_emails: list[str]
    assessor_emails: list[str]
    cohort_nqsw_email: str


def _sequence() -> int:
    _sequence.value += 1  # type: ignore[attr-defined]
    return _sequence.value  # type: ignore[attr-defined]


_sequence.value = 0  # type: ignore[attr-defined]


def build_meeting(app: Flask, chair_id: int, member_ids: tuple[int, ...] = (), observer_ids: tuple[int, ...] = (),
                  held_on: date | None = None, title: str = "Spring panel", sampled: int = 2,
                  with_views: bool = True) -> Built:
    """A meeting with a Chair, members, a sample of portfolios from one cohort, views and assessments."""
    n = _sequence()
    with app.app_context():
        now = clock.now()
        employer = Organisation(name=f"Northshire Council {n}", kind="employer")
        cohort = Cohort(name=f"Academy 2026 ({n})")
        db.session.add_all([employer, cohort])
        db.session.flush()
        chair = db.session.get(User, chair_id)
        chair.organisation_id = employer.id
        meeting = Meeting(title=title, held_on=held_on or now.date() - timedelta(days=1), created_at=now)
        db.session.add(meeting)
        db.session.flush()
        db.session.add(MeetingMember(meeting_id=meeting.id, user_id=chair_id, panel_role=PanelRole.CHAIR.value,
                                     attendance=Attendance.ATTENDED.value))
        for index, uid in enumerate(member_ids):
            db.session.add(MeetingMember(meeting_id=meeting.id, user_id=uid, panel_role=PanelRole.MEMBER.value,
                                         attendance=Attendance.APOLOGIES.value if index == 0
                                         else Attendance.ATTENDED.value))
        for uid in observer_ids:
            db.session.add(MeetingMember(meeting_id=meeting.id, user_id=uid, panel_role=PanelRole.OBSERVER.value))
        template = AssessmentTemplate(name=f"Reviewer {n}", version=1, schema=json.dumps({"sections": []}),
                                      created_at=now)
        db.session.add(template)
        portfolios, nqsws, assessors = [], [], []
        for i in range(sampled + 1):
            assessor = Assessor(name=f"Assessor Fictional {n}-{i}", email=f"assessor-{n}-{i}@example.org",
                                organisation_id=employer.id)
            nqsw = Nqsw(name=f"Nqsw Fictional {n}-{i}", email=f"nqsw-{n}-{i}@example.org",
                        employer_id=employer.id, cohort_id=cohort.id)
            db.session.add_all([assessor, nqsw])
            db.session.flush()
            portfolio = Portfolio(nqsw_id=nqsw.id, assessor_id=assessor.id, outcome="pass",
                                  outcome_date=now.date(), pseudonym=f"B{n}{i}", created_at=now)
            db.session.add(portfolio)
            db.session.flush()
            portfolios.append(portfolio)
            nqsws.append(nqsw.email)
            assessors.append(assessor.email)
        draw = SampleDraw(meeting_id=meeting.id, seed="00" * 32, population="[]", parameters="{}", picks="[]",
                          drawn_by_id=chair_id, drawn_at=now)
        db.session.add(draw)
        db.session.flush()
        for position, portfolio in enumerate(portfolios[:sampled]):
            db.session.add(SampledPortfolio(meeting_id=meeting.id, portfolio_id=portfolio.id, draw_id=draw.id,
                                            position=position))
            if with_views:
                db.session.add(PanelView(
                    meeting_id=meeting.id, portfolio_id=portfolio.id, agreement="agree",
                    decision_view=f"Decision sound for {portfolio.pseudonym}", support_view="Supervision regular",
                    exemplars_confirmed="Critical reflection 2" if position == 0 else None,
                    feedback_assessor=f"Assessor feedback {portfolio.pseudonym}",
                    feedback_nqsw=f"NQSW feedback {portfolio.pseudonym}"))
            for uid in (chair_id, *member_ids):
                db.session.add(Assessment(meeting_id=meeting.id, portfolio_id=portfolio.id, user_id=uid,
                                          template_id=template.id, answers=json.dumps(ANSWERS), status="submitted",
                                          created_at=now, updated_at=now, submitted_at=now))
        db.session.commit()
        return Built(meeting.id, [p.id for p in portfolios[:sampled]], nqsws[:sampled], assessors[:sampled],
                     nqsws[sampled])
