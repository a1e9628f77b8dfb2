"""The Lead's subject access page: what the export holds, and a button that downloads it as a ZIP."""

from flask import Blueprint, render_template
from werkzeug.wrappers import Response

from portal import access
from portal.admin.forms import ConfirmForm
from portal.errors import or_404
from portal.models import Role
from portal.subject_access import services
from portal.subject_access.services import Kind
from portal.web import Page

bp = Blueprint("subject_access", __name__)
lead_only = access.roles(Role.ADMIN, Role.LEAD)  # an employer Lead for their own people (visibility)

# Where the Lead came from, for the back link: the person's page, or their registry entry.
BACK = {Kind.PERSON: ("admin.person", "user_id"), Kind.NQSW: ("portfolios.edit_nqsw", "nqsw_id"),
        Kind.ASSESSOR: ("portfolios.edit_assessor", "assessor_id")}


def _export_page(kind: Kind, entry_id: int) -> Page:
    """Explain the export on GET; on a confirmed POST, answer with the ZIP."""
    actor = access.require_user()
    person = or_404(services.subject(actor, kind, entry_id))
    form = ConfirmForm()
    if form.validate_on_submit():
        made = services.export(actor, person)
        response = Response(made.content, mimetype="application/zip")
        response.headers["Content-Disposition"] = f'attachment; filename="{made.filename}"'
        response.headers["Cache-Control"] = "no-store"
        return response
    endpoint, argument = BACK[kind]
    return render_template("subject_access/export.html", person=person, form=form,
                           descriptions=services.DESCRIPTIONS, back_endpoint=endpoint,
                           back_arguments={argument: entry_id}), 400 if form.errors else 200


@bp.route("/admin/people/<int:user_id>/subject-access", methods=["GET", "POST"])
@lead_only
def person(user_id: int) -> Page:
    """Export everything held about a person with an account."""
    return _export_page(Kind.PERSON, user_id)


@bp.route("/cohort/nqsws/<int:nqsw_id>/subject-access", methods=["GET", "POST"])
@lead_only
def nqsw(nqsw_id: int) -> Page:
    """Export everything held about an NQSW of the registry (and their account, if they have one)."""
    return _export_page(Kind.NQSW, nqsw_id)


@bp.route("/cohort/assessors/<int:assessor_id>/subject-access", methods=["GET", "POST"])
@lead_only
def assessor(assessor_id: int) -> Page:
    """Export everything held about an Assessor of the registry (and their account, if they have one)."""
    return _export_page(Kind.ASSESSOR, assessor_id)
