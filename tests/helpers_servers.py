"""The portal as it is deployed: gunicorn processes on loopback ports, configured through PORTAL_* variables from
a test's configuration, and people using them over real HTTP with their own cookies."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path

import requests
from conftest import csrf_from, free_port, unshifted_environment

from portal.security import totp

ROOT = Path(__file__).resolve().parent.parent
# The settings a server takes from a test's configuration (the rest are the defaults, as in production).
SHARED = ("SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "BLOB_STORE", "BLOB_DIR", "OUTBOX_DIR", "BASE_URL", "MAIL_BACKEND",
          "ARGON2_PARAMETERS", "S3_BUCKET", "S3_PREFIX", "S3_ENDPOINT_URL", "S3_REGION", "S3_ACCESS_KEY_ID",
          "S3_SECRET_ACCESS_KEY", "S3_PART_BYTES", "S3_ADDRESSING_STYLE", "DEPLOYMENT_CHECK_SECONDS")


def server_environment(config: dict, keyring_file: Path, **settings: object) -> dict[str, str]:
    """The environment of a host: this machine's (without faketime or any PORTAL_ setting), plus the test's
    configuration as PORTAL_* variables, the keyring from a file, and plain-http cookies (loopback has no TLS)."""
    environment = {k: v for k, v in unshifted_environment().items()
                   if not k.startswith("PORTAL_") and k != "DATABASE_URL"}
    values = {name: config[name] for name in SHARED if name in config}
    values.update(KEYRING_FILE=str(keyring_file), DEVELOPMENT=True, **settings)
    for name, value in values.items():
        environment[f"PORTAL_{name}"] = value if isinstance(value, str) else json.dumps(value)
    return environment


@dataclass
class Server:
    """One gunicorn master and its workers."""

    name: str
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        """Where it listens."""
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        """The worker processes (children of the master)."""
        pid = self.process.pid
        try:
            return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def kill(self) -> None:
        """SIGKILL every worker, then the master: nothing gets to clean up. Returns once they are all gone (the
        kernel releases a dead process's file locks only then)."""
        workers = self.workers()
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        self.process.kill()
        self.process.wait()
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
            threading.Event().wait(0.05)

    def stop(self) -> None:
        """Stop gracefully."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait()

    def output(self) -> str:
        """The end of its log."""
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def start_gunicorn(name: str, environment: dict[str, str], folder: Path, workers: int = 1,
                   threads: int = 4, application: str = "portal:create_app()") -> Server:
    """Start `gunicorn 'portal:create_app()'` as the operations guide does (or another WSGI `application`), and
    wait until /health/live answers."""
    port = free_port()
    log = folder / f"{name}.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads",
             str(threads), "--timeout", "120", "--graceful-timeout", "5", application],
            cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT)
    server = Server(name, process, port, log)
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{server.url}/health/live", timeout=5) as response:
                if response.status == 200 and len(server.workers()) == workers:
                    return server
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise AssertionError(f"gunicorn {name} did not start:\n{server.output()}")
        threading.Event().wait(0.1)  # not time.sleep, which fails under faketime (the shifted leg)


@dataclass
class Visitor:
    """A person's browser: one cookie jar, whichever host answers (as behind a load balancer)."""

    http: requests.Session = field(default_factory=requests.Session)

    def get(self, host: Server, path: str, **kwargs: object) -> requests.Response:
        """GET a page, without following redirects."""
        return self.http.get(host.url + path, allow_redirects=False, timeout=120, **kwargs)

    def submit(self, host: Server, path: str, data: dict, page: str | None = None, form_host: Server | None = None,
               **kwargs: object) -> requests.Response:
        """GET the form (from form_host, or the same host), then POST it with its CSRF token to `host`."""
        form = self.get(form_host or host, page or path)
        assert form.status_code == 200, (form.status_code, form.text[:500])
        return self.http.post(host.url + path, data={**data, "csrf_token": csrf_from(form.text)},
                              allow_redirects=False, timeout=300, **kwargs)

    def cookie_header(self) -> str:
        """The Cookie header this browser sends."""
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)


def code_for(secret: str, response: requests.Response) -> str:
    """The authenticator's code at the time the server gave (its Date header): the servers run on the machine's
    real clock, whatever this process's clock says."""
    return totp.code_at(secret, parsedate_to_datetime(response.headers["Date"]))


class HostResponse:
    """A response as the Flask test client gives one (status_code, headers, data, get_data), and who answered."""

    def __init__(self, response: requests.Response, host: Server) -> None:
        self.status_code, self.headers, self.data, self.host = (response.status_code, response.headers,
                                                                 response.content, host)

    def get_data(self, as_text: bool = False) -> bytes | str:
        """The body."""
        return self.data.decode("utf-8", "replace") if as_text else self.data


class Alternating:
    """A browser behind a load balancer that sends each request to the next host in turn (or to the host
    pinned with `on`). It has the Flask test client's get and post, so the suite's form helpers drive it."""

    def __init__(self, hosts: list[Server]) -> None:
        self.hosts, self.visitor, self._turn, self._pinned = hosts, Visitor(), 0, None
        self.answered: list[str] = []

    def _host(self) -> Server:
        if self._pinned is not None:
            return self._pinned
        host = self.hosts[self._turn % len(self.hosts)]
        self._turn += 1
        return host

    def on(self, host: Server) -> "Alternating":
        """Send the requests of a `with` block to one host."""
        self._pinned = host
        return self

    def __enter__(self) -> "Alternating":
        return self

    def __exit__(self, *_: object) -> None:
        self._pinned = None

    def get(self, path: str, **kwargs: object) -> HostResponse:
        """GET from the next host."""
        host = self._host()
        self.answered.append(host.name)
        return HostResponse(self.visitor.get(host, path), host)

    def post(self, path: str, data: dict | None = None, content_type: str | None = None,
             **kwargs: object) -> HostResponse:
        """POST to the next host; (stream, filename) values are sent as files, after the fields."""
        host = self._host()
        self.answered.append(host.name)
        fields = {k: v for k, v in (data or {}).items() if not isinstance(v, tuple)}
        files = {k: (v[1], v[0].read()) for k, v in (data or {}).items() if isinstance(v, tuple)}
        response = self.visitor.http.post(host.url + path, data=fields, files=files or None, allow_redirects=False,
                                          timeout=300)
        return HostResponse(response, host)
