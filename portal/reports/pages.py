"""Pages that belong to no product area: the dashboard, the accessibility statement and the health check."""

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from portal import access, clock, wording
from portal.ops import deployment
from portal.reports import dashboard as dashboards

bp = Blueprint("pages", __name__)


@bp.route("/")
@access.public
def index() -> Response:
    """Send people to their dashboard, or to sign in."""
    return redirect(url_for("pages.dashboard") if access.current_user() else url_for("auth.sign_in"))


@bp.route("/dashboard")
@access.signed_in
def dashboard() -> str:
    """Each person's landing page: what they can do next."""
    user = access.require_user()
    return render_template("pages/dashboard.html", user=user, board=dashboards.for_user(user))


@bp.route("/accessibility")
@access.public
def accessibility() -> str:
    """The accessibility statement."""
    return render_template("pages/accessibility.html")


# Reachable whatever this host's state: they report it.
HEALTH_ENDPOINTS = frozenset({"pages.health", "pages.health_live", "pages.health_ready", "static"})


def refuse_when_not_ready() -> tuple[str, int, dict[str, str]] | None:
    """Before every request, first of all (create_app registers it before CSRF and the gate): a host that must not
    serve answers 503 to everything but the health checks, until its keyring and SECRET_KEY are the deployment's
    (portal/ops/deployment.py)."""
    if request.endpoint in HEALTH_ENDPOINTS:
        return None
    findings = deployment.current(current_app._get_current_object())  # type: ignore[attr-defined]
    if not findings.problems:
        return None
    return render_template("errors/unavailable.html"), 503, {"Retry-After": "60"}


@bp.route("/health/live")
@access.public
def health_live() -> tuple[dict[str, str], int]:
    """For process supervisors: 200 while the process answers. Touches nothing else, so it stays cheap."""
    return {"status": "live"}, 200


@bp.route("/health/ready")
@access.public
def health_ready() -> tuple[dict[str, object], int]:
    """For load balancers: 200 when this host may serve; otherwise 503 and why (see portal/ops/deployment.py)."""
    findings = deployment.check(current_app._get_current_object())  # type: ignore[attr-defined]
    keyring = current_app.extensions["keyring"]
    answer: dict[str, object] = {"keys": sorted(keyring.keys), "active_key": keyring.active_id}
    if not findings.ready:
        problems = findings.problems or [findings.unchecked]
        return {"status": "unavailable", "problems": problems, **answer}, 503
    return {"status": "ok", **answer}, 200


@bp.route("/health")
@access.public
def health() -> tuple[dict[str, object], int]:
    """The readiness check under its older address."""
    return health_ready()


# The menu: (endpoint, label, roles that see it; None for everyone signed in). Areas add their own entries.
NAVIGATION: list[tuple[str, str, frozenset[str] | None]] = [
    ("pages.dashboard", "Dashboard", None),
    ("meetings.meetings", "Meetings", frozenset({"admin", "member", "observer"})),
    ("portfolios.portfolios", "Portfolios", frozenset({"admin", "lead", "member"})),
    ("portfolios.cohort", "Cohort", frozenset({"admin", "lead"})),
    ("reports.index", "Minutes and reports", frozenset({"admin", "member", "observer"})),
    ("reports.my_feedback_list", "Your feedback", frozenset({"assessor", "nqsw"})),
    ("reports.employer_feedback", "Feedback and reports", frozenset({"lead"})),
    ("admin.people", "People", frozenset({"admin", "lead"})),
    ("admin.partnership", "Partnership", frozenset({"admin"})),
    ("admin.organisations", "Organisations", frozenset({"admin"})),
    ("admin.audit_trail", "Audit trail", frozenset({"admin"})),
    ("reviews.templates", "Assessment template", frozenset({"admin"})),
    ("auth.account", "Your account", None),
]


@bp.app_template_global()
def navigation_for(user: object) -> list[tuple[str, str]]:
    """The menu entries this person may see."""
    role = getattr(user, "role", "")
    return [(endpoint, label) for endpoint, label, roles in NAVIGATION if roles is None or role in roles]


bp.app_template_filter("format_datetime")(clock.format_datetime)
bp.app_template_filter("format_date")(clock.format_date)
bp.app_template_global("now")(clock.now)
bp.app_template_filter("count_of")(wording.count_of)
bp.app_template_filter("file_size")(wording.file_size)
