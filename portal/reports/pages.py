"""Pages that belong to no one product area: the start page, the dashboard, the accessibility statement, the menu
and the template filters every page uses. The health checks are portal/ops/health.py."""

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response

from portal import access, clock, wording
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


MAX_MENUS = 4096  # built menus kept per app: far more than roles x pages


def navigation_for(role: str) -> list[tuple[str, str]]:
    """The menu entries a person of this role may see."""
    return [(endpoint, label) for endpoint, label, roles in NAVIGATION if roles is None or role in roles]


@bp.app_template_global()
def menu_for(user: object) -> Markup:
    """The menu entries this person may see, the current page marked (templates/_menu.html).

    Every page shows the menu, and building its links cost as much as a small page's own content. Nothing in it
    is the person's own, only their role's, so each app builds it once for each role, page and mount point.
    """
    role = str(getattr(user, "role", ""))
    key = (request.script_root, role, request.endpoint)
    menus: dict[tuple[str, str, str | None], Markup] = current_app.extensions.setdefault("portal.menus", {})
    menu = menus.get(key)
    if menu is None:
        if len(menus) >= MAX_MENUS:
            menus.clear()
        html = current_app.jinja_env.get_template("_menu.html").render(entries=navigation_for(role),
                                                                       page=request.endpoint)
        menu = menus[key] = Markup(html.removesuffix("\n"))  # noqa: S704 - a template's output, escaped there
    return menu


bp.app_template_filter("format_datetime")(clock.format_datetime)
bp.app_template_filter("format_date")(clock.format_date)
bp.app_template_global("now")(clock.now)
bp.app_template_filter("count_of")(wording.count_of)
bp.app_template_filter("file_size")(wording.file_size)
