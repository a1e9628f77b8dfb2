"""Pages of the portfolios area: the Lead's cohort registry and import, and the portfolio pages."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from portal import access, paging, visibility
from portal.admin import services as admin_services
from portal.documents import uploads
from portal.errors import or_404
from portal.extensions import csrf
from portal.models import Assessor, Nqsw, Outcome, Portfolio, Role, Service, User
from portal.portfolios import forms, importer, removal, services
from portal.web import Page, add_error, filled
from portal.wording import count_of

bp = Blueprint("portfolios", __name__)
# The partnership administrator (every employer) and employer Leads (their own employer: User.employer_scope,
# applied by every service below).
leads = access.roles(Role.ADMIN, Role.LEAD)


def _nqsw_or_404(nqsw_id: int) -> Nqsw:
    return or_404(services.nqsw_for(access.require_user(), nqsw_id))


def _assessor_or_404(assessor_id: int) -> Assessor:
    return or_404(services.assessor_for(access.require_user(), assessor_id))


def _status(form: object) -> int:
    return 400 if getattr(form, "errors", None) else 200


# The registry -------------------------------------------------------------------------------------------


@bp.route("/cohort", methods=["GET", "POST"])
@leads
def cohort() -> Page:
    """The registry's front page: cohorts, with links to NQSWs, Assessors and the import."""
    form = forms.CohortForm()
    if form.validate_on_submit():
        name = filled(form.name.data)
        if services.cohort_name_taken(name):
            add_error(form.name, "A cohort with this name already exists")
        else:
            services.add_cohort(access.require_user(), name)
            flash(f"The cohort {name.strip()} has been added.")
            return redirect(url_for("portfolios.cohort"))
    return render_template("portfolios/cohort.html", form=form, cohorts=services.cohorts(access.require_user()),
                           user=access.require_user()), _status(form)


@bp.route("/cohort/nqsws")
@leads
def nqsws() -> str:
    """The NQSWs in the registry a page at a time, searched by name or email address."""
    query = request.args.get("q", "")[:100]
    found = services.nqsw_page(access.require_user(), query, paging.page_number(request.args.get("page")))
    return render_template("portfolios/nqsws.html", found=found, query=query)


def _nqsw_form(nqsw: Nqsw | None) -> forms.NqswForm:
    form = forms.NqswForm(obj=nqsw) if nqsw else forms.NqswForm()
    user = access.require_user()
    employers = [(o.id, o.name) for o in services.employers_for(user)]
    form.employer.choices = ([forms.NONE_CHOICE] if user.is_admin else []) + employers
    form.cohort.choices = [forms.NONE_CHOICE] + [(c.id, c.name) for c, _ in services.cohorts(user)]
    if nqsw and not form.is_submitted():
        form.employer.data = nqsw.employer_id or 0
        form.cohort.data = nqsw.cohort_id or 0
    return form


def _edit_nqsw(nqsw: Nqsw | None) -> Page:
    form = _nqsw_form(nqsw)
    if form.validate_on_submit():
        email = filled(form.email.data)
        if services.email_taken(Nqsw, email, nqsw.id if nqsw else None):
            add_error(form.email, "Another NQSW already has this email address")
        else:
            saved = services.save_nqsw(access.require_user(), nqsw, services.NqswDetails(
                filled(form.name.data), email, form.employer.data or None, form.cohort.data or None,
                form.service.data))
            flash(f"{saved.name} has been saved.")
            return redirect(url_for("portfolios.nqsws"))
    return render_template("portfolios/nqsw_form.html", form=form, nqsw=nqsw), _status(form)


@bp.route("/cohort/nqsws/new", methods=["GET", "POST"])
@leads
def add_nqsw() -> Page:
    """Add an NQSW to the registry."""
    return _edit_nqsw(None)


@bp.route("/cohort/nqsws/<int:nqsw_id>/edit", methods=["GET", "POST"])
@leads
def edit_nqsw(nqsw_id: int) -> Page:
    """Change an NQSW's details."""
    return _edit_nqsw(_nqsw_or_404(nqsw_id))


@bp.route("/cohort/assessors")
@leads
def assessors() -> str:
    """The Assessors in the registry a page at a time, searched by name or email address."""
    query = request.args.get("q", "")[:100]
    found = services.assessor_page(access.require_user(), query, paging.page_number(request.args.get("page")))
    return render_template("portfolios/assessors.html", found=found, query=query)


def _edit_assessor(assessor: Assessor | None) -> Page:
    form = forms.AssessorForm(obj=assessor) if assessor else forms.AssessorForm()
    user = access.require_user()
    form.organisation.choices = ([forms.NONE_CHOICE] + [(o.id, o.name) for o in admin_services.organisations()]
                                 if user.is_admin else [(o.id, o.name) for o in services.employers_for(user)])
    if assessor and not form.is_submitted():
        form.organisation.data = assessor.organisation_id or 0
    if form.validate_on_submit():
        email = filled(form.email.data)
        if services.email_taken(Assessor, email, assessor.id if assessor else None):
            add_error(form.email, "Another Assessor already has this email address")
        else:
            saved = services.save_assessor(access.require_user(), assessor, filled(form.name.data), email,
                                           form.organisation.data or None)
            flash(f"{saved.name} has been saved.")
            return redirect(url_for("portfolios.assessors"))
    return render_template("portfolios/assessor_form.html", form=form, assessor=assessor), _status(form)


@bp.route("/cohort/assessors/new", methods=["GET", "POST"])
@leads
def add_assessor() -> Page:
    """Add an Assessor to the registry."""
    return _edit_assessor(None)


@bp.route("/cohort/assessors/<int:assessor_id>/edit", methods=["GET", "POST"])
@leads
def edit_assessor(assessor_id: int) -> Page:
    """Change an Assessor's details."""
    return _edit_assessor(_assessor_or_404(assessor_id))


def _remove(entry: Nqsw | Assessor, listing: str) -> Page:
    """Name the person and what still refers to them on GET; remove them on a confirmed POST."""
    form = forms.RemoveEntryForm()
    if form.validate_on_submit():
        name = entry.name
        try:
            portfolios = removal.remove_entry(access.require_user(), entry)
        except removal.EntryInUse as refused:
            if refused.found is None:
                flash(str(refused))
                return redirect(url_for(listing))
            # Refused and nothing changed: the same page, now saying why. It offers the button again only if
            # the registry changed into something removable, so the Lead confirms what the page now says.
            problem = str(refused) if refused.found.removable else ""
            return render_template("portfolios/confirm_remove.html", form=form, found=refused.found,
                                   listing=listing, problem=problem), 409
        flash(f"{name} has been removed from the registry" + (
            f", with {'their empty portfolio' if portfolios == 1 else f'their {portfolios} empty portfolios'}."
            if portfolios else "."))
        return redirect(url_for(listing))
    return render_template("portfolios/confirm_remove.html", form=form, found=removal.dependents(entry),
                           listing=listing)


@bp.route("/cohort/nqsws/<int:nqsw_id>/remove", methods=["GET", "POST"])
@leads
def remove_nqsw(nqsw_id: int) -> Page:
    """Remove an NQSW from the registry (with their portfolio while it is empty), after confirmation."""
    return _remove(_nqsw_or_404(nqsw_id), "portfolios.nqsws")


@bp.route("/cohort/assessors/<int:assessor_id>/remove", methods=["GET", "POST"])
@leads
def remove_assessor(assessor_id: int) -> Page:
    """Remove an Assessor named on no portfolio from the registry, after confirmation."""
    return _remove(_assessor_or_404(assessor_id), "portfolios.assessors")


def _edit_portfolio(portfolio_id: int | None) -> Page:
    # The one portfolio loader: a purged portfolio (a retention tombstone) is a 404 here as on every page.
    user = access.require_user()
    portfolio = or_404(visibility.visible_portfolio(user, portfolio_id)) if portfolio_id is not None else None
    form = forms.PortfolioForm(obj=portfolio) if portfolio else forms.PortfolioForm()
    most = services.REGISTRY_CHOICES_MAX
    nqsws, assessors = services.nqsws(user, most + 1), services.assessors(user, most + 1)
    if len(nqsws) > most:  # too many to choose from: named by email address
        del form.nqsw
    else:
        del form.nqsw_email
        form.nqsw.choices = [(n.id, f"{n.name} ({n.email})") for n in nqsws]
    if len(assessors) > most:
        del form.assessor
    else:
        del form.assessor_email
        form.assessor.choices = [forms.NONE_CHOICE] + [(a.id, f"{a.name} ({a.email})") for a in assessors]
    if portfolio and not form.is_submitted():
        _show(form, portfolio)
    if form.validate_on_submit() and (chosen := _chosen(form, user)) is not None:
        saved = services.save_portfolio(user, portfolio, services.PortfolioDetails(
            chosen[0], chosen[1], form.outcome.data or None, form.outcome_date.data, bool(form.exemplar_consent.data)))
        flash("The portfolio has been saved.")
        return redirect(url_for("portfolios.portfolio", portfolio_id=saved.id))
    return render_template("portfolios/portfolio_form.html", form=form, portfolio=portfolio,
                           has_nqsws=bool(nqsws)), 400 if form.errors else 200


def _show(form: forms.PortfolioForm, portfolio: Portfolio) -> None:
    """Fill the form with the portfolio as it is (by id where the form chooses, by email where it names)."""
    if "nqsw" in form:
        form.nqsw.data = portfolio.nqsw_id
    else:
        form.nqsw_email.data = portfolio.nqsw.email
    if "assessor" in form:
        form.assessor.data = portfolio.assessor_id or 0
    else:
        form.assessor_email.data = portfolio.assessor.email if portfolio.assessor else ""
    form.outcome.data = portfolio.outcome or ""


def _chosen(form: forms.PortfolioForm, user: User) -> tuple[int, int | None] | None:
    """The NQSW's and the Assessor's ids the form names, or None with the problem shown on its field."""
    if "nqsw" in form:
        nqsw_id = form.nqsw.data
    else:
        named = services.nqsw_by_email(user, form.nqsw_email.data or "")
        nqsw_id = named.id if named is not None else None
    if nqsw_id is None:
        add_error(form.nqsw_email, "No NQSW in your registry has this email address: check it, or add the NQSW first")
    if "assessor" in form:
        assessor_id = form.assessor.data or None
    elif (form.assessor_email.data or "").strip():
        found = services.assessor_by_email(user, form.assessor_email.data or "")
        assessor_id = found.id if found is not None else None
        if assessor_id is None:
            add_error(form.assessor_email, "No Assessor in your registry has this email address: check it, or leave "
                                           "it empty")
            return None
    else:
        assessor_id = None
    return (nqsw_id, assessor_id) if nqsw_id is not None else None


@bp.route("/cohort/portfolios/new", methods=["GET", "POST"])
@leads
def add_portfolio() -> Page:
    """Register a portfolio for an NQSW."""
    return _edit_portfolio(None)


@bp.route("/cohort/portfolios/<int:portfolio_id>/edit", methods=["GET", "POST"])
@leads
def edit_portfolio(portfolio_id: int) -> Page:
    """Change a portfolio's Assessor, outcome or exemplar consent."""
    return _edit_portfolio(portfolio_id)


@bp.route("/cohort/portfolios/<int:portfolio_id>/pseudonym", methods=["POST"])
@leads
def pseudonymise(portfolio_id: int) -> Response:
    """Give a portfolio a new panel label (the Lead keeps the key)."""
    user = access.require_user()
    portfolio = or_404(visibility.visible_portfolio(user, portfolio_id))
    if not forms.PseudonymForm().validate_on_submit():
        abort(400)
    label = services.assign_pseudonym(user, portfolio)
    flash(f"The panel now sees this portfolio as Portfolio {label}.")
    return redirect(url_for("portfolios.portfolio", portfolio_id=portfolio.id))


# The CSV import -----------------------------------------------------------------------------------------


@bp.route("/cohort/import", methods=["GET", "POST"])
@csrf.exempt  # checked by uploads.checked_parts, which reads the body without spooling it to disk
@leads
def import_csv() -> Page:
    """Upload a CSV and preview every row; nothing is written at this step."""
    form = forms.ImportForm(formdata=None)
    if request.method == "POST":
        data = _uploaded_csv()
        if data is not None:
            return _preview(services.preview_import(access.require_user(), data))
        form.file.errors = ["Choose a CSV file"]
    return render_template("portfolios/import.html", form=form, columns=importer.COLUMNS,
                           required=importer.REQUIRED), _status(form)


def _uploaded_csv() -> bytes | None:
    """The uploaded file's first MAX_BYTES + 1 bytes, read in memory only; None if no file was chosen."""
    for part in uploads.checked_parts(request, importer.MAX_BYTES + 64 * 1024):
        if isinstance(part, uploads.FilePart) and part.name == "file" and part.filename:
            data = bytearray()
            for chunk in part.chunks:
                data += chunk[: importer.MAX_BYTES + 1 - len(data)]
            return bytes(data)
    return None


def _preview(preview: services.ImportPreview) -> tuple[str, int]:
    confirm = forms.ConfirmImportForm()
    confirm.sealed.data = preview.sealed
    return (render_template("portfolios/import_preview.html", plan=preview.plan, confirm=confirm),
            200 if preview.plan.ok else 400)


@bp.route("/cohort/import/confirm", methods=["POST"])
@leads
def confirm_import() -> Page:
    """Write a previewed file, checking it again first; all rows or none."""
    form = forms.ConfirmImportForm()
    try:
        if not form.validate_on_submit():
            raise services.ImportExpired
        result = services.confirm_import(access.require_user(), form.sealed.data or "")
    except services.ImportExpired:
        flash("The preview expired. Upload the file again.")
        return redirect(url_for("portfolios.import_csv"))
    except services.ImportRefused as refused:
        return _preview(refused.preview)
    except services.RegistryChanged as changed:
        changed.plan.problems.append("Someone changed the registry while you were importing. Nothing was "
                                     "imported. Upload the file again.")
        return render_template("portfolios/import_preview.html", plan=changed.plan, confirm=None), 409
    flash(f"Imported {count_of(result.nqsws, 'NQSW and their portfolio', 'NQSWs and their portfolios')}, "
          f"{count_of(result.assessors, 'new Assessor', 'new Assessors')}, "
          f"{count_of(result.organisations, 'new organisation', 'new organisations')} and "
          f"{count_of(result.cohorts, 'new cohort', 'new cohorts')}.")
    return redirect(url_for("portfolios.portfolios"))


# Portfolio pages ----------------------------------------------------------------------------------------


@bp.route("/portfolios")
@access.signed_in
def portfolios() -> str:
    """The portfolios this person may see a page at a time, searched by the name they see, with the completeness
    check for each."""
    user = access.require_user()
    query = request.args.get("q", "")[:100]
    found = services.portfolio_page(user, query, paging.page_number(request.args.get("page")))
    checks = services.completeness([p.id for p in found.rows])
    return render_template("portfolios/list.html", found=found, query=query, checks=checks, user=user)


@bp.route("/portfolios/<int:portfolio_id>")
@access.signed_in
def portfolio(portfolio_id: int) -> str:
    """One portfolio: its summary, its documents by evidence type and what it lacks."""
    user = access.require_user()
    shown = or_404(visibility.visible_portfolio(user, portfolio_id))
    return render_template("portfolios/portfolio.html", portfolio=shown, user=user,
                           check=services.completeness([shown.id])[shown.id],
                           groups=services.documents_by_type(shown), pseudonym_form=forms.PseudonymForm())


@bp.app_template_filter("service_label")
def service_label(value: str | None) -> str:
    """A stored service as people say it."""
    return Service(value).label if value in {s.value for s in Service} else "Not recorded"


@bp.app_template_filter("outcome_label")
def outcome_label(value: str | None) -> str:
    """A stored Internal Panel outcome as people say it."""
    return Outcome(value).label if value in {o.value for o in Outcome} else "Not decided yet"
