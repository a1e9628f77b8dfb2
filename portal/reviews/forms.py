"""Forms for assessments (built from the template's sections), apologies, attendance, the panel's view and
the template editor."""

from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSubmitInput, GovTextArea, GovTextInput
from wtforms import RadioField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from portal.models import Agreement, Attendance, MeetingMember
from portal.reviews import form_schema

TOO_LONG = f"Answers must be {form_schema.MAX_TEXT:,} characters or fewer"
ATTENDANCE_CHOICES = [(kind.value, kind.label)
                      for kind in (Attendance.ATTENDED, Attendance.APOLOGIES, Attendance.EXPECTED)]


def _text(label: str, hint: str = "") -> TextAreaField:
    return TextAreaField(label, description=hint, widget=GovTextArea(),
                         validators=[Optional(), Length(max=form_schema.MAX_TEXT, message=TOO_LONG)])


def section_form(section: dict[str, Any], answers: dict[str, Any]) -> FlaskForm:
    """A form for one section of an assessment, filled with the answers saved so far."""

    class SectionForm(FlaskForm):
        submit = SubmitField("Save and return to the task list", widget=GovSubmitInput())

    data = {}
    for question in section["questions"]:
        name = form_schema.field_name(question)
        if question["type"] == "choice":
            field = RadioField(question["label"], choices=[tuple(o) for o in question["options"]],
                               description=question.get("hint", ""), widget=GovRadioInput(),
                               validators=[Optional()])
        else:
            field = _text(question["label"], question.get("hint", ""))
        setattr(SectionForm, name, field)
        data[name] = form_schema.answer_of(answers, question)
    return SectionForm(data=data)


def answers_from(form: FlaskForm, section: dict[str, Any]) -> dict[str, str | None]:
    """The submitted values of a section form, by field name (text trimmed)."""
    values = {}
    for question in section["questions"]:
        name = form_schema.field_name(question)
        value = form[name].data
        values[name] = value.strip() if isinstance(value, str) else None
    return values


class SubmitAssessmentForm(FlaskForm):
    """Submit the assessment from the check-answers page."""

    submit = SubmitField("Submit assessment", widget=GovSubmitInput())


class ApologiesForm(FlaskForm):
    """Confirm that one cannot attend the meeting."""

    submit = SubmitField("Send apologies", widget=GovSubmitInput())


class ReminderForm(FlaskForm):
    """Send a reminder to the members who have not read or not submitted."""

    submit = SubmitField("Send a reminder", widget=GovSubmitInput())


def attendance_form(seats: list[MeetingMember]) -> FlaskForm:
    """Attended or apologies for each person seated at the meeting."""

    class AttendanceForm(FlaskForm):
        submit = SubmitField("Save attendance", widget=GovSubmitInput())

    for seat in seats:
        setattr(AttendanceForm, f"seat-{seat.id}",
                RadioField(seat.user.name, choices=ATTENDANCE_CHOICES, widget=GovRadioInput(),
                           validators=[InputRequired(f"Choose whether {seat.user.name} attended")]))
    return AttendanceForm(data={f"seat-{seat.id}": seat.attendance for seat in seats})


class PanelViewForm(FlaskForm):
    """The panel's view on one portfolio, recorded by the Chair."""

    agreement = RadioField("Does the panel agree with the Internal Panel's decision?",
                           choices=[(a.value, a.label) for a in Agreement],
                           widget=GovRadioInput(), validators=[Optional()])
    decision_view = _text("The panel's view on the decision",
                          "Is the decision accurate, valid, robust and sufficient against the KSS and PCF?")
    support_view = _text("The panel's view on the support arrangements",
                         "Supervision, protected time, workload and the 3- and 6-month reviews.")
    exemplars_confirmed = _text("Confirmed exemplars", "Pieces of work the panel confirms as exemplars to share.")
    feedback_assessor = _text("Feedback to the Assessor", "The Assessor can read this once feedback is released.")
    feedback_nqsw = _text("Feedback to the NQSW", "The NQSW can read this once feedback is released.")
    submit = SubmitField("Save the panel's view", widget=GovSubmitInput())


class TemplateForm(FlaskForm):
    """A new version of the assessment template, as JSON."""

    name = StringField("Template name", widget=GovTextInput(),
                       validators=[InputRequired("Enter the template's name"), Length(max=200)])
    schema = TextAreaField("Template (JSON)", widget=GovTextArea(),
                           description="Sections of questions. Keep the keys the reports count.",
                           validators=[InputRequired("Enter the template as JSON"), Length(max=100_000)])
    submit = SubmitField("Publish new version", widget=GovSubmitInput())
