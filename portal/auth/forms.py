"""Forms for sign-in, links, enrolment and the account page."""

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovPasswordInput, GovSubmitInput, GovTextInput
from wtforms import HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import Email, InputRequired, Length, ValidationError

from portal.security import passwords


def printable(form: FlaskForm, field: StringField) -> None:
    """Refuse control characters (PostgreSQL cannot even compare a NUL), so they fail as a form error."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in field.data or ""):
        raise ValidationError("Remove the invisible control characters from this answer")


CODE_HINT = "The 6-digit code from your authenticator app, or one of your recovery codes."


class SignInForm(FlaskForm):
    """Email and password."""

    email = StringField("Email address", widget=GovTextInput(),
                        validators=[InputRequired("Enter your email address"), Length(max=254), printable])
    password = PasswordField("Password", widget=GovPasswordInput(),
                             validators=[InputRequired("Enter your password"), Length(max=1024)])
    submit = SubmitField("Continue", widget=GovSubmitInput())


class CodeForm(FlaskForm):
    """A security code or a recovery code."""

    code = StringField("Security code", description=CODE_HINT, widget=GovTextInput(),
                       validators=[InputRequired("Enter your security code"), Length(max=40)])
    submit = SubmitField("Sign in", widget=GovSubmitInput())


class NewPasswordMixin:
    """Validation shared by every form that sets a password; email is the account's, which it must not contain."""

    password: PasswordField  # each form that mixes this in has one

    def __init__(self, *args: object, email: str = "", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._email = email

    def policy_email(self) -> str:
        """The email the password must not contain."""
        return self._email

    def validate_password(self, field: PasswordField) -> None:
        """Apply the password policy."""
        problems = passwords.policy_problems(field.data or "", self.policy_email())
        if problems:
            raise ValidationError(problems[0])

    def validate_confirm(self, field: PasswordField) -> None:
        """The two passwords must match."""
        if field.data != self.password.data:
            raise ValidationError("The passwords do not match")


PASSWORD_HINT = (
    f"At least {passwords.MIN_LENGTH} characters. A few unrelated words make a strong password that is easy "
    "to remember. Do not use your email address or a common password."
)


class ChoosePasswordForm(NewPasswordMixin, FlaskForm):
    """Step 1 of an invitation or reset link: choose a password."""

    password = PasswordField("Create a password", description=PASSWORD_HINT, widget=GovPasswordInput(),
                             validators=[InputRequired("Enter a password")])
    confirm = PasswordField("Confirm your password", widget=GovPasswordInput(),
                            validators=[InputRequired("Confirm your password")])
    submit = SubmitField("Continue", widget=GovSubmitInput())


class FirstAdminForm(ChoosePasswordForm):
    """The first administrator also gives their name and email."""

    name = StringField("Full name", widget=GovTextInput(),
                       validators=[InputRequired("Enter your full name"), Length(max=200), printable])
    email = StringField("Email address", widget=GovTextInput(),
                        validators=[InputRequired("Enter your email address"),
                                    Email("Enter an email address in the correct format, like name@example.org",
                                          check_deliverability=False), Length(max=254), printable])

    def policy_email(self) -> str:
        """The email typed on this form."""
        return self.email.data or ""


class EnrolForm(FlaskForm):
    """Confirm the authenticator with a code it shows."""

    code = StringField("Security code", description="Enter the 6-digit code your app shows now.",
                       widget=GovTextInput(), validators=[InputRequired("Enter the security code"), Length(max=20)])
    submit = SubmitField("Confirm and continue", widget=GovSubmitInput())


class ResetSignInForm(FlaskForm):
    """The person's current password, before setting up a new authenticator after the Lead's reset."""

    password = PasswordField("Password", widget=GovPasswordInput(),
                             validators=[InputRequired("Enter your password"), Length(max=1024)])
    submit = SubmitField("Continue", widget=GovSubmitInput())


class PasswordHelpForm(FlaskForm):
    """Ask for a password reset link."""

    email = StringField("Email address", widget=GovTextInput(),
                        validators=[InputRequired("Enter your email address"), Length(max=254), printable])
    submit = SubmitField("Send me a link", widget=GovSubmitInput())


class ResetPasswordForm(NewPasswordMixin, FlaskForm):
    """A new password with a security or recovery code."""

    password = PasswordField("New password", description=PASSWORD_HINT, widget=GovPasswordInput(),
                             validators=[InputRequired("Enter a new password")])
    confirm = PasswordField("Confirm your new password", widget=GovPasswordInput(),
                            validators=[InputRequired("Confirm your new password")])
    code = StringField("Security code", description=CODE_HINT, widget=GovTextInput(),
                       validators=[InputRequired("Enter your security code"), Length(max=40)])
    submit = SubmitField("Change password", widget=GovSubmitInput())


class ChangePasswordForm(ResetPasswordForm):
    """Change a password from the account page."""

    current = PasswordField("Current password", widget=GovPasswordInput(),
                            validators=[InputRequired("Enter your current password"), Length(max=1024)])


SECOND_FACTOR_HINT = ("The 6-digit code your authenticator app shows now or, if you cannot use the app, one of "
                      "your unused recovery codes.")


class ConfirmBothFactorsForm(FlaskForm):
    """The password and a current code or an unused recovery code, before changing a second factor."""

    password = PasswordField("Password", widget=GovPasswordInput(),
                             validators=[InputRequired("Enter your password"), Length(max=1024)])
    code = StringField("Security code or recovery code", description=SECOND_FACTOR_HINT, widget=GovTextInput(),
                       validators=[InputRequired("Enter a security code or a recovery code"), Length(max=40)])
    submit = SubmitField("Continue", widget=GovSubmitInput())


class RegenerateCodesForm(ConfirmBothFactorsForm):
    """Confirm with the password and a second factor before replacing the recovery codes."""

    submit = SubmitField("Create new recovery codes", widget=GovSubmitInput())


class ConfirmPasswordForm(ConfirmBothFactorsForm):
    """The password and a second factor, before setting up a new authenticator app."""


class NewAuthenticatorForm(FlaskForm):
    """Confirm a new authenticator with a code it shows; the sealed new secret travels in the form."""

    pending = HiddenField(validators=[InputRequired(), Length(max=500)])
    code = StringField("Security code", description="Enter the 6-digit code your new app shows now.",
                       widget=GovTextInput(), validators=[InputRequired("Enter the security code"), Length(max=20)])
    submit = SubmitField("Confirm and continue", widget=GovSubmitInput())


class KeepAliveForm(FlaskForm):
    """The timeout warning's *Stay signed in* button (and where to go back to without a script)."""

    next = HiddenField()


class DiscardKeptForm(FlaskForm):
    """Discard a kept form (a button: no fields)."""
