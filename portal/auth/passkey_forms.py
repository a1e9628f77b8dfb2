"""Forms of the passkey pages: the browser's answer travels in a hidden field the page's script fills."""

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovPasswordInput, GovTextInput
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import InputRequired, Length, ValidationError

from portal.auth.forms import SECOND_FACTOR_HINT, printable
from portal.security import passkeys

NAME_HINT = "So you can tell your keys apart, for example \u2018Work laptop\u2019 or \u2018Blue security key\u2019."


class PasskeyForm(FlaskForm):
    """Just the browser's answer (signing in with a passkey)."""

    credential = HiddenField(validators=[InputRequired("Use your passkey or security key"),
                                         Length(max=passkeys.MAX_RESPONSE_CHARS)])


class NewPasskeyForm(PasskeyForm):
    """A name for the new passkey, and the browser's answer."""

    name = StringField("Name for this passkey or security key", description=NAME_HINT, widget=GovTextInput(),
                       validators=[InputRequired("Enter a name for this passkey or security key"), Length(max=60),
                                   printable])
    credential = HiddenField(validators=[InputRequired("Add your passkey or security key using the button"),
                                         Length(max=passkeys.MAX_RESPONSE_CHARS)])


class ResetPasskeyForm(NewPasskeyForm):
    """The Lead's reset with a passkey: the sealed set-up from the password step travels in the form."""

    pending = HiddenField(validators=[InputRequired(), Length(max=500)])


class AddPasskeyForm(NewPasskeyForm):
    """Step 2 from the account page: the sealed permission from step 1 travels in the form."""

    pending = HiddenField(validators=[InputRequired(), Length(max=500)])


class ConfirmItIsYouForm(FlaskForm):
    """The password and a second factor: a code, an unused recovery code, or one of the person's passkeys."""

    password = PasswordField("Password", widget=GovPasswordInput(),
                             validators=[InputRequired("Enter your password"), Length(max=1024)])
    code = StringField("Security code or recovery code", description=SECOND_FACTOR_HINT, widget=GovTextInput(),
                       validators=[Length(max=40)])
    credential = HiddenField(validators=[Length(max=passkeys.MAX_RESPONSE_CHARS)])

    def validate_code(self, field: StringField) -> None:
        """A code is needed unless a passkey answered instead."""
        if not (field.data or "").strip() and not self.credential.data:
            raise ValidationError("Enter a security code or a recovery code, or use a passkey")
