"""Forms for the minutes, the action plan, corrections and the feedback release."""

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSubmitInput, GovTextArea, GovTextInput
from wtforms import DateField, RadioField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from portal.admin.forms import DateInput
from portal.models import ActionStatus

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
    submit = SubmitField("Add theme", widget=GovSubmitInput())


class ActionForm(FlaskForm):
    """A new action for the Steering Group."""

    description = TextAreaField("Action", widget=GovTextArea(),
                                validators=[InputRequired("Enter the action"), Length(max=2000)])
    owner = StringField("Owner", widget=GovTextInput(), description="The person or group responsible.",
                        validators=[InputRequired("Enter who owns the action"), Length(max=200)])
    due_on = DateField("Due date", format="%d %m %Y", widget=DateInput(), description="For example, 27 3 2027",
                       validators=[InputRequired("Enter the due date as day, month and year")])
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
