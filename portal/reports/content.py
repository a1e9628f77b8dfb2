"""What the minutes and the partnership summary report say, built once from their data for page, PDF and DOCX."""

import hashlib
import json
from datetime import date

from portal import visibility
from portal.clock import format_date
from portal.models import REPORT_SECTIONS, Action, Agreement, MeetingTheme, Organisation
from portal.reports.minutes_data import MinutesData, employer_of
from portal.reports.render import Bullets, Heading, Paragraph, Report, Table
from portal.reviews.meeting_data import PortfolioData
from portal.wording import count_of

NONE_RECORDED = "None recorded."


ATTENDANCE_LABELS = {"attended": "Attended", "expected": "Not recorded yet",
                     "apologies": "Apologies (written assessment)"}


def _attendance(data: MinutesData, pseudonymised: bool = False) -> list:
    seated = data.panel.attended + data.panel.apologies
    if pseudonymised:  # for the national panel: members by number, their organisations by kind or employer code
        rows = [[f"Member {n}", _organisation_kind(m), "Chair" if visibility.is_chair(m) else "Member",
                 ATTENDANCE_LABELS.get(m.attendance, m.attendance)] for n, m in enumerate(seated, start=1)]
    else:
        rows = [[m.user.name, employer_of(m), "Chair" if visibility.is_chair(m) else "Member",
                 ATTENDANCE_LABELS.get(m.attendance, m.attendance)] for m in seated]
    return [Heading(2, "Attendance and apologies"),
            Table("Panel members at the meeting", ["Name", "Organisation", "Role", "Attendance"], rows)
            if rows else Paragraph(NONE_RECORDED)]


def _organisation_kind(member: object) -> str:
    organisation = getattr(getattr(member, "user", None), "organisation", None)
    if not isinstance(organisation, Organisation):
        return "Not recorded"
    if organisation.is_employer:
        return organisation.code_label
    return "University" if organisation.kind == "university" else "Community group"


def _action_rows(data: MinutesData, actions: list[Action]) -> list[list[str]]:
    return [[a.description, a.owner, data.owner_of(a.employer_id), format_date(a.due_on) or "No date",
             a.status_label] for a in actions]


ACTION_HEAD = ["Action", "Owner", "For", "Due", "Status"]


def _actions(data: MinutesData) -> list:
    blocks: list = [Heading(2, "Actions for the Steering Group")]
    blocks.append(Table("Actions agreed at this meeting", ACTION_HEAD, _action_rows(data, data.actions))
                  if data.actions else Paragraph("No new actions were agreed."))
    if data.carried_forward:
        blocks.append(Table("Actions carried forward from earlier meetings (not yet done)", ACTION_HEAD,
                            _action_rows(data, data.carried_forward)))
    return blocks


def _themes(data: MinutesData, themes: list[MeetingTheme] | None = None) -> list:
    shown = data.themes if themes is None else themes
    return [Heading(2, "Themes for the programme"),
            Table("Themes raised", ["Theme", "For", "What the panel said"],
                  [[t.theme.name, data.owner_of(t.employer_id), t.note] for t in shown])
            if shown else Paragraph(NONE_RECORDED)]


def _lead_sections(data: MinutesData) -> list:
    """The ASYE Lead's own sections of the summary report (Skills for Care's template)."""
    blocks: list = []
    for name, heading, _ in REPORT_SECTIONS:
        text = data.sections.text_of(name) if data.sections else ""
        blocks += [Heading(2, heading), Paragraph(text or NONE_RECORDED)]
    return blocks


def _key_messages(data: MinutesData) -> list:
    return [Heading(2, "Key messages for all NQSWs and Assessors"),
            Bullets([m.text for m in data.key_messages]) if data.key_messages else Paragraph(NONE_RECORDED)]


def _not_yet(day: date | None) -> str:
    """Why a draft leaves out the members' counts for this reader (visibility.sight)."""
    when = f"from {format_date(day)}" if day else "once you have submitted your own assessments"
    return (f"The counts of the members' assessments are shown here {when}, so that each member's judgement "
            "stays independent until then.")


def _portfolio(item: PortfolioData) -> list:
    view = item.panel_view
    criteria = ", ".join(f"{name} {count}" for name, count in item.criteria_yes.items())
    counted = (f"Submitted assessments: {item.summary.submitted} ({item.summary.written} in writing); "
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


def _draw(data: MinutesData) -> list:
    """The draw, so the Steering Group can re-run it: seed, population digest, choices, picks (employer codes)."""
    blocks: list = [Heading(2, "The sample and how to re-run it")]
    draw = data.draw
    if draw is None:
        return [*blocks, Paragraph("No sample was drawn.")]
    parameters = json.loads(draw.parameters or "{}")
    population = [int(i) for i in json.loads(draw.population or "[]")]
    employer_of_pick = parameters.get("employer_of", {})
    labels = {item.portfolio.id: item.label for item in data.panel.portfolios}
    size = (count_of(parameters["number"], "portfolio", "portfolios") if parameters.get("number")
            else f"{parameters['percentage']}% of those eligible, rounded up (at least 2)"
            if parameters.get("percentage") else "Not recorded")
    rows = [["Seed", draw.seed], ["Method", parameters.get("algorithm", "")],
            ["Eligible portfolios", f"{len(population)}: ids {', '.join(map(str, population)) or 'none'}"],
            ["SHA-256 of the eligible ids as recorded", population_digest(draw.population or "[]")],
            ["Size asked for", size],
            ["Spread across", ", ".join(parameters.get("strata") or []) or "No strata"],
            ["At least from each employer", str(parameters.get("employer_minimum") or "No minimum")],
            ["Outcomes drawn from", ", ".join(parameters.get("outcomes") or []) or "Any outcome"]]
    picks = [[str(position), labels.get(pid, f"Portfolio id {pid}"), str(pid),
              f"Employer {employer_of_pick[str(pid)]}" if str(pid) in employer_of_pick else "Not recorded"]
             for position, pid in enumerate(json.loads(draw.picks or "[]"), start=1)]
    return [*blocks, Paragraph(f"Drawn on {format_date(draw.drawn_at)}. The picks are the first eligible ids in "
                               "order of HMAC-SHA256(seed, id), shared across the strata as recorded."),
            Table("How the sample was drawn", ["Item", "Recorded"], rows),
            Table("Portfolios drawn", ["Order", "Portfolio", "Id", "Employer"], picks)]


def _by_employer(data: MinutesData) -> list:
    """Portfolios moderated and confirmed by each employer of the partnership, by its partnership code."""
    parameters = json.loads(data.draw.parameters or "{}") if data.draw is not None else {}
    employer_of_pick = parameters.get("employer_of", {})
    rows: dict[str, list[int]] = {}
    for item in data.panel.portfolios:
        code = employer_of_pick.get(str(item.portfolio.id)) or "not recorded"
        counts = rows.setdefault(code, [0, 0])
        counts[0] += 1
        view = item.panel_view
        if view is not None and view.agreement in (Agreement.AGREE, Agreement.AGREE_WITH_RESERVATIONS):
            counts[1] += 1
    if not rows:
        return []
    ordered = sorted(rows, key=lambda code: (len(code), code))
    return [Table("Portfolios moderated and confirmed, by employer", ["Employer", "Moderated", "Confirmed"],
                  [[f"Employer {code}" if code != "not recorded" else "Employer not recorded",
                    str(rows[code][0]), str(rows[code][1])] for code in ordered])]


def minutes_report(data: MinutesData) -> Report:
    """The minutes: filled from the data, with the Chair's notes."""
    meeting, revisions = data.meeting, data.revisions
    notes = data.minutes.notes if data.minutes else ""
    report = Report(f"Minutes: {meeting.title}, {format_date(meeting.held_on)}")
    report.add(Heading(1, report.title),
               Paragraph(f"Meeting date: {format_date(meeting.held_on)}. Status of these minutes: {data.status}."))
    report.add(*_attendance(data))
    panel = data.panel
    report.add(Heading(2, "Portfolios moderated"),
               Paragraph(f"{count_of(len(panel.portfolios), 'portfolio was', 'portfolios were')} sampled; the panel "
                         f"confirmed the Internal Panel's decision on {data.panel.confirmed}. "
                         + (f"{count_of(data.panel.total.submitted, 'assessment was', 'assessments were')} "
                            "submitted." if data.panel.counts_shown else _not_yet(data.panel.counts_from))))
    for item in data.panel.portfolios:
        report.add(*_portfolio(item))
    report.add(*_draw(data))
    report.add(Heading(2, "Discussion and decisions"), Paragraph(notes or NONE_RECORDED))
    report.add(*_themes(data), *_actions(data), *_key_messages(data))
    if len(revisions) > 1:
        report.add(Heading(2, "Corrections"),
                   Table("Revisions of the published minutes", ["Revision", "Published", "Reason"],
                         [[str(r.number), format_date(r.created_at), r.reason or "First publication"]
                          for r in revisions]))
    return report


def summary_report(data: MinutesData, pseudonymised: bool = False) -> Report:
    """The partnership summary report for the ASYE Steering Group (pseudonymised: for the national panel)."""
    meeting = data.meeting
    yes, no = data.panel.evidence_totals
    report = Report(f"Partnership summary report: {meeting.title}, {format_date(meeting.held_on)}")
    report.add(Heading(1, report.title), Paragraph(f"Meeting date: {format_date(meeting.held_on)}."))
    report.add(*_attendance(data, pseudonymised))
    measures = [
        ["Portfolios moderated", str(len(data.panel.portfolios))],
        ["Decisions confirmed by the panel", str(data.panel.confirmed)],
        *[[f"Panel view: {label}", str(count)] for label, count in data.panel.agreement_totals.items()],
    ]
    report.add(Heading(2, "Moderation in numbers"))
    if data.panel.counts_shown:
        report.add(
            Table("Portfolios moderated and confirmed", ["Measure", "Number"], [
                *measures,
                ["Assessments submitted by members", str(data.panel.total.submitted)],
                ["Of which written assessments (members who sent apologies)", str(data.panel.total.written)],
                *[[f"Members' answer: {label}", str(count)]
                  for label, count in data.panel.member_agreement_totals.items()],
            ]),
            Table("Part 1: evidence checklist answers", ["Answer", "Number"], [["Yes", str(yes)], ["No", str(no)]]),
            Table("Part 2: members answering yes", ["Criterion", "Number"],
                  [[label, str(count)] for label, count in data.panel.criteria_totals.items()]),
            Table("Quality of support: members' answers", ["Question", "Yes", "No", "Unclear"],
                  [[label, str(t["yes"]), str(t["no"]), str(t["unclear"])] for label, t in data.panel.support_totals]))
    else:
        report.add(Table("Portfolios moderated and confirmed", ["Measure", "Number"], measures),
                   Paragraph(_not_yet(data.panel.counts_from)))
    report.add(*_by_employer(data))
    report.add(Heading(2, "Exemplars"))
    exemplars = [f"{p.label}: {p.panel_view.exemplars_confirmed}" for p in data.panel.portfolios
                 if p.panel_view and p.panel_view.exemplars_confirmed]
    report.add(Bullets(exemplars) if exemplars else Paragraph("No exemplars were confirmed."))
    report.add(*_themes(data), *_actions(data))
    report.add(Heading(2, "Actions from the last report"))
    if data.previous_meeting is None:
        report.add(Paragraph("This is the first meeting: there was no earlier report."))
    elif data.previous_actions:
        done = sum(1 for a in data.previous_actions if a.status == "done")
        report.add(Paragraph(f"{done} of {len(data.previous_actions)} actions from "
                             f"{format_date(data.previous_meeting.held_on)} are done."),
                   Table("Actions from the last report", ACTION_HEAD, _action_rows(data, data.previous_actions)))
    else:
        report.add(Paragraph("The last report agreed no actions."))
    report.add(*_lead_sections(data), *_key_messages(data))
    return report


def employer_report(data: MinutesData, own: list[PortfolioData], employer: str,
                    employer_id: int | None = None) -> Report:
    """An employer's own report of a meeting: the panel's views and feedback on its portfolios, the meeting's
    themes for the whole partnership and its own, its own actions and the key messages. Nothing about another
    employer's portfolios, themes or actions."""
    meeting = data.meeting
    report = Report(f"Report for {employer}: {meeting.title}, {format_date(meeting.held_on)}")
    report.add(Heading(1, report.title),
               Paragraph(f"Meeting date: {format_date(meeting.held_on)}. "
                         f"{count_of(len(own), 'portfolio', 'portfolios')} of {employer} "
                         f"{'was' if len(own) == 1 else 'were'} moderated, of {len(data.panel.portfolios)} in the "
                         "partnership's sample."))
    report.add(Table("Your portfolios moderated", ["Portfolio", "Panel's agreement with the Internal Panel"],
                     [[item.label, item.agreement_label] for item in own]))
    for item in own:
        view = item.panel_view
        report.add(*_portfolio(item),
                   Paragraph("Feedback to the Assessor: " + ((view.feedback_assessor if view else None)
                                                              or NONE_RECORDED)),
                   Paragraph("Feedback to the NQSW: " + ((view.feedback_nqsw if view else None) or NONE_RECORDED)))
    themes = [t for t in data.themes if t.employer_id is None or t.employer_id == employer_id]
    actions = [a for a in data.actions if a.employer_id is not None and a.employer_id == employer_id]
    report.add(*_themes(data, themes), Heading(2, "Your actions"),
               Table("Actions for your employer agreed at this meeting", ACTION_HEAD, _action_rows(data, actions))
               if actions else Paragraph("No actions for your employer were agreed at this meeting."),
               *_key_messages(data))
    return report
