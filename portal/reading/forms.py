"""The reading view's forms: reading preferences and private notes."""

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSubmitInput, GovTextArea
from wtforms import HiddenField, RadioField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from portal.reading.services import NOTE_MAX_CHARACTERS, Background, LineSpacing, TextSize


class PreferencesForm(FlaskForm):
    """How the reading view shows text: remembered for the person."""

    text_size = RadioField("Text size", choices=[(t.value, t.label) for t in TextSize], widget=GovRadioInput(),
                           validators=[DataRequired(message="Choose a text size")])
    line_spacing = RadioField("Line spacing", choices=[(s.value, s.label) for s in LineSpacing],
                              widget=GovRadioInput(), validators=[DataRequired(message="Choose a line spacing")])
    background = RadioField("Background colour", choices=[(b.value, b.label) for b in Background],
                            widget=GovRadioInput(), validators=[DataRequired(message="Choose a background colour")])
    submit = SubmitField("Save these settings", widget=GovSubmitInput())


def _stripped(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class NoteForm(FlaskForm):
    """A private note on a document or one of its pages."""

    body = TextAreaField(
        "Your note", widget=GovTextArea(), filters=[_stripped],
        description=f"Only you can ever see your notes. Up to {NOTE_MAX_CHARACTERS:,} characters.",
        validators=[DataRequired(message="Enter your note"),
                    Length(max=NOTE_MAX_CHARACTERS,
                           message=f"Your note must be {NOTE_MAX_CHARACTERS:,} characters or fewer")])
    page = HiddenField(validators=[Optional(), Regexp(r"^[1-9][0-9]{0,4}$", message="That page does not exist")])
    submit = SubmitField("Save note", widget=GovSubmitInput())
