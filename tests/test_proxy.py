"""deploy/nginx/portal.conf, as it is, in front of gunicorn (deploy/gunicorn.conf.py) running the portal.

Debian's nginx runs as the test's own user on loopback (a temporary prefix, its temporary folders where the test
watches them) with a certificate the test makes; the portal runs under gunicorn on a Unix socket, as under systemd.
The tests talk to nginx over real TLS from chosen loopback addresses (127.0.0.2, 127.0.0.3, ...), so the address the
portal records can be told apart from nginx's own. No test here uses the `app` fixture, which would empty the
PostgreSQL tables under the running gunicorn: those are in tests/test_deploy.py.
"""

import grp
import http.client
import ipaddress
import os
import pwd
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from conftest import KEYRING, PASSWORD, PG_URL, _empty_tables, csrf_from, unshifted_environment
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from factories import make_portfolio
from helpers_disk import files_with, open_files, open_files_with
from helpers_documents import StreamedBody, pdf_around
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine

from portal import clock, create_app, headers
from portal.documents import forms as document_forms
from portal.extensions import db
from portal.models import Base, Document, DocumentVersion, Role, SignInAttempt, User
from portal.security import passwords, totp

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "deploy" / "nginx" / "portal.conf"
NAME = "portal.test"
MB = 1024 * 1024
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SPOOL_WARNING = "buffered to a temporary file"  # what nginx logs (at warn) whenever it spools a body to disk


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for portal.test and 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Valid for years either side, so it is valid both on this process's clock (moved ahead in the date-shifted
        # leg) and on the real one that curl sees.
        .not_valid_before(now - timedelta(days=3 * 365)).not_valid_after(now + timedelta(days=3 * 365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def _replace(text: str, old: str, new: str, count: int) -> str:
    """Replace exactly `count` occurrences, so a changed site file fails here instead of being tested half-way."""
    assert text.count(old) == count, f"expected {count} of {old!r} in {SITE.name}, found {text.count(old)}"
    return text.replace(old, new)


def site_for_test(folder: Path, https: int, plain: int, socket_path: Path, cert: Path, key: Path) -> str:
    """deploy/nginx/portal.conf with only its machine-specific lines moved into the test's folder and ports."""
    text = SITE.read_text()
    text = _replace(text, "listen [::]:80;\n", "", 1)
    text = _replace(text, "listen [::]:443 ssl default_server;\n", "", 1)
    text = _replace(text, "listen [::]:443 ssl http2;\n", "", 1)
    text = _replace(text, "listen 80;", f"listen 127.0.0.1:{plain};", 1)
    text = _replace(text, "listen 443 ssl", f"listen 127.0.0.1:{https} ssl", 2)
    text = _replace(text, "server_name moderation.example.org;", f"server_name {NAME};", 2)
    text = _replace(text, "/etc/letsencrypt/live/moderation.example.org/fullchain.pem", str(cert), 1)
    text = _replace(text, "/etc/letsencrypt/live/moderation.example.org/privkey.pem", str(key), 1)
    text = _replace(text, "unix:/run/portal/web.sock", f"unix:{socket_path}", 1)
    text = _replace(text, "/srv/portal/app/deploy/nginx/errors/", f"{ROOT}/deploy/nginx/errors/", 1)
    text = _replace(text, "/var/log/nginx/", f"{folder}/", 2)
    text = _replace(text, "/var/www/letsencrypt", str(folder / "acme"), 1)
    return text


# Debian's /etc/nginx/nginx.conf, with what needs root (pid, logs, temporary folders) moved into the test's folder
# and its workers run as the test's own account (`user` applies only when the test runs as root); its http-level
# settings are kept, so the site file is shown to override them (TLS versions, gzip).
MAIN = """\
daemon off;
user {user} {group};
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/main.error.log warn;
events {{ worker_connections 256; }}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log {folder}/main.access.log;
    gzip on;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;

    include {folder}/portal.conf;

    # The control (not part of deploy/): nginx's defaults for bodies, so the test sees that its checks catch a
    # body spooled to a temporary folder.
    server {{
        listen 127.0.0.1:{control} sndbuf=4k;
        error_log {folder}/control.error.log warn;
        client_max_body_size 10m;
        location / {{
            proxy_request_buffering on;
            proxy_buffering on;
            proxy_buffers 4 4k;
            proxy_max_temp_file_size 1024m;
            proxy_pass http://portal_web;
        }}
    }}
}}
"""


@dataclass
class Answer:
    """One response, read whole (the test never writes it anywhere)."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode("utf-8", "replace")


class TLSConnection(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 from a chosen loopback address, asking for the portal's name in the handshake (SNI)."""

    def __init__(self, port: int, source: str, context: ssl.SSLContext, server_name: str | None = NAME) -> None:
        super().__init__("127.0.0.1", port, context=context, source_address=(source, 0), timeout=120,
                         blocksize=256 * 1024)
        self.server_name = server_name

    def connect(self) -> None:
        """Connect and shake hands with SNI set to the portal's name (or none)."""
        raw = socket.create_connection((self.host, self.port), self.timeout, self.source_address)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.server_name)  # type: ignore[attr-defined]


@dataclass
class Browser:
    """A browser's part in a conversation with the portal through nginx: its address, cookies and Referer."""

    port: int
    context: ssl.SSLContext
    source: str = "127.0.0.2"
    cookies: dict[str, str] = field(default_factory=dict)
    set_cookies: list[str] = field(default_factory=list)

    def connection(self) -> TLSConnection:
        """A new connection to nginx."""
        return TLSConnection(self.port, self.source, self.context)

    def request(self, method: str, path: str, body: object = None, extra: dict[str, str] | None = None) -> Answer:
        """Send a request as a browser on the portal's page would; remember the cookies it sets."""
        connection = self.connection()
        try:
            connection.request(method, path, body=body, headers=self.headers(extra))
            response = connection.getresponse()
            answer = Answer(response.status, response.headers, response.read())
        finally:
            connection.close()
        self.remember(answer.headers)
        return answer

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Host, Referer and cookies, as a browser sends them from one of the portal's own pages."""
        sent = {"Host": NAME, "Referer": f"https://{NAME}/", "User-Agent": "proxy-test"}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        return {**sent, **(extra or {})}

    def remember(self, received: http.client.HTTPMessage) -> None:
        """Keep (or drop) each cookie the response sets."""
        for line in received.get_all("Set-Cookie") or []:
            self.set_cookies.append(line)
            for name, morsel in SimpleCookie(line).items():
                if morsel["max-age"] == "0" or "1970" in morsel["expires"]:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def form(self, path: str, fields: dict[str, str], page: str | None = None) -> Answer:
        """GET the form's page, then POST the fields with its CSRF token."""
        token = csrf_from(self.request("GET", page or path).text)
        return self.post(path, {**fields, "csrf_token": token})

    def post(self, path: str, fields: dict[str, str], extra: dict[str, str] | None = None) -> Answer:
        """POST fields as a form does."""
        return self.request("POST", path, urlencode(fields).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded", **(extra or {})})


@dataclass
class Proxied:
    """The running nginx and gunicorn, and what the tests need to reach them."""

    folder: Path
    https: int
    plain: int
    control: int
    context: ssl.SSLContext
    database_url: str
    nginx: subprocess.Popen
    gunicorn: subprocess.Popen
    admin_email: str
    admin_secret: str
    member_email: str
    portfolio: int
    blob_dir: Path

    def browser(self, source: str = "127.0.0.2") -> Browser:
        """A browser at this loopback address."""
        return Browser(self.https, self.context, source)

    def pids(self, process: subprocess.Popen) -> list[int]:
        """A server's master process and its workers."""
        children = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == process.pid:
                    children.append(int(entry))
        return [process.pid, *children]

    def temp_folders(self) -> list[Path]:
        """nginx's temporary folders for request bodies and proxied responses."""
        return [self.folder / "client_body", self.folder / "proxy"]

    def error_log(self) -> str:
        """The portal site's nginx error log."""
        path = self.folder / "portal.error.log"
        return path.read_text() if path.exists() else ""

    def attempts(self) -> list[tuple[str, str]]:
        """Every sign-in attempt the portal recorded: (account key, address)."""
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return [(row.account_key, row.ip) for row in
                        connection.execute(select(SignInAttempt.account_key, SignInAttempt.ip))]
        finally:
            engine.dispose()


def _wait_for(check: Callable[[], bool], what: str, log: Path, process: subprocess.Popen,
              seconds: float = 60) -> None:
    waited, last = threading.Event(), None
    for _ in range(int(seconds * 20)):
        if process.poll() is not None:
            break
        try:
            if check():
                return
        except OSError as problem:
            last = problem
        waited.wait(0.05)  # not time.sleep, which fails under faketime (the date-shifted leg)
    raise AssertionError(f"{what} did not start ({last!r}):\n{log.read_text()[-4000:] if log.exists() else ''}")


def _answers(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def _stop(process: subprocess.Popen) -> None:
    """Stop at once (gunicorn's SIGINT, nginx's SIGTERM), without waiting for connections to finish."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM if process.args[0] == NGINX else signal.SIGINT)
        process.wait()  # without a timeout: Popen.wait(timeout) sleeps, and time.sleep fails under faketime


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory, pg_engine: Engine | None) -> Iterator[Proxied]:
    """nginx with deploy/nginx/portal.conf in front of gunicorn with deploy/gunicorn.conf.py, both on loopback."""
    folder = tmp_path_factory.mktemp("proxy")
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "acme"):
        (folder / name).mkdir()
    cert, key = _certificate(folder)
    database_url = PG_URL or f"sqlite:///{folder / 'portal.sqlite3'}"
    keyring_file, blob_dir, socket_path = folder / "keyring.json", folder / "blobs", folder / "web.sock"
    KEYRING.save(keyring_file)
    secret_key = secrets.token_hex(32)
    if pg_engine is None:
        engine = create_engine(database_url)
        Base.metadata.create_all(engine)
        engine.dispose()
    else:
        _empty_tables(pg_engine)

    # The people and the portfolio, written as the portal writes them.
    clock.reset()
    setup = create_app({"SECRET_KEY": secret_key, "INSTANCE_PATH": str(folder / "instance"), "KEYRING": KEYRING,
                        "SQLALCHEMY_DATABASE_URI": database_url, "BLOB_DIR": str(blob_dir),
                        "OUTBOX_DIR": str(folder / "outbox"), "ARGON2_PARAMETERS": (1, 8192, 1)})
    people = {}
    with setup.app_context():
        for role, email in ((Role.ADMIN, "lead@example.org"), (Role.MEMBER, "member@example.org")):
            secret = totp.new_secret()
            db.session.add(User(email=email, name=f"Test {role.value}", role=role.value,
                                password_hash=passwords.hash_password(PASSWORD), totp_secret=secret,
                                enrolled_at=clock.now(), active=True, created_at=clock.now(),
                                password_changed_at=clock.now()))
            people[role] = secret
        db.session.commit()
    portfolio = make_portfolio(setup)
    with setup.app_context():
        db.session.remove()
        db.engine.dispose()

    environment = {
        **unshifted_environment(),  # gunicorn waits with time.sleep, which fails under faketime
        "DATABASE_URL": database_url,
        "PORTAL_SECRET_KEY": secret_key,
        "PORTAL_KEYRING_FILE": str(keyring_file),
        "PORTAL_BLOB_DIR": str(blob_dir),
        "PORTAL_OUTBOX_DIR": str(folder / "outbox"),
        "PORTAL_BASE_URL": f"https://{NAME}",
        "PORTAL_DEVELOPMENT": "false",
        "PORTAL_TRUST_PROXY": "1",
        "PORTAL_ARGON2_PARAMETERS": "[1, 8192, 1]",
        "PORTAL_THROTTLE_ADDRESS_FAILURES": "3",
        "PORTAL_GUNICORN_WORKERS": "2",
        "PORTAL_GUNICORN_THREADS": "4",
        "TMPDIR": str(folder / "tmp"),
    }
    (folder / "tmp").mkdir()
    gunicorn_log = folder / "gunicorn.log"
    with open(gunicorn_log, "wb") as log:
        gunicorn = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--config", str(ROOT / "deploy" / "gunicorn.conf.py"),
             "--bind", f"unix:{socket_path}"], cwd=ROOT, env=environment, stdout=log, stderr=log)
    https, plain, control = _free_port(), _free_port(), _free_port()
    (folder / "portal.conf").write_text(site_for_test(folder, https, plain, socket_path, cert, key))
    account = {"user": pwd.getpwuid(os.getuid()).pw_name, "group": grp.getgrgid(os.getgid()).gr_name}
    (folder / "nginx.conf").write_text(MAIN.format(folder=folder, control=control, **account))
    nginx_log = folder / "nginx.stderr"
    with open(nginx_log, "wb") as log:
        nginx = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf"),
                                  "-e", str(folder / "main.error.log")],
                                 env=unshifted_environment(), stdout=log, stderr=log)
    context = ssl.create_default_context(cafile=str(cert))
    proxied = Proxied(folder, https, plain, control, context, database_url, nginx, gunicorn,
                      "lead@example.org", people[Role.ADMIN], "member@example.org", portfolio, blob_dir)
    try:
        _wait_for(socket_path.exists, "gunicorn", gunicorn_log, gunicorn)
        _wait_for(lambda: _answers(https), "nginx", folder / "main.error.log", nginx)
        _wait_for(lambda: proxied.browser().request("GET", "/health/live").status == 200, "the portal", gunicorn_log,
                  gunicorn)
        yield proxied
    finally:
        _stop(nginx)
        _stop(gunicorn)


@pytest.fixture(scope="module")
def lead(proxied: Proxied) -> Browser:
    """The ASYE Lead, signed in once (a security code is good once) from 127.0.0.4."""
    browser = proxied.browser("127.0.0.4")
    answer = browser.form("/sign-in", {"email": proxied.admin_email, "password": PASSWORD})
    assert answer.status == 302 and answer.headers["Location"].startswith("/sign-in/code"), answer.text[:2000]
    # The code for the server's own time (its Date header): gunicorn runs without faketime's shifted date.
    page = browser.request("GET", "/sign-in/code")
    server_time = parsedate_to_datetime(page.headers["Date"])
    answer = browser.post("/sign-in/code", {"code": totp.code_at(proxied.admin_secret, server_time),
                                            "csrf_token": csrf_from(page.text)})
    assert answer.status == 302, answer.text[:2000]
    return browser


class Watch:
    """Looks, five times a second while a transfer runs, for the marker in nginx's temporary folders, in any file
    nginx or gunicorn holds open (deleted temporary files included) and in gunicorn's temporary folder (TMPDIR),
    and for any file nginx holds open in its temporary folders."""

    def __init__(self, proxied: Proxied, marker: bytes) -> None:
        self.proxied, self.marker = proxied, marker
        self.found: list[str] = []
        self.spooled: set[str] = set()
        self.scans = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> "Watch":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()
        self.scan()  # once more, after the transfer

    def scan(self) -> None:
        """One look."""
        proxied = self.proxied
        nginx, gunicorn = proxied.pids(proxied.nginx), proxied.pids(proxied.gunicorn)
        temp = tuple(str(folder) for folder in proxied.temp_folders())
        for pid in nginx:
            self.spooled.update(target for target in open_files(pid).values() if target.startswith(temp))
        self.found += files_with([*proxied.temp_folders(), proxied.folder / "tmp"], self.marker)
        # The blob store's files are the encrypted documents themselves, read whole after the transfer.
        self.found += open_files_with(self.marker, tuple(nginx + gunicorn), skip=(str(proxied.blob_dir),))
        self.scans += 1

    def _run(self) -> None:
        while not self._done.is_set():
            self.scan()
            self._done.wait(0.2)  # not time.sleep, which fails under faketime


def _upload_body(browser: Browser, proxied: Proxied, size: int, marker: bytes) -> StreamedBody:
    path = f"/portfolios/{proxied.portfolio}/documents/upload"
    token = csrf_from(browser.request("GET", path).text)
    head, tail = pdf_around(size)
    return StreamedBody([("csrf_token", token), ("evidence_type-0", "supervision"), ("title-0", "Big")],
                        "big.pdf", head, size, b"0123456789abcdef\n", marker, tail=tail)


def test_a_200_mb_upload_and_its_download_stream_through_nginx_without_touching_its_disk(proxied: Proxied,
                                                                                         lead: Browser) -> None:
    browser = lead
    marker = b"MARKER-" + secrets.token_hex(16).encode()
    body = _upload_body(browser, proxied, 200 * MB, marker)
    path = f"/portfolios/{proxied.portfolio}/documents/upload"
    with Watch(proxied, marker) as upload_watch:
        answer = browser.request("POST", path, body, {"Content-Type": body.content_type,
                                                      "Content-Length": str(body.length)})
    assert answer.status == 302, answer.text[:3000]
    assert upload_watch.scans >= 3 and upload_watch.found == [] and upload_watch.spooled == set()
    assert [list(folder.iterdir()) for folder in proxied.temp_folders()] == [[], []]
    assert SPOOL_WARNING not in proxied.error_log()
    assert files_with([proxied.blob_dir, proxied.folder / "instance", proxied.folder / "tmp"], marker) == []

    engine = create_engine(proxied.database_url)
    with engine.connect() as connection:
        document_id, version_id, size = connection.execute(
            select(Document.id, DocumentVersion.id, DocumentVersion.size)
            .join(DocumentVersion, DocumentVersion.document_id == Document.id)).one()
    engine.dispose()
    assert size == 200 * MB

    # The download, read slowly at first: nginx waits for the reader instead of keeping the file for it.
    connection = browser.connection()
    connection.request("GET", f"{path.rsplit('/', 1)[0]}/{document_id}/versions/{version_id}/download",
                       headers=browser.headers())
    response = connection.getresponse()
    with Watch(proxied, marker) as download_watch:
        assert response.status == 200
        first = response.read(4 * MB)
        threading.Event().wait(1.5)  # the reader stalls; a buffering proxy would spool the rest meanwhile
        received, found = len(first), first.count(marker)
        while block := response.read(4 * MB):
            received += len(block)
            found += block.count(marker)
    connection.close()
    assert received == 200 * MB and found > 3000 and first.startswith(b"%PDF-1.7")
    assert response.headers.get_all("Strict-Transport-Security") == [headers.HSTS]
    assert download_watch.scans >= 5 and download_watch.found == [] and download_watch.spooled == set()
    assert [list(folder.iterdir()) for folder in proxied.temp_folders()] == [[], []]
    assert SPOOL_WARNING not in proxied.error_log()


def test_the_checks_above_catch_a_body_that_nginx_spools(proxied: Proxied) -> None:
    # The same checks, through a server with nginx's default buffering (the control, not in deploy/): a request
    # body it spools is seen (the file held open, the marker in it, the warning), and so is a response.
    marker = b"MARKER-" + secrets.token_hex(16).encode()
    body = (marker + b"x" * 65536) * 64  # about 4 MB
    with Watch(proxied, marker) as watch, socket.create_connection(("127.0.0.1", proxied.control)) as raw:
        raw.sendall(b"POST /sign-in HTTP/1.1\r\nHost: control\r\nContent-Type: application/octet-stream\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(body) + body[: len(body) // 2])
        for _ in range(20):  # nginx holds the half-sent body in its temporary folder meanwhile
            if watch.spooled and watch.found:
                break
            threading.Event().wait(0.1)
        raw.sendall(body[len(body) // 2:])
        raw.recv(65536)
    assert watch.spooled and any(str(proxied.folder / "client_body") in hit for hit in watch.found)
    assert SPOOL_WARNING in (proxied.folder / "control.error.log").read_text()

    # A response the reader does not read: nginx writes it to its proxy folder.
    with Watch(proxied, b"unused") as watch, socket.create_connection(("127.0.0.1", proxied.control)) as raw:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.sendall(b"GET /static/dist/portal.css HTTP/1.1\r\nHost: control\r\n\r\n")
        for _ in range(40):
            if watch.spooled:
                break
            threading.Event().wait(0.1)
    assert any(str(proxied.folder / "proxy") in target for target in watch.spooled)
    assert "an upstream response is " + SPOOL_WARNING in (proxied.folder / "control.error.log").read_text()


def test_hsts_tls_versions_and_names(proxied: Proxied) -> None:
    browser = proxied.browser()
    page = browser.request("GET", "/sign-in")
    assert page.status == 200
    assert page.headers.get_all("Strict-Transport-Security") == [headers.HSTS]
    assert headers.HSTS == "max-age=31536000; includeSubDomains"  # a year, subdomains included
    assert page.headers.get("Content-Encoding") is None  # no compression over TLS (BREACH)
    assert "Server" not in page.headers or page.headers["Server"] == "nginx"  # no version number

    for version, accepted in ((ssl.TLSVersion.TLSv1_1, False), (ssl.TLSVersion.TLSv1_2, True),
                              (ssl.TLSVersion.TLSv1_3, True)):
        context = ssl.create_default_context(cafile=str(proxied.folder / "cert.pem"))
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # so this client offers TLS 1.1 at all
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is, which is the point
            context.minimum_version = context.maximum_version = version
        connection = TLSConnection(proxied.https, "127.0.0.2", context)
        try:
            connection.request("GET", "/health/live", headers={"Host": NAME})
            assert accepted and connection.getresponse().status == 200, version
            assert connection.sock.version() == version.name.replace("_", "."), version
        except ssl.SSLError as refused:
            # Refused by nginx (an alert it sent), not by this client for want of a protocol it could offer.
            assert not accepted and "ALERT" in str(refused), (version, refused)
        finally:
            connection.close()

    # A handshake for another name, or none, is refused: the portal answers only under its own name.
    for other in ("other.example", None):
        connection = TLSConnection(proxied.https, "127.0.0.2", ssl._create_unverified_context(), other)
        with pytest.raises(ssl.SSLError):
            connection.request("GET", "/", headers={"Host": NAME})
        connection.close()

    # Plain HTTP moves to HTTPS.
    connection = http.client.HTTPConnection("127.0.0.1", proxied.plain, timeout=30)
    connection.request("GET", "/sign-in?next=/dashboard", headers={"Host": NAME})
    response = connection.getresponse()
    assert response.status == 301 and response.headers["Location"] == f"https://{NAME}/sign-in?next=/dashboard"
    connection.close()


def test_cookies_are_secure_with_the_host_prefix(proxied: Proxied) -> None:
    browser = proxied.browser("127.0.0.5")
    answer = browser.form("/sign-in", {"email": proxied.member_email, "password": PASSWORD})
    assert answer.status == 302
    names = {line.split("=", 1)[0]: line for line in browser.set_cookies}
    assert set(names) == {"__Host-portal_state", "__Host-portal_session"}
    for line in names.values():
        flags = [part.strip().lower() for part in line.split(";")[1:]]
        assert "secure" in flags and "httponly" in flags and "path=/" in flags, line
        assert not any(flag.startswith("domain") for flag in flags), line


def test_the_address_throttled_is_the_clients_and_cannot_be_forged(proxied: Proxied) -> None:
    # Three failed sign-ins from 127.0.0.2, each claiming another address in X-Forwarded-For: the portal records
    # the real one each time (nginx's own address is never it: nginx reaches gunicorn through a Unix socket).
    browser = proxied.browser("127.0.0.2")
    before = len(proxied.attempts())
    for number in range(3):
        forged = {"X-Forwarded-For": f"198.51.100.{number + 1}", "X-Real-IP": f"198.51.100.{number + 1}"}
        token = csrf_from(browser.request("GET", "/sign-in", extra=forged).text)
        answer = browser.post("/sign-in", {"email": f"nobody{number}@example.org", "password": "wrong",
                                           "csrf_token": token}, forged)
        assert answer.status == 400 and "We could not sign you in" in answer.text
    recorded = proxied.attempts()[before:]
    assert [address for _, address in recorded] == ["127.0.0.2"] * 3

    # PORTAL_THROTTLE_ADDRESS_FAILURES is 3 here: 127.0.0.2 is now held back, even with the right password and
    # whatever address it claims, while 127.0.0.3 signs in with the same password.
    held = proxied.browser("127.0.0.2").form("/sign-in", {"email": proxied.member_email, "password": PASSWORD})
    forged = proxied.browser("127.0.0.2")
    token = csrf_from(forged.request("GET", "/sign-in").text)
    claimed = forged.post("/sign-in", {"email": proxied.member_email, "password": PASSWORD, "csrf_token": token},
                          {"X-Forwarded-For": "203.0.113.50"})
    other = proxied.browser("127.0.0.3").form("/sign-in", {"email": proxied.member_email, "password": PASSWORD})
    assert held.status == 400 and claimed.status == 400 and "We could not sign you in" in claimed.text
    assert other.status == 302 and other.headers["Location"].startswith("/sign-in/code")


def test_forwarded_host_and_scheme_come_from_nginx(proxied: Proxied) -> None:
    # The portal checks, over HTTPS, that a form comes from its own pages: it knows it is behind HTTPS (from
    # nginx's X-Forwarded-Proto) and its name (nginx's X-Forwarded-Host), and a client cannot change either.
    browser = proxied.browser("127.0.0.6")
    token = csrf_from(browser.request("GET", "/sign-in").text)
    fields = {"email": "a@example.org", "password": "x", "csrf_token": token}
    forged = browser.post("/sign-in", fields, {"Referer": "https://evil.example/", "X-Forwarded-Host": "evil.example",
                                               "X-Forwarded-Proto": "http"})
    assert forged.status == 400 and "Your form expired" in forged.text and "referrer" in forged.text
    genuine = browser.post("/sign-in", fields)
    assert genuine.status == 400 and "We could not sign you in" in genuine.text


def _too_large(proxied: Proxied, path: str, length: int) -> Answer:
    """Announce a body of `length` bytes, send a little of it, and read what nginx answers."""
    connection = proxied.browser("127.0.0.7").connection()
    connection.putrequest("POST", path, skip_host=True)
    for name, value in (("Host", NAME), ("Content-Type", "multipart/form-data; boundary=x"),
                        ("Content-Length", str(length))):
        connection.putheader(name, value)
    connection.endheaders(b"--x\r\n")
    response = connection.getresponse()
    answer = Answer(response.status, response.headers, response.read())
    connection.close()
    return answer


def test_a_body_over_the_limit_gets_a_clear_413_page(proxied: Proxied) -> None:
    rows, limit = document_forms.UPLOAD_ROWS, 200 * MB
    for path, length in ((f"/portfolios/{proxied.portfolio}/documents/upload", rows * limit + MB + 1),
                         (f"/portfolios/{proxied.portfolio}/documents/1/replace", limit + MB + 1),
                         ("/cohort/import", 3 * MB + 1), ("/sign-in", MB + 1)):
        answer = _too_large(proxied, path, length)
        assert answer.status == 413, path
        assert "<h1>The file is too large</h1>" in answer.text and "Nothing was uploaded" in answer.text, path
        assert answer.headers["Content-Type"].startswith("text/html"), path
        assert answer.headers.get_all("Strict-Transport-Security") == [headers.HSTS], path
        assert "default-src 'none'" in answer.headers["Content-Security-Policy"], path
    # At the portal's own limit, nginx lets the upload through: the portal answers (asking to sign in first).
    answer = _too_large(proxied, f"/portfolios/{proxied.portfolio}/documents/upload", rows * limit + 64 * 1024)
    assert answer.status == 302 and answer.headers["Location"].startswith("/sign-in")




def test_an_upload_over_http2_streams_too(proxied: Proxied, lead: Browser) -> None:
    # Browsers speak HTTP/2 to this site: the body arrives in HTTP/2 frames, and still goes straight through.
    browser = lead
    marker = b"MARKER-" + secrets.token_hex(16).encode()
    body = _upload_body(browser, proxied, 32 * MB, marker)
    command = ["curl", "--silent", "--show-error", "--http2", "--cacert", str(proxied.folder / "cert.pem"),
               "--resolve", f"{NAME}:{proxied.https}:127.0.0.1", "--interface", "127.0.0.4", "-X", "POST",
               "-T", "-", "--write-out", "%{http_version} %{http_code}", "--output", "/dev/null"]
    for name, value in {**browser.headers(), "Content-Type": body.content_type,
                        "Content-Length": str(body.length)}.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"https://{NAME}:{proxied.https}/portfolios/{proxied.portfolio}/documents/upload")
    with Watch(proxied, marker) as watch:
        curl = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=unshifted_environment())
        while block := body.read(256 * 1024):
            curl.stdin.write(block)
        out, err = curl.communicate()
    assert out.decode() == "2 302", err.decode()
    assert watch.scans >= 2 and watch.found == [] and watch.spooled == set()
    assert [list(folder.iterdir()) for folder in proxied.temp_folders()] == [[], []]
    assert SPOOL_WARNING not in proxied.error_log()


def test_the_access_log_never_holds_an_emailed_links_token(proxied: Proxied) -> None:
    token = secrets.token_urlsafe(32)
    browser = proxied.browser("127.0.0.8")
    for path in (f"/invite/{token}", f"/invite/{token}/authenticator", f"/password-help/{token}",
                 f"/sign-in?next=/invite/{token}"):
        browser.request("GET", path)
    # nginx logs a request in its last phase, which may come just after the client has the whole response.
    deadline = time.monotonic() + 10
    while True:
        log = (proxied.folder / "portal.access.log").read_text()
        lines = [line for line in log.splitlines() if line.startswith("127.0.0.8 ")]
        if len(lines) >= 4 or time.monotonic() > deadline:
            break
        threading.Event().wait(0.05)
    assert len(lines) == 4 and token not in log
    assert sum('"GET /invite/[token] HTTP/1.1"' in line for line in lines) == 2
    assert any('"GET /password-help/[token] HTTP/1.1"' in line for line in lines)
    assert any('"GET /sign-in HTTP/1.1"' in line for line in lines)  # no query string








def test_when_the_portal_does_not_answer_people_see_a_plain_page(proxied: Proxied) -> None:
    # As while gunicorn restarts or is stopped: nginx finds no socket, and shows its "unavailable" page.
    socket_path = proxied.folder / "web.sock"
    socket_path.rename(proxied.folder / "web.sock.away")
    try:
        threading.Event().wait(7)  # gunicorn closes nginx's idle connections after its keepalive (5 s)
        answer = proxied.browser("127.0.0.9").request("GET", "/dashboard")
    finally:
        (proxied.folder / "web.sock.away").rename(socket_path)
    assert answer.status == 502
    assert "<h1>Sorry, the service is unavailable</h1>" in answer.text and "nginx" not in answer.text
    assert answer.headers.get_all("Strict-Transport-Security") == [headers.HSTS]
    assert proxied.browser("127.0.0.9").request("GET", "/health/live").status == 200
