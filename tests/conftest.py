"""Fixtures: the app (SQLite, or PostgreSQL with PORTAL_TEST_DATABASE_URL), clients, people, signed-in clients.

Signing in always goes through the real HTTP forms, password then TOTP code, with CSRF tokens.
"""

import os
import re
import select
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from portal import clock, create_app
from portal.extensions import db
from portal.models import Base, Role, User
from portal.security import passwords, totp
from portal.security.crypto import Keyring

PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")

if "faketime" in os.environ.get("LD_PRELOAD", ""):
    # The date-shifted leg (scripts/run_tests.py) runs under libfaketime with real monotonic clocks, where
    # time.sleep's clock_nanosleep(TIMER_ABSTIME) fails with EINVAL (a libfaketime 0.9.10 bug); select's relative
    # timeout is not affected, so sleeping goes through it there.
    def _sleep(seconds: float) -> None:
        select.select([], [], [], seconds)

    time.sleep = _sleep


def unshifted_environment() -> dict[str, str]:
    """This process's environment without faketime, for a child process whose own waits use time.sleep and
    which does not depend on the date."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith("FAKETIME") and key != "LD_PRELOAD"}
PASSWORD = "correct horse battery staple 42"
KEYRING = Keyring.generate()
# Every test starts at this moment on the portal's clock (which then ticks in real time), so no test depends on
# the day it runs; a test moves the clock with clock.advance or clock.travel_to.
TEST_START = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Nothing counts as passing unless it ran: with PORTAL_NO_SKIP=1 a skip is a failure."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("PORTAL_NO_SKIP") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, which this run does not allow: {report.longrepr}"


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine | None]:
    """One PostgreSQL schema for the session, emptied between tests."""
    if not PG_URL:
        yield None
        return
    engine = create_engine(PG_URL)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    yield engine
    Base.metadata.drop_all(engine)
    engine.dispose()


def _empty_tables(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module marked `both_blob_stores` runs each test that uses the app or a store against each backend."""
    if metafunc.definition.get_closest_marker("both_blob_stores") and "blob_backend" in metafunc.fixturenames:
        metafunc.parametrize("blob_backend", ["local", "s3"], indirect=True)


@pytest.fixture
def blob_backend(request: pytest.FixtureRequest) -> str:
    """The blob store the test's app uses: "local" unless the module is marked both_blob_stores."""
    return getattr(request, "param", "local")


@pytest.fixture
def app_config(tmp_path: Path, blob_backend: str, request: pytest.FixtureRequest) -> dict:
    """The test configuration; tests may change it before the app fixture is used."""
    blob_store = request.getfixturevalue("s3_bucket").config if blob_backend == "s3" else {}
    return {**blob_store,
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SQLALCHEMY_DATABASE_URI": PG_URL or f"sqlite:///{tmp_path / 'test.sqlite3'}",
        "KEYRING": KEYRING,
        "ARGON2_PARAMETERS": (1, 8192, 1),
        "MAIL_BACKEND": "file",
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "BLOB_DIR": str(tmp_path / "blobs"),
        "BASE_URL": "https://portal.test",
    }


class Browser(FlaskClient):
    """A test client that, like a browser on an HTTPS site, sends a same-origin Referer with each request."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_REFERER"] = "https://localhost/"


@pytest.fixture
def app(app_config: dict, pg_engine: Engine | None) -> Iterator[Flask]:
    """A fresh app with empty tables, on a clock that starts at TEST_START."""
    clock.travel_to(TEST_START)
    Path(app_config["INSTANCE_PATH"]).mkdir(parents=True, exist_ok=True)
    # The tables exist, empty, before the app starts, as after `flask db upgrade`: starting compares the host's
    # keyring and SECRET_KEY with the database and records them there (portal/ops/deployment.py).
    if pg_engine is None:
        engine = create_engine(app_config["SQLALCHEMY_DATABASE_URI"])
        Base.metadata.create_all(engine)
        engine.dispose()
    else:
        _empty_tables(pg_engine)
    application = create_app(app_config)
    application.test_client_class = Browser
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()
    clock.reset()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser with no one signed in."""
    return app.test_client()


@dataclass
class Person:
    """A test person: their id, email, password and TOTP secret."""

    id: int
    email: str
    name: str
    role: str
    password: str
    secret: str


@pytest.fixture
def make_user(app: Flask) -> Callable[..., Person]:
    """Create an enrolled, active person directly in the database."""
    counter = iter(range(1, 10_000))

    def factory(role: Role = Role.MEMBER, email: str | None = None, name: str | None = None,
                password: str = PASSWORD, active: bool = True, organisation_id: int | None = None) -> Person:
        number = next(counter)
        email = email or f"{role.value}{number}@example.org"
        secret = totp.new_secret()
        with app.app_context():
            user = User(email=email, name=name or f"Test {role.value.title()} {number}", role=role.value,
                        password_hash=passwords.hash_password(password), totp_secret=secret,
                        enrolled_at=clock.now(), active=active, created_at=clock.now(),
                        password_changed_at=clock.now(), organisation_id=organisation_id)
            db.session.add(user)
            db.session.commit()
            return Person(user.id, email, user.name, role.value, password, secret)

    return factory


def csrf_from(html: str) -> str:
    """The CSRF token in a page's form."""
    match = CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def submit(client: FlaskClient, path: str, data: dict, page: str | None = None, **kwargs: object):
    """GET a form page (or `page`), then POST the data with its CSRF token, as a browser would."""
    html = client.get(page or path).get_data(as_text=True)
    return client.post(path, data={**data, "csrf_token": csrf_from(html)}, **kwargs)


def fresh_code(app: Flask, person: Person) -> str:
    """A code for a time step the person has not used yet (moving the clock on if needed)."""
    with app.app_context():
        last = db.session.get(User, person.id).totp_last_step
    if last is not None and int(clock.now().timestamp()) // 30 <= last:
        clock.advance(timedelta(seconds=30 * (last - int(clock.now().timestamp()) // 30 + 1)))
    return totp.code_at(person.secret, clock.now())


def sign_in(app: Flask, client: FlaskClient, person: Person) -> None:
    """Sign in through the real forms: email and password, then the security code."""
    response = submit(client, "/sign-in", {"email": person.email, "password": person.password})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].startswith("/sign-in/code")
    response = submit(client, "/sign-in/code", {"code": fresh_code(app, person)})
    assert response.status_code == 302, response.get_data(as_text=True)


@pytest.fixture
def signed_in(app: Flask, make_user: Callable[..., Person]) -> Callable[..., tuple[FlaskClient, Person]]:
    """Make a person of a role and return a client signed in as them."""

    def factory(role: Role = Role.MEMBER, **kwargs: object) -> tuple[FlaskClient, Person]:
        person = make_user(role, **kwargs)
        browser = app.test_client()
        sign_in(app, browser, person)
        return browser, person

    return factory


@pytest.fixture
def admin_client(signed_in: Callable[..., tuple[FlaskClient, Person]]) -> tuple[FlaskClient, Person]:
    """A client signed in as the ASYE Lead."""
    return signed_in(Role.ADMIN)


def outbox(app: Flask) -> list:
    """Every message in the outbox, oldest first."""
    from portal.models import OutboxMessage

    with app.app_context():
        return list(db.session.scalars(db.select(OutboxMessage).order_by(OutboxMessage.id)))


def link_in_last_email(app: Flask, to: str) -> str:
    """The path of the link in the newest email to an address."""
    messages = [m for m in outbox(app) if m.recipient == to]
    assert messages, f"no email to {to}"
    match = re.search(r"https://portal\.test(/\S+)", messages[-1].body)
    assert match, messages[-1].body
    return match.group(1)


# ClamAV's daemon, started by the tests themselves ------------------------------------------------------------

CLAMAV_DATABASE = Path(__file__).parent / "clamav"  # one signature, for the EICAR test file


@dataclass
class Clamd:
    """A clamd listening on a Unix socket, with its scratch folder on a memory filesystem."""

    socket: Path
    scratch: Path
    log: Path


def eicar() -> bytes:
    """The EICAR anti-virus test file, put together here so that no scanner flags this source file."""
    return ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-" + "TEST-FILE!$H+H*").encode()


@pytest.fixture(scope="session")
def start_clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Clamd]]:
    """Start clamd (Debian's clamav-daemon) with its own configuration, once per set of limits per session."""
    import shutil
    import socket
    import subprocess
    import tempfile
    import threading
    import time

    binary = shutil.which("clamd") or "/usr/sbin/clamd"
    assert Path(binary).exists(), "clamd is missing: apt-get install clamav-daemon (.ci/run installs it)"
    started: dict[tuple[str, str], tuple[subprocess.Popen, Clamd]] = {}

    def start(stream_max: str = "64M", max_file: str = "64M") -> Clamd:
        if (stream_max, max_file) in started:
            return started[(stream_max, max_file)][1]
        folder = tmp_path_factory.mktemp("clamd")
        # clamd holds each stream in a file while it scans it: a memory filesystem keeps plaintext off disk.
        scratch = Path(tempfile.mkdtemp(prefix="portal-clamd-", dir="/dev/shm"))
        server = Clamd(folder / "clamd.sock", scratch, folder / "clamd.log")
        config = folder / "clamd.conf"
        config.write_text("\n".join([
            f"LocalSocket {server.socket}", f"DatabaseDirectory {CLAMAV_DATABASE}", f"TemporaryDirectory {scratch}",
            f"LogFile {server.log}", "Foreground yes", "Bytecode no", "AlertExceedsMax yes",
            f"StreamMaxLength {stream_max}", f"MaxFileSize {max_file}", "MaxScanSize 200M", ""]))
        process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.socket(socket.AF_UNIX) as probe:
                    probe.settimeout(2)
                    probe.connect(str(server.socket))
                    probe.sendall(b"zPING\0")
                    if probe.recv(16).startswith(b"PONG"):
                        break
            except OSError:
                assert process.poll() is None, server.log.read_text() if server.log.exists() else "clamd exited"
                threading.Event().wait(0.05)  # not time.sleep, which fails under faketime (the shifted leg)
        else:
            process.kill()
            raise AssertionError("clamd did not answer within 60 s")
        started[(stream_max, max_file)] = (process, server)
        return server

    yield start
    for process, server in started.values():
        process.terminate()
        process.wait()  # without a timeout: Popen.wait(timeout) sleeps, and time.sleep fails under faketime
        shutil.rmtree(server.scratch, ignore_errors=True)


# An S3-compatible server (moto's standalone server), started by the tests themselves ---------------------------


@dataclass
class S3Server:
    """moto's server on a loopback port; any access key is accepted."""

    endpoint: str

    def config(self, bucket: str) -> dict:
        """The portal's settings for a bucket on this server."""
        return {"BLOB_STORE": "s3", "S3_BUCKET": bucket, "S3_PREFIX": "blobs/", "S3_ENDPOINT_URL": self.endpoint,
                "S3_REGION": "eu-west-2", "S3_ACCESS_KEY_ID": "portal-test", "S3_SECRET_ACCESS_KEY": "portal-test",
                "S3_ADDRESSING_STYLE": "path", "S3_PART_BYTES": 5 * 1024 * 1024}

    def client(self):
        """A plain boto3 client for looking at (and tampering with) what the portal stored."""
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="eu-west-2",
                            aws_access_key_id="portal-test", aws_secret_access_key="portal-test",
                            config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                                          response_checksum_validation="when_required"))


@dataclass
class S3Bucket:
    """One test's own bucket."""

    server: S3Server
    name: str

    @property
    def config(self) -> dict:
        """The portal's settings for this bucket."""
        return self.server.config(self.name)


def free_port() -> int:
    """A TCP port free on loopback right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """Start moto's S3-compatible server (`moto[server]`) in its own process on a loopback port."""
    import subprocess
    import sys
    import threading
    import urllib.request

    log = tmp_path_factory.mktemp("moto") / "server.log"
    port = free_port()
    with log.open("wb") as output:
        # Without faketime: the server stamps objects with its own (real) clock, as a real service would.
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=output, stderr=subprocess.STDOUT, env=unshifted_environment())
    server = S3Server(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{server.endpoint}/moto-api/", timeout=2):
                break
        except OSError:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "moto's server did not answer within 60 s"
            threading.Event().wait(0.05)  # not time.sleep, which fails under faketime (the shifted leg)
    yield server
    process.terminate()
    process.wait()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> Iterator[S3Bucket]:
    """A new, empty bucket for one test, emptied and removed after it."""
    import secrets

    client = s3_server.client()
    name = f"portal-test-{secrets.token_hex(6)}"
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    yield S3Bucket(s3_server, name)
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=name):
        for upload in page.get("Uploads", []):
            client.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=name, Key=item["Key"])
    client.delete_bucket(Bucket=name)


@pytest.fixture
def temp_files(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every temporary file Python's tempfile module makes (Werkzeug's spooling goes through it)."""
    made: list[str] = []
    real_temporary, real_inner = tempfile.TemporaryFile, tempfile._mkstemp_inner

    def temporary(*args: object, **kwargs: object) -> object:
        made.append("TemporaryFile")
        return real_temporary(*args, **kwargs)

    def inner(*args: object, **kwargs: object) -> object:
        made.append("mkstemp")
        return real_inner(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", temporary)
    monkeypatch.setattr(tempfile, "_mkstemp_inner", inner)
    return made
