"""One deployment, many hosts: the right keyring and SECRET_KEY or no service, and key rotation across hosts.

Each "host" is a second application on the same database (and blob store) with its own configuration, as two
servers of one deployment would be.
"""

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import KEYRING, Browser, Person, sign_in
from factories import make_portfolio
from flask import Flask
from helpers_documents import upload
from helpers_keys import cli_runner
from helpers_queries import counting_statements
from sqlalchemy import select

from portal import create_app
from portal.config import ConfigurationError
from portal.extensions import db
from portal.models import AuditEvent, Deployment, Document, KeyCheck, Role
from portal.ops import deployment, keys
from portal.ops.deployment import DeploymentMismatch
from portal.ops.instance import InstanceError, create_instance, new_secrets
from portal.security import crypto
from portal.security.crypto import Keyring

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def host(app_config: dict, tmp_path: Path, name: str, **changes: object) -> Flask:
    """Another host of the deployment: same database and blob store, its own instance folder and settings."""
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    application = create_app({**app_config, "INSTANCE_PATH": str(folder), **changes})
    application.test_client_class = Browser
    return application


def file_config(app_config: dict, tmp_path: Path) -> dict:
    """The test configuration with the deployment's keyring (the one the app fixture started with) in a file."""
    path = tmp_path / "keyring.json"
    KEYRING.save(path)
    return {**app_config, "KEYRING": None, "KEYRING_FILE": str(path), "DEPLOYMENT_CHECK_SECONDS": 0}


def ready(application: Flask) -> tuple[int, dict]:
    response = application.test_client().get("/health/ready")
    return response.status_code, response.get_json()


# The right keyring or none ----------------------------------------------------------------------------------


def test_a_keyring_with_another_key_under_an_id_the_database_uses_refuses_to_start(app: Flask, app_config: dict,
                                                                                    tmp_path: Path) -> None:
    impostor = Keyring.generate()  # well formed, and its key is called k1 too
    with pytest.raises(DeploymentMismatch) as refused:
        host(app_config, tmp_path, "impostor", KEYRING=impostor)
    message = str(refused.value)
    assert "will not start" in message and "k1" in message and "keyring" in message
    assert ready(app) == (200, {"status": "ok", "keys": ["k1"], "active_key": "k1"})  # the right host serves on


def test_a_wrong_key_under_an_added_id_is_refused_too(app: Flask, app_config: dict, tmp_path: Path) -> None:
    with app.app_context():
        grown = KEYRING.with_new_key(activate=False)
        deployment.register_keys(db.session.connection(), grown, ["k2"], activated=False)
        db.session.commit()
    other = Keyring(keys={"k1": KEYRING.keys["k1"], "k2": Keyring.generate().keys["k1"]}, active_id="k1")
    with pytest.raises(DeploymentMismatch, match="k2"):
        host(app_config, tmp_path, "other", KEYRING=other)
    assert host(app_config, tmp_path, "right", KEYRING=grown).extensions["keyring"].keys == grown.keys


def test_the_database_keeps_check_values_that_reveal_no_secret(app: Flask, app_config: dict) -> None:
    with app.app_context():
        record = db.session.get(Deployment, 1)
        check = db.session.get(KeyCheck, "k1")
        assert record.active_key_id == "k1" and check.activated_at is not None
        stored = record.secret_check + check.check_value
    key = KEYRING.keys["k1"]
    secret = app_config["SECRET_KEY"]
    assert key.hex() not in stored and secret not in stored and secret.encode().hex() not in stored
    assert all(derived.hex() not in stored for derived in KEYRING._derived.values())
    assert check.check_value == KEYRING.check_value("k1") != Keyring.generate().check_value("k1")


def test_a_host_lacking_a_key_the_database_uses_refuses_to_serve_and_says_why(
        app: Flask, app_config: dict, tmp_path: Path, make_user: Callable[..., Person]) -> None:
    person = make_user(Role.ADMIN)
    grown = KEYRING.with_new_key(activate=False)
    first = host(app_config, tmp_path, "first", KEYRING=grown)
    assert cli_runner(first)("keys", "activate", "k2").exit_code == 0
    lacking = host(app_config, tmp_path, "lacking", KEYRING=KEYRING)  # starts: the key may be on its way

    status, answer = ready(lacking)
    assert status == 503 and answer["status"] == "unavailable"
    assert any("lacks key k2, which the database uses" in p for p in answer["problems"]), answer
    assert lacking.test_client().get("/health/live").status_code == 200
    browser = lacking.test_client()
    for path in ("/sign-in", "/dashboard", "/"):
        response = browser.get(path)
        assert response.status_code == 503 and "Sorry, the service is unavailable" in response.get_data(as_text=True)
    assert lacking.test_client().post("/sign-in", data={"email": person.email}).status_code == 503
    assert ready(first)[0] == 200


def test_a_host_whose_secret_key_differs_refuses_to_serve_and_says_why(app: Flask, app_config: dict,
                                                                        tmp_path: Path) -> None:
    stranger = host(app_config, tmp_path, "stranger", SECRET_KEY="not the deployment's secret key")
    status, answer = ready(stranger)
    assert status == 503 and answer["problems"] == [
        "this host's SECRET_KEY is not the deployment's: give every host the same one"]
    assert stranger.test_client().get("/sign-in").status_code == 503
    assert ready(app)[0] == 200 and app.test_client().get("/sign-in").status_code == 200
    assert app.test_client().get("/health").get_json()["status"] == "ok"  # the older address answers the same


def test_a_host_notices_a_problem_that_arises_while_it_runs(app: Flask, app_config: dict, tmp_path: Path) -> None:
    assert app.test_client().get("/sign-in").status_code == 200
    grown = KEYRING.with_new_key(activate=False)
    assert cli_runner(host(app_config, tmp_path, "other", KEYRING=grown))("keys", "activate", "k2").exit_code == 0
    assert app.test_client().get("/sign-in").status_code == 200  # not yet compared again
    deployment.check(app)  # as every DEPLOYMENT_CHECK_SECONDS
    assert app.test_client().get("/sign-in").status_code == 503
    assert ready(app)[0] == 503


def test_live_touches_nothing_and_ready_reads_only_the_records(app: Flask) -> None:
    client = app.test_client()
    with counting_statements(app) as live:
        assert client.get("/health/live").get_json() == {"status": "live"}
    with counting_statements(app) as readiness:
        assert client.get("/health/ready").status_code == 200
    assert live == [] and len(readiness) == 3  # the two records, and the newest blobs' names (the store's check)


def test_a_database_that_is_not_migrated_is_not_ready(app_config: dict, tmp_path: Path) -> None:
    empty = host(app_config, tmp_path, "empty", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    status, answer = ready(empty)
    assert status == 503 and "not migrated" in answer["problems"][0]


# SECRET_KEY and the keyring come from the deployment's configuration -------------------------------------------


def test_the_secret_key_can_come_from_a_mounted_file_and_is_never_made_up(app: Flask, app_config: dict,
                                                                          tmp_path: Path) -> None:
    secret = tmp_path / "secret_key"
    secret.write_text(app_config["SECRET_KEY"] + "\n")
    mounted = host(app_config, tmp_path, "mounted", SECRET_KEY=None, SECRET_KEY_FILE=str(secret))
    assert mounted.config["SECRET_KEY"] == app_config["SECRET_KEY"] and ready(mounted)[0] == 200
    with pytest.raises(ConfigurationError, match="SECRET_KEY is not set"):
        host(app_config, tmp_path, "none", SECRET_KEY=None)
    with pytest.raises(ConfigurationError, match="cannot be read"):
        host(app_config, tmp_path, "missing", SECRET_KEY=None, SECRET_KEY_FILE=str(tmp_path / "nowhere"))


def test_instance_setup_invents_secrets_only_in_development(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORTAL_SECRET_KEY", "PORTAL_SECRET_KEY_FILE", "PORTAL_KEYRING_JSON", "PORTAL_KEYRING_FILE"):
        monkeypatch.delenv(name, raising=False)
    production = tmp_path / "production"
    with pytest.raises(InstanceError) as refused:
        create_instance(production, develop=False)
    assert "No SECRET_KEY and no keyring given" in str(refused.value)
    assert "PORTAL_SECRET_KEY_FILE" in str(refused.value) and "PORTAL_KEYRING_FILE" in str(refused.value)
    assert not production.exists() or not any(production.iterdir())

    monkeypatch.setenv("PORTAL_SECRET_KEY", "from the secret store")
    keyring_file = tmp_path / "mounted-keyring.json"
    Keyring.generate().save(keyring_file)
    monkeypatch.setenv("PORTAL_KEYRING_FILE", str(keyring_file))
    assert create_instance(production, develop=False) == []  # both given: nothing made up
    assert not (production / "config.py").exists() and not (production / "keyring.json").exists()

    for name in ("PORTAL_SECRET_KEY", "PORTAL_KEYRING_FILE"):
        monkeypatch.delenv(name)
    development = tmp_path / "development"
    created = create_instance(development, develop=True)
    assert len(created) == 2 and "SECRET_KEY" in (development / "config.py").read_text()
    assert Keyring.load(development / "keyring.json", None).active_id == "k1"
    assert create_instance(development, develop=True) == []  # safe to run again


def test_new_secrets_are_printed_for_the_secret_store() -> None:
    printed = new_secrets()
    assert Keyring.from_json(printed.strip().splitlines()[-1]).active_id == "k1"
    assert len(printed.splitlines()[1]) == 64


def _first_run(tmp_path: Path, database_uri: str) -> subprocess.CompletedProcess[str]:
    """`python -m portal.ops.instance` as `make run` runs it, with its instance folder in tmp_path (not the
    repository's) and the secrets given, as the deployment's secret store would."""
    environment = {**os.environ, "PORTAL_SECRET_KEY": "first-run-test-key", "PORTAL_KEYRING_JSON": KEYRING.to_json(),
                   "PORTAL_SQLALCHEMY_DATABASE_URI": database_uri, "PORTAL_BLOB_DIR": str(tmp_path / "blobs"),
                   "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox")}
    for name in ("DATABASE_URL", "PORTAL_KEYRING_FILE", "PORTAL_SECRET_KEY_FILE", "PORTAL_DEVELOPMENT"):
        environment.pop(name, None)
    run = ("import sys; from pathlib import Path; from portal.ops import instance; "
           "instance.ROOT = Path(sys.argv[1]); sys.exit(instance.main(['python -m portal.ops.instance']))")
    return subprocess.run([sys.executable, "-c", run, str(tmp_path)], env=environment, text=True,
                          cwd=Path(__file__).resolve().parent.parent, capture_output=True, timeout=300, check=False)


UNCOMPARED = "the database cannot be compared with"


def test_the_first_run_on_a_new_database_does_not_warn_about_the_migration_it_is_about_to_run(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    database = f"sqlite:///{tmp_path / 'new.sqlite3'}"  # does not exist yet
    first = _first_run(tmp_path, database)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "database is up to date" in first.stdout
    assert UNCOMPARED not in first.stdout + first.stderr
    again = _first_run(tmp_path, database)
    assert again.returncode == 0 and UNCOMPARED not in again.stdout + again.stderr, again.stdout + again.stderr

    # A database that does not answer is still reported, first run or not.
    unreachable = _first_run(tmp_path, f"sqlite:///{tmp_path / 'no such folder' / 'portal.sqlite3'}")
    assert unreachable.returncode != 0 and UNCOMPARED in unreachable.stderr, unreachable.stderr

    # And a host that starts to serve on a database not migrated still warns: only the migrating command is quiet.
    caplog.set_level(logging.WARNING, logger="portal.ops.deployment")
    create_app({"SECRET_KEY": "first-run-test-key", "KEYRING": KEYRING, "INSTANCE_PATH": str(tmp_path),
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}",
                "BLOB_DIR": str(tmp_path / "blobs"), "OUTBOX_DIR": str(tmp_path / "outbox")})
    assert any(UNCOMPARED in record.getMessage() for record in caplog.records), caplog.text


# Rotating keys across hosts ----------------------------------------------------------------------------------


def _serve(hosts: dict[str, Flask], people: dict[str, Person], portfolio: int, step: str) -> None:
    """What the hosts' users do at each step: sign in, upload, list and download every document, read the trail.

    Every response must be a success, on every host, whichever host wrote what it reads and under which key.
    """
    for name, application in hosts.items():
        lead, member = people["lead"], people["member"]
        browser = application.test_client()
        sign_in(application, browser, lead)
        assert upload(browser, portfolio, [(f"{step} {name}.pdf", PDF, "pdp")],
                      title=f"Written on {name} at {step}").status_code == 302, (step, name)
        listing = browser.get(f"/portfolios/{portfolio}/documents")
        assert listing.status_code == 200, (step, name)
        with application.app_context():
            documents = db.session.execute(select(Document.id, Document.title, Document.current_version_id)).all()
        html = listing.get_data(as_text=True)
        for document_id, title, version_id in documents:
            assert title in html, (step, name, title)
            download = browser.get(f"/portfolios/{portfolio}/documents/{document_id}/versions/{version_id}/download")
            assert download.status_code == 200 and download.data == PDF, (step, name, title)
        assert browser.get("/admin/audit").status_code == 200, (step, name)
        other = application.test_client()
        sign_in(application, other, member)
        assert other.get("/dashboard").status_code == 200, (step, name)
        assert application.test_client().get("/health/ready").status_code == 200, (step, name)


def test_keys_rotate_across_hosts_without_a_failed_request(app_config: dict, tmp_path: Path,
                                                           make_user: Callable[..., Person]) -> None:
    config = file_config(app_config, tmp_path)
    first = host(config, tmp_path, "first")  # its keyring file is the test's instance/keyring.json
    second_file = tmp_path / "second-keyring.json"
    shutil.copy(config["KEYRING_FILE"], second_file)
    second_config = {**config, "KEYRING_FILE": str(second_file), "DEPLOYMENT_CHECK_SECONDS": 3600}
    second = host(second_config, tmp_path, "second")
    people = {"lead": make_user(Role.ADMIN), "member": make_user(Role.MEMBER)}
    portfolio = make_portfolio(first)
    hosts = {"first": first, "second": second}
    _serve(hosts, people, portfolio, "start")

    # 1. Add the new key, not active, on one host. The other host does not have it yet and keeps serving.
    added = cli_runner(first)("keys", "add")
    assert added.exit_code == 0 and "added key k2" in added.output and "keys activate k2" in added.output
    assert set(first.extensions["keyring"].keys) == {"k1", "k2"} and first.extensions["keyring"].active_id == "k1"
    _serve(hosts, people, portfolio, "added")
    assert set(second.extensions["keyring"].keys) == {"k1"}

    # 2. Distribute it: the second host restarts with the deployment's new keyring file; each lists k2 when ready.
    shutil.copy(config["KEYRING_FILE"], second_file)
    second = hosts["second"] = host(second_config, tmp_path, "second")
    assert all(ready(h)[1]["keys"] == ["k1", "k2"] and ready(h)[1]["active_key"] == "k1" for h in hosts.values())
    _serve(hosts, people, portfolio, "distributed")

    # 3. Activate it. The first host encrypts under k2 at once; the second has not compared again yet, so it still
    # encrypts under k1. Each reads what the other writes.
    activated = cli_runner(first)("keys", "activate", "k2")
    assert activated.exit_code == 0, activated.output
    assert first.extensions["keyring"].active_id == "k2" and second.extensions["keyring"].active_id == "k1"
    _serve(hosts, people, portfolio, "activated")
    with first.app_context():
        under = {kid for (kid,) in db.session.execute(select(AuditEvent.key_id).distinct())}
    assert under == {"k1", "k2"}  # both keys in use at once
    deployment.check(second)  # its DEPLOYMENT_CHECK_SECONDS have passed
    assert second.extensions["keyring"].active_id == "k2"
    _serve(hosts, people, portfolio, "followed")

    # 4. Re-wrap everything under k2.
    rewrapped = cli_runner(first)("keys", "rewrap")
    assert rewrapped.exit_code == 0 and "rotation complete: every data key and field is under k2" in rewrapped.output
    with first.app_context():
        found = keys.usage()
        assert found.pending("k2") == 0 and set(found.data_keys) == {"k2"} and set(found.fields) == {"k2"}
    _serve(hosts, people, portfolio, "rewrapped")
    assert cli_runner(first)("keys", "verify").exit_code == 0

    # A host that never received k2 does not serve, and says why.
    with pytest.raises(DeploymentMismatch):  # nor does one with another key called k2
        host({**config, "KEYRING": Keyring(keys={**KEYRING.keys, "k2": KEYRING.keys["k1"]}, active_id="k1")},
             tmp_path, "mixed")
    stale_file = tmp_path / "stale-keyring.json"
    Keyring(keys={"k1": Keyring.load(second_file, None).keys["k1"]}, active_id="k1").save(stale_file)
    stale = host({**config, "KEYRING_FILE": str(stale_file)}, tmp_path, "stale")
    assert ready(stale)[0] == 503 and stale.test_client().get("/sign-in").status_code == 503


def test_activating_a_key_this_host_lacks_is_refused(app: Flask) -> None:
    result = cli_runner(app)("keys", "activate", "k7")
    assert result.exit_code == 1 and "not in this host's keyring" in result.output
    with app.app_context():
        assert db.session.get(Deployment, 1).active_key_id == "k1"


def test_a_host_reloads_its_keyring_file_when_a_key_is_added(app: Flask, app_config: dict, tmp_path: Path) -> None:
    config = file_config(app_config, tmp_path)
    server = host(config, tmp_path, "server")  # a running worker
    command = host(config, tmp_path, "command")  # `flask keys ...` in another process, same keyring file
    assert cli_runner(command)("keys", "add").exit_code == 0
    server.test_client().get("/health/ready")
    assert set(server.extensions["keyring"].keys) == {"k1", "k2"}
    assert cli_runner(command)("keys", "activate", "k2").exit_code == 0
    assert server.test_client().get("/sign-in").status_code == 200
    assert server.extensions["keyring"].active_id == "k2"
    assert json.loads(Path(config["KEYRING_FILE"]).read_text())["active"] == "k2"


def test_keyring_in_use_is_the_applications_own(app: Flask, app_config: dict, tmp_path: Path) -> None:
    grown = KEYRING.with_new_key(activate=False)
    other = host(app_config, tmp_path, "other", KEYRING=grown)
    with app.app_context():
        assert crypto.installed() is app.extensions["keyring"]
    with other.app_context():
        assert crypto.installed() is other.extensions["keyring"]


def test_a_new_secret_key_is_recorded_once_every_host_has_it(app: Flask, app_config: dict, tmp_path: Path) -> None:
    renewed = host(app_config, tmp_path, "renewed", SECRET_KEY="the deployment's new secret key")
    assert ready(renewed)[0] == 503
    checked = cli_runner(renewed)("deployment", "check")
    assert checked.exit_code == 1 and "SECRET_KEY is not the deployment's" in checked.output

    recorded = cli_runner(renewed)("deployment", "record-secret-key")

    assert recorded.exit_code == 0, recorded.output
    assert ready(renewed)[0] == 200 and cli_runner(renewed)("deployment", "check").exit_code == 0
    deployment.check(app)  # a host still on the old key stops serving
    assert ready(app)[0] == 503 and app.test_client().get("/sign-in").status_code == 503
    with renewed.app_context():
        assert db.session.scalar(select(AuditEvent.action).order_by(AuditEvent.seq.desc()).limit(1)) == (
            "deployment.secret_key_recorded")


def test_a_rotation_run_by_another_process_while_this_one_serves(app_config: dict, tmp_path: Path,
                                                                 make_user: Callable[..., Person]) -> None:
    """`flask keys rotate` in a process of its own, as an operator runs it, while the portal goes on serving
    (its keyring file changes under it twice); every request of every round succeeds."""
    config = {**file_config(app_config, tmp_path), "DEPLOYMENT_CHECK_SECONDS": 1}
    server = host(config, tmp_path, "server")
    people = {"lead": make_user(Role.ADMIN), "member": make_user(Role.MEMBER)}
    portfolio = make_portfolio(server)
    environment = {**os.environ, "PORTAL_SECRET_KEY": config["SECRET_KEY"],
                   "PORTAL_SQLALCHEMY_DATABASE_URI": config["SQLALCHEMY_DATABASE_URI"],
                   "PORTAL_KEYRING_FILE": config["KEYRING_FILE"], "PORTAL_BLOB_DIR": config["BLOB_DIR"],
                   "PORTAL_OUTBOX_DIR": config["OUTBOX_DIR"], "PORTAL_DEPLOYMENT_CHECK_SECONDS": "1"}
    for name in ("PORTAL_KEYRING_JSON", "DATABASE_URL"):
        environment.pop(name, None)
    command = subprocess.Popen([sys.executable, "-m", "flask", "--app", "portal", "keys", "rotate"],
                               env=environment, cwd=Path(__file__).resolve().parent.parent, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    rounds = 0
    try:
        while command.poll() is None:
            _serve({"server": server}, people, portfolio, f"round {rounds}")
            rounds += 1
    finally:
        output = command.communicate(timeout=120)[0]
    assert command.returncode == 0, output
    assert "added key k2" in output and "rotation complete: every data key and field is under k2" in output
    assert rounds >= 3, output  # it served all along: while the key was added, activated and everything re-wrapped
    _serve({"server": server}, people, portfolio, "after")
    assert server.extensions["keyring"].active_id == "k2"
    with server.app_context():
        assert keys.usage().pending("k2") == 0
