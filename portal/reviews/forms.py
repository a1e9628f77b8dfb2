"""Forms for assessments (built from the template's sections), apologies, attendance, the panel's view and
the template editor."""

import copy
from collections.abc import Callable
from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSubmitInput, GovTextArea, GovTextInput
from wtforms import Field, HiddenField, RadioField, StringField, SubmitField, TextAreaField, ValidationError
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from portal.models import Agreement, Attendance, MeetingMember
from portal.reviews import form_schema

TOO_LONG = f"Answers must be {form_schema.MAX_TEXT:,} characters or fewer"
YES_NO = [("yes", "Yes"), ("no", "No")]
ANSWER_TYPES = [("text", "A written answer"), ("choice", "A choice from a list of options")]
CHANGED_MEANWHILE = ("The assessment template was changed while this page was open, so nothing was published. "
                     "Open the page again to start from the newest version.")
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
        field: Field
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


class SignInReminderForm(FlaskForm):
    """Remind the members who have not signed in since being added to sign in once before the meeting."""

    submit = SubmitField("Remind them to sign in", widget=GovSubmitInput())


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


# The form-based template editor --------------------------------------------------------------------------


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _quoted(text: str) -> str:
    return f"\u201c{text}\u201d"


def _version_fields(form_class: type[FlaskForm], name: str, based_on: str) -> dict[str, str]:
    """Give a template-editing form the version's name and the fingerprint of the version it starts from."""
    form_class.name = StringField("Name of the new version", widget=GovTextInput(), filters=[_strip],
                                  description="Shown in the list of versions, for example \u201cReviewer template "
                                              "2027\u201d.",
                                  validators=[DataRequired("Enter a name for the new version"),
                                              Length(max=200, message="The name must be 200 characters or fewer")])
    form_class.based_on = HiddenField()
    return {"name": name, "based_on": based_on}


def _text_field(label: str, what: str, limit: int, required: bool, rows: int = 0,
                extra: tuple[Callable[[FlaskForm, Field], None], ...] = ()) -> Field:
    """A text box whose errors name `what` (for example "the label of question 3 in “Part 2”")."""
    validators: list[Any] = [DataRequired(f"Enter {what}")] if required else [Optional()]
    validators.append(Length(max=limit, message=f"{what[0].upper()}{what[1:]} must be {limit:,} characters or fewer"))
    validators += extra
    if rows:
        return TextAreaField(label, widget=GovTextArea(), filters=[_strip], validators=validators)
    return StringField(label, widget=GovTextInput(), filters=[_strip], validators=validators)


def _distinct_options(where: str, names: list[str]) -> Callable[[FlaskForm, Field], None]:
    """A check that an option's label differs from the labels of the options before it (`names`, in order)."""

    def check(form: FlaskForm, field: Field) -> None:
        earlier = [form[name].data or "" for name in names[:names.index(field.name)]]
        if field.data and field.data.casefold() in (label.casefold() for label in earlier):
            raise ValidationError(f"{where} has two options labelled {_quoted(field.data)}: give each option a "
                                  "different label")
    return check


def wording_form(name: str, schema: dict[str, Any]) -> FlaskForm:
    """The wording of every section and question of a template (titles, labels, hints, required, option labels).

    Field names follow the form's order: s1-title, s1-hint, s1-q2-label, s1-q2-hint, s1-q2-required, s1-q2-o1.
    """

    class WordingForm(FlaskForm):
        submit = SubmitField("Publish the new version", widget=GovSubmitInput())

    data = _version_fields(WordingForm, name, form_schema.fingerprint(schema))
    WordingForm.option_names = {}
    for i, section in enumerate(schema["sections"], start=1):
        where = _quoted(section["title"])
        setattr(WordingForm, f"s{i}-title", _text_field("Title", f"the title of section {i} ({where})",
                                                        form_schema.MAX_TITLE, True))
        setattr(WordingForm, f"s{i}-hint", _text_field("Hint (optional)", f"the hint of section {i} ({where})",
                                                       form_schema.MAX_HINT, False, rows=2))
        data |= {f"s{i}-title": section["title"], f"s{i}-hint": section.get("hint", "")}
        for j, question in enumerate(section["questions"], start=1):
            prefix = f"s{i}-q{j}"
            setattr(WordingForm, f"{prefix}-label", _text_field(
                "Question", f"the label of question {j} in {where}", form_schema.MAX_LABEL, True))
            setattr(WordingForm, f"{prefix}-hint", _text_field(
                "Hint (optional)", f"the hint of question {j} in {where}", form_schema.MAX_HINT, False, rows=2))
            setattr(WordingForm, f"{prefix}-required", RadioField(
                "Must it be answered before the assessment is submitted?", choices=YES_NO, widget=GovRadioInput(),
                validators=[InputRequired(f"Choose whether question {j} in {where} must be answered")]))
            data |= {f"{prefix}-label": question["label"], f"{prefix}-hint": question.get("hint", ""),
                     f"{prefix}-required": "yes" if question.get("required") else "no"}
            names: list[str] = []
            WordingForm.option_names[prefix] = names
            for k, (_value, label) in enumerate(question.get("options", []) if question["type"] == "choice" else [],
                                                start=1):
                setattr(WordingForm, f"{prefix}-o{k}", _text_field(
                    f"Option {k}", f"the label of option {k} of question {j} in {where}", form_schema.MAX_OPTION,
                    True, extra=(_distinct_options(f"Question {j} in {where}", names),)))
                names.append(f"{prefix}-o{k}")
                data[f"{prefix}-o{k}"] = label
    return WordingForm(data=data)


def wording_layout(form: FlaskForm, schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The wording form's fields grouped for the page: each section's fields with its questions' fields."""
    return [{"number": i, "section": section, "title": form[f"s{i}-title"], "hint": form[f"s{i}-hint"],
             "questions": [{"number": j, "question": question, "counted": form_schema.is_counted(question),
                            "name": form_schema.field_name(question),
                            "label": form[f"s{i}-q{j}-label"], "hint": form[f"s{i}-q{j}-hint"],
                            "required": form[f"s{i}-q{j}-required"],
                            "options": [form[name] for name in form.option_names[f"s{i}-q{j}"]]}
                           for j, question in enumerate(section["questions"], start=1)]}
            for i, section in enumerate(schema["sections"], start=1)]


def _set_hint(holder: dict[str, Any], hint: str | None) -> None:
    if hint:
        holder["hint"] = hint
    else:
        holder.pop("hint", None)


def schema_from_wording(form: FlaskForm, schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of the schema with the wording form's text; keys, types and option values stay as they were."""
    changed = copy.deepcopy(schema)
    for i, section in enumerate(changed["sections"], start=1):
        section["title"] = form[f"s{i}-title"].data
        _set_hint(section, form[f"s{i}-hint"].data)
        for j, question in enumerate(section["questions"], start=1):
            prefix = f"s{i}-q{j}"
            question["label"] = form[f"{prefix}-label"].data
            _set_hint(question, form[f"{prefix}-hint"].data)
            question["required"] = form[f"{prefix}-required"].data == "yes"
            if question["type"] == "choice":
                question["options"] = [[value, form[f"{prefix}-o{k}"].data]
                                       for k, (value, _label) in enumerate(question["options"], start=1)]
    return changed


def _option_lines(form: FlaskForm, field: Field) -> None:
    """Options are needed for a choice: at least 2, at most MAX_OPTIONS, each short, none repeated."""
    if form.kind.data != "choice":
        return
    lines = option_lines(field.data)
    if len(lines) < 2:
        raise ValidationError("Enter at least 2 options for a choice, one on each line")
    if len(lines) > form_schema.MAX_OPTIONS:
        raise ValidationError(f"Enter {form_schema.MAX_OPTIONS} options or fewer")
    for number, line in enumerate(lines, start=1):
        if len(line) > form_schema.MAX_OPTION:
            raise ValidationError(f"Option {number} must be {form_schema.MAX_OPTION} characters or fewer")
        if line.casefold() in (earlier.casefold() for earlier in lines[:number - 1]):
            raise ValidationError(f"{_quoted(line)} is listed twice: give each option a different label")


def option_lines(text: str | None) -> list[str]:
    """The options typed one on each line, blank lines left out."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def question_form(name: str, schema: dict[str, Any]) -> FlaskForm:
    """A new question for a section: its label, hint, type of answer (with options for a choice), required."""

    class QuestionForm(FlaskForm):
        label = _text_field("Question", "the question", form_schema.MAX_LABEL, True)
        hint = _text_field("Hint (optional)", "the hint", form_schema.MAX_HINT, False, rows=2)
        kind = RadioField("Type of answer", choices=ANSWER_TYPES, widget=GovRadioInput(),
                          validators=[InputRequired("Choose the type of answer")])
        options = TextAreaField("Options (for a choice only)", widget=GovTextArea(),
                                description="Type each option on its own line, for example Yes, No and Not clear "
                                            "from the evidence.",
                                validators=[_option_lines])
        required = RadioField("Must it be answered before the assessment is submitted?", choices=YES_NO,
                              widget=GovRadioInput(), validators=[InputRequired("Choose whether it must be answered")])
        submit = SubmitField("Add the question and publish", widget=GovSubmitInput())

    return QuestionForm(data=_version_fields(QuestionForm, name, form_schema.fingerprint(schema)))


def new_question(form: FlaskForm, schema: dict[str, Any]) -> dict[str, Any]:
    """The question a filled-in question form describes, with a key made from its label (unique in the schema)."""
    taken = {form_schema.field_name(q) for s in schema["sections"] for q in s["questions"]}
    # Keys become field names on the member's section form, so they must not hide the form's own attributes.
    taken |= set(dir(FlaskForm)) | {"submit", "csrf_token"}
    question: dict[str, Any] = {"key": form_schema.new_key(form.label.data, taken), "type": form.kind.data,
                                "label": form.label.data, "required": form.required.data == "yes"}
    _set_hint(question, form.hint.data)
    if form.kind.data == "choice":
        lines = option_lines(form.options.data)
        values: set[str] = set()
        question["options"] = []
        for line in lines:
            value = form_schema.new_key(line, values)
            values.add(value)
            question["options"].append([value, line])
    return question


def remove_form(name: str, schema: dict[str, Any]) -> FlaskForm:
    """Confirm removing a question, naming the new version."""

    class RemoveForm(FlaskForm):
        submit = SubmitField("Remove the question and publish", widget=GovSubmitInput())

    return RemoveForm(data=_version_fields(RemoveForm, name, form_schema.fingerprint(schema)))
