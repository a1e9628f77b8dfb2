"""The files in deploy/ that need no running nginx: the systemd units (systemd's own check), the site file's limits
against the portal's, the nightly backup script, and TRUST_PROXY (tests/test_proxy.py runs the site in nginx)."""

import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import KEYRING, csrf_from, unshifted_environment
from factories import make_portfolio
from flask import Flask
from sqlalchemy import select

from portal import create_app, headers
from portal.config import ConfigurationError
from portal.documents import forms as document_forms
from portal.extensions import db
from portal.models import SignInAttempt
from portal.portfolios import importer

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "deploy" / "nginx" / "portal.conf"
MB = 1024 * 1024


def test_the_systemd_units_are_valid_and_agree_with_the_site_file() -> None:
    # systemd's own check of the units, with the portal where this checkout is (so the programs they start exist);
    # any unknown or misspelt setting is reported, and fails the test.
    units = ROOT / "deploy" / "systemd"
    with tempfile.TemporaryDirectory() as folder:
        for unit in units.iterdir():
            (Path(folder) / unit.name).write_text(unit.read_text().replace("/srv/portal/app", str(ROOT)))
        names = sorted(str(Path(folder) / unit.name) for unit in units.iterdir())
        check = subprocess.run(["systemd-analyze", "verify", *names], capture_output=True, text=True, timeout=120,
                               env=unshifted_environment())
    assert check.returncode == 0 and check.stderr.strip() == "" and len(names) == 5, check.stderr
    socket_unit = (units / "portal-web.socket").read_text()
    assert "ListenStream=/run/portal/web.sock" in socket_unit and "SocketUser=www-data" in socket_unit
    assert "server unix:/run/portal/web.sock " in SITE.read_text()
    assert "--config /srv/portal/app/deploy/gunicorn.conf.py" in (units / "portal-web.service").read_text()


def test_the_site_file_limits_match_the_portals() -> None:
    # The limits in deploy/nginx/portal.conf and its 413 page follow the portal's own (portal/config.py,
    # portal/documents/views.py, portal/portfolios/importer.py): changing one without the other fails here.
    from portal.config import DEFAULTS

    text = SITE.read_text()
    per_file = DEFAULTS["MAX_UPLOAD_BYTES"]

    def limit_of(location: str) -> int:
        block = text.split(location, 1)[1].split("}", 1)[0]
        return int(re.search(r"client_max_body_size (\d+)m;", block).group(1)) * MB

    form_fields = 64 * 1024
    for location, body in (("documents/upload$", document_forms.UPLOAD_ROWS * per_file + form_fields),
                           ("documents/[0-9]+/replace$", per_file + form_fields),
                           ("location = /cohort/import", importer.MAX_BYTES + form_fields)):
        assert body <= limit_of(location) < body + MB, location
    # Other forms get 1 MB. The largest is the cohort import's confirmation, which carries the previewed file sealed
    # in URL-safe characters (sent as they are), at most MAX_SEALED_CHARS of them.
    assert re.search(r"\n    client_max_body_size 1m;", text)
    assert importer.MAX_SEALED_CHARS + form_fields <= MB
    page = (ROOT / "deploy" / "nginx" / "errors" / "413.html").read_text()
    assert f"Each file can be up to {per_file // MB} MB" in page
    assert f"up to {document_forms.UPLOAD_ROWS} files at a time" in page
    assert text.count(f'Strict-Transport-Security "{headers.HSTS}" always') == 2


def test_the_nightly_backup_writes_a_verified_backup_and_removes_old_ones(app: Flask, app_config: dict,
                                                                          tmp_path: Path) -> None:
    make_portfolio(app)
    backups = tmp_path / "backups"
    old = backups / "2020-01-01T0230Z"
    old.mkdir(parents=True)
    os.utime(old, (0, 0))
    environment = {**unshifted_environment(), "DATABASE_URL": app_config["SQLALCHEMY_DATABASE_URI"],
                   "PORTAL_SECRET_KEY": app_config["SECRET_KEY"], "PORTAL_KEYRING_JSON": KEYRING.to_json(),
                   "PORTAL_BLOB_DIR": app_config["BLOB_DIR"], "PORTAL_DEVELOPMENT": "false",
                   "PORTAL_BACKUP_DIR": str(backups), "PORTAL_BACKUP_KEEP_DAYS": "35"}
    run = subprocess.run([str(ROOT / "deploy" / "portal-backup")], capture_output=True, text=True, timeout=300,
                         cwd=ROOT, env=environment)
    assert run.returncode == 0, run.stdout + run.stderr
    made = [folder for folder in backups.iterdir()]
    assert len(made) == 1 and made[0] != old and (made[0] / "manifest.json").is_file(), run.stdout
    assert "backup written and verified" in run.stdout
    assert oct(made[0].stat().st_mode & 0o777) == "0o700"
    assert not any("keyring" in path.name for path in made[0].rglob("*"))


@pytest.mark.parametrize(("trusted", "recorded"), [(0, "127.0.0.1"), (1, "10.0.0.5"), (2, "198.51.100.7"),
                                                   ("true", "10.0.0.5")])
def test_trust_proxy_counts_proxies_from_the_end_of_x_forwarded_for(app_config: dict, request: pytest.FixtureRequest,
                                                                    trusted: object, recorded: str) -> None:
    # A client claimed 6.6.6.6; a load balancer added the client (198.51.100.7), nginx added the balancer (10.0.0.5).
    app_config["TRUST_PROXY"] = trusted
    app: Flask = request.getfixturevalue("app")  # built with this setting
    client = app.test_client()
    chain = {"X-Forwarded-For": "6.6.6.6, 198.51.100.7, 10.0.0.5", "X-Forwarded-Proto": "https"}
    token = csrf_from(client.get("/sign-in", headers=chain).get_data(as_text=True))
    client.post("/sign-in", data={"email": "x@example.org", "password": "wrong", "csrf_token": token},
                headers={**chain, "Referer": "https://localhost/sign-in"})
    with app.app_context():
        assert db.session.scalars(select(SignInAttempt.ip)).all() == [recorded]


@pytest.mark.parametrize("value", ["abc", 9, -1, "1.5"])
def test_trust_proxy_must_be_a_small_count(app_config: dict, value: object) -> None:
    app_config["TRUST_PROXY"] = value
    with pytest.raises(ConfigurationError, match="TRUST_PROXY must be the number of reverse proxies"):
        create_app(app_config)


def test_portal_cli_runs_only_as_the_portal_account() -> None:
    # So that what a command writes (the keyring, backups) always belongs to the account the portal runs as.
    run = subprocess.run([str(ROOT / "deploy" / "portal-cli"), "keys", "status"], capture_output=True, text=True,
                         timeout=60, env={**unshifted_environment(), "PORTAL_ENV_FILE": "/nonexistent"})
    assert run.returncode == 2 and "Run it as the portal's account: sudo -u portal" in run.stderr
