"""Pages of the reviews area: a member's assessments, apologies, the Chair's meeting record, templates."""

import json
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from portal import access, paging, visibility
from portal.auth import sign_in_check
from portal.documents.services import kind_of
from portal.errors import or_404
from portal.models import Agreement, Meeting, MeetingMember, Portfolio, Role, User
from portal.reading import services as reading
from portal.reviews import counts, form_schema, forms, meeting_data, services
from portal.web import Page, filled

bp = Blueprint("reviews", __name__, url_prefix="/reviews")
# Assessors, NQSWs and observers never reach these pages; membership of the meeting is checked by the loaders.
panel = access.roles(Role.MEMBER, Role.ADMIN)


def _seat_or_404(meeting_id: int) -> tuple[User, Meeting, MeetingMember]:
    user = access.require_user()
    meeting, seat = or_404(visibility.panel_seat(user, meeting_id))
    return user, meeting, seat


def _assessing_or_404(meeting_id: int, portfolio_id: int) -> tuple[User, Meeting, MeetingMember, Portfolio]:
    user, meeting, seat = _seat_or_404(meeting_id)
    return user, meeting, seat, or_404(visibility.sampled_portfolio(meeting, portfolio_id))


def _locked(meeting: Meeting, portfolio: Portfolio, user: User) -> tuple[str, int]:
    return render_template("reviews/locked.html", meeting=meeting, portfolio=portfolio, user=user), 409


def _refused(message: str) -> tuple[str, int]:
    return render_template("reports/refused.html", message=message), 409


def _chaired_or_404(meeting_id: int) -> tuple[User, Meeting]:
    user = access.require_user()
    return user, or_404(visibility.chaired_meeting(user, meeting_id))


def _section_or_404(sections: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return or_404(next((section for section in sections if section["key"] == key), None))


@bp.app_template_global()
def review_links(meeting: Meeting) -> list[tuple[str, str]]:
    """Links for the meeting page: the person's assessments and, for the Chair and Lead, the record."""
    user = access.current_user()
    return services.links_for(user, meeting) if user else []


@bp.app_template_global()
def answer_text(question: dict[str, Any], answers: dict[str, Any]) -> str:
    """An answer as people read it (the option's label for a choice, "Not answered" when blank)."""
    return form_schema.display(question, form_schema.answer_of(answers, question))


bp.add_app_template_global(form_schema.field_name, "field_name")
bp.add_app_template_global(form_schema.is_counted, "q_counted")


# A member's assessments ---------------------------------------------------------------------------------


@bp.route("/meetings/<int:meeting_id>")
@panel
def overview(meeting_id: int) -> str:
    """The sampled portfolios of a meeting with the person's progress on each."""
    user, meeting, seat = _seat_or_404(meeting_id)
    return render_template("reviews/overview.html", meeting=meeting, seat=seat,
                           portfolios=services.my_portfolios(meeting, user), user=user,
                           keeps_record=visibility.keeps_record(user, seat))


@bp.route("/meetings/<int:meeting_id>/apologies", methods=["GET", "POST"])
@panel
def apologies(meeting_id: int) -> Page:
    """Send apologies for a meeting, after confirmation; assessments then count as written."""
    user, meeting, seat = _seat_or_404(meeting_id)
    if closed := services.why_closed(meeting, services.CLOSED_APOLOGIES):
        return _refused(closed)
    form = forms.ApologiesForm()
    if form.validate_on_submit():
        try:
            services.send_apologies(user, meeting, seat)
        except services.RecordClosed as closed:
            return _refused(str(closed))
        flash("Your apologies have been sent. Submit your assessments in writing before the meeting.")
        return redirect(url_for("reviews.overview", meeting_id=meeting.id))
    return render_template("reviews/apologies.html", meeting=meeting, seat=seat, confirm=form)


@bp.route("/meetings/<int:meeting_id>/portfolios/<int:portfolio_id>")
@panel
def task_list(meeting_id: int, portfolio_id: int) -> str:
    """The task list for one portfolio: each section's status, then check and submit."""
    user, meeting, seat, portfolio = _assessing_or_404(meeting_id, portfolio_id)
    template, assessment = services.form_for(meeting, portfolio, user)
    answers = assessment.answer_map if assessment else {}
    statuses = [(s, form_schema.section_status(s, answers)) for s in template.sections]
    return render_template("reviews/task_list.html", meeting=meeting, portfolio=portfolio, seat=seat,
                           assessment=assessment, statuses=statuses, user=user,
                           evidence=services.evidence_of(portfolio),
                           notes=reading.notes_on_portfolio(user, portfolio.id),
                           complete=all(status == form_schema.COMPLETED for _s, status in statuses))


@bp.route("/meetings/<int:meeting_id>/portfolios/<int:portfolio_id>/sections/<section_key>",
          methods=["GET", "POST"])
@panel
def section(meeting_id: int, portfolio_id: int, section_key: str) -> Page:
    """One section of the form: POST saves a draft and returns to the task list."""
    user, meeting, _seat, portfolio = _assessing_or_404(meeting_id, portfolio_id)
    template, assessment = services.form_for(meeting, portfolio, user)
    part = _section_or_404(template.sections, section_key)
    if assessment is not None and assessment.submitted:
        return _locked(meeting, portfolio, user)
    if closed := services.why_closed(meeting, services.CLOSED_ASSESSMENTS):
        return _refused(closed)
    form = forms.section_form(part, assessment.answer_map if assessment else {})
    if form.validate_on_submit():
        try:
            services.save_section(user, meeting, portfolio, part, forms.answers_from(form, part))
        except services.Locked:
            return _locked(meeting, portfolio, user)
        except services.RecordClosed as closed:
            return _refused(str(closed))
        except services.NoLongerAssessable as refusal:
            return render_template("errors/error.html", code=409, title="Your answers have not been saved",
                                   description=str(refusal)), 409
        flash(f"Your answers to \u201c{part['title']}\u201d have been saved as a draft.")
        return redirect(url_for("reviews.task_list", meeting_id=meeting.id, portfolio_id=portfolio.id))
    return render_template("reviews/section.html", meeting=meeting, portfolio=portfolio, section=part, form=form,
                           user=user, fields=[(q, form[form_schema.field_name(q)]) for q in part["questions"]],
                           evidence=services.evidence_of(portfolio), kind_of=kind_of,
                           notes=reading.notes_on_portfolio(user, portfolio.id)), 400 if form.errors else 200


@bp.route("/meetings/<int:meeting_id>/portfolios/<int:portfolio_id>/check", methods=["GET", "POST"])
@panel
def check(meeting_id: int, portfolio_id: int) -> Page:
    """Check answers, then submit; a submitted assessment is shown read-only."""
    user, meeting, seat, portfolio = _assessing_or_404(meeting_id, portfolio_id)
    template, assessment = services.form_for(meeting, portfolio, user)
    confirm = forms.SubmitAssessmentForm()
    missing: list[form_schema.Missing] = []
    status = 200
    if confirm.validate_on_submit():
        try:
            services.submit(user, meeting, portfolio, seat)
            return redirect(url_for("reviews.submitted", meeting_id=meeting.id, portfolio_id=portfolio.id))
        except services.Locked:
            return _locked(meeting, portfolio, user)
        except services.RecordClosed as closed:
            return _refused(str(closed))
        except services.Incomplete as problem:
            missing, status = problem.missing, 400
    return render_template("reviews/check.html", meeting=meeting, portfolio=portfolio, seat=seat, user=user,
                           sections=template.sections, assessment=assessment, confirm=confirm, missing=missing,
                           answers=assessment.answer_map if assessment else {},
                           evidence=services.evidence_of(portfolio), kind_of=kind_of,
                           change=lambda key: url_for("reviews.section", meeting_id=meeting.id,
                                                      portfolio_id=portfolio.id, section_key=key)), status


@bp.route("/meetings/<int:meeting_id>/portfolios/<int:portfolio_id>/submitted")
@panel
def submitted(meeting_id: int, portfolio_id: int) -> str:
    """Confirmation that the assessment has been submitted."""
    user, meeting, _seat, portfolio = _assessing_or_404(meeting_id, portfolio_id)
    assessment = services.assessment_of(meeting, portfolio, user)
    if assessment is None or not assessment.submitted:
        abort(404)
    return render_template("reviews/submitted.html", meeting=meeting, portfolio=portfolio, assessment=assessment,
                           user=user)


@bp.route("/meetings/<int:meeting_id>/portfolios/<int:portfolio_id>/others")
@panel
def others(meeting_id: int, portfolio_id: int) -> str:
    """The other members' submitted assessments, once the person may see them (visibility.sight: after submitting
    their own and the reading deadline, or from the meeting's date for the Chair)."""
    user, meeting, seat, portfolio = _assessing_or_404(meeting_id, portfolio_id)
    template, assessment = services.form_for(meeting, portfolio, user)
    seen = visibility.sight(user, meeting, seat, assessment is not None and assessment.submitted)
    if not seen.shown:
        return render_template("reviews/submit_first.html", meeting=meeting, portfolio=portfolio, user=user,
                               sight=seen)
    return render_template("reviews/others.html", meeting=meeting, portfolio=portfolio, user=user,
                           sections=template.sections, others=services.others(meeting, portfolio, user))


# The Chair's meeting record --------------------------------------------------------------------------------


@bp.route("/meetings/<int:meeting_id>/record")
@panel
def meeting_record(meeting_id: int) -> str:
    """Readiness, attendance, and each portfolio's assessments side by side with counts and the panel's view."""
    user, meeting = _chaired_or_404(meeting_id)
    data = meeting_data.build(meeting, user, documents=True)
    shown = paging.page_of_list(data.portfolios, paging.page_number(request.args.get("page")),
                                meeting_data.RECORD_PAGE)
    return render_template("reviews/record.html", data=data, shown=shown, user=user,
                           reminder=forms.ReminderForm(), not_yet=services.why_not_yet(meeting),
                           sign_ins=sign_in_check.check(meeting), sign_in_reminder=forms.SignInReminderForm(),
                           agreement_labels={a.value: a.label for a in Agreement}, **counts.TABLES)


@bp.route("/meetings/<int:meeting_id>/record/reminders", methods=["POST"])
@panel
def reminders(meeting_id: int) -> Response:
    """Email a link to members who have not read everything or not submitted."""
    user, meeting = _chaired_or_404(meeting_id)
    if not forms.ReminderForm().validate_on_submit():
        abort(400)
    sent = services.send_reminders(user, meeting)
    flash(f"Reminder sent to {sent} {'member' if sent == 1 else 'members'}." if sent
          else "Everyone has read the documents and submitted: no reminder was needed.")
    return redirect(url_for("reviews.meeting_record", meeting_id=meeting.id))


@bp.route("/meetings/<int:meeting_id>/record/sign-in-reminders", methods=["POST"])
@panel
def sign_in_reminders(meeting_id: int) -> Response:
    """Email a link to panel members who have not signed in since being added to the meeting."""
    user, meeting = _chaired_or_404(meeting_id)
    if not forms.SignInReminderForm().validate_on_submit():
        abort(400)
    sent = sign_in_check.remind(user, meeting)
    flash(f"Sign-in reminder sent to {sent} {'member' if sent == 1 else 'members'}." if sent
          else "Everyone has signed in since being added: no reminder was needed.")
    return redirect(url_for("reviews.meeting_record", meeting_id=meeting.id) + "#signing-in")


@bp.route("/meetings/<int:meeting_id>/record/attendance", methods=["GET", "POST"])
@panel
def attendance(meeting_id: int) -> Page:
    """Record who attended and who sent apologies."""
    user, meeting = _chaired_or_404(meeting_id)
    if closed := services.why_closed(meeting, services.CLOSED_ATTENDANCE) or services.why_not_yet(meeting):
        return _refused(closed)
    seats = services.meeting_seats(meeting)
    form = forms.attendance_form(seats)
    if form.validate_on_submit():
        try:
            services.record_attendance(user, meeting, {seat.id: form[f"seat-{seat.id}"].data for seat in seats})
        except services.RecordClosed as closed:
            return _refused(str(closed))
        flash("Attendance has been saved.")
        return redirect(url_for("reviews.meeting_record", meeting_id=meeting.id))
    return render_template("reviews/attendance.html", meeting=meeting, form=form,
                           fields=[form[f"seat-{seat.id}"] for seat in seats]), 400 if form.errors else 200


@bp.route("/meetings/<int:meeting_id>/record/portfolios/<int:portfolio_id>", methods=["GET", "POST"])
@panel
def panel_view(meeting_id: int, portfolio_id: int) -> Page:
    """The Chair records the panel's view, confirmed exemplars and feedback for one portfolio."""
    user, meeting = _chaired_or_404(meeting_id)
    portfolio = or_404(visibility.sampled_portfolio(meeting, portfolio_id))
    if closed := (services.why_closed(meeting, services.CLOSED_PANEL_VIEW, released_too=True)
                  or services.why_not_yet(meeting)):
        return _refused(closed)
    form = forms.PanelViewForm(obj=services.panel_view_of(meeting, portfolio))
    if form.validate_on_submit():
        try:
            services.save_panel_view(user, meeting, portfolio, {name: form[name].data
                                                                for name in services.PANEL_VIEW_FIELDS})
        except services.RecordClosed as closed:
            return _refused(str(closed))
        flash(f"The panel's view on {portfolio.label_for(user)} has been saved.")
        return redirect(_record_url(meeting, portfolio.id))
    said = meeting_data.build(meeting, user, portfolio_id=portfolio.id)
    return render_template("reviews/panel_view.html", meeting=meeting, portfolio=portfolio, form=form, user=user,
                           said=said.portfolios[0], names=said.names, back=_record_url(meeting, portfolio.id),
                           **counts.TABLES), 400 if form.errors else 200


def _record_url(meeting: Meeting, portfolio_id: int) -> str:
    """The meeting record at the portfolio's own section, on the page that holds it."""
    page = meeting_data.record_page_of(meeting, portfolio_id)
    address = (url_for("reviews.meeting_record", meeting_id=meeting.id, page=page) if page > 1
               else url_for("reviews.meeting_record", meeting_id=meeting.id))
    return f"{address}#portfolio-{portfolio_id}"


# Assessment templates (the Lead) ---------------------------------------------------------------------------


@bp.route("/templates")
@access.roles(Role.ADMIN)
def templates() -> str:
    """The versions of the assessment template, and the current one's questions with the ways to change them."""
    current = services.current_template()
    return render_template("reviews/templates.html", versions=services.templates(), current=current,
                           next_version=services.next_version())


def _changed_meanwhile(form: FlaskForm, schema: dict[str, Any]) -> bool:
    """Whether a POSTed editor started from another version than the current one (someone published meanwhile)."""
    return bool(form.is_submitted() and form.based_on.data != form_schema.fingerprint(schema))


def _publish(name: str, schema: dict[str, Any], change: str) -> Page:
    """Publish the new version an editor made and go back to the list, or say why it was refused."""
    try:
        template = services.publish_template(access.require_user(), name, schema, change)
    except services.TemplateRefused as refused:
        return _refused("The new version was not published: " + " ".join(refused.problems))
    flash(f"Version {template.version} of the assessment template is published. "
          "Assessments already begun keep the version they started with.")
    return redirect(url_for("reviews.templates"))


@bp.route("/templates/wording", methods=["GET", "POST"])
@access.roles(Role.ADMIN)
def template_wording() -> Page:
    """Change the wording of the current version (titles, questions, hints, required, option labels) and publish."""
    current = services.current_template()
    schema = json.loads(current.schema)
    form = forms.wording_form(current.name, schema)
    if _changed_meanwhile(form, schema):
        return _refused(forms.CHANGED_MEANWHILE)
    if form.validate_on_submit():
        return _publish(form.name.data, forms.schema_from_wording(form, schema), "wording")
    return render_template("reviews/template_wording.html", form=form, sections=forms.wording_layout(form, schema),
                           current=current, next_version=services.next_version()), 400 if form.errors else 200


@bp.route("/templates/sections/<section_key>/questions/new", methods=["GET", "POST"])
@access.roles(Role.ADMIN)
def template_add_question(section_key: str) -> Page:
    """Add a question to a section of the current version and publish the result as the next version."""
    current = services.current_template()
    schema = json.loads(current.schema)
    part = _section_or_404(schema["sections"], section_key)
    form = forms.question_form(current.name, schema)
    if _changed_meanwhile(form, schema):
        return _refused(forms.CHANGED_MEANWHILE)
    if form.validate_on_submit():
        question = forms.new_question(form, schema)
        return _publish(form.name.data, form_schema.with_question(schema, section_key, question), "question added")
    return render_template("reviews/template_question.html", form=form, section=part, current=current,
                           next_version=services.next_version()), 400 if form.errors else 200


@bp.route("/templates/questions/<name>/remove", methods=["GET", "POST"])
@access.roles(Role.ADMIN)
def template_remove_question(name: str) -> Page:
    """Confirm, then remove a question the reports do not count and publish the result as the next version."""
    current = services.current_template()
    schema = json.loads(current.schema)
    part, question = or_404(form_schema.find_question(schema, name))
    if form_schema.is_counted(question):
        return _refused(f"\u201c{question['label']}\u201d cannot be removed: the reports count its answers, so "
                        "every version of the template must ask it. Nothing was published.")
    if len(part["questions"]) == 1:
        return _refused(f"\u201c{question['label']}\u201d is the only question in \u201c{part['title']}\u201d, "
                        "and a section needs at least one question. Add another question to the section first. "
                        "Nothing was published.")
    form = forms.remove_form(current.name, schema)
    if _changed_meanwhile(form, schema):
        return _refused(forms.CHANGED_MEANWHILE)
    if form.validate_on_submit():
        return _publish(form.name.data, form_schema.without_question(schema, name), "question removed")
    return render_template("reviews/template_remove.html", form=form, section=part, question=question,
                           current=current, next_version=services.next_version()), 400 if form.errors else 200


@bp.route("/templates/new", methods=["GET", "POST"])
@access.roles(Role.ADMIN)
def new_template() -> Page:
    """Advanced: publish a new version from edited JSON; nothing changes if it has a problem."""
    current = services.current_template()
    editor = forms.TemplateForm(name=current.name, schema=current.schema)
    problems: list[str] = []
    if editor.validate_on_submit():
        schema, problems = form_schema.validate(filled(editor.schema.data))
        if schema is not None:
            return _publish(filled(editor.name.data).strip(), schema, "edited as JSON")
    problems = [error for errors in editor.errors.values() for error in errors] + problems
    return render_template("reviews/template_edit.html", editor=editor, problems=problems,
                           current=current), 400 if problems else 200
