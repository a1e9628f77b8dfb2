"""Forms for meetings, their members, the templates and the sample draw."""

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxesInput,
    GovCheckboxInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from portal.admin.forms import DateInput  # tolerates a date sent with fewer than three parts
from portal.models import PanelRole

TEXT_LIMIT = 20_000


def _friendly_dates(form: FlaskForm, *names: str) -> None:
    """Replace WTForms' "Not a valid date value" with a message that says what to type."""
    for name in names:
        field = form[name]
        if field.errors and any("valid date" in str(e) for e in field.errors):
            field.errors = [f"{field.label.text} must be a real date, like 27 3 2027"]


class MeetingForm(FlaskForm):
    """Create or change a meeting."""

    title = StringField("Title", widget=GovTextInput(), description="For example, Spring 2027 panel",
                        validators=[InputRequired("Enter a title for the meeting"), Length(max=200)])
    held_on = DateField("Date of the meeting", format="%d %m %Y", widget=DateInput(),
                        description="For example, 18 3 2027",
                        validators=[InputRequired("Enter the date of the meeting")])
    reading_deadline = DateField("Reading deadline", format="%d %m %Y", widget=DateInput(),
                                 description="When members should have read the sample and sent their assessments",
                                 validators=[Optional()])
    access_window_days = IntegerField(
        "Days the panel can still read the sample after the minutes are published", widget=GovTextInput(),
        default=30, validators=[InputRequired("Enter a number of days"),
                                NumberRange(0, 365, "Enter a number of days from 0 to 365")])
    agenda = StringField("Agenda", widget=GovTextArea(),
                         validators=[InputRequired("Enter the agenda"), Length(max=TEXT_LIMIT)])
    terms_of_reference = StringField("Terms of Reference", widget=GovTextArea(),
                                     validators=[InputRequired("Enter the Terms of Reference"),
                                                 Length(max=TEXT_LIMIT)])
    submit = SubmitField("Save meeting", widget=GovSubmitInput())

    def validate(self, extra_validators: dict | None = None) -> bool:
        """The reading deadline must fall on or before the meeting."""
        valid: bool = super().validate(extra_validators)
        _friendly_dates(self, "held_on", "reading_deadline")
        if valid and self.reading_deadline.data and self.held_on.data and \
                self.reading_deadline.data > self.held_on.data:
            self.reading_deadline.errors = ["The reading deadline must be on or before the date of the meeting"]
            valid = False
        return valid


class TemplatesForm(FlaskForm):
    """Change the starting agenda and Terms of Reference of new meetings."""

    agenda = StringField("Agenda template", widget=GovTextArea(),
                         validators=[InputRequired("Enter the agenda template"), Length(max=TEXT_LIMIT)])
    terms_of_reference = StringField("Terms of Reference", widget=GovTextArea(),
                                     validators=[InputRequired("Enter the Terms of Reference"),
                                                 Length(max=TEXT_LIMIT)])
    submit = SubmitField("Save templates", widget=GovSubmitInput())


class MemberForm(FlaskForm):
    """Seat a person at a meeting or change their panel role."""

    person = SelectField("Person", coerce=int, widget=GovSelect(),
                         validators=[InputRequired("Choose a person")])
    panel_role = RadioField("Role at this meeting",
                            choices=[(PanelRole.CHAIR.value, "Chair"), (PanelRole.MEMBER.value, "Member"),
                                     (PanelRole.OBSERVER.value, "Observer (sees the meeting, not the portfolios)")],
                            widget=GovRadioInput(), validators=[InputRequired("Choose their role at this meeting")])
    submit = SubmitField("Add to the meeting", widget=GovSubmitInput())


class ConfirmForm(FlaskForm):
    """A button that confirms an action (the CSRF token is the point)."""

    submit = SubmitField("Confirm", widget=GovSubmitInput())


class DrawForm(FlaskForm):
    """How to draw the sample; a redraw also needs a reason."""

    size_kind = RadioField("How big should the sample be?",
                           choices=[("number", "A number of portfolios"),
                                    ("percentage", "A percentage of those eligible")],
                           widget=GovRadioInput(), default="number",
                           validators=[InputRequired("Choose a number or a percentage")])
    number = IntegerField("Number of portfolios (at least 2)", widget=GovTextInput(), validators=[Optional()])
    percentage = IntegerField("Percentage (rounded up, and at least 2 portfolios)", widget=GovTextInput(),
                              validators=[Optional()])
    strata = SelectMultipleField("Spread the sample across (optional)", widget=GovCheckboxesInput(),
                                 validators=[Optional()])
    employer_minimum = IntegerField(
        "At least this many from each employer", widget=GovTextInput(), default=1,
        description="From every employer in the partnership that has eligible portfolios (0 for no minimum). "
                    "The sample grows if it must to take them.",
        validators=[Optional(), NumberRange(0, 20, "Enter a number from 0 to 20")])
    passed_only = BooleanField("Only portfolios the Internal Panel passed", widget=GovCheckboxInput(),
                               validators=[Optional()])
    reason = StringField("Why are you drawing the sample again?", widget=GovTextArea(),
                         validators=[Length(max=2000)])
    submit = SubmitField("Draw the sample", widget=GovSubmitInput())

    def validate(self, extra_validators: dict | None = None) -> bool:
        """The size asked for must be given."""
        valid: bool = super().validate(extra_validators)
        chosen = self.number if self.size_kind.data == "number" else self.percentage
        if self.size_kind.data in ("number", "percentage") and chosen.data is None and not chosen.errors:
            chosen.errors = [f"Enter the {'number of portfolios' if chosen is self.number else 'percentage'}"]
            valid = False
        for field in (self.number, self.percentage, self.employer_minimum):
            if field.errors and any("valid integer" in str(e) for e in field.errors):
                field.errors = ["Enter a whole number, like 3"]
        return valid
