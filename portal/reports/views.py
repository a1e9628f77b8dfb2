"""Pages of the reports area: minutes, corrections, downloads, the summary report, themes and feedback release."""

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm

from portal import access, visibility
from portal.errors import or_404
from portal.models import ActionStatus, Meeting, Role, User
from portal.paging import page_number
from portal.reports import content, employer, forms, minutes_data, national, release, services
from portal.reports.render import Report, to_docx, to_pdf
from portal.reviews import counts
from portal.reviews.services import RecordClosed, why_not_yet
from portal.web import Page, filled

bp = Blueprint("reports", __name__)
# A wrong bank-holiday region or closure day stops the portal at start, not at the first release.
bp.record_once(lambda state: release.check_settings(state.app.config))
PANEL = (Role.ADMIN, Role.MEMBER, Role.OBSERVER)
WRITERS = (Role.ADMIN, Role.MEMBER)
DOWNLOAD_TYPES = {"pdf": ("application/pdf", to_pdf),
                  "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", to_docx)}


def _refused(message: str) -> tuple[str, int]:
    return render_template("reports/refused.html", message=message), 409


def _download(document: Report, kind: str, stem: str) -> Response:
    mimetype, write = DOWNLOAD_TYPES[kind]
    response = Response(write(document), mimetype=mimetype)
    # Stems are built from ids and dates only, so the plain and RFC 5987 forms are the same ASCII.
    response.headers["Content-Disposition"] = f"attachment; filename=\"{stem}.{kind}\"; " \
                                              f"filename*=UTF-8''{stem}.{kind}"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_template_global()
def report_links(meeting: Meeting) -> list[tuple[str, str]]:
    """Links for the meeting page: the minutes, the summary report and the feedback release, as allowed."""
    user = access.current_user()
    if user is None:
        return []
    links = []
    if visibility.may_read_minutes(user, meeting):
        links.append((url_for("reports.minutes", meeting_id=meeting.id),
                      "Read the minutes" if meeting.minutes_published_at else "Minutes (draft)"))
    if visibility.may_read_report(user, meeting):
        links.append((url_for("reports.summary", meeting_id=meeting.id), "Partnership summary report"))
    if visibility.chairs(user, meeting):
        links.append((url_for("reports.feedback_release", meeting_id=meeting.id),
                      "Release feedback to Assessors and NQSWs"))
    if user.is_admin and meeting.minutes_published_at is not None:
        links.append((url_for("reports.national_export", meeting_id=meeting.id),
                      "Export for the national moderation panel"))
    return links


@bp.app_template_global()
def not_sampled_text(user: User) -> str:
    """What an NQSW or Assessor who gets only the key messages is told: why there is nothing for them personally."""
    if user.role == Role.ASSESSOR:
        return ("None of the portfolios you assessed was in the sample this time, so the panel has no feedback "
                "for you personally.")
    return "Your portfolio was not in the sample this time, so the panel has no feedback for you personally."


# Minutes ----------------------------------------------------------------------------------------------


@bp.route("/meetings/<int:meeting_id>/minutes")
@access.roles(*PANEL)
def minutes(meeting_id: int) -> str:
    """Read the minutes: drafts for the panel, published minutes for the Steering Group."""
    user = access.require_user()
    meeting = or_404(visibility.readable_meeting(user, meeting_id))
    data = minutes_data.build(meeting, user)
    return render_template("reports/minutes.html", meeting=meeting, data=data, document=content.minutes_report(data),
                           revisions=data.revisions, can_write=visibility.chairs(user, meeting),
                           confirm=forms.ConfirmForm(), not_yet=why_not_yet(meeting))


F = TypeVar("F", forms.ThemeForm, forms.ActionForm)


def _owned(form: F, user: User) -> F:
    """A theme or action form offering its owners: the whole partnership or a member employer (by code to the
    panel, by name to the administrator)."""
    choices = forms.owner_choices(minutes_data.employer_labels(user))
    if isinstance(form, forms.ThemeForm):
        form.theme_employer.choices = choices
    else:
        form.action_employer.choices = choices
    return form


def _edit_page(user: User, meeting: Meeting, failed: FlaskForm | None = None, status: int = 200) -> tuple[str, int]:
    data = minutes_data.build(meeting, user)
    if data.minutes and data.minutes.published:
        return _refused("These minutes are published and read-only. Use a correction to change them.")
    given = {type(failed).__name__: failed} if failed else {}
    action_forms = {a.id: forms.ActionStatusForm(prefix=f"action{a.id}", status=a.status)
                    for a in data.actions + data.carried_forward}
    # Themes and key messages are drawn from what the members wrote, so the editor shows it (as sight allows).
    return render_template(
        "reports/minutes_edit.html", meeting=meeting, data=data, form=failed, released=release.release_for(meeting),
        said=data.panel, names=data.panel.names, user=user, **counts.TABLES,
        notes_form=given.get("NotesForm") or forms.NotesForm(notes=data.minutes.notes if data.minutes else ""),
        theme_form=given.get("ThemeForm") or _owned(forms.ThemeForm(), user), known_themes=services.theme_names(),
        action_form=given.get("ActionForm") or _owned(forms.ActionForm(), user),
        key_form=given.get("KeyMessageForm") or forms.KeyMessageForm(),
        action_forms=action_forms, confirm=forms.ConfirmForm(),
    ), status


@bp.route("/meetings/<int:meeting_id>/minutes/edit")
@access.roles(*WRITERS)
def edit_minutes(meeting_id: int) -> tuple[str, int]:
    """The Chair's page for writing the minutes, themes, actions and key messages."""
    user = access.require_user()
    return _edit_page(user, or_404(visibility.chaired_meeting(user, meeting_id)))


def _change(meeting_id: int, form: FlaskForm, apply: Callable[[User, Meeting, Any], None],
            done: str) -> Page:
    """Validate a form on the edit page and apply one service call; errors re-show the page with 400."""
    user = access.require_user()
    meeting = or_404(visibility.chaired_meeting(user, meeting_id))
    if not form.validate_on_submit():
        return _edit_page(user, meeting, form, 400)
    try:
        apply(user, meeting, form)
    except (services.RecordLocked, RecordClosed) as locked:
        return _refused(str(locked))
    except LookupError:
        abort(404)
    flash(done)
    return redirect(url_for("reports.edit_minutes", meeting_id=meeting.id))


@bp.route("/meetings/<int:meeting_id>/minutes/notes", methods=["POST"])
@access.roles(*WRITERS)
def save_notes(meeting_id: int) -> Page:
    """Save the Chair's free text."""
    return _change(meeting_id, forms.NotesForm(), lambda u, m, f: services.save_notes(u, m, f.notes.data or ""),
                   "The minutes have been saved.")


@bp.route("/meetings/<int:meeting_id>/minutes/themes", methods=["POST"])
@access.roles(*WRITERS)
def add_theme(meeting_id: int) -> Page:
    """Add a theme for the programme."""
    return _change(meeting_id, _owned(forms.ThemeForm(), access.require_user()),
                   lambda u, m, f: services.add_theme(u, m, f.name.data, f.note.data or "",
                                                      f.theme_employer.data or None),
                   "Theme added.")


@bp.route("/meetings/<int:meeting_id>/minutes/themes/<int:item_id>/remove", methods=["POST"])
@access.roles(*WRITERS)
def remove_theme(meeting_id: int, item_id: int) -> Page:
    """Take a theme off this meeting's record."""
    return _change(meeting_id, forms.ConfirmForm(), lambda u, m, f: services.remove_theme(u, m, item_id),
                   "Theme removed.")


@bp.route("/meetings/<int:meeting_id>/minutes/actions", methods=["POST"])
@access.roles(*WRITERS)
def add_action(meeting_id: int) -> Page:
    """Add an action for the Steering Group."""
    return _change(meeting_id, _owned(forms.ActionForm(), access.require_user()),
                   lambda u, m, f: services.add_action(u, m, f.description.data, f.owner.data, f.due_on.data,
                                                       f.action_employer.data or None),
                   "Action added.")


@bp.route("/meetings/<int:meeting_id>/minutes/actions/<int:action_id>/status", methods=["POST"])
@access.roles(*WRITERS)
def action_status(meeting_id: int, action_id: int) -> Page:
    """Update an action's status."""
    return _change(meeting_id, forms.ActionStatusForm(prefix=f"action{action_id}"),
                   lambda u, m, f: services.set_action_status(u, m, action_id, ActionStatus(f.status.data)),
                   "Action updated.")


@bp.route("/meetings/<int:meeting_id>/minutes/key-messages", methods=["POST"])
@access.roles(*WRITERS)
def add_key_message(meeting_id: int) -> Page:
    """Add a key message for every NQSW and Assessor."""
    return _change(meeting_id, forms.KeyMessageForm(), lambda u, m, f: services.add_key_message(u, m, f.text.data),
                   "Key message added.")


@bp.route("/meetings/<int:meeting_id>/minutes/key-messages/<int:message_id>/remove", methods=["POST"])
@access.roles(*WRITERS)
def remove_key_message(meeting_id: int, message_id: int) -> Page:
    """Remove a key message."""
    return _change(meeting_id, forms.ConfirmForm(),
                   lambda u, m, f: services.remove_key_message(u, m, message_id), "Key message removed.")


def _step(meeting_id: int, step: Callable[[User, Meeting], None], done: str) -> Page:
    user = access.require_user()
    meeting = or_404(visibility.chaired_meeting(user, meeting_id))
    if not forms.ConfirmForm().validate_on_submit():
        return _refused("The form had expired. Go back, refresh the page and try again.")
    try:
        step(user, meeting)
    except (services.RecordLocked, RecordClosed) as locked:
        return _refused(str(locked))
    flash(done)
    return redirect(url_for("reports.minutes", meeting_id=meeting.id))


@bp.route("/meetings/<int:meeting_id>/minutes/approve", methods=["POST"])
@access.roles(*WRITERS)
def approve_minutes(meeting_id: int) -> Page:
    """Approve the draft minutes."""
    return _step(meeting_id, services.approve, "The minutes are approved. You can now publish them.")


@bp.route("/meetings/<int:meeting_id>/minutes/publish", methods=["POST"])
@access.roles(*WRITERS)
def publish_minutes(meeting_id: int) -> Page:
    """Publish the approved minutes."""
    return _step(meeting_id, services.publish, "The minutes are published and are now read-only.")


@bp.route("/meetings/<int:meeting_id>/minutes/correct", methods=["GET", "POST"])
@access.roles(*WRITERS)
def correct_minutes(meeting_id: int) -> Page:
    """Correct published minutes with a new revision and its reason."""
    user = access.require_user()
    meeting = or_404(visibility.chaired_meeting(user, meeting_id))
    minutes = minutes_data.minutes_for(meeting)
    if minutes is None or not minutes.published:
        return _refused("Only published minutes are corrected. Edit the draft instead.")
    form = forms.CorrectionForm(notes=minutes.notes)
    if form.validate_on_submit():
        services.correct(user, meeting, filled(form.notes.data), filled(form.reason.data))
        flash("The correction has been published as a new revision.")
        return redirect(url_for("reports.minutes", meeting_id=meeting.id))
    return render_template("reports/correct.html", meeting=meeting, form=form), 400 if form.errors else 200


@bp.route("/meetings/<int:meeting_id>/minutes.<kind>")
@access.roles(*PANEL)
def download_minutes(meeting_id: int, kind: str) -> Response:
    """Download the minutes as PDF or DOCX."""
    user = access.require_user()
    meeting = or_404(visibility.readable_meeting(user, meeting_id))
    if kind not in DOWNLOAD_TYPES:
        abort(404)
    document = content.minutes_report(minutes_data.build(meeting, user))
    services.record_download(user, meeting, "minutes", kind)
    return _download(document, kind, f"minutes-{meeting.held_on.isoformat()}-{meeting.id}")


# The partnership summary report and themes --------------------------------------------------------------


@bp.route("/meetings/<int:meeting_id>/report")
@access.roles(*PANEL)
def summary(meeting_id: int) -> str:
    """The partnership summary report for the Steering Group."""
    user = access.require_user()
    meeting = or_404(visibility.reportable_meeting(user, meeting_id))
    document = content.summary_report(minutes_data.build(meeting, user))
    return render_template("reports/summary.html", meeting=meeting, document=document,
                           can_edit_sections=user.role == Role.ADMIN)


@bp.route("/meetings/<int:meeting_id>/report/sections", methods=["GET", "POST"])
@access.roles(Role.ADMIN)
def report_sections(meeting_id: int) -> Page:
    """The ASYE Lead writes the report's own sections: withdrawals, the national panel's feedback, organisational
    and support issues, employment or capability issues."""
    user = access.require_user()
    meeting = or_404(visibility.reportable_meeting(user, meeting_id))
    found = minutes_data.report_sections(meeting)
    form = forms.ReportSectionsForm(obj=found)
    if form.validate_on_submit():
        services.save_report_sections(user, meeting, form.texts())
        flash("The report's sections have been saved.")
        return redirect(url_for("reports.summary", meeting_id=meeting.id))
    return render_template("reports/report_sections.html", meeting=meeting, form=form), 400 if form.errors else 200


@bp.route("/meetings/<int:meeting_id>/report.<kind>")
@access.roles(*PANEL)
def download_summary(meeting_id: int, kind: str) -> Response:
    """Download the summary report as PDF or DOCX."""
    user = access.require_user()
    meeting = or_404(visibility.reportable_meeting(user, meeting_id))
    if kind not in DOWNLOAD_TYPES:
        abort(404)
    document = content.summary_report(minutes_data.build(meeting, user))
    services.record_download(user, meeting, "report", kind)
    return _download(document, kind, f"summary-report-{meeting.held_on.isoformat()}-{meeting.id}")


@bp.route("/reports")
@access.roles(*PANEL)
def index() -> str:
    """The meetings whose minutes the person may read, a page at a time, newest first."""
    user = access.require_user()
    return render_template("reports/index.html",
                           found=minutes_data.readable_meetings(user, page_number(request.args.get("page"))))


def _owner_filter() -> str:
    return request.args.get("owner", minutes_data.EVERY_OWNER)[:20]


@bp.route("/themes")
@access.roles(*PANEL, Role.LEAD)
def themes() -> str:
    """Themes for the programme, a page at a time, each with the latest meetings at which it was raised, and the
    actions agreed (paged on their own), by the employer that owns them (an employer Lead: their own employer's)."""
    user = access.require_user()
    owner = _owner_filter()
    return render_template("reports/themes.html",
                           themes=minutes_data.theme_history(user, owner, page_number(request.args.get("page"))),
                           actions=minutes_data.action_list(user, owner,
                                                            page_number(request.args.get("actions_page"))),
                           owner=owner, latest=minutes_data.LATEST_RAISED,
                           owners=[] if visibility.reads_employer_items_only(user)
                           else forms.owner_choices(minutes_data.employer_labels(user)),
                           partnership_only=minutes_data.PARTNERSHIP_ONLY)


@bp.route("/themes/<int:theme_id>")
@access.roles(*PANEL, Role.LEAD)
def theme(theme_id: int) -> str:
    """Every meeting at which one theme was raised that the person may read, a page at a time, newest first."""
    user = access.require_user()
    owner = _owner_filter()
    found = or_404(minutes_data.theme_meetings(user, theme_id, owner, page_number(request.args.get("page"))))
    return render_template("reports/theme.html", theme=found[0], found=found[1], owner=owner)


# Feedback release ---------------------------------------------------------------------------------------


@bp.route("/meetings/<int:meeting_id>/feedback-release", methods=["GET", "POST"])
@access.roles(*WRITERS)
def feedback_release(meeting_id: int) -> Page:
    """The Chair's release page: the target, then who received feedback and who has acknowledged it."""
    user = access.require_user()
    meeting = or_404(visibility.chaired_meeting(user, meeting_id))
    form = forms.ConfirmForm()
    problem = ""
    if form.validate_on_submit():
        try:
            release.release(user, meeting)
        except release.ReleaseRefused as refused:
            problem = str(refused)
        else:
            flash("Feedback released. Everyone concerned has been emailed a link.")
            return redirect(url_for("reports.feedback_release", meeting_id=meeting.id))
    item = release.release_for(meeting)
    return render_template(
        "reports/release.html", meeting=meeting, item=item, problem=problem, confirm=form,
        minutes=minutes_data.minutes_for(meeting), state=release.target_state(meeting, item),
        not_yet=why_not_yet(meeting),
        recipients=release.recipients(item) if item else [],
    ), 409 if problem else 200


@bp.route("/feedback")
@access.signed_in
def my_feedback_list() -> str:
    """The feedback released to the signed-in person."""
    return render_template("reports/my_feedback_list.html", items=release.my_releases(access.require_user()))


@bp.route("/feedback/<int:meeting_id>")
@access.signed_in
def my_feedback(meeting_id: int) -> str:
    """The person's own feedback from one meeting and the key messages; anyone else's is a 404."""
    recipient = or_404(release.recipient_of(access.require_user(), meeting_id))
    return render_template("reports/my_feedback.html", recipient=recipient, meeting=recipient.release.meeting,
                           feedback=release.personal_feedback(recipient),
                           key_messages=minutes_data.key_messages(meeting_id), confirm=forms.ConfirmForm())


@bp.route("/feedback/<int:meeting_id>/acknowledge", methods=["POST"])
@access.signed_in
def acknowledge(meeting_id: int) -> Page:
    """"I have read this feedback"."""
    user = access.require_user()
    recipient = or_404(release.recipient_of(user, meeting_id))
    if forms.ConfirmForm().validate_on_submit():
        release.acknowledge(user, recipient)
        flash("Thank you. The panel can see that you have read your feedback.")
    return redirect(url_for("reports.my_feedback", meeting_id=meeting_id))


# An employer's own: the release ledger for their people and the report on their portfolios ------------------

LEADS = (Role.ADMIN, Role.LEAD)


@bp.route("/employer/feedback")
@access.roles(*LEADS)
def employer_feedback() -> str:
    """The Lead's own people in each release (released, acknowledged, overdue) and their employer's reports."""
    user = access.require_user()
    return render_template("reports/employer_feedback.html", ledgers=employer.ledger(user),
                           meetings=employer.reported_meetings(user), user=user)


def _employer_report(meeting_id: int) -> tuple[User, Meeting, Report]:
    user = access.require_user()
    meeting = or_404(employer.reported_meeting(user, meeting_id))
    found, own = employer.own_record(user, meeting)
    name = user.organisation.name if user.own_employer_id is not None and user.organisation else "your employer"
    return user, meeting, content.employer_report(found, own, name, user.own_employer_id)


@bp.route("/employer/reports/<int:meeting_id>")
@access.roles(Role.LEAD)
def employer_report(meeting_id: int) -> str:
    """The report on the Lead's own employer's portfolios at one meeting."""
    _, meeting, document = _employer_report(meeting_id)
    return render_template("reports/employer_report.html", meeting=meeting, document=document)


@bp.route("/employer/reports/<int:meeting_id>.<kind>")
@access.roles(Role.LEAD)
def download_employer_report(meeting_id: int, kind: str) -> Response:
    """Download the employer's report as PDF or DOCX."""
    user, meeting, document = _employer_report(meeting_id)
    if kind not in DOWNLOAD_TYPES:
        abort(404)
    services.record_download(user, meeting, "employer_report", kind)
    return _download(document, kind, f"employer-report-{meeting.held_on.isoformat()}-{meeting.id}")


# The submission to the national moderation panel -------------------------------------------------------------


@bp.route("/meetings/<int:meeting_id>/national-export", methods=["GET", "POST"])
@access.roles(Role.ADMIN)
def national_export(meeting_id: int) -> Response | tuple[str, int]:
    """Explain the export; on a confirmed POST, build and send the ZIP (a new random sample each time, audited)."""
    user = access.require_user()
    meeting = or_404(national.meeting(meeting_id))
    form = forms.ConfirmForm()
    if not national.exportable(meeting):
        return render_template("reports/national_export.html", meeting=meeting, form=None,
                               population=0), 409 if form.is_submitted() else 200
    if form.validate_on_submit():
        name, data = national.build(user, meeting)
        response = Response(data, mimetype="application/zip")
        response.headers["Content-Disposition"] = f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
        response.headers["Cache-Control"] = "no-store"
        return response
    return render_template("reports/national_export.html", meeting=meeting, form=form,
                           population=len(national.assessments_of(meeting)),
                           share=national.SHARE_PERCENT), 400 if form.errors else 200
