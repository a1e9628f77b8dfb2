"""Security headers on every response (DESIGN section 4)."""

from flask import Flask, Response, request
from flask_login import current_user

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
# One year, subdomains included; deploy/nginx/portal.conf sends the same on every answer over HTTPS (its own pages too).
HSTS = "max-age=31536000; includeSubDomains"


def add_security_headers(response: Response) -> Response:
    """Set the CSP, framing, sniffing, referrer and caching headers."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    if request.is_secure:
        headers["Strict-Transport-Security"] = HSTS
    static = request.endpoint == "static"
    if not static or current_user.is_authenticated:
        # Authenticated pages, downloads and every form page: never kept by the browser or a proxy, and never
        # served to one person from a cache filled for another (Vary: Cookie, on streamed downloads too, which
        # never touch Flask's session and so never got it from Flask).
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
        response.vary.add("Cookie")
    return response


def install(app: Flask) -> None:
    """Register the header hook."""
    app.after_request(add_security_headers)
