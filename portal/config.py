"""Configuration: defaults, then instance/config.py, then PORTAL_* environment variables."""

import os
from pathlib import Path
from typing import Any

from flask import Flask

DEFAULTS: dict[str, Any] = {
    "BASE_URL": "http://127.0.0.1:5000",
    "ORGANISATION_NAME": "Moderation portal",
    # Passkeys (WebAuthn): the relying-party id (a domain) and the exact origin; None: BASE_URL's host and origin.
    "PASSKEY_RP_ID": None,
    "PASSKEY_ORIGIN": None,
    "SESSION_IDLE_MINUTES": 30,
    "SESSION_ABSOLUTE_HOURS": 12,
    "SESSION_WARNING_SECONDS": 120,  # the timeout warning appears this long before an idle session ends
    "KEPT_FORM_DAYS": 7,  # how long typing sent after a session ended waits for its person to sign in again
    "INVITATION_HOURS": 72,
    "PASSWORD_RESET_MINUTES": 60,
    "THROTTLE_ACCOUNT_FAILURES": 5,
    "THROTTLE_ACCOUNT_WINDOW_SECONDS": 60,
    "THROTTLE_ACCOUNT_DAILY": 100,
    "THROTTLE_ADDRESS_FAILURES": 30,
    "THROTTLE_ADDRESS_WINDOW_SECONDS": 60,
    "THROTTLE_ADDRESS_DAILY": 1000,
    "THROTTLE_MAX_DELAY_SECONDS": 3600,
    "MAX_UPLOAD_BYTES": 200 * 1024 * 1024,
    "PDF_STAMP": False,
    "VERIFY_WHOLE_MAX_BYTES": 64 * 1024 * 1024,  # up to this size a file is authenticated whole before sending
    "PANEL_COPY_MAX_BYTES": 64 * 1024 * 1024,  # the largest file of which a panel copy is made (in memory)
    "ARCHIVE_MAX_BYTES": 100 * 1024 * 1024,  # a DOCX, XLSX or ODT may expand to at most this
    "ARCHIVE_MAX_ENTRIES": 1000,
    "ARCHIVE_MAX_RATIO": 200,  # an entry over 1 MB may expand at most this many times
    "CLAMD": "",  # virus scanning: clamd's Unix socket path or HOST:PORT; empty for none
    "CLAMD_TIMEOUT_SECONDS": 60,
    "CLAMD_MAX_BYTES": 25 * 1024 * 1024,  # clamd's StreamMaxLength (25 MB in Debian's clamd.conf)
    # Where the encrypted blobs are (portal/documents/storage.py): "local" (BLOB_DIR) or "s3" (an S3-compatible bucket).
    "BLOB_STORE": "local",
    "S3_BUCKET": "",
    "S3_PREFIX": "blobs/",
    "S3_ENDPOINT_URL": "",  # empty: Amazon S3; otherwise the service's URL, for example https://s3.example.org
    "S3_REGION": "",  # empty: the client's default (AWS_DEFAULT_REGION)
    "S3_ACCESS_KEY_ID": "",  # empty: the client's own sources (AWS_ACCESS_KEY_ID, a credentials file, a role)
    "S3_SECRET_ACCESS_KEY": "",
    "S3_SECRET_ACCESS_KEY_FILE": None,  # a file holding S3_SECRET_ACCESS_KEY (a mounted secret)
    "S3_PART_BYTES": 8 * 1024 * 1024,  # each multipart upload part (at least 5 MiB): the memory an upload holds
    "S3_ADDRESSING_STYLE": "auto",  # "path" for services that need https://host/bucket/key (MinIO, Ceph)
    "RETENTION_DAYS": 365,
    "FEEDBACK_TARGET_WORKING_DAYS": 5,
    "BANK_HOLIDAY_REGION": "ENG",  # the UK bank holidays the feedback target skips: ENG, WLS, SCT or NIR
    "CLOSURE_DAYS": [],  # local closure days the target also skips, as ISO dates
    "EVIDENCE_REQUIREMENTS": None,  # None: the default list in portal/models/documents.py
    "MAIL_BACKEND": "file",
    "MAIL_FROM": "moderation-portal@localhost",
    "SMTP_HOST": "127.0.0.1",
    "SMTP_PORT": 25,
    "SMTP_USERNAME": "",
    "SMTP_PASSWORD": "",
    "SMTP_STARTTLS": False,
    "MAIL_MAX_ATTEMPTS": 8,
    "SMTP_TIMEOUT_SECONDS": 10,
    "MAIL_KEEP_SENT_DAYS": 30,
    # The worker (`flask --app portal worker`): how often it looks for mail, and how often each job runs.
    "WORKER_POLL_SECONDS": 2,
    "JOB_RETENTION_PURGE_MINUTES": 24 * 60,
    "JOB_STORAGE_GC_MINUTES": 24 * 60,
    "JOB_SESSIONS_PRUNE_MINUTES": 60,
    "JOB_SIGN_IN_ATTEMPTS_PRUNE_MINUTES": 24 * 60,
    "JOB_OUTBOX_PRUNE_MINUTES": 24 * 60,
    "JOB_AUDIT_CHAIN_MINUTES": 1,
    "JOB_AUDIT_ANCHOR_MINUTES": 24 * 60,
    "JOB_REMINDERS_MINUTES": 60,
    "JOB_NAME_CHECK_MINUTES": 10,
    # Automatic reminders (portal/reviews/reminders.py): days before a meeting's reading deadline, and before the
    # panel's access window closes.
    "REMINDER_DAYS_BEFORE_DEADLINE": (7, 3, 1),
    "ACCESS_CLOSING_NOTICE_DAYS": 3,
    "JOB_RETRY_MINUTES": 15,
    "JOB_HISTORY_DAYS": 90,
    "DEVELOPMENT": False,
    # How often each host compares its keyring and SECRET_KEY with the deployment's records (portal/ops/deployment.py).
    "DEPLOYMENT_CHECK_SECONDS": 30,
    "SECRET_KEY_FILE": None,  # a file holding the SECRET_KEY (a mounted secret), instead of SECRET_KEY itself
    # How many reverse proxies in front of the portal add to X-Forwarded-For (nginx alone: 1; a load balancer that
    # sets X-Forwarded-For, then nginx: 2); 0 (or false) trusts no forwarded header. `true` counts as 1.
    "TRUST_PROXY": 0,
    "FIRST_EMPLOYER": None,  # upgrade to 0014 only: the employer existing data moves into (migrations/versions)
    "PARTNERSHIP_NAME": None,  # upgrade to 0014 only: the partnership's name (changed later on its page)
    "WTF_CSRF_TIME_LIMIT": None,
    "SQLALCHEMY_ENGINE_OPTIONS": None,  # None: pre-ping pooled connections, except to a SQLite file
}


def load(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Fill app.config from defaults, the instance folder, the environment and any test overrides."""
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("PORTAL")
        if os.environ.get("DATABASE_URL"):
            app.config["SQLALCHEMY_DATABASE_URI"] = _normalise_database_url(os.environ["DATABASE_URL"])
    else:
        app.config.from_mapping(test_config)
    _load_secret_key(app)
    app.config["TRUST_PROXY"] = trusted_proxies(app)
    instance = Path(app.instance_path)
    app.config.setdefault("SQLALCHEMY_DATABASE_URI", f"sqlite:///{instance / 'portal.sqlite3'}")
    app.config.setdefault("OUTBOX_DIR", str(instance / "outbox"))
    app.config.setdefault("BLOB_DIR", str(instance / "blobs"))
    app.config.setdefault("KEYRING_FILE", str(instance / "keyring.json"))
    _check_blob_store(app)
    if app.config["SQLALCHEMY_ENGINE_OPTIONS"] is None:
        # A pooled server connection can die between requests; a SQLite file cannot, so it skips the ping.
        sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": not sqlite}
    app.config["MAX_CONTENT_LENGTH"] = None  # uploads are limited per file while streaming instead
    development = bool(app.config["DEVELOPMENT"])
    app.config.update(
        SESSION_COOKIE_NAME="portal_state",  # __Host-portal_state when Secure (portal/auth/cookies.py)
        SESSION_COOKIE_PATH="/",  # __Host- requires Path=/ and no Domain
        SESSION_COOKIE_DOMAIN=None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not development,
        PREFERRED_URL_SCHEME="http" if development else "https",
    )


def trusted_proxies(app: Flask) -> int:
    """TRUST_PROXY as a number of proxies; refuse a value that is not a whole number from 0 to 5."""
    value = app.config["TRUST_PROXY"]
    if isinstance(value, str):
        value = {"true": 1, "yes": 1, "false": 0, "no": 0, "": 0}.get(value.strip().lower(), value.strip())
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = -1
    if not 0 <= count <= 5:
        raise ConfigurationError(f"TRUST_PROXY must be the number of reverse proxies in front of the portal "
                                 f"(0 to 5; 1 for nginx alone), not {app.config['TRUST_PROXY']!r}.")
    return count


class ConfigurationError(Exception):
    """A setting every host needs is missing or unreadable; the message says how to give it."""


def _load_secret_key(app: Flask) -> None:
    """Take SECRET_KEY from SECRET_KEY_FILE when given; refuse to go on without one.

    Every host of a deployment needs the same SECRET_KEY, so the portal never makes one up: it comes from
    PORTAL_SECRET_KEY, a file named by PORTAL_SECRET_KEY_FILE (a mounted secret) or instance/config.py, which
    `python -m portal.ops.instance` writes only in development.
    """
    path = app.config.get("SECRET_KEY_FILE")
    if path:
        try:
            app.config["SECRET_KEY"] = Path(path).read_text("utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(f"SECRET_KEY_FILE {path} cannot be read: {exc.strerror or exc}") from exc
    if not app.config.get("SECRET_KEY"):
        raise ConfigurationError(
            "SECRET_KEY is not set. Give every host of the deployment the same one, in PORTAL_SECRET_KEY, in a file "
            "named by PORTAL_SECRET_KEY_FILE, or in instance/config.py. `python -m portal.ops.instance --new-secrets` "
            "prints a new one; in development `make run` creates it.")


def _check_blob_store(app: Flask) -> None:
    """Read S3_SECRET_ACCESS_KEY_FILE when given, and refuse a blob store setting that cannot work."""
    from portal.documents.storage import store_for

    path = app.config.get("S3_SECRET_ACCESS_KEY_FILE")
    if path:
        try:
            app.config["S3_SECRET_ACCESS_KEY"] = Path(path).read_text("utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(f"S3_SECRET_ACCESS_KEY_FILE {path} cannot be read: {exc.strerror or exc}") from exc
    try:
        store_for(app.config)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"The blob store is not configured correctly: {exc}") from exc


def _normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the common short forms."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
