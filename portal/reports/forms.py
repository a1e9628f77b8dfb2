"""Forms for the minutes, the action plan, corrections and the feedback release."""

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSelect, GovSubmitInput, GovTextArea, GovTextInput
from wtforms import DateField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from portal.admin.forms import DateInput
from portal.models import REPORT_SECTIONS, ActionStatus

TEXT_LIMIT = 20_000


class NotesForm(FlaskForm):
    """The Chair's free text in the minutes."""

    notes = TextAreaField("Discussion and decisions", widget=GovTextArea(),
                          description="What the panel discussed and decided. The rest of the minutes is filled "
                                      "in from attendance, the sample and the panel's views.",
                          validators=[Length(max=TEXT_LIMIT)])
    submit = SubmitField("Save the minutes", widget=GovSubmitInput())


class ThemeForm(FlaskForm):
    """A theme for the programme."""

    name = StringField("Theme", widget=GovTextInput(),
                       description="Use the same name as at earlier meetings to track a theme over time.",
                       validators=[InputRequired("Enter the theme"), Length(max=200)])
    note = TextAreaField("What the panel said about it", widget=GovTextArea(),
                         validators=[Optional(), Length(max=TEXT_LIMIT)])
    # Choices: owner_choices(); 0 is the whole partnership, so a form without the field means the partnership.
    # Named apart from the action form's, as both are on the minutes editor.
    theme_employer = SelectField("Employer it concerns", coerce=int, default=0, widget=GovSelect(),
                                 description="Choose an employer to show this to its Lead, or leave it for the "
                                             "whole partnership.")
    submit = SubmitField("Add theme", widget=GovSubmitInput())


class ActionForm(FlaskForm):
    """A new action for the Steering Group."""

    description = TextAreaField("Action", widget=GovTextArea(),
                                validators=[InputRequired("Enter the action"), Length(max=2000)])
    owner = StringField("Owner", widget=GovTextInput(), description="The person or group responsible.",
                        validators=[InputRequired("Enter who owns the action"), Length(max=200)])
    due_on = DateField("Due date", format="%d %m %Y", widget=DateInput(), description="For example, 27 3 2027",
                       validators=[InputRequired("Enter the due date as day, month and year")])
    action_employer = SelectField("Employer responsible", coerce=int, default=0, widget=GovSelect(),
                                  description="Choose an employer to show this to its Lead, or leave it for the "
                                              "whole partnership.")
    submit = SubmitField("Add action", widget=GovSubmitInput())


class ActionStatusForm(FlaskForm):
    """Progress on an action."""

    status = RadioField("Status", choices=[(s.value, s.label) for s in ActionStatus], widget=GovRadioInput(),
                        validators=[InputRequired("Choose the action's status")])
    submit = SubmitField("Update status", widget=GovSubmitInput())


class KeyMessageForm(FlaskForm):
    """A key message for every NQSW and Assessor."""

    text = TextAreaField("Key message", widget=GovTextArea(),
                         validators=[InputRequired("Enter the key message"), Length(max=TEXT_LIMIT)])
    submit = SubmitField("Add key message", widget=GovSubmitInput())


class CorrectionForm(FlaskForm):
    """A correction to published minutes: a new revision with its reason."""

    notes = TextAreaField("Corrected discussion and decisions", widget=GovTextArea(),
                          validators=[InputRequired("Enter the corrected text"), Length(max=TEXT_LIMIT)])
    reason = TextAreaField("Reason for the correction", widget=GovTextArea(),
                           validators=[InputRequired("Enter the reason for the correction"), Length(max=2000)])
    submit = SubmitField("Publish the correction", widget=GovSubmitInput())


class ConfirmForm(FlaskForm):
    """A single button whose POST carries the CSRF token."""


def owner_choices(labels: dict[int, str]) -> list[tuple[int, str]]:
    """The owners a theme or action can have: the whole partnership (0), then each member employer."""
    return [(0, "The whole partnership"), *sorted(labels.items(), key=lambda item: item[1])]


def _section(name: str) -> TextAreaField:
    heading, hint = next((heading, hint) for key, heading, hint in REPORT_SECTIONS if key == name)
    return TextAreaField(heading, widget=GovTextArea(), description=hint, validators=[Length(max=TEXT_LIMIT)])


class ReportSectionsForm(FlaskForm):
    """The ASYE Lead's own sections of the partnership summary report (Skills for Care's template)."""

    withdrawals = _section("withdrawals")
    national_feedback = _section("national_feedback")
    organisational_issues = _section("organisational_issues")
    employment_issues = _section("employment_issues")
    submit = SubmitField("Save the report's sections", widget=GovSubmitInput())

    def texts(self) -> dict[str, str]:
        """Each section's text by its column name."""
        return {name: getattr(self, name).data or "" for name, _, _ in REPORT_SECTIONS}
