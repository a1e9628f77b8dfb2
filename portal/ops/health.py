"""The health checks and the not-ready guard: what a load balancer and a process supervisor ask of a host.

A host that must not serve (its keyring or SECRET_KEY is not the deployment's, portal/ops/deployment.py) answers
503 to everything but these checks, which report why.
"""

from flask import Blueprint, current_app, render_template, request

from portal import access
from portal.extensions import current_flask_app
from portal.ops import deployment

bp = Blueprint("health", __name__)

# Reachable whatever this host's state: they report it.
HEALTH_ENDPOINTS = frozenset({"health.older_ready", "health.live", "health.ready", "static"})


def refuse_when_not_ready() -> tuple[str, int, dict[str, str]] | None:
    """Before every request, first of all (create_app registers it before CSRF and the gate): a host that must not
    serve answers 503 to everything but the health checks, until its keyring and SECRET_KEY are the deployment's
    (portal/ops/deployment.py)."""
    if request.endpoint in HEALTH_ENDPOINTS:
        return None
    findings = deployment.current(current_flask_app())
    if not findings.problems:
        return None
    return render_template("errors/unavailable.html"), 503, {"Retry-After": "60"}


@bp.route("/health/live")
@access.public
def live() -> tuple[dict[str, str], int]:
    """For process supervisors: 200 while the process answers. Touches nothing else, so it stays cheap."""
    return {"status": "live"}, 200


@bp.route("/health/ready")
@access.public
def ready() -> tuple[dict[str, object], int]:
    """For load balancers: 200 when this host may serve; otherwise 503 and why (see portal/ops/deployment.py)."""
    findings = deployment.check(current_flask_app(), store=True)
    keyring = current_app.extensions["keyring"]
    answer: dict[str, object] = {"keys": sorted(keyring.keys), "active_key": keyring.active_id}
    if not findings.ready:
        problems = findings.reasons
        return {"status": "unavailable", "problems": problems, **answer}, 503
    return {"status": "ok", **answer}, 200


@bp.route("/health")
@access.public
def older_ready() -> tuple[dict[str, object], int]:
    """The readiness check under its older address."""
    return ready()
