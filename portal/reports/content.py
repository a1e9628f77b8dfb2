"""What the minutes and the partnership summary report say, built once from the record for page, PDF and DOCX."""

import hashlib
import json
from datetime import date

from portal.clock import format_date
from portal.models import Action, Agreement
from portal.reports.record import MeetingRecord, PortfolioRecord, employer_of
from portal.reports.render import Bullets, Heading, Paragraph, Report, Table
from portal.wording import count_of

NONE_RECORDED = "None recorded."


ATTENDANCE_LABELS = {"attended": "Attended", "expected": "Not recorded yet",
                     "apologies": "Apologies (written assessment)"}


def _attendance(record: MeetingRecord, pseudonymised: bool = False) -> list:
    if pseudonymised:  # for the national panel: members by number, their organisations by kind or employer code
        rows = [[f"Member {n}", _organisation_kind(m), "Chair" if m.panel_role == "chair" else "Member",
                 ATTENDANCE_LABELS.get(m.attendance, m.attendance)]
                for n, m in enumerate(record.attended + record.apologies, start=1)]
    else:
        rows = [[m.user.name, employer_of(m), "Chair" if m.panel_role == "chair" else "Member",
                 ATTENDANCE_LABELS.get(m.attendance, m.attendance)] for m in record.attended + record.apologies]
    return [Heading(2, "Attendance and apologies"),
            Table("Panel members at the meeting", ["Name", "Organisation", "Role", "Attendance"], rows)
            if rows else Paragraph(NONE_RECORDED)]


def _organisation_kind(member: object) -> str:
    organisation = getattr(getattr(member, "user", None), "organisation", None)
    if organisation is None:
        return "Not recorded"
    if organisation.is_employer:
        return organisation.code_label
    return "University" if organisation.kind == "university" else "Community group"


def _action_rows(actions: list[Action]) -> list[list[str]]:
    return [[a.description, a.owner, format_date(a.due_on) or "No date", a.status_label] for a in actions]


ACTION_HEAD = ["Action", "Owner", "Due", "Status"]


def _actions(record: MeetingRecord) -> list:
    blocks: list = [Heading(2, "Actions for the Steering Group")]
    blocks.append(Table("Actions agreed at this meeting", ACTION_HEAD, _action_rows(record.actions))
                  if record.actions else Paragraph("No new actions were agreed."))
    if record.carried_forward:
        blocks.append(Table("Actions carried forward from earlier meetings (not yet done)", ACTION_HEAD,
                            _action_rows(record.carried_forward)))
    return blocks


def _themes(record: MeetingRecord) -> list:
    return [Heading(2, "Themes for the programme"),
            Table("Themes raised", ["Theme", "What the panel said"], [[t.theme.name, t.note] for t in record.themes])
            if record.themes else Paragraph(NONE_RECORDED)]


def _key_messages(record: MeetingRecord) -> list:
    return [Heading(2, "Key messages for all NQSWs and Assessors"),
            Bullets([m.text for m in record.key_messages]) if record.key_messages else Paragraph(NONE_RECORDED)]


def _not_yet(day: date | None) -> str:
    """Why a draft leaves out the members' counts for this reader (reviews.record.sight)."""
    when = f"from {format_date(day)}" if day else "once you have submitted your own assessments"
    return (f"The counts of the members' assessments are shown here {when}, so that each member's judgement "
            "stays independent until then.")


def _portfolio(item: PortfolioRecord) -> list:
    view = item.view
    criteria = ", ".join(f"{name} {count}" for name, count in item.criteria_yes.items())
    counted = (f"Submitted assessments: {item.counts.submitted} ({item.counts.written} in writing); "
               f"members answering yes: {criteria}." if item.sight.shown
               else _not_yet(item.sight.from_day))
    return [
        Heading(3, item.label),
        Paragraph(f"Panel's agreement with the Internal Panel: {item.agreement_label}. {counted}"),
        Paragraph("Decision: " + ((view.decision_view if view else None) or NONE_RECORDED)),
        Paragraph("Support arrangements: " + ((view.support_view if view else None) or NONE_RECORDED)),
        Paragraph("Exemplars confirmed: " + ((view.exemplars_confirmed if view else None) or "None.")),
    ]


def population_digest(population: str) -> str:
    """SHA-256 of the eligible portfolio ids exactly as recorded (a JSON list such as [3, 7, 12])."""
    return hashlib.sha256(population.encode("utf-8")).hexdigest()


def _draw(record: MeetingRecord) -> list:
    """The draw, so the Steering Group can re-run it: seed, population digest, choices, picks (employer codes)."""
    blocks: list = [Heading(2, "The sample and how to re-run it")]
    draw = record.draw
    if draw is None:
        return [*blocks, Paragraph("No sample was drawn.")]
    parameters = json.loads(draw.parameters or "{}")
    population = [int(i) for i in json.loads(draw.population or "[]")]
    employer_of = parameters.get("employer_of", {})
    labels = {item.portfolio.id: item.label for item in record.portfolios}
    size = (count_of(parameters["number"], "portfolio", "portfolios") if parameters.get("number")
            else f"{parameters.get('percentage')}% of those eligible, rounded up (at least 2)")
    rows = [["Seed", draw.seed], ["Method", parameters.get("algorithm", "")],
            ["Eligible portfolios", f"{len(population)}: ids {', '.join(map(str, population)) or 'none'}"],
            ["SHA-256 of the eligible ids as recorded", population_digest(draw.population or "[]")],
            ["Size asked for", size],
            ["Spread across", ", ".join(parameters.get("strata") or []) or "No strata"],
            ["At least from each employer", str(parameters.get("employer_minimum") or "No minimum")],
            ["Outcomes drawn from", ", ".join(parameters.get("outcomes") or []) or "Any outcome"]]
    picks = [[str(position), labels.get(pid, f"Portfolio id {pid}"), str(pid),
              f"Employer {employer_of[str(pid)]}" if str(pid) in employer_of else "Not recorded"]
             for position, pid in enumerate(json.loads(draw.picks or "[]"), start=1)]
    return [*blocks, Paragraph(f"Drawn on {format_date(draw.drawn_at)}. The picks are the first eligible ids in "
                               "order of HMAC-SHA256(seed, id), shared across the strata as recorded."),
            Table("How the sample was drawn", ["Item", "Recorded"], rows),
            Table("Portfolios drawn", ["Order", "Portfolio", "Id", "Employer"], picks)]


def minutes_report(record: MeetingRecord) -> Report:
    """The minutes: filled from the data, with the Chair's notes."""
    meeting, revisions = record.meeting, record.revisions
    notes = record.minutes.notes if record.minutes else ""
    report = Report(f"Minutes: {meeting.title}, {format_date(meeting.held_on)}")
    report.add(Heading(1, report.title),
               Paragraph(f"Meeting date: {format_date(meeting.held_on)}. Status of these minutes: {record.status}."))
    report.add(*_attendance(record))
    report.add(Heading(2, "Portfolios moderated"),
               Paragraph(f"{count_of(len(record.portfolios), 'portfolio was', 'portfolios were')} sampled; the panel "
                         f"confirmed the Internal Panel's decision on {record.counts.confirmed}. "
                         + (f"{count_of(record.counts.total.submitted, 'assessment was', 'assessments were')} "
                            "submitted." if record.counts_shown else _not_yet(record.counts_from))))
    for item in record.portfolios:
        report.add(*_portfolio(item))
    report.add(*_draw(record))
    report.add(Heading(2, "Discussion and decisions"), Paragraph(notes or NONE_RECORDED))
    report.add(*_themes(record), *_actions(record), *_key_messages(record))
    if len(revisions) > 1:
        report.add(Heading(2, "Corrections"),
                   Table("Revisions of the published minutes", ["Revision", "Published", "Reason"],
                         [[str(r.number), format_date(r.created_at), r.reason or "First publication"]
                          for r in revisions]))
    return report


def _by_employer(record: MeetingRecord) -> list:
    """Portfolios moderated and confirmed by each employer of the partnership, by its partnership code."""
    parameters = json.loads(record.draw.parameters or "{}") if record.draw is not None else {}
    employer_of = parameters.get("employer_of", {})
    rows: dict[str, list[int]] = {}
    for item in record.portfolios:
        code = employer_of.get(str(item.portfolio.id)) or "not recorded"
        counts = rows.setdefault(code, [0, 0])
        counts[0] += 1
        if item.view is not None and item.view.agreement in (Agreement.AGREE, Agreement.AGREE_WITH_RESERVATIONS):
            counts[1] += 1
    if not rows:
        return []
    ordered = sorted(rows, key=lambda code: (len(code), code))
    return [Table("Portfolios moderated and confirmed, by employer", ["Employer", "Moderated", "Confirmed"],
                  [[f"Employer {code}" if code != "not recorded" else "Employer not recorded",
                    str(rows[code][0]), str(rows[code][1])] for code in ordered])]


def summary_report(record: MeetingRecord, pseudonymised: bool = False) -> Report:
    """The partnership summary report for the ASYE Steering Group (pseudonymised: for the national panel)."""
    meeting = record.meeting
    yes, no = record.evidence_totals
    report = Report(f"Partnership summary report: {meeting.title}, {format_date(meeting.held_on)}")
    report.add(Heading(1, report.title), Paragraph(f"Meeting date: {format_date(meeting.held_on)}."))
    report.add(*_attendance(record, pseudonymised))
    measures = [
        ["Portfolios moderated", str(len(record.portfolios))],
        ["Decisions confirmed by the panel", str(record.counts.confirmed)],
        *[[f"Panel view: {label}", str(count)] for label, count in record.agreement_totals.items()],
    ]
    report.add(Heading(2, "Moderation in numbers"))
    if record.counts_shown:
        report.add(
            Table("Portfolios moderated and confirmed", ["Measure", "Number"], [
                *measures,
                ["Assessments submitted by members", str(record.counts.total.submitted)],
                ["Of which written assessments (members who sent apologies)", str(record.counts.total.written)],
                *[[f"Members' answer: {label}", str(count)]
                  for label, count in record.member_agreement_totals.items()],
            ]),
            Table("Part 1: evidence checklist answers", ["Answer", "Number"], [["Yes", str(yes)], ["No", str(no)]]),
            Table("Part 2: members answering yes", ["Criterion", "Number"],
                  [[label, str(count)] for label, count in record.criteria_totals.items()]),
            Table("Quality of support: members' answers", ["Question", "Yes", "No", "Unclear"],
                  [[label, str(t["yes"]), str(t["no"]), str(t["unclear"])] for label, t in record.support_totals]))
    else:
        report.add(Table("Portfolios moderated and confirmed", ["Measure", "Number"], measures),
                   Paragraph(_not_yet(record.counts_from)))
    report.add(*_by_employer(record))
    report.add(Heading(2, "Exemplars"))
    exemplars = [f"{p.label}: {p.view.exemplars_confirmed}" for p in record.portfolios
                 if p.view and p.view.exemplars_confirmed]
    report.add(Bullets(exemplars) if exemplars else Paragraph("No exemplars were confirmed."))
    report.add(*_themes(record), *_actions(record))
    report.add(Heading(2, "Actions from the last report"))
    if record.previous_meeting is None:
        report.add(Paragraph("This is the first meeting: there was no earlier report."))
    elif record.previous_actions:
        done = sum(1 for a in record.previous_actions if a.status == "done")
        report.add(Paragraph(f"{done} of {len(record.previous_actions)} actions from "
                             f"{format_date(record.previous_meeting.held_on)} are done."),
                   Table("Actions from the last report", ACTION_HEAD, _action_rows(record.previous_actions)))
    else:
        report.add(Paragraph("The last report agreed no actions."))
    report.add(*_key_messages(record))
    return report


def employer_report(record: MeetingRecord, own: list[PortfolioRecord], employer: str) -> Report:
    """An employer's own report of a meeting: the panel's views and feedback on its portfolios, the meeting's
    themes and key messages. Nothing about another employer's portfolios."""
    meeting = record.meeting
    report = Report(f"Report for {employer}: {meeting.title}, {format_date(meeting.held_on)}")
    report.add(Heading(1, report.title),
               Paragraph(f"Meeting date: {format_date(meeting.held_on)}. "
                         f"{count_of(len(own), 'portfolio', 'portfolios')} of {employer} "
                         f"{'was' if len(own) == 1 else 'were'} moderated, of {len(record.portfolios)} in the "
                         "partnership's sample."))
    report.add(Table("Your portfolios moderated", ["Portfolio", "Panel's agreement with the Internal Panel"],
                     [[item.label, item.agreement_label] for item in own]))
    for item in own:
        view = item.view
        report.add(*_portfolio(item),
                   Paragraph("Feedback to the Assessor: " + ((view.feedback_assessor if view else None)
                                                              or NONE_RECORDED)),
                   Paragraph("Feedback to the NQSW: " + ((view.feedback_nqsw if view else None) or NONE_RECORDED)))
    report.add(*_themes(record), *_key_messages(record))
    return report
