"""The moderation portal: create_app() builds the application."""

import json
import logging
import re
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event

from portal import access, config, errors, headers, integrity, templating
from portal.extensions import csrf, db, migrate
from portal.ops import deployment
from portal.security import crypto, passwords

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: config -> keyring -> extensions -> blueprints -> errors -> cli."""
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance") if test_config is None else test_config.get("INSTANCE_PATH"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.jinja_environment = templating.PortalEnvironment
    from portal.documents.uploads import MemoryOnlyRequest

    app.request_class = MemoryOnlyRequest  # form file parts are never spooled to disk in plaintext
    config.load(app, test_config)
    _load_keyring(app)
    if app.config.get("ARGON2_PARAMETERS"):
        passwords.configure(*app.config["ARGON2_PARAMETERS"])

    db.init_app(app)
    _configure_sqlite(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    deployment.install(app)  # refuses to start with a wrong keyring
    from portal.ops.health import refuse_when_not_ready

    app.before_request(refuse_when_not_ready)  # before CSRF and the gate: a host that may not serve answers nothing
    csrf.init_app(app)
    templating.configure(app)
    _configure_logging(app)
    proxies = app.config["TRUST_PROXY"]  # a count, checked by config.load
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # X-Forwarded-For gains an address at each proxy, so the client's is the one `proxies` from its end;
        # the scheme and host are set (not appended to) by the proxy next to the portal (deploy/nginx/portal.conf).
        # Wrapping wsgi_app is how Flask's documentation applies middleware; mypy refuses assigning to a method.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=1, x_host=1)  # type: ignore[method-assign]

    from portal.admin.views import bp as admin_bp
    from portal.auth.passkey_views import bp as passkeys_bp
    from portal.auth.views import bp as auth_bp
    from portal.documents.views import bp as documents_bp
    from portal.meetings.views import bp as meetings_bp
    from portal.ops.health import bp as health_bp
    from portal.portfolios.views import bp as portfolios_bp
    from portal.reading.views import bp as reading_bp
    from portal.reports.pages import bp as pages_bp
    from portal.reports.views import bp as reports_bp
    from portal.reviews.views import bp as reviews_bp
    from portal.subject_access.views import bp as subject_access_bp

    for blueprint in (health_bp, pages_bp, auth_bp, passkeys_bp, admin_bp, portfolios_bp, documents_bp, reading_bp,
                      meetings_bp, reviews_bp, reports_bp, subject_access_bp):
        app.register_blueprint(blueprint)

    access.install(app)
    headers.install(app)
    errors.install(app)
    integrity.install(app)

    from portal import cli

    cli.install(app)
    templating.share_page_macros(app)  # last: after every template global is registered
    return app


def _configure_sqlite(app: Flask) -> None:
    """On SQLite, let readers work during a write (WAL) and let writers queue instead of failing at once.

    Writes are short (an upload writes its rows only after its file has streamed in), but a long busy timeout
    still makes a write wait for another rather than fail.
    """
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    from portal.ops.instance import secure_sqlite_file

    # Before the first connection, so the file never exists readable by other local users.
    secure_sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"])

    def on_connect(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 60000")
        cursor.execute("PRAGMA journal_mode = WAL")
        # Freed space is zeroed, so a destroyed data key is not left behind in a page of the database file.
        cursor.execute("PRAGMA secure_delete = ON")
        cursor.close()

    with app.app_context():
        event.listen(db.engine, "connect", on_connect)


def _load_keyring(app: Flask) -> None:
    """Refuse to start without a keyring: nothing can be read or written safely without it."""
    keyring = app.config.get("KEYRING")
    if keyring is None:
        env_value = app.config.get("KEYRING_JSON")
        if isinstance(env_value, dict):  # from_prefixed_env already parsed the JSON
            env_value = json.dumps(env_value)
        keyring = crypto.Keyring.load(Path(app.config["KEYRING_FILE"]), env_value)
    deployment.use_keyring(app, keyring)


def _configure_logging(app: Flask) -> None:
    """Log at INFO; request data (passwords, codes, tokens) is never logged by the portal."""
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Werkzeug's access log prints full paths, which for emailed links include the token.
    logging.getLogger("werkzeug").addFilter(_redact_tokens)


def _redact_tokens(record: logging.LogRecord) -> bool:
    """Mask the token of an emailed link (invitation or password help) in an access-log line as [token]."""
    if isinstance(record.args, tuple) and record.args:
        record.args = tuple(
            re.sub(r"/(invite|password-help)/[A-Za-z0-9_\-]{20,}", r"/\1/[token]", a)
            if isinstance(a, str) else a
            for a in record.args
        )
    return True
