"""The administrator's pages: people, invitations, organisations and the audit trail."""

from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, stream_with_context, url_for
from werkzeug.wrappers import Response

from portal import access, clock, paging
from portal.admin import forms, services
from portal.admin import partnership as partnership_services
from portal.auth import services as auth_services
from portal.errors import or_404
from portal.models import AccountLink, Role, User
from portal.web import Page, add_error, filled

bp = Blueprint("admin", __name__, url_prefix="/admin")
admin_only = access.roles(Role.ADMIN)
# The partnership administrator, and an employer Lead for their own employer's Assessors and NQSWs
# (User.manages_person decides whom, in every loader and list below).
leads = access.roles(Role.ADMIN, Role.LEAD)


def _link_or_404(link_id: int) -> AccountLink:
    return or_404(services.pending_link(access.require_user(), link_id))


def _person_or_404(user_id: int) -> User:
    return or_404(services.person_for(access.require_user(), user_id))


@bp.route("/people")
@leads
def people() -> str:
    """List and search people, with invitations still waiting."""
    actor = access.require_user()
    query = request.args.get("q", "")[:100]
    role = request.args.get("role", "")
    status = request.args.get("status", "")
    found = services.people(actor, query, role, status, paging.page_number(request.args.get("page")))
    return render_template("admin/people.html", found=found, people=found.rows, query=query,
                           role=role, status=status, roles=forms.roles_for(actor), links=services.pending_links(actor),
                           undelivered=services.undelivered_mail_count() if actor.is_admin else 0, user=actor)


@bp.route("/people/invite", methods=["GET", "POST"])
@leads
def invite() -> Page:
    """Invite a person by email: the administrator anyone, an employer Lead their own Assessors and NQSWs."""
    actor = access.require_user()
    form = forms.InviteForm()
    form.role.choices = [(r.value, r.label) for r in forms.roles_for(actor)]
    organisations = {o.id: o for o in services.organisations()} if actor.is_admin else {}
    if actor.is_admin:
        form.organisation.choices = [(0, "None")] + [(o.id, o.name) for o in organisations.values()]
        if not form.is_submitted() and request.args.get("employer", "").isdigit():
            form.organisation.data = int(request.args["employer"])
            form.role.data = Role.LEAD.value
    else:
        del form.organisation  # an employer Lead's invitations are always for their own employer
    if form.validate_on_submit():
        chosen = organisations.get(form.organisation.data or 0) if actor.is_admin else None
        email = filled(form.email.data)
        if auth_services.email_taken(email):
            add_error(form.email, "An account with this email address already exists")
        elif form.role.data == Role.LEAD.value and (chosen is None or not chosen.is_employer):
            add_error(form.organisation, "Choose the employer this Lead works for")
        else:
            link = auth_services.invite(actor, filled(form.name.data), email, Role(form.role.data),
                                        actor.acting_employer(chosen.id if chosen else None))
            flash(f"Invitation sent to {link.email}. The link works once and expires in "
                  f"{int(link.expires_at.timestamp() - link.created_at.timestamp()) // 3600} hours.")
            return redirect(url_for("admin.people"))
    return render_template("admin/invite.html", form=form, user=actor), 400 if form.errors else 200


@bp.route("/people/<int:user_id>")
@leads
def person(user_id: int) -> str:
    """One person: their details and the actions the administrator (or their employer's Lead) can take."""
    user = _person_or_404(user_id)
    return _person_page(user, forms.RoleForm(role=user.role))


def _person_page(user: User, role_form: forms.RoleForm) -> str:
    # form=role_form too, so a refused change shows the error summary (base.html looks for `form`).
    # Only the administrator, who reads the whole audit trail, sees the person's latest events.
    actor = access.require_user()
    events = services.audit_page(services.AuditFilter(person_id=user.id)).events[:10] if actor.is_admin else []
    return render_template("admin/person.html", person=user, confirm=forms.ConfirmForm(), role_form=role_form,
                           form=role_form, link=services.pending_link_for(user), events=events, user=actor)


def _confirmed_action(user_id: int, template: str, action: str) -> Page:
    """Show a confirmation page on GET; do the action on a confirmed POST."""
    user = _person_or_404(user_id)
    form = forms.ResetForm() if action == "reset" else forms.ConfirmForm()
    if form.validate_on_submit():
        actor = access.require_user()
        if user.id == actor.id and action != "reactivate":
            flash("You cannot do that to your own account. Ask another administrator.")
            return redirect(url_for("admin.person", user_id=user.id))
        if action == "reset" and not user.active:
            # Finishing a reset signs the person in, which would quietly undo the deactivation.
            flash(f"{user.name} is deactivated. Reactivate them first, then reset their sign-in.")
            return redirect(url_for("admin.person", user_id=user.id))
        if action == "deactivate":
            services.deactivate(actor, user)
            flash(f"{user.name} has been deactivated and signed out everywhere.")
        elif action == "reactivate":
            services.reactivate(actor, user)
            flash(f"{user.name} can sign in again.")
        else:
            forgot = isinstance(form, forms.ResetForm) and bool(form.forgot_password.data)
            services.reset_two_factor(actor, user, forgot_password=forgot)
            flash(f"{user.name}'s sign-in has been reset. They have been emailed a link to "
                  + ("choose a new password and set up a new authenticator app." if forgot
                     else "set up a new authenticator app. They keep their password."))
        return redirect(url_for("admin.person", user_id=user.id))
    return render_template(template, person=user, form=form)


@bp.route("/people/<int:user_id>/deactivate", methods=["GET", "POST"])
@leads
def deactivate(user_id: int) -> Page:
    """Deactivate a person after confirmation."""
    return _confirmed_action(user_id, "admin/confirm_deactivate.html", "deactivate")


@bp.route("/people/<int:user_id>/reactivate", methods=["GET", "POST"])
@leads
def reactivate(user_id: int) -> Page:
    """Reactivate a person after confirmation."""
    return _confirmed_action(user_id, "admin/confirm_reactivate.html", "reactivate")


@bp.route("/people/<int:user_id>/reset-2fa", methods=["GET", "POST"])
@leads
def reset_two_factor(user_id: int) -> Page:
    """Reset a person's two-factor sign-in after confirmation."""
    return _confirmed_action(user_id, "admin/confirm_reset.html", "reset")


@bp.route("/people/<int:user_id>/role", methods=["POST"])
@admin_only
def change_role(user_id: int) -> Page:
    """Change a person's role."""
    user = _person_or_404(user_id)
    form = forms.RoleForm()
    actor = access.require_user()
    if form.validate_on_submit() and user.id != actor.id:
        services.change_role(actor, user, Role(form.role.data))
        flash(f"{user.name} is now: {Role(form.role.data).label}.")
        return redirect(url_for("admin.person", user_id=user.id))
    if user.id == actor.id:
        add_error(form.role, "You cannot change your own role")
    return _person_page(user, form), 400


@bp.route("/invitations/<int:link_id>/resend", methods=["POST"])
@leads
def resend(link_id: int) -> Response:
    """Send a fresh link in place of an unused one."""
    link = _link_or_404(link_id)
    if not forms.ConfirmForm().validate_on_submit():
        abort(400)
    try:
        new = auth_services.resend_link(access.require_user(), link)
    except auth_services.ResendLimited as limited:
        flash(f"You cannot send {limited.email} another link yet: they have been sent "
              f"{auth_services.LINKS_PER_HOUR} in the last hour. You can send another after "
              f"{clock.format_datetime(limited.allowed_at)}.", "important")
        return redirect(url_for("admin.people"))
    flash(f"A new link has been sent to {new.email}. The old link no longer works.")
    return redirect(url_for("admin.people"))


@bp.route("/organisations", methods=["GET", "POST"])
@admin_only
def organisations() -> Page:
    """List organisations and add one."""
    form = forms.OrganisationForm()
    if form.validate_on_submit():
        name = filled(form.name.data)
        if services.organisation_name_taken(name):
            add_error(form.name, "An organisation with this name already exists")
        else:
            services.add_organisation(access.require_user(), name, form.kind.data)
            flash(f"{name.strip()} has been added.")
            return redirect(url_for("admin.organisations"))
    return render_template("admin/organisations.html", form=form, organisations=services.organisations()), (
        400 if form.errors else 200
    )


@bp.route("/partnership", methods=["GET", "POST"])
@admin_only
def partnership() -> Page:
    """The partnership: its name and its member employers, each with its code, numbers and Leads."""
    form = forms.PartnershipForm()
    if not form.is_submitted():
        form.name.data = partnership_services.partnership_name()
    if form.validate_on_submit():
        partnership_services.rename(access.require_user(), filled(form.name.data))
        flash("The partnership's name has been saved.")
        return redirect(url_for("admin.partnership"))
    return render_template("admin/partnership.html", form=form, employers=partnership_services.employers()), (
        400 if form.errors else 200)


@bp.route("/emails")
@admin_only
def emails() -> str:
    """Emails the portal could not deliver, with their errors and a way to try again."""
    return render_template("admin/emails.html", messages=services.undelivered_mail(), confirm=forms.ConfirmForm(),
                           max_attempts=int(current_app.config["MAIL_MAX_ATTEMPTS"]))


@bp.route("/emails/<int:message_id>/retry", methods=["POST"])
@admin_only
def retry_email(message_id: int) -> Response:
    """Try one undelivered email again now."""
    message = or_404(services.undelivered_message(message_id))
    if not forms.ConfirmForm().validate_on_submit():
        abort(400)
    services.retry_mail(access.require_user(), message)
    flash(f"The email to {message.recipient} will be sent again now. If it fails again, it stays on this list.")
    return redirect(url_for("admin.emails"))


def _audit_form() -> tuple[forms.AuditSearchForm, services.AuditFilter]:
    form = forms.AuditSearchForm(request.args)
    form.action.choices = [("", "Any action")] + [(a, a) for a in services.audit_actions()]
    criteria = services.AuditFilter()
    if request.args and form.validate():
        criteria = services.AuditFilter(person_id=form.person_id.data or None, person=form.person.data or "",
                                        action=form.action.data or "", date_from=form.date_from.data,
                                        date_to=form.date_to.data)
    return form, criteria


@bp.route("/audit")
@admin_only
def audit_trail() -> tuple[str, int]:
    """Search the audit trail."""
    form, criteria = _audit_form()
    found = services.audit_page(criteria, request.args.get("before", type=int), request.args.get("after", type=int))
    # The search as sent (a date's day, month and year share its name), for the CSV link and the other pages.
    search = [(key, value) for key, value in request.args.items(multi=True) if key not in ("before", "after")]
    here = url_for("admin.audit_trail")
    newer = f"{here}?{urlencode([*search, ('after', found.newer)])}" if found.newer is not None else None
    older = f"{here}?{urlencode([*search, ('before', found.older)])}" if found.older is not None else None
    return render_template("admin/audit.html", form=form, events=found.events, newer=newer, older=older,
                           query=urlencode(search)), 400 if form.errors else 200


@bp.route("/audit.csv")
@admin_only
def audit_export() -> Response:
    """Export the matching audit events as CSV."""
    form, criteria = _audit_form()
    if form.errors:
        abort(400)
    body = stream_with_context(services.audit_csv(access.require_user(), criteria))
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="audit-trail.csv"'})
