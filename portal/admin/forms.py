"""Forms for inviting people, managing them and searching the audit trail."""

from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxInput,
    GovDateInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextInput,
)
from wtforms import BooleanField, DateField, Field, IntegerField, RadioField, SelectField, StringField, SubmitField
from wtforms.validators import Email, InputRequired, Length, Optional
from wtforms.widgets import HiddenInput

from portal.models import LEAD_MANAGED_ROLES, ROLE_LABELS_FOR_FORMS, OrganisationKind, Role, User


class DateInput(GovDateInput):
    """The GOV.UK date input, tolerating a query string with no date or only part of one."""

    def map_gov_params(self, field: Field, **kwargs: Any) -> dict[str, Any]:
        """Render day, month and year even when fewer (or more) than three values were sent."""
        raw = field.raw_data
        if raw is not None and len(raw) != 3:
            # The widget unpacks exactly three values; a hand-edited or empty query string has none or some.
            field.raw_data = [*raw, "", "", ""][:3] if raw else None
        try:
            params: dict[str, Any] = super().map_gov_params(field, **kwargs)
        finally:
            field.raw_data = raw
        return params


def roles_for(actor: User) -> list[Role]:
    """The roles a person may give: any for the administrator, Assessor or NQSW for an employer Lead."""
    return list(Role) if actor.is_admin else list(LEAD_MANAGED_ROLES)


class InviteForm(FlaskForm):
    """Invite one person by email."""

    name = StringField("Full name", widget=GovTextInput(),
                       validators=[InputRequired("Enter the person's full name"), Length(max=200)])
    email = StringField("Email address", widget=GovTextInput(),
                        validators=[InputRequired("Enter the person's email address"),
                                    Email("Enter an email address in the correct format, like name@example.org",
                                          check_deliverability=False), Length(max=254)])
    role = RadioField("Role", choices=ROLE_LABELS_FOR_FORMS, widget=GovRadioInput(),
                      validators=[InputRequired("Choose the person's role")])
    organisation = SelectField("Organisation", coerce=int, widget=GovSelect(), validators=[Optional()])
    submit = SubmitField("Send invitation", widget=GovSubmitInput())


class RoleForm(FlaskForm):
    """Change a person's role."""

    role = RadioField("Role", choices=ROLE_LABELS_FOR_FORMS, widget=GovRadioInput(),
                      validators=[InputRequired("Choose a role")])
    submit = SubmitField("Change role", widget=GovSubmitInput())


class ConfirmForm(FlaskForm):
    """A button that confirms an action (the CSRF token is the point)."""

    submit = SubmitField("Confirm", widget=GovSubmitInput())


class ResetForm(ConfirmForm):
    """Confirm a reset of someone's second factor; say if they have forgotten their password too."""

    forgot_password = BooleanField(
        "They have also forgotten their password", widget=GovCheckboxInput(), validators=[Optional()],
        description="Only if they told you so. The link will then ask them to choose a new password, so the email "
                    "address alone is enough to take over the account: check it is really them first.")


class OrganisationForm(FlaskForm):
    """Add an organisation."""

    name = StringField("Name", widget=GovTextInput(),
                       validators=[InputRequired("Enter the organisation's name"), Length(max=200)])
    kind = RadioField("Kind", choices=[(k.value, k.value.capitalize()) for k in OrganisationKind],
                      widget=GovRadioInput(), validators=[InputRequired("Choose what kind of organisation it is")])
    submit = SubmitField("Add organisation", widget=GovSubmitInput())


class AuditSearchForm(FlaskForm):
    """Filter the audit trail (sent by GET, so no CSRF token)."""

    class Meta:
        csrf = False

    person = StringField("Person", widget=GovTextInput(), validators=[Optional(), Length(max=100)],
                         description="Part of their name or email address, or their whole email address")
    person_id = IntegerField(widget=HiddenInput(), validators=[Optional()])  # from a person's page
    action = SelectField("Action", widget=GovSelect(), validators=[Optional()])
    date_from = DateField("From", format="%d %m %Y", widget=DateInput(), validators=[Optional()])
    date_to = DateField("To", format="%d %m %Y", widget=DateInput(), validators=[Optional()])
    submit = SubmitField("Search", widget=GovSubmitInput())


class PartnershipForm(FlaskForm):
    """Name the partnership."""

    name = StringField("The partnership's name", widget=GovTextInput(),
                       validators=[InputRequired("Enter the partnership's name"), Length(max=200)])
    submit = SubmitField("Save the name", widget=GovSubmitInput())
