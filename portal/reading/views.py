"""Pages of the reading view: a document as text, page by page; reading preferences; private notes."""

from urllib.parse import urlsplit

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from portal import access, visibility
from portal.documents import services as documents
from portal.errors import or_404
from portal.models import Document, DocumentVersion, Portfolio, ReadingNote, User
from portal.reading import forms, services
from portal.web import Page

bp = Blueprint("reading", __name__)
PREFIX = "/portfolios/<int:portfolio_id>/documents/<int:document_id>"
MAX_PAGE = 99_999


@bp.app_template_global("readable")
def readable(version: DocumentVersion) -> bool:
    """Whether a version has a reading view (for the links beside each file)."""
    return services.readable(version)


def _document_or_404(user: User, portfolio_id: int, document_id: int) -> tuple[Portfolio, Document]:
    portfolio = or_404(visibility.visible_portfolio(user, portfolio_id))
    return portfolio, or_404(documents.document_in(portfolio, document_id))


def _note_or_404(user: User, portfolio_id: int, document_id: int, note_id: int) -> tuple[Portfolio, Document,
                                                                                          ReadingNote]:
    portfolio, document = _document_or_404(user, portfolio_id, document_id)
    return portfolio, document, or_404(services.own_note(user, document, note_id))


def _page_number() -> int:
    value = request.args.get("page", "1")
    return int(value) if value.isdigit() and 0 < int(value) <= MAX_PAGE else 1


def _no_store(page: str | tuple[str, int]) -> Response:
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route(f"{PREFIX}/versions/<int:version_id>/read")
@access.signed_in
def read(portfolio_id: int, document_id: int, version_id: int) -> Response:
    """A version as text: one page of a PDF (?page=N), a whole Word or text file; recorded like opening it."""
    user = access.require_user()
    version, portfolio = or_404(documents.readable_version(user, portfolio_id, document_id, version_id))
    document = version.document
    context = {"portfolio": portfolio, "label": portfolio.label_for(user), "document": document,
               "version": version, "kind": documents.kind_of(version), "user": user,
               "name": documents.file_name(user, portfolio, document, version),
               "preferences": services.preferences_of(user)}
    try:
        reading = services.open_page(user, version, _page_number())
    except documents.IntegrityFailure:
        return _no_store((render_template("documents/integrity_failure.html", portfolio_id=portfolio_id), 500))
    except documents.StoreUnavailable as exc:
        return _no_store((render_template("errors/store_unavailable.html", portfolio_id=portfolio_id,
                                          reference=exc.reference), 503))
    except services.NotReadable as exc:
        return _no_store(render_template("reading/read.html", reading=None, problem=str(exc),
                                         notes=services.notes_on(user, document), form=None, **context))
    form = forms.NoteForm(page=str(reading.page) if reading.kind == "pdf" else "")
    return _no_store(render_template("reading/read.html", reading=reading, problem=None, form=form,
                                     notes=services.notes_on(user, document),
                                     opened=services.pages_read(user, version), **context))


def _back_to(portfolio_id: int, document_id: int, page: int | None) -> str:
    """Where a note's form returns: the page of the reading view it was on, or the document's notes."""
    target = request.form.get("version", "")
    if target.isdigit():
        return url_for("reading.read", portfolio_id=portfolio_id, document_id=document_id, version_id=int(target),
                       page=page or 1, _anchor="notes")
    return url_for("reading.notes", portfolio_id=portfolio_id, document_id=document_id)


@bp.route(f"{PREFIX}/notes", methods=["GET", "POST"])
@access.signed_in
def notes(portfolio_id: int, document_id: int) -> Page:
    """The person's private notes on a document, and a form to add one."""
    user = access.require_user()
    portfolio, document = _document_or_404(user, portfolio_id, document_id)
    form = forms.NoteForm()
    if request.method == "POST" and form.validate():
        page = int(form.page.data) if form.page.data else None
        services.add_note(user, document, form.body.data or "", page)
        flash("Your note has been saved. Only you can see it.")
        return redirect(_back_to(portfolio.id, document.id, page))
    response = render_template("reading/notes.html", portfolio=portfolio, label=portfolio.label_for(user),
                               document=document, notes=services.notes_on(user, document), form=form)
    return (response, 400) if form.errors else response


@bp.route(f"{PREFIX}/notes/<int:note_id>/edit", methods=["GET", "POST"])
@access.signed_in
def edit_note(portfolio_id: int, document_id: int, note_id: int) -> Page:
    """Change one of the person's own notes."""
    user = access.require_user()
    portfolio, document, note = _note_or_404(user, portfolio_id, document_id, note_id)
    form = forms.NoteForm(body=note.body, page=str(note.page or ""))
    if form.validate_on_submit():
        services.change_note(user, note, form.body.data or "")
        flash("Your note has been changed.")
        return redirect(url_for("reading.notes", portfolio_id=portfolio.id, document_id=document.id))
    page = render_template("reading/edit_note.html", portfolio=portfolio, label=portfolio.label_for(user),
                           document=document, note=note, form=form)
    return (page, 400) if form.errors else page


@bp.route(f"{PREFIX}/notes/<int:note_id>/delete", methods=["GET", "POST"])
@access.signed_in
def delete_note(portfolio_id: int, document_id: int, note_id: int) -> Page:
    """Confirm, then delete one of the person's own notes."""
    user = access.require_user()
    portfolio, document, note = _note_or_404(user, portfolio_id, document_id, note_id)
    if request.method == "POST":
        services.delete_note(user, note)
        flash("Your note has been deleted.")
        return redirect(url_for("reading.notes", portfolio_id=portfolio.id, document_id=document.id))
    return render_template("reading/delete_note.html", portfolio=portfolio, label=portfolio.label_for(user),
                           document=document, note=note)


def _safe_next(value: str | None) -> str:
    """A page of this portal to go back to (never another site), or the dashboard."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        parts = urlsplit(value)
        if not parts.scheme and not parts.netloc:
            return value
    return url_for("pages.dashboard")


@bp.route("/reading/preferences", methods=["GET", "POST"])
@access.signed_in
def preferences() -> Page:
    """Choose the reading view's text size, line spacing and background colour."""
    user = access.require_user()
    back = _safe_next(request.values.get("next"))
    chosen = services.preferences_of(user)
    form = forms.PreferencesForm(text_size=chosen.text_size.value, line_spacing=chosen.line_spacing.value,
                                 background=chosen.background.value)
    if form.validate_on_submit():
        services.save_preferences(user, services.Preferences(
            services.TextSize(form.text_size.data), services.LineSpacing(form.line_spacing.data),
            services.Background(form.background.data)))
        flash("Your reading settings have been saved.")
        return redirect(back)
    page = render_template("reading/preferences.html", form=form, back=back)
    return (page, 400) if form.errors else page
