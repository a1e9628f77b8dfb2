"""Pages of the documents area: a portfolio's documents, upload, versions, reading and readiness."""

from collections.abc import Iterator
from urllib.parse import quote

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from werkzeug.wrappers import Response

from portal import access, paging, visibility, wording
from portal.documents import forms, name_check, services, shredding, uploads
from portal.documents.filetypes import ACCEPTED_EXTENSIONS
from portal.documents.stamping import StampFailure
from portal.errors import or_404
from portal.extensions import csrf
from portal.models import Document, DocumentVersion, EvidenceType, Portfolio, Role, User
from portal.portfolios import services as portfolio_services
from portal.spreadsheet import csv_lines
from portal.web import Page, filled

bp = Blueprint("documents", __name__)
# The partnership administrator and employer Leads, for the portfolios they manage (visibility.visible_portfolio).
leads = access.roles(Role.ADMIN, Role.LEAD)
PREFIX = "/portfolios/<int:portfolio_id>/documents"


@bp.app_template_filter("document_size")
def document_size(size: int) -> str:
    """A file size as people say it: 12 bytes, 30 KB, 1.2 MB, 200 MB (see wording.file_size)."""
    return wording.file_size(size)


def _document_or_404(portfolio_id: int, document_id: int) -> tuple[Portfolio, Document]:
    portfolio = or_404(visibility.visible_portfolio(access.require_user(), portfolio_id))
    return portfolio, or_404(services.document_in(portfolio, document_id))


def _version_or_404(portfolio_id: int, document_id: int, version_id: int) -> tuple[DocumentVersion, Portfolio]:
    return or_404(services.readable_version(access.require_user(), portfolio_id, document_id, version_id))


@bp.route(PREFIX)
@access.signed_in
def portfolio_documents(portfolio_id: int) -> str:
    """A portfolio's documents grouped by evidence type, with who has read each."""
    user = access.require_user()
    portfolio = or_404(visibility.visible_portfolio(user, portfolio_id))
    documents = services.documents_of([portfolio.id])
    groups = [(e, [d for d in documents if d.evidence_type == e.value]) for e in EvidenceType]
    not_cleaned = services.not_cleaned(d.current_version for d in documents if d.current_version) \
        if user.manages(portfolio.employer_id) else []
    # names are for the Lead's eyes only (the partnership administrator or the portfolio's employer's Lead)
    naming = name_check.naming(documents) if user.manages(portfolio.employer_id) else []
    return render_template("documents/list.html", portfolio=portfolio, label=portfolio.label_for(user),
                           naming=naming,
                           groups=[g for g in groups if g[1]], readers=services.readers_of(documents),
                           mine=services.my_read_states(user, documents), user=user,
                           kind_of=services.kind_of, not_cleaned=not_cleaned,
                           titles={d.current_version_id: d.title for d in documents},
                           panel_receives=services.panel_receives)


def _upload_page(portfolio: Portfolio, problems: list[tuple[str, str]], status: int) -> tuple[str, int]:
    return render_template("documents/upload.html", portfolio=portfolio,
                           label=portfolio.label_for(access.require_user()), rows=range(forms.UPLOAD_ROWS),
                           choices=forms.evidence_choices(), problems=problems, accept=",".join(ACCEPTED_EXTENSIONS),
                           limit=current_app.config["MAX_UPLOAD_BYTES"]), status


@bp.route(f"{PREFIX}/upload", methods=["GET", "POST"])
@leads
@csrf.exempt  # the body is read as a stream by uploads.checked_parts, which checks the token itself
def upload(portfolio_id: int) -> Page:
    """Upload one or more files, each with its evidence type, encrypted as they stream in."""
    user = access.require_user()
    portfolio = or_404(visibility.visible_portfolio(user, portfolio_id))
    if request.method == "GET":
        return _upload_page(portfolio, [], 200)
    try:
        parts = uploads.checked_parts(request, _body_limit(forms.UPLOAD_ROWS))
        documents = services.upload_many(user, portfolio, forms.new_files(parts))
    except services.UploadProblem as problem:
        return _upload_page(portfolio, problem.problems, 400)
    flash(f"{len(documents)} document{'s' if len(documents) != 1 else ''} uploaded.")
    return redirect(url_for("documents.portfolio_documents", portfolio_id=portfolio_id))


def _body_limit(files: int) -> int:
    return files * int(current_app.config["MAX_UPLOAD_BYTES"]) + 64 * 1024


@bp.route(f"{PREFIX}/<int:document_id>")
@access.signed_in
def document(portfolio_id: int, document_id: int) -> str:
    """A document and its version history."""
    user = access.require_user()
    portfolio, doc = _document_or_404(portfolio_id, document_id)
    versions = services.versions_of(doc)
    return render_template("documents/document.html", portfolio=portfolio, label=portfolio.label_for(user),
                           document=doc, versions=versions, kind_of=services.kind_of,
                           panel_receives=services.panel_receives,
                           names=services.file_names(user, portfolio, doc, versions),
                           findings=name_check.findings if user.manages(portfolio.employer_id) else None,
                           names_check=name_check.label,
                           state=services.my_read_states(user, [doc])[doc.id], user=user)


def _replace_page(portfolio: Portfolio, doc: Document, problems: list[tuple[str, str]],
                  status: int) -> tuple[str, int]:
    return render_template("documents/replace.html", portfolio=portfolio, document=doc, problems=problems,
                           accept=",".join(ACCEPTED_EXTENSIONS), limit=current_app.config["MAX_UPLOAD_BYTES"]), status


@bp.route(f"{PREFIX}/<int:document_id>/replace", methods=["GET", "POST"])
@leads
@csrf.exempt  # as for upload: the streamed body's token is checked by uploads.checked_parts
def replace(portfolio_id: int, document_id: int) -> Page:
    """Upload a new version of a document, keeping the old ones."""
    portfolio, doc = _document_or_404(portfolio_id, document_id)
    if request.method == "GET":
        return _replace_page(portfolio, doc, [], 200)
    part = forms.replacement_file(uploads.checked_parts(request, _body_limit(1)))
    if part is None:
        return _replace_page(portfolio, doc, [("file", "Select the new version of the file")], 400)
    try:
        version = services.replace(access.require_user(), doc, part.filename, part.chunks, part.content_type)
    except services.UploadProblem as problem:
        return _replace_page(portfolio, doc, problem.problems, 400)
    flash(f"Version {version.number} uploaded. Earlier versions are kept in the history.")
    return redirect(url_for("documents.document", portfolio_id=portfolio.id, document_id=doc.id))


@bp.route(f"{PREFIX}/<int:document_id>/delete", methods=["GET", "POST"])
@leads
def delete(portfolio_id: int, document_id: int) -> Page:
    """Confirm with a reason, then destroy every version of a document, leaving a tombstone and an audit record."""
    user = access.require_user()
    portfolio, doc = _document_or_404(portfolio_id, document_id)
    form = forms.DeleteForm()
    if form.validate_on_submit():
        title = doc.title  # the tombstone keeps no title, so name it in the notice now
        shredding.delete_document(user, doc, filled(form.reason.data))
        flash(f"\u201c{title}\u201d has been deleted. Every version is destroyed; the audit trail records "
              "who deleted it and why.")
        return redirect(url_for("documents.portfolio_documents", portfolio_id=portfolio.id))
    return render_template("documents/delete.html", portfolio=portfolio, label=portfolio.label_for(user),
                           document=doc, versions=len(doc.versions), form=form), 400 if form.errors else 200


def _content_disposition(disposition: str, filename: str) -> str:
    """RFC 6266: an ASCII fallback name and the exact name in UTF-8."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;%' else "_" for ch in filename)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _send(portfolio_id: int, document_id: int, version_id: int, disposition: str) -> Page:
    user = access.require_user()
    version, portfolio = _version_or_404(portfolio_id, document_id, version_id)
    kind = services.kind_of(version)
    if disposition == services.VIEW and not kind.opens_inline:
        abort(404)
    stamp = bool(current_app.config.get("PDF_STAMP")) and kind.opens_inline
    # Read now: open_version commits, which expires the rows.
    size, filename = services.served_size(user, version), services.file_name(user, portfolio, version.document, version)
    try:
        pieces = services.open_version(user, version, disposition, stamp=stamp)
    except services.IntegrityFailure:
        return render_template("documents/integrity_failure.html", portfolio_id=portfolio_id), 500
    except services.StoreUnavailable as exc:
        return render_template("errors/store_unavailable.html", portfolio_id=portfolio_id,
                               reference=exc.reference), 503
    except StampFailure:
        return render_template("documents/stamp_failure.html", portfolio_id=portfolio_id), 500
    response = Response(stream_with_context(pieces), content_type=kind.mimetype)
    if not stamp:
        response.headers["Content-Length"] = str(size)
    response.headers["Content-Disposition"] = _content_disposition(
        "inline" if disposition == services.VIEW else "attachment", filename)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route(f"{PREFIX}/<int:document_id>/versions/<int:version_id>/view")
@access.signed_in
def view(portfolio_id: int, document_id: int, version_id: int) -> Page:
    """Open a PDF in the browser (streamed, verified as it goes); recorded as a view."""
    return _send(portfolio_id, document_id, version_id, services.VIEW)


@bp.route(f"{PREFIX}/<int:document_id>/versions/<int:version_id>/download")
@access.signed_in
def download(portfolio_id: int, document_id: int, version_id: int) -> Page:
    """Download a version (streamed, verified as it goes); recorded as a download."""
    return _send(portfolio_id, document_id, version_id, services.DOWNLOAD)


# Who has read what compares at most one chooser page of portfolios at once (the table is documents by people);
# asking for more is refused with the reason, never silently cut.
MATRIX_MAX = paging.PAGE_SIZE


def _matrix_ids() -> list[int]:
    return list(dict.fromkeys(int(v) for v in request.args.getlist("portfolio") if v.isdigit() and len(v) < 10))


def _csv_cell(matrix: services.ReadinessMatrix, person: User, doc: Document) -> str:
    pages = matrix.pages_read(person, doc)
    return services.STATE_LABELS[matrix.state(person, doc)] + (f" ({pages})" if pages else "")


def _csv(matrix: services.ReadinessMatrix, labels: dict[int | None, str]) -> Iterator[str]:
    yield from csv_lines([["Portfolio", "Evidence type", "Document", *[p.name for p in matrix.people]]])
    yield from csv_lines([labels[doc.portfolio_id], EvidenceType(doc.evidence_type).label, doc.title,
                          *[_csv_cell(matrix, p, doc) for p in matrix.people]]
                         for doc in matrix.documents)


@bp.route("/documents/readiness")
@bp.route(f"{PREFIX}/readiness")
@leads
def readiness(portfolio_id: int | None = None) -> Page:
    """Who has read what: people x documents for one portfolio or several (?portfolio=1&portfolio=2)."""
    user = access.require_user()
    ids = [portfolio_id] if portfolio_id else _matrix_ids()
    if not ids or len(ids) > MATRIX_MAX:
        query = request.args.get("q", "")[:100]
        found = portfolio_services.portfolio_page(user, query, paging.page_number(request.args.get("page")))
        error = (f"Choose at most {MATRIX_MAX} portfolios to compare at once: {len(ids):,} were asked for. Search for "
                 "the ones you need, or compare them a page at a time.") if ids else ""
        return render_template("documents/readiness_choose.html", found=found, query=query, user=user,
                               error=error), 400 if error else 200
    portfolios = or_404(visibility.visible_portfolios(user, ids))
    ids = [p.id for p in portfolios]
    matrix = services.readiness_matrix(services.panel_for(ids), services.documents_of(ids))
    labels: dict[int | None, str] = {p.id: p.label_for(user) for p in portfolios}  # by Document.portfolio_id
    if request.args.get("format") == "csv":
        response = Response(_csv(matrix, labels), content_type="text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = _content_disposition("attachment", "readiness.csv")
        return response
    return render_template("documents/readiness.html", matrix=matrix, labels=labels, portfolios=portfolios,
                           states=services.STATE_LABELS, evidence=EvidenceType)
