"""Forms for the cohort registry and the CSV import."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxInput,
    GovFileInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextInput,
)
from wtforms import BooleanField, DateField, HiddenField, RadioField, SelectField, StringField, SubmitField
from wtforms.validators import Email, InputRequired, Length, Optional

from portal.admin.forms import DateInput  # tolerates a date sent with fewer than three parts
from portal.models import Outcome, Service

EMAIL_MESSAGE = "Enter an email address in the correct format, like name@example.org"
NONE_CHOICE = (0, "None")


class CohortForm(FlaskForm):
    """Add a cohort."""

    name = StringField("Cohort name", widget=GovTextInput(),
                       description="For example, Academy 2026 or grow your own",
                       validators=[InputRequired("Enter the cohort's name"), Length(max=120)])
    submit = SubmitField("Add cohort", widget=GovSubmitInput())


class NqswForm(FlaskForm):
    """Add or change an NQSW in the registry."""

    name = StringField("Full name", widget=GovTextInput(),
                       validators=[InputRequired("Enter the NQSW's full name"), Length(max=200)])
    email = StringField("Email address", widget=GovTextInput(),
                        validators=[InputRequired("Enter the NQSW's email address"),
                                    Email(EMAIL_MESSAGE, check_deliverability=False), Length(max=254)])
    employer = SelectField("Employer", coerce=int, widget=GovSelect(), validators=[Optional()])
    cohort = SelectField("Cohort", coerce=int, widget=GovSelect(), validators=[Optional()])
    service = RadioField("Service", choices=[(s.value, s.label) for s in Service], widget=GovRadioInput(),
                         validators=[InputRequired("Choose the service the NQSW works in")])
    submit = SubmitField("Save", widget=GovSubmitInput())


class AssessorForm(FlaskForm):
    """Add or change an Assessor in the registry."""

    name = StringField("Full name", widget=GovTextInput(),
                       validators=[InputRequired("Enter the Assessor's full name"), Length(max=200)])
    email = StringField("Email address", widget=GovTextInput(),
                        validators=[InputRequired("Enter the Assessor's email address"),
                                    Email(EMAIL_MESSAGE, check_deliverability=False), Length(max=254)])
    organisation = SelectField("Organisation", coerce=int, widget=GovSelect(), validators=[Optional()])
    submit = SubmitField("Save", widget=GovSubmitInput())


class PortfolioForm(FlaskForm):
    """Add or change a portfolio and the Internal Panel's outcome."""

    nqsw = SelectField("NQSW", coerce=int, widget=GovSelect(),
                       validators=[InputRequired("Choose the NQSW whose portfolio this is")])
    assessor = SelectField("Assessor", coerce=int, widget=GovSelect(), validators=[Optional()])
    # For a registry too long to choose from (services.REGISTRY_CHOICES_MAX), the person is named by email address
    # instead; the view keeps one field of each pair.
    nqsw_email = StringField("The NQSW's email address", widget=GovTextInput(),
                             validators=[InputRequired("Enter the email address of the NQSW whose portfolio this is"),
                                         Length(max=254)])
    assessor_email = StringField("The Assessor's email address", widget=GovTextInput(),
                                 description="Leave this empty if the portfolio has no Assessor yet",
                                 validators=[Optional(), Length(max=254)])
    outcome = RadioField("Internal Panel outcome",
                         choices=[("", "Not decided yet")] + [(o.value, o.label) for o in Outcome],
                         widget=GovRadioInput(), validators=[Optional()], default="")
    outcome_date = DateField("Date of the Internal Panel's outcome", format="%d %m %Y", widget=DateInput(),
                             description="For example, 27 3 2026", validators=[Optional()])
    exemplar_consent = BooleanField("The NQSW consents to their work being kept as an exemplar",
                                    widget=GovCheckboxInput(), validators=[Optional()])
    submit = SubmitField("Save", widget=GovSubmitInput())

    def validate(self, extra_validators: dict | None = None) -> bool:
        """An outcome needs its date and a date needs an outcome."""
        valid: bool = super().validate(extra_validators)
        if self.outcome_date.errors:
            self.outcome_date.errors = ["The outcome date must be a real date, like 27 3 2026"]
        if self.outcome.data and not self.outcome_date.data and not self.outcome_date.errors:
            self.outcome_date.errors = ["Enter the date of the Internal Panel's outcome"]
            valid = False
        if self.outcome_date.data and not self.outcome.data:
            self.outcome.errors = ["Choose the Internal Panel's outcome, or clear the date"]
            valid = False
        return valid


class ImportForm(FlaskForm):
    """Upload a CSV of NQSWs and portfolios to preview."""

    file = FileField("CSV file", widget=GovFileInput(),
                     description="Saved as CSV (UTF-8), at most 2 MB, with a header row")
    submit = SubmitField("Check the file", widget=GovSubmitInput())


class ConfirmImportForm(FlaskForm):
    """Confirm a previewed import: the checked file travels sealed in a hidden field."""

    sealed = HiddenField(validators=[InputRequired()])
    submit = SubmitField("Import these rows", widget=GovSubmitInput())


class PseudonymForm(FlaskForm):
    """Give a portfolio a new panel label."""

    submit = SubmitField("Give a new panel label", widget=GovSubmitInput())


class RemoveEntryForm(FlaskForm):
    """Confirm removing an NQSW or Assessor from the registry (the CSRF token is the point)."""

    submit = SubmitField("Remove", widget=GovSubmitInput())
