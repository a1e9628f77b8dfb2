"""Pages of the meetings area: meetings, their members, the templates and the verifiable sample."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from portal import access, paging, visibility
from portal.errors import or_404
from portal.meetings import forms, sampling, services
from portal.models import Meeting, Outcome, PanelRole, Role, TemplateKind, User
from portal.web import Page, add_error, filled

bp = Blueprint("meetings", __name__)
admin_only = access.roles(Role.ADMIN)


def _meeting_or_404(meeting_id: int, texts: bool = False) -> tuple[User, Meeting]:
    user = access.require_user()
    return user, or_404(visibility.visible_meeting(user, meeting_id, texts))


def _status(form: FlaskForm) -> int:
    return 400 if form.errors else 200


@bp.route("/meetings")
@access.signed_in
def meetings() -> str:
    """The meetings this person may see."""
    user = access.require_user()
    return render_template("meetings/list.html", found=services.meeting_page(user, paging.page_number(
        request.args.get("page"))), user=user)


def _details(form: forms.MeetingForm) -> services.MeetingDetails:
    return services.MeetingDetails(filled(form.title.data), filled(form.held_on.data), form.reading_deadline.data,
                                   filled(form.access_window_days.data), filled(form.agenda.data),
                                   filled(form.terms_of_reference.data))


def _start_from_templates(form: forms.MeetingForm | forms.TemplatesForm) -> None:
    form.agenda.data = services.template_text(TemplateKind.AGENDA)
    form.terms_of_reference.data = services.template_text(TemplateKind.TERMS_OF_REFERENCE)


@bp.route("/meetings/new", methods=["GET", "POST"])
@admin_only
def new_meeting() -> Page:
    """Create a meeting; its agenda and Terms of Reference start from the templates."""
    form = forms.MeetingForm()
    if not form.is_submitted():
        _start_from_templates(form)
    if form.validate_on_submit():
        meeting = services.save_meeting(access.require_user(), None, _details(form))
        flash("The meeting has been created. Now add its members and choose the Chair.")
        return redirect(url_for("meetings.members", meeting_id=meeting.id))
    return render_template("meetings/meeting_form.html", form=form, meeting=None), _status(form)


@bp.route("/meetings/<int:meeting_id>/edit", methods=["GET", "POST"])
@admin_only
def edit_meeting(meeting_id: int) -> Page:
    """Change a meeting's details, agenda or Terms of Reference."""
    _, meeting = _meeting_or_404(meeting_id)
    form = forms.MeetingForm(obj=meeting)
    if form.validate_on_submit():
        services.save_meeting(access.require_user(), meeting, _details(form))
        flash("The meeting has been saved.")
        return redirect(url_for("meetings.meeting", meeting_id=meeting.id))
    return render_template("meetings/meeting_form.html", form=form, meeting=meeting), _status(form)


@bp.route("/meetings/templates", methods=["GET", "POST"])
@admin_only
def templates() -> Page:
    """Change the agenda and Terms of Reference that new meetings start from."""
    form = forms.TemplatesForm()
    if not form.is_submitted():
        _start_from_templates(form)
    if form.validate_on_submit():
        services.save_templates(access.require_user(), filled(form.agenda.data), filled(form.terms_of_reference.data))
        flash("The templates have been saved. New meetings will start from them.")
        return redirect(url_for("meetings.meetings"))
    return render_template("meetings/templates.html", form=form), _status(form)


@bp.route("/meetings/<int:meeting_id>")
@access.signed_in
def meeting(meeting_id: int) -> str:
    """A meeting: details, agenda, Terms of Reference, members, the sample and links to the other areas."""
    user, found = _meeting_or_404(meeting_id, texts=True)
    sampled = services.sample(found)
    readable = visibility.visible_among(user, (p.id for p in sampled))
    draw = services.current_draw(found)
    # Once assessing has begun the sample is fixed, so the page stops offering a redraw.
    can_draw = visibility.chairs(user, found) and not (draw and services.started_assessments(found))
    return render_template("meetings/meeting.html", meeting=found, user=user, seat=visibility.seat_at(user, found),
                           chair=visibility.chair_of(found), sampled=sampled, readable=readable,
                           draw=draw, can_draw=can_draw,
                           window_open=visibility.access_open(found))


def _member_form() -> tuple[forms.MemberForm, dict[int, User]]:
    candidates = {u.id: u for u in services.panel_candidates()}
    form = forms.MemberForm()
    form.person.choices = [(u.id, f"{u.name} ({u.role_label})") for u in candidates.values()]
    return form, candidates


@bp.route("/meetings/<int:meeting_id>/members", methods=["GET", "POST"])
@admin_only
def members(meeting_id: int) -> Page:
    """Who sits on the meeting; add a person or change their role (one Chair per meeting)."""
    _, found = _meeting_or_404(meeting_id)
    form, candidates = _member_form()
    if form.validate_on_submit():
        person = candidates[form.person.data]
        role = PanelRole(form.panel_role.data)
        was_seated = visibility.seat_at(person, found) is not None
        try:
            services.set_member(access.require_user(), found, person, role)
        except services.SeatRefused as refused:
            add_error(form.panel_role, str(refused))
        else:
            flash(f"{person.name} is now {role.label.lower()} of this meeting."
                  + ("" if was_seated else " They have been emailed a link to the meeting."))
            return redirect(url_for("meetings.members", meeting_id=found.id))
    return (render_template("meetings/members.html", meeting=found, form=form, confirm=forms.ConfirmForm()),
            _status(form))


@bp.route("/meetings/<int:meeting_id>/members/<int:member_id>/remove", methods=["POST"])
@admin_only
def remove_member(meeting_id: int, member_id: int) -> Response:
    """Take a person off the meeting."""
    _, found = _meeting_or_404(meeting_id)
    member = or_404(services.member_of(found, member_id))
    if not forms.ConfirmForm().validate_on_submit():
        abort(400)
    name = member.user.name
    services.remove_member(access.require_user(), found, member)
    flash(f"{name} has been taken off this meeting.")
    return redirect(url_for("meetings.members", meeting_id=found.id))


# The sample ---------------------------------------------------------------------------------------------


def _drawer_or_404(meeting_id: int) -> tuple[User, Meeting]:
    # The Lead, or the Chair while the access window is open: the same loader as the meeting record.
    user = access.require_user()
    return user, or_404(visibility.chaired_meeting(user, meeting_id))


@bp.route("/meetings/<int:meeting_id>/sample", methods=["GET", "POST"])
@access.roles(Role.ADMIN, Role.MEMBER)
def draw(meeting_id: int) -> Page:
    """The Chair (or the Lead) draws the sample; drawing again needs a reason and no assessment started yet."""
    user, found = _drawer_or_404(meeting_id)
    previous = services.current_draw(found)
    started = services.started_assessments(found) if previous else 0
    refusal = ""
    form = forms.DrawForm()
    form.strata.choices = [(name, label) for name, (label, _) in services.STRATA.items()]
    eligible = services.eligible_portfolios(found)
    if not form.is_submitted() and request.args.get("preset") == "guidance":
        preset = services.GUIDANCE_PRESET
        form.size_kind.data, form.percentage.data = "percentage", preset.percentage
        form.strata.data, form.employer_minimum.data = list(preset.strata), preset.employer_minimum
        form.passed_only.data = True
    # Once a redraw is blocked the form is not offered, so a form loaded earlier goes straight to the service,
    # which refuses it (under the meeting lock) whatever sizes it carries.
    if form.is_submitted() and (started or form.validate()):
        wanted = services.DrawRequest(
            number=form.number.data if form.size_kind.data == "number" else None,
            percentage=form.percentage.data if form.size_kind.data == "percentage" else None,
            strata=list(form.strata.data or []), reason=form.reason.data or "",
            employer_minimum=form.employer_minimum.data or 0,
            outcomes=[Outcome.PASS.value] if form.passed_only.data else [])
        try:
            sample_draw = services.draw_sample(user, found, wanted)
        except services.RedrawBlocked as exc:
            refusal, started = str(exc), exc.started
        except sampling.SamplingError as exc:
            field = form.reason if "reason" in str(exc) else (
                form.percentage if form.size_kind.data == "percentage" else form.number)
            field.errors = [str(exc)]
        else:
            flash(f"The sample has been drawn: {len(services.sample(found))} portfolios. "
                  "Their NQSWs and Assessors have been told.")
            return redirect(url_for("meetings.verify", meeting_id=found.id, draw_id=sample_draw.id))
    return render_template("meetings/draw.html", meeting=found, form=form, previous=previous,
                           eligible=eligible, previous_meeting=services.previous_meeting(found),
                           started=started, refusal=refusal), 400 if refusal else _status(form)


@bp.route("/meetings/<int:meeting_id>/sample/draws/<int:draw_id>")
@access.signed_in
def verify(meeting_id: int, draw_id: int) -> str:
    """Re-run a recorded draw from its seed, population and parameters and compare the picks."""
    user, found = _meeting_or_404(meeting_id)
    sample_draw = or_404(services.draw_of(found, draw_id))
    result = services.verify(sample_draw)
    return render_template("meetings/verify.html", meeting=found, result=result, user=user,
                           draws=services.draws(found), labels=services.labels_for(user, result.recorded))
