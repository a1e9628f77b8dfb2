"""One deployment, many hosts: each host checks its SECRET_KEY and keyring against what the database records.

Every host of a deployment shares one database and must share its configuration too: the same SECRET_KEY (or
sign-in and form tokens made by one host fail on another) and every key-encryption key the database uses (or a
host cannot read what another wrote). The database keeps, in `deployment` and `key_checks`, a check value for
the SECRET_KEY and for each key id (HMACs of fixed labels, which reveal neither), the deployment's active key and
which keys have been active. A host compares itself with them:

- when it starts (create_app): a key in its keyring that differs from the key the database knows under that id
  stops it from starting (DeploymentMismatch), since it would write values no other host can read;
- every DEPLOYMENT_CHECK_SECONDS while it runs (before a request), and whenever `/health/ready` is asked: a key
  the database uses that its keyring lacks, a SECRET_KEY that is not the deployment's, or a wrong key make it
  refuse to serve (503) and `/health/ready` says why; `/health/live` never touches the database;
- when it starts and whenever `/health/ready` is asked: a blob store it cannot reach, or one that holds none of
  the newest files the database names (another folder or bucket than the deployment's), make it refuse too.

The same periodic check follows the deployment's active key (`keys activate` on any host switches every host
within DEPLOYMENT_CHECK_SECONDS) and reloads a keyring file that has changed (`keys add` writes it), so a key can
be added, activated and used without restarting anything. The first host to start on a database records what it
holds (the SECRET_KEY's check value, and every key of its keyring as in use); a key that later appears in a
host's keyring is recorded as not yet active.
"""

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from flask import Flask, current_app, has_app_context
from sqlalchemy import Connection, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from portal import audit, clock
from portal.extensions import current_flask_app, db
from portal.models import Deployment, DocumentVersion, KeyCheck, User
from portal.security import crypto, tokens
from portal.security.crypto import Keyring, KeyringError

log = logging.getLogger("portal.ops.deployment")

DEPLOYMENT = Deployment.__table__
KEY_CHECKS = KeyCheck.__table__
VERSIONS = DocumentVersion.__table__


class DeploymentMismatch(Exception):
    """This host's keyring holds a different key under an id the database knows: it must not start."""


@dataclass
class Findings:
    """What one comparison of this host with the database found."""

    problems: list[str] = field(default_factory=list)  # why this host must not serve
    wrong_keys: list[str] = field(default_factory=list)  # ids whose key is not the deployment's
    unchecked: str | None = None  # why the database could not be compared (unreachable, not migrated)
    unmigrated: bool = False  # it could not because the database answers but has no deployment records' table
    active: str | None = None  # the deployment's active key id
    activated_at: datetime | None = None  # when it was activated

    @property
    def ready(self) -> bool:
        """True when the host may serve: compared, and nothing wrong."""
        return self.unchecked is None and not self.problems

    @property
    def reasons(self) -> list[str]:
        """Why the host may not serve: the problems found, or else why the database could not be compared."""
        return self.problems or ([self.unchecked] if self.unchecked is not None else [])


@dataclass
class HostState:
    """The latest findings of this process, when they were made and the keyring file's version then."""

    findings: Findings
    checked_at: float  # time.monotonic()
    keyring_mtime: int | None = None
    store_problem: str | None = None  # why this host cannot see the deployment's blob store (checked at start
    # and by /health/ready; kept between those checks, so serving does not wait on the store every few seconds)


# The keyring this process uses -----------------------------------------------------------------------------


def keyring_file(app: Flask) -> Path | None:
    """The keyring file when the keyring was loaded from one; None when it came from the environment or config."""
    if app.config.get("KEYRING") is not None or app.config.get("KEYRING_JSON"):
        return None
    return Path(app.config["KEYRING_FILE"])


def use_keyring(app: Flask, keyring: Keyring) -> None:
    """Make `keyring` the one this application encrypts and decrypts with."""
    app.extensions["keyring"] = keyring
    crypto.install(keyring)


def app_keyring() -> Keyring | None:
    """The running application's keyring (crypto.installed's resolver), or None outside an application."""
    return current_app.extensions.get("keyring") if has_app_context() else None


def _file_version(path: Path | None) -> int | None:
    try:
        return path.stat().st_mtime_ns if path is not None else None
    except OSError:
        return None


def _reload_changed_file(app: Flask, state: HostState | None) -> None:
    """Load the keyring file again if it changed since it was read (a key was added or retired meanwhile)."""
    path = keyring_file(app)
    version = _file_version(path)
    if path is None or state is None or version is None or version == state.keyring_mtime:
        return
    try:
        reloaded = Keyring.load(path, None)
    except (KeyringError, OSError) as exc:
        log.error("the keyring file changed but cannot be read, so the keyring loaded before is kept: %s", exc)
        return
    state.keyring_mtime = version
    current = app.extensions["keyring"]
    active = current.active_id if current.active_id in reloaded.keys else reloaded.active_id
    use_keyring(app, reloaded.with_active(active))
    log.info("reloaded the keyring file: keys %s", ", ".join(sorted(reloaded.keys)))


# Comparing with the database -------------------------------------------------------------------------------


def _read(connection: Connection) -> tuple[dict | None, dict[str, dict]]:
    row = connection.execute(select(DEPLOYMENT).where(DEPLOYMENT.c.id == 1)).mappings().first()
    checks = {r["key_id"]: dict(r) for r in connection.execute(select(KEY_CHECKS)).mappings()}
    return (dict(row) if row is not None else None), checks


def register_keys(connection: Connection, keyring: Keyring, kids: list[str], activated: bool) -> None:
    """Record the check values of keys the database does not know yet (activated: already in use)."""
    now = clock.now()
    for kid in kids:
        connection.execute(insert(KEY_CHECKS).values(key_id=kid, check_value=keyring.check_value(kid), added_at=now,
                                                      activated_at=now if activated else None))


def _bootstrap(app: Flask, keyring: Keyring) -> None:
    """Record what this host holds where the database does not know it yet; a host starting at the same moment
    may win the race, and its records are then the ones compared with."""
    try:
        with db.engine.begin() as connection:
            deployment, checks = _read(connection)
            unknown = [kid for kid in sorted(keyring.keys) if kid not in checks]
            if deployment is None:
                now = clock.now()
                connection.execute(insert(DEPLOYMENT).values(
                    id=1, secret_check=crypto.secret_check(app.config["SECRET_KEY"]), active_key_id=keyring.active_id,
                    activated_at=now, created_at=now))
                # A database used before these records existed may hold values under any key of the keyring.
                register_keys(connection, keyring, unknown, activated=True)
                log.info("recorded this deployment's SECRET_KEY check and keys %s", ", ".join(unknown))
            elif unknown:
                register_keys(connection, keyring, unknown, activated=False)
                log.info("recorded the check values of new keys %s (not active)", ", ".join(unknown))
    except IntegrityError:
        pass  # another host recorded them first: compare with its records


def compare(app: Flask, keyring: Keyring, deployment: dict | None, checks: dict[str, dict]) -> Findings:
    """Compare this host's SECRET_KEY and keyring with the database's records."""
    found = Findings()
    for kid in sorted(keyring.keys):
        if kid in checks and not tokens.equal(keyring.check_value(kid), checks[kid]["check_value"]):
            found.wrong_keys.append(kid)
            found.problems.append(f"the keyring's key {kid} is not the key this deployment uses under that id: give "
                                  "this host the deployment's keyring")
    missing = sorted(kid for kid, check in checks.items() if check["activated_at"] is not None
                     and kid not in keyring.keys)
    if deployment is not None and deployment["active_key_id"] not in {*keyring.keys, *missing}:
        missing.append(deployment["active_key_id"])
    for kid in missing:
        found.problems.append(f"the keyring lacks key {kid}, which the database uses: give this host the "
                              "deployment's keyring")
    if deployment is not None:
        found.active, found.activated_at = deployment["active_key_id"], deployment["activated_at"]
        if not tokens.equal(crypto.secret_check(app.config["SECRET_KEY"]), deployment["secret_check"]):
            found.problems.append("this host's SECRET_KEY is not the deployment's: give every host the same one")
    return found


def check(app: Flask, bootstrap: bool = False, store: bool = False) -> Findings:
    """Compare this host with the database now, follow the deployment's active key, and remember the findings;
    with store, also look at the blob store again (blob_store_problem).

    Runs on a connection of its own, so it neither joins nor disturbs the session's transaction.
    """
    with app.app_context():
        return _check(app, bootstrap, store)


def blob_store_problem(app: Flask) -> str | None:
    """Why this host cannot see the deployment's blob store, or None.

    The store must answer, and hold at least one of the newest blobs the database names: a host given another
    folder, bucket or prefix than the other hosts would store files they cannot read and read none of theirs.
    One lost blob does not stop a host (`keys verify` reports it); a store holding none of them does.
    """
    from portal.documents.storage import app_store

    store = app_store(app)
    problem = store.problem()
    if problem is not None:
        return problem
    try:
        with db.engine.connect() as connection:
            newest = connection.execute(select(VERSIONS.c.blob_id).where(VERSIONS.c.wrapped_key.is_not(None))
                                        .order_by(VERSIONS.c.id.desc()).limit(5)).scalars().all()
    except SQLAlchemyError:
        return None  # the comparison with the database reports it
    try:
        if newest and not any(store.exists(blob_id) for blob_id in newest):
            return (f"{store.describe()} holds none of the newest files the database names: give this host the "
                    "deployment's blob store (BLOB_STORE, and BLOB_DIR or S3_BUCKET, S3_PREFIX and S3_ENDPOINT_URL)")
    except (OSError, ValueError) as exc:
        return f"{store.describe()} cannot be read: {exc}"
    return None


def _check(app: Flask, bootstrap: bool, store: bool) -> Findings:
    state: HostState | None = app.extensions.get("deployment")
    _reload_changed_file(app, state)
    keyring: Keyring = app.extensions["keyring"]
    try:
        if bootstrap:
            _bootstrap(app, keyring)
        with db.engine.connect() as connection:
            deployment, checks = _read(connection)
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        findings = Findings(unchecked=f"the database cannot be compared with (unreachable, or not migrated: run "
                                      f"`flask db upgrade`): {type(reason).__name__}", unmigrated=_unmigrated())
    else:
        findings = compare(app, keyring, deployment, checks)
        if findings.active in keyring.keys and findings.active != keyring.active_id:
            use_keyring(app, keyring.with_active(findings.active))
            log.info("now encrypting under key %s, the deployment's active key", findings.active)
    store_problem = blob_store_problem(app) if store or state is None else state.store_problem
    if store_problem is not None:
        findings.problems.append(store_problem)
    version = state.keyring_mtime if state is not None else _file_version(keyring_file(app))
    app.extensions["deployment"] = HostState(findings, time.monotonic(), version, store_problem)
    return findings


def _unmigrated() -> bool:
    """True when the database answers but lacks the deployment records' table: new, or not migrated that far."""
    try:
        return not inspect(db.engine).has_table(DEPLOYMENT.name)
    except SQLAlchemyError:
        return False  # it does not answer at all


_migrating = False


@contextmanager
def migrating() -> Iterator[None]:
    """While an application is created only to migrate its database (`python -m portal.ops.instance`, which
    `make run` runs on a fresh clone): a database that answers but is not migrated yet is what the command is
    about to fix, so starting does not warn about it. An unreachable one is still reported."""
    global _migrating
    _migrating = True
    try:
        yield
    finally:
        _migrating = False


def startup(app: Flask) -> None:
    """Compare at start (recording what the database does not know yet); refuse to start with a wrong key."""
    with app.app_context():
        findings = check(app, bootstrap=True, store=True)
        if ":memory:" not in str(db.engine.url):  # (an in-memory database lives only in its connection)
            db.engine.dispose()  # no connection made before a server forks its workers is shared with them
    if findings.wrong_keys:
        raise DeploymentMismatch(
            "The portal will not start: its keyring holds a different key under "
            + ", ".join(findings.wrong_keys) + " than the key this deployment's database uses under that id. Values "
            "written with it could not be read by any other host, and values in the database cannot be read with "
            "it. Give this host the deployment's keyring (PORTAL_KEYRING_JSON, PORTAL_KEYRING_FILE or "
            "instance/keyring.json) and start it again.")
    for problem in findings.problems:
        log.error("this host will not serve until this is fixed: %s", problem)
    if findings.unchecked and not (_migrating and findings.unmigrated):
        log.warning("%s", findings.unchecked)


def current(app: Flask) -> Findings:
    """The findings of the last comparison, made again if they are older than DEPLOYMENT_CHECK_SECONDS."""
    state: HostState | None = app.extensions.get("deployment")
    if state is None or time.monotonic() - state.checked_at >= app.config["DEPLOYMENT_CHECK_SECONDS"]:
        return check(app)
    return state.findings


def install(app: Flask) -> None:
    """Use the application's own keyring wherever it runs, and compare at start (pages.py guards requests)."""
    crypto.install_resolver(app_keyring)
    if "deployment" not in app.extensions:
        app.extensions["deployment"] = None
    startup(app)


def wait_for_hosts(since: datetime, say: Callable[[str], None] | None = None) -> None:
    """Sleep until every running host has compared itself with the database after `since`, and finished the
    requests it had started before.

    Each host compares at the first request after DEPLOYMENT_CHECK_SECONDS have passed (hosts share their
    configuration); twice that lets a request that began just before its host's check end too.
    """
    remaining = 2 * current_app.config["DEPLOYMENT_CHECK_SECONDS"] - (clock.now() - since).total_seconds()
    if remaining > 0:
        if say is not None:
            say(f"waiting {math.ceil(remaining)} s for every running host to follow (DEPLOYMENT_CHECK_SECONDS)")
        # An Event's timed wait rather than time.sleep, which fails outright under faketime (the test legs' tool).
        threading.Event().wait(remaining)


def mark_active(connection: Connection, kid: str) -> None:
    """Record `kid` as the deployment's active key (and as used from now on)."""
    now = clock.now()
    connection.execute(update(DEPLOYMENT).where(DEPLOYMENT.c.id == 1).values(active_key_id=kid, activated_at=now))
    connection.execute(update(KEY_CHECKS).where(KEY_CHECKS.c.key_id == kid, KEY_CHECKS.c.activated_at.is_(None))
                       .values(activated_at=now))


def record_secret_key(actor: User | None) -> None:
    """Record this host's SECRET_KEY as the deployment's (after giving every host a new one); audited."""
    app = current_flask_app()
    check(app, bootstrap=True)
    db.session.execute(update(DEPLOYMENT).where(DEPLOYMENT.c.id == 1)
                       .values(secret_check=crypto.secret_check(app.config["SECRET_KEY"])))
    audit.record(actor, "deployment.secret_key_recorded", "deployment")
    db.session.commit()
    check(app)
