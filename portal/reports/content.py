"""What the minutes and the partnership summary report say, built once from their data for page, PDF and DOCX."""

from datetime import date

from portal import visibility
from portal.clock import format_date
from portal.models import Action
from portal.reports.minutes_data import MinutesData, employer_of
from portal.reports.render import Bullets, Heading, Paragraph, Report, Table
from portal.reviews.meeting_data import PortfolioData
from portal.wording import count_of

NONE_RECORDED = "None recorded."


ATTENDANCE_LABELS = {"attended": "Attended", "expected": "Not recorded yet",
                     "apologies": "Apologies (written assessment)"}


def _attendance(data: MinutesData) -> list:
    rows = [[m.user.name, employer_of(m), "Chair" if visibility.is_chair(m) else "Member",
             ATTENDANCE_LABELS.get(m.attendance, m.attendance)] for m in data.panel.attended + data.panel.apologies]
    return [Heading(2, "Attendance and apologies"),
            Table("Panel members at the meeting", ["Name", "Organisation", "Role", "Attendance"], rows)
            if rows else Paragraph(NONE_RECORDED)]


def _action_rows(actions: list[Action]) -> list[list[str]]:
    return [[a.description, a.owner, format_date(a.due_on) or "No date", a.status_label] for a in actions]


ACTION_HEAD = ["Action", "Owner", "Due", "Status"]


def _actions(data: MinutesData) -> list:
    blocks: list = [Heading(2, "Actions for the Steering Group")]
    blocks.append(Table("Actions agreed at this meeting", ACTION_HEAD, _action_rows(data.actions))
                  if data.actions else Paragraph("No new actions were agreed."))
    if data.carried_forward:
        blocks.append(Table("Actions carried forward from earlier meetings (not yet done)", ACTION_HEAD,
                            _action_rows(data.carried_forward)))
    return blocks


def _themes(data: MinutesData) -> list:
    return [Heading(2, "Themes for the programme"),
            Table("Themes raised", ["Theme", "What the panel said"], [[t.theme.name, t.note] for t in data.themes])
            if data.themes else Paragraph(NONE_RECORDED)]


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
    report.add(Heading(2, "Discussion and decisions"), Paragraph(notes or NONE_RECORDED))
    report.add(*_themes(data), *_actions(data), *_key_messages(data))
    if len(revisions) > 1:
        report.add(Heading(2, "Corrections"),
                   Table("Revisions of the published minutes", ["Revision", "Published", "Reason"],
                         [[str(r.number), format_date(r.created_at), r.reason or "First publication"]
                          for r in revisions]))
    return report


def summary_report(data: MinutesData) -> Report:
    """The partnership summary report for the ASYE Steering Group."""
    meeting = data.meeting
    yes, no = data.panel.evidence_totals
    report = Report(f"Partnership summary report: {meeting.title}, {format_date(meeting.held_on)}")
    report.add(Heading(1, report.title), Paragraph(f"Meeting date: {format_date(meeting.held_on)}."))
    report.add(*_attendance(data))
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
                   Table("Actions from the last report", ACTION_HEAD, _action_rows(data.previous_actions)))
    else:
        report.add(Paragraph("The last report agreed no actions."))
    report.add(*_key_messages(data))
    return report
