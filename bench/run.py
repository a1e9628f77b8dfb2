"""Benchmark the portal under gunicorn on loopback, side by side in one run (DESIGN section 8).

    .venv/bin/python bench/run.py [--sizes 10M,200M,1G] [--workers 4] [--threads 4] [--worker-class gthread]
                                  [--clients 20] [--seconds 10] [--database-url URL]

A throw-away instance (SQLite unless --database-url names an empty database) gets a keyring, a Lead and 20
more people; the portal runs under gunicorn (gthread) with bench/wsgi.py mounting the comparison apps beside
it. The client signs in through the real forms (password, then a TOTP code) and measures:

- encrypted upload through the portal's upload form vs the same server storing the same bytes unencrypted, and
  both vs a raw WSGI read of the same body (/bench-raw: read in 256 KB pieces and dropped) in the same run. The
  file is a real PDF, so up to PANEL_COPY_MAX_BYTES (64 MB) the upload also reads it back and makes the panel's
  copy; at those sizes a Word 97-2003 (.doc) file of the same size, of which no panel copy is made, is uploaded
  too, to give the ratio without the read-back;
- encrypted download vs a plain send_file of the same bytes;
- the peak resident memory growth of the worker that served each transfer (VmHWM after, minus VmRSS
  before, with the peak reset through /proc/PID/clear_refs);
- the dashboard with N concurrent signed-in clients vs a bare Flask "hello" on the same server: throughput
  and latency (closed loop, so its p95 is queueing; DESIGN section 8's page targets at national size, with p95
  read from an open loop, are bench/page_targets.py's);
- in-process, what authenticating a file whole before sending it costs (bench/verify_whole.py).
"""

import argparse
import functools
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from http.client import HTTPConnection, HTTPResponse
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "benchmark password that is long enough"
MB = 1024 * 1024
BLOCK = os.urandom(MB)
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
PANEL_COPY_MAX_BYTES = 64 * MB  # the portal's default (portal/config.py), which the bench instance keeps
TARGETS = {"upload_of_raw": 0.85, "upload": 0.70, "download": 0.50, "memory_mb": 64, "p95_ms": 50, "hello_share": 0.20}


# Setting up ---------------------------------------------------------------------------------------------------


@dataclass
class Person:
    """A benchmark account."""

    email: str
    secret: str


def prepare(folder: Path, database_url: str | None, max_upload: int, people: int,
            light_passwords: bool = False) -> tuple[dict, list[Person], int]:
    """Create the instance's keyring, tables, people and a portfolio; return (environment, people, portfolio)."""
    from portal.security.crypto import Keyring

    Keyring.generate().save(folder / "keyring.json")
    env = {
        "PORTAL_BENCH": "1",
        "PORTAL_SECRET_KEY": "bench-" + secrets.token_hex(16),
        "PORTAL_DEVELOPMENT": "true",
        "PORTAL_SQLALCHEMY_DATABASE_URI": database_url or f"sqlite:///{folder / 'portal.sqlite3'}",
        "PORTAL_KEYRING_FILE": str(folder / "keyring.json"),
        "PORTAL_BLOB_DIR": str(folder / "blobs"),
        "PORTAL_OUTBOX_DIR": str(folder / "outbox"),
        "PORTAL_MAX_UPLOAD_BYTES": str(max_upload),
        "BENCH_PLAIN_DIR": str(folder / "plain"),
        **({"PORTAL_ARGON2_PARAMETERS": "[1, 8192, 1]"} if light_passwords else {}),
    }
    os.environ.update(env)
    from sqlalchemy import create_engine

    from portal import clock, create_app
    from portal.extensions import db
    from portal.models import Base, Nqsw, Portfolio, Role, User
    from portal.security import passwords, totp

    # Empty tables before the app starts: starting records this throw-away deployment's keys and SECRET_KEY, and
    # refuses a database that recorded another run's keys.
    engine = create_engine(env["PORTAL_SQLALCHEMY_DATABASE_URI"])
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    engine.dispose()
    app = create_app()
    accounts = []
    with app.app_context():
        password_hash = passwords.hash_password(PASSWORD)
        for number in range(people + 1):
            secret = totp.new_secret()
            email = f"bench{number}@example.org"
            db.session.add(User(email=email, name=f"Bench Person {number}", role=Role.ADMIN.value,
                                password_hash=password_hash, totp_secret=secret, enrolled_at=clock.now(),
                                active=True, created_at=clock.now(), password_changed_at=clock.now()))
            accounts.append(Person(email, secret))
        for number in range(40):
            nqsw = Nqsw(name=f"Fictional NQSW {number}", email=f"nqsw{number}@example.org")
            db.session.add(nqsw)
            db.session.flush()
            db.session.add(Portfolio(nqsw_id=nqsw.id, created_at=clock.now()))
        db.session.commit()
        portfolio_id = db.session.scalar(db.select(Portfolio.id).order_by(Portfolio.id).limit(1))
        db.session.remove()
        db.engine.dispose()
    return env, accounts, portfolio_id


def stop_server(server: subprocess.Popen | None) -> None:
    """Stop gunicorn quickly (SIGINT: no wait for keep-alive clients)."""
    if server is not None:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)


def get_page(connection: HTTPConnection, port: int, path: str, headers: dict) -> tuple[int, HTTPConnection]:
    """GET a page on a kept connection: its status, and the connection to use next (a time-out or a dropped
    connection counts as status 0, and the client reconnects)."""
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, connection
    except OSError:
        connection.close()
        return 0, HTTPConnection("127.0.0.1", port, timeout=30)


def start_server(env: dict, port: int, workers: int, threads: int, worker_class: str,
                 keep_alive: int = 5) -> subprocess.Popen:
    """Start gunicorn on loopback and wait until the portal answers its health check."""
    command = [str(Path(sys.executable).parent / "gunicorn"), "--chdir", str(ROOT), "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--worker-class", worker_class, "--threads", str(threads),
               "--timeout", "900", "--keep-alive", str(keep_alive), "--log-level", "warning", "bench.wsgi:application"]
    log = (Path(env["BENCH_PLAIN_DIR"]).parent / "server.log").open("ab")
    server = subprocess.Popen(command, env={**os.environ, **env}, stdout=log, stderr=log)
    deadline = time.time() + 60
    while time.time() < deadline and server.poll() is None:
        try:
            connection = HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200 and len(worker_pids(server.pid)) == workers:
                return server
        except OSError:
            pass
        time.sleep(0.3)
    server.terminate()
    raise SystemExit("gunicorn did not start:\n" + log.name and Path(log.name).read_text()[-3000:])


def free_port() -> int:
    """A loopback port nothing is listening on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def worker_pids(master: int) -> list[int]:
    """The gunicorn workers (children of the master)."""
    try:
        text = Path(f"/proc/{master}/task/{master}/children").read_text()
    except OSError:
        return []
    return [int(pid) for pid in text.split()]


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def reset_peaks(pids: list[int]) -> dict[int, int]:
    """Reset each worker's peak RSS to its current RSS; return the current RSS by pid."""
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    return {pid: memory(pid)["VmRSS"] for pid in pids}


# A small HTTP client with cookies -------------------------------------------------------------------------------


class Browser:
    """One keep-alive connection with a cookie jar, like a browser tab."""

    def __init__(self, port: int) -> None:
        self.connection = HTTPConnection("127.0.0.1", port, timeout=900)
        self.cookies: dict[str, str] = {}

    def headers(self, extra: dict | None = None) -> dict:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return {**({"Cookie": cookie} if cookie else {}), **(extra or {})}

    def keep_cookies(self, response: HTTPResponse) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, value = header.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value.strip()

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[HTTPResponse, bytes]:
        self.connection.request(method, path, body, self.headers(headers))
        response = self.connection.getresponse()
        data = response.read()
        self.keep_cookies(response)
        return response, data

    def submit(self, path: str, fields: dict) -> HTTPResponse:
        _, page = self.request("GET", path)
        token = _csrf_token_in(page)
        response, _ = self.request("POST", path, urlencode({"csrf_token": token, **fields}).encode(),
                                   {"Content-Type": "application/x-www-form-urlencoded"})
        return response

    def sign_in(self, person: Person) -> None:
        """Password, then a TOTP code, through the real forms."""
        from portal.security import totp

        first = self.submit("/sign-in", {"email": person.email, "password": PASSWORD})
        assert first.status == 302, f"sign-in failed: {first.status}"
        second = self.submit("/sign-in/code", {"code": totp.code_at(person.secret, _now())})
        assert second.status == 302, f"security code refused: {second.status}"

    def csrf_token(self, path: str) -> str:
        _, page = self.request("GET", path)
        return _csrf_token_in(page)


def _csrf_token_in(page: bytes) -> str:
    found = CSRF.search(page.decode())
    if found is None:
        raise AssertionError("the page has no form with a CSRF token")
    return found.group(1)


def _now() -> datetime:
    """The portal's clock, for TOTP codes."""
    from portal import clock

    return clock.now()


# Transfers -----------------------------------------------------------------------------------------------------


def pdf_frame(size: int) -> tuple[bytes, bytes]:
    """The head and tail of a valid one-page PDF of `size` bytes whose page content (random bytes) fills the middle.

    A real PDF, so that the portal does for it what it does for any PDF up to PANEL_COPY_MAX_BYTES: read it back and
    make the panel's copy without its metadata.
    """
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 300] /Contents 4 0 R >>"]
    head, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(head))
        head += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    offsets.append(len(head))
    closing = b"\nendstream\nendobj\n"
    trailer = b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%010d\n%%%%EOF\n"
    tail_length = len(closing) + len(b"xref\n0 5\n") + 5 * 20 + len(trailer % 0)
    content = size - len(head) - len(b"4 0 obj\n<< /Length 0000000000 >>\nstream\n") - tail_length
    head += b"4 0 obj\n<< /Length %010d >>\nstream\n" % content
    table = b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    tail = closing + b"xref\n0 5\n0000000000 65535 f \n" + table + trailer % (len(head) + content + len(closing))
    return bytes(head), tail


DOC_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # a Word 97-2003 file: the portal makes no panel copy of it


def file_blocks(size: int, kind: str = "pdf") -> Iterator[memoryview]:
    """A valid PDF of `size` bytes (random page content), or a .doc (its signature, then random bytes), in 1 MB
    blocks."""
    head, tail = pdf_frame(size) if kind == "pdf" else (DOC_MAGIC, b"")
    body = head + BLOCK[len(head):]
    sent, end = 0, size - len(tail)
    while sent < size:
        n = min(MB, size - sent)
        block = (body if sent == 0 else BLOCK)[:n]
        if sent + n > end:  # the last block carries the PDF's tail
            keep = max(0, end - sent)
            block = block[:keep] + tail[max(0, sent - end):][:n - keep]
        yield memoryview(block)
        sent += n


def upload(browser: Browser, path: str, fields: dict, size: int,
           kind: str = "pdf") -> tuple[float, int, HTTPResponse, bytes]:
    """Stream a multipart upload of a `kind` file of `size` bytes; return (seconds, worker pid, response, body)."""
    boundary = "bench" + secrets.token_hex(16)
    prologue = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                        for k, v in fields.items())
    mimetype = "application/pdf" if kind == "pdf" else "application/msword"
    prologue += (f'--{boundary}\r\nContent-Disposition: form-data; name="file-0"; filename="bench.{kind}"\r\n'
                 f"Content-Type: {mimetype}\r\n\r\n").encode()
    epilogue = f"\r\n--{boundary}--\r\n".encode()
    connection = browser.connection
    started = time.perf_counter()
    connection.putrequest("POST", path)
    for name, value in browser.headers({"Content-Type": f"multipart/form-data; boundary={boundary}",
                                        "Content-Length": str(len(prologue) + size + len(epilogue))}).items():
        connection.putheader(name, value)
    connection.endheaders()
    connection.send(prologue)
    for block in file_blocks(size, kind):
        connection.send(block)
    connection.send(epilogue)
    response = connection.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    browser.keep_cookies(response)
    return elapsed, int(response.headers["X-Bench-Worker"]), response, body


def download(browser: Browser, path: str, size: int) -> tuple[float, int]:
    """GET a file, reading it in 1 MB pieces; return (seconds, worker pid)."""
    started = time.perf_counter()
    browser.connection.request("GET", path, headers=browser.headers())
    response = browser.connection.getresponse()
    buffer = memoryview(bytearray(MB))
    total = 0
    while n := response.readinto(buffer):
        total += n
    elapsed = time.perf_counter() - started
    assert response.status == 200 and total == size, f"download of {path}: {response.status}, {total} bytes"
    return elapsed, int(response.headers["X-Bench-Worker"])


@dataclass
class Transfer:
    """The median time and the largest worker memory growth of one kind of transfer at one size."""

    seconds: list[float]
    growth_kb: list[int]

    def rate(self, size: int) -> float:
        return size / MB / statistics.median(self.seconds)

    def peak_mb(self) -> float:
        return max(self.growth_kb) / 1024


def measure(pids: list[int], run: Callable[[], tuple[float, int]]) -> tuple[float, int]:
    """Run one transfer; return (seconds, peak RSS growth in kB of the worker that served it)."""
    before = reset_peaks(pids)
    seconds, worker = run()
    return seconds, memory(worker)["VmHWM"] - before[worker]


def transfers(browser: Browser, pids: list[int], portfolio: int, size: int, repeats: int,
              database: Callable[[], tuple[int, int]]) -> dict[str, Transfer]:
    """Upload and download `size` bytes encrypted and plain, alternating, `repeats` times each."""
    results = {k: Transfer([], []) for k in ("raw read", "upload", "doc upload", "plain upload", "download",
                                             "plain download")}
    upload_path = f"/portfolios/{portfolio}/documents/upload"
    for _ in range(repeats):
        token = browser.csrf_token(upload_path)
        fields = {"csrf_token": token, "evidence_type-0": "other", "title-0": "Benchmark file"}
        box: dict = {}

        def encrypted_upload(fields: dict = fields, box: dict = box) -> tuple[float, int]:
            seconds, worker, response, _ = upload(browser, upload_path, fields, size)
            assert response.status == 302, f"encrypted upload: {response.status}"
            box["version"] = database()
            return seconds, worker

        def doc_upload(fields: dict = fields) -> tuple[float, int]:
            seconds, worker, response, _ = upload(browser, upload_path, fields, size, kind="doc")
            assert response.status == 302, f"encrypted .doc upload: {response.status}"
            return seconds, worker

        def raw_read() -> tuple[float, int]:
            seconds, worker, response, body = upload(browser, "/bench-raw/", {"csrf_token": "-"}, size)
            assert response.status == 201 and int(body) > size, f"raw read: {response.status} {body[:100]!r}"
            return seconds, worker

        def plain_upload(box: dict = box) -> tuple[float, int]:
            seconds, worker, response, body = upload(browser, "/bench-plain/upload", {"csrf_token": "-"}, size)
            assert response.status == 201, f"plain upload: {response.status}"
            box["plain"] = body.decode()
            return seconds, worker

        runs = [("raw read", raw_read), ("upload", encrypted_upload), ("plain upload", plain_upload)]
        if size <= PANEL_COPY_MAX_BYTES:  # the PDF upload reads the file back for the panel's copy; the .doc does not
            runs.insert(2, ("doc upload", doc_upload))
        for name, run in runs:
            seconds, growth = measure(pids, run)
            results[name].seconds.append(seconds)
            results[name].growth_kb.append(growth)
        document_id, version_id = box["version"]
        encrypted_path = f"/portfolios/{portfolio}/documents/{document_id}/versions/{version_id}/download"
        plain_path = f"/bench-plain/files/{box['plain']}"
        for name, path in (("download", encrypted_path), ("plain download", plain_path)):
            seconds, growth = measure(pids, functools.partial(download, browser, path, size))
            results[name].seconds.append(seconds)
            results[name].growth_kb.append(growth)
        Path(os.environ["BENCH_PLAIN_DIR"], box["plain"]).unlink()
    return results


def newest_version() -> tuple[int, int]:
    """(document id, version id) of the latest upload, read from the bench database."""
    from sqlalchemy import create_engine, text

    engine = create_engine(os.environ["PORTAL_SQLALCHEMY_DATABASE_URI"])
    with engine.connect() as connection:
        row = connection.execute(text("SELECT document_id, id FROM document_versions ORDER BY id DESC LIMIT 1")).one()
    engine.dispose()
    return row[0], row[1]


# Page latency --------------------------------------------------------------------------------------------------


def _client_process(port: int, path: str, cookies: list[dict], start: float, warm: float, end: float,
                    out: multiprocessing.Queue) -> None:
    """Threads, one per cookie jar, each requesting `path` back to back; latencies measured after warm-up."""
    results: list[tuple[float, int]] = []
    lock = threading.Lock()

    def client(jar: dict) -> None:
        connection = HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if jar else {}
        mine = []
        while time.time() < start:
            time.sleep(0.001)
        while (now := time.time()) < end:
            began = time.perf_counter()
            status, connection = get_page(connection, port, path, headers)
            took = time.perf_counter() - began
            if now >= warm and time.time() <= end:
                mine.append((took, status))
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=client, args=(jar,)) for jar in cookies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put(results)


def page_load(port: int, path: str, jars: list[dict], seconds: float, warmup: float = 2.0,
              processes: int = 4) -> dict:
    """Run len(jars) concurrent clients on `path` for `seconds` after a warm-up; return the statistics."""
    processes = min(processes, len(jars))
    start = time.time() + 0.5 + 0.25 * processes  # time for the client processes to start
    warm, end = start + warmup, start + warmup + seconds
    queue: multiprocessing.Queue = multiprocessing.get_context("fork").Queue()
    workers = [multiprocessing.get_context("fork").Process(
        target=_client_process, args=(port, path, jars[i::processes], start, warm, end, queue))
        for i in range(processes)]
    for worker in workers:
        worker.start()
    results = [item for _ in workers for item in queue.get()]
    for worker in workers:
        worker.join()
    latencies = sorted(took for took, _ in results) or [float("inf")]
    errors = sum(1 for _, status in results if status != 200)
    return {"requests": len(results), "errors": errors, "rps": len(results) / seconds,
            "p50": latencies[len(latencies) // 2] * 1000, "p95": latencies[int(len(latencies) * 0.95)] * 1000,
            "p99": latencies[int(len(latencies) * 0.99)] * 1000}


def component_speeds() -> dict[str, float]:
    """In-process MB/s of the per-byte work an encrypted transfer adds, in the portal's 256 KB pieces."""
    from portal.security import streams

    data, piece = memoryview(BLOCK * 64), 256 * 1024
    key, context = streams.new_data_key(), streams.blob_context(1, 1, "0" * 32)
    started = time.perf_counter()
    digest = streams.content_digest()
    for i in range(0, len(data), piece):
        digest.update(data[i:i + piece])
    digest.hexdigest()
    hashing = time.perf_counter() - started
    started = time.perf_counter()
    encryptor = streams.BlobEncryptor(key, context)
    for i in range(0, len(data), piece):
        encryptor.update(data[i:i + piece])  # each piece is written out and dropped, as an upload does
    encryptor.finalize()
    encrypt = time.perf_counter() - started
    encryptor = streams.BlobEncryptor(key, context)
    sealed = [encryptor.update(data[i:i + piece]) for i in range(0, len(data), piece)] + [encryptor.finalize()]
    started = time.perf_counter()
    for _ in streams.decrypt_chunks(key, context, iter(sealed)):
        pass
    decrypt = time.perf_counter() - started
    return {"hash": 64 / hashing, "encrypt": 64 / encrypt, "decrypt": 64 / decrypt}


def describe_speeds(speeds: dict[str, float]) -> str:
    """The in-process line of the report."""
    return (f"in-process, one core, 64 MB in 256 KB pieces: BLAKE3 {speeds['hash']:.0f} MB/s, Cobblestone encrypt "
            f"{speeds['encrypt']:.0f} MB/s, decrypt {speeds['decrypt']:.0f} MB/s; "
            f"load average {os.getloadavg()[0]:.1f}")


def download_ceiling(decrypt_mb_s: float, plain_mb_s: float) -> str:
    """Why a download ratio cannot pass one core's decryption speed, stated with this run's figures.

    A blob is one Cobblestone stream: its chunks are decrypted in order, so one download decrypts on one core
    however many the machine has. Were every other step free, the download would run at that core's decryption
    speed, so that speed over plain send_file (which copies nothing through Python) bounds the ratio.
    """
    ceiling = decrypt_mb_s / plain_mb_s
    return (f"download ceiling: one core decrypts at {decrypt_mb_s:.0f} MB/s (in-process, above), "
            f"{ceiling:.0%} of the fastest plain send_file here ({plain_mb_s:.0f} MB/s); "
            + ("the 50% download target is above what one core can decrypt on this machine"
               if ceiling < TARGETS["download"] else "the 50% download target is within one core's reach"))


# Report --------------------------------------------------------------------------------------------------------


def parse_size(text: str) -> int:
    found = re.fullmatch(r"(\d+)([KMG]?)B?", text.strip().upper())
    if found is None:
        raise ValueError(f"{text!r} is not a size like 256K, 10M or 1G")
    number, unit = found.groups()
    return int(number) * {"": 1, "K": 1024, "M": MB, "G": 1024 * MB}[unit]


def raw_ratios(label: str, size: int, result: dict[str, Transfer]) -> str:
    """One row of the table of uploads against the raw body read."""
    raw = result["raw read"].rate(size)
    cells = [f"{raw:.0f}"]
    for name in ("upload", "doc upload", "plain upload"):
        if result[name].seconds:
            cells += [f"{result[name].rate(size):.0f}", f"{result[name].rate(size) / raw:.0%}"]
        else:
            cells += ["- (above the panel-copy size: the PDF is not read back)", "-"]
    return f"| {label} | {' | '.join(cells)} |"


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10M,200M,1G")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--worker-class", choices=("gthread", "sync"), default="gthread")
    parser.add_argument("--keep-alive", type=int, default=5,
                        help="Seconds gunicorn keeps an idle connection open; 0 closes it after each response.")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=0, help="Transfers of each kind per size (0: 3, 2 or 1).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--database-url", default=None, help="An EMPTY database to use instead of SQLite.")
    parser.add_argument("--skip-pages", action="store_true")
    parser.add_argument("--light-passwords", action="store_true",
                        help="Cheap argon2 parameters (for the smoke test; not representative of sign-in cost).")
    args = parser.parse_args()
    sizes = [(s, parse_size(s)) for s in args.sizes.split(",")]
    port = args.port or free_port()
    folder = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    server = None
    try:
        env, people, portfolio = prepare(folder, args.database_url, max(s for _, s in sizes) + MB, args.clients,
                                          args.light_passwords)
        server = start_server(env, port, args.workers, args.threads, args.worker_class, args.keep_alive)
        pids = worker_pids(server.pid)
        shape = f"{args.workers} workers x {args.threads} threads" if args.worker_class == "gthread" else \
            f"{args.workers} workers"
        print(f"# Benchmark: gunicorn {args.worker_class}, {shape}, 127.0.0.1, "
              f"{'PostgreSQL' if args.database_url else 'SQLite'}, {os.cpu_count()} CPUs, Python "
              f"{sys.version.split()[0]}\n", flush=True)
        speeds = component_speeds()
        print(describe_speeds(speeds) + "\n", flush=True)
        import verify_whole  # beside this script, which is first on sys.path

        print("authenticating a file whole before sending it (VERIFY_WHOLE_MAX_BYTES, 64 MB by default): "
              "in-process, one core, from a file on disk; the portal uses two passes\n", flush=True)
        print("\n".join(verify_whole.measure([("10M", 10 * MB), ("64M", 64 * MB)])) + "\n", flush=True)
        fastest_plain_download = 0.0
        lead = Browser(port)
        lead.sign_in(people[0])
        failures: list[str] = []
        ratios: list[str] = []
        print("| size | encrypted upload MB/s | plain upload MB/s | ratio | encrypted download MB/s "
              "| plain send_file MB/s | ratio | worker peak growth up / down (encrypted) | same (plain) |")
        print("|---|---|---|---|---|---|---|---|---|", flush=True)
        for label, size in sizes:
            repeats = args.repeats or (3 if size <= 16 * MB else 2 if size <= 256 * MB else 1)
            result = transfers(lead, pids, portfolio, size, repeats, newest_version)
            up = result["upload"].rate(size) / result["plain upload"].rate(size)
            down = result["download"].rate(size) / result["plain download"].rate(size)
            fastest_plain_download = max(fastest_plain_download, result["plain download"].rate(size))
            grow = max(result["upload"].peak_mb(), result["download"].peak_mb())
            print(f"| {label} | {result['upload'].rate(size):.0f} | {result['plain upload'].rate(size):.0f} "
                  f"| {up:.0%} | {result['download'].rate(size):.0f} | {result['plain download'].rate(size):.0f} "
                  f"| {down:.0%} | {result['upload'].peak_mb():.1f} / {result['download'].peak_mb():.1f} MB "
                  f"| {result['plain upload'].peak_mb():.1f} / {result['plain download'].peak_mb():.1f} MB |",
                  flush=True)
            ratios.append(raw_ratios(label, size, result))
            if result["upload"].rate(size) / result["raw read"].rate(size) < TARGETS["upload_of_raw"]:
                failures.append(f"upload {label}: {result['upload'].rate(size) / result['raw read'].rate(size):.1%} "
                                f"of the raw body read (target {TARGETS['upload_of_raw']:.0%})")
            if up < TARGETS["upload"]:
                failures.append(f"upload {label}: {up:.1%} of plain (target {TARGETS['upload']:.0%})")
            if down < TARGETS["download"]:
                failures.append(f"download {label}: {down:.1%} of plain (target {TARGETS['download']:.0%})")
            if size >= 1024 * MB and grow >= TARGETS["memory_mb"]:
                failures.append(f"memory {label}: {grow:.1f} MB growth (target < {TARGETS['memory_mb']} MB)")
        print("\nUploads against a raw WSGI read of the same body (/bench-raw: 256 KB pieces, dropped), same run; "
              f"target: encrypted upload >= {TARGETS['upload_of_raw']:.0%} of the raw read. The PDF upload reads the "
              f"file back for the panel's copy up to {PANEL_COPY_MAX_BYTES // MB} MB; the .doc upload (no panel "
              "copy) is the same path without that read-back.\n")
        print("| size | raw body read MB/s | encrypted upload (PDF) MB/s | % of raw | encrypted upload, no read-back "
              "(.doc) MB/s | % of raw | plain upload MB/s | % of raw |")
        print("|---|---|---|---|---|---|---|---|")
        print("\n".join(ratios), flush=True)
        print("\n" + download_ceiling(speeds["decrypt"], fastest_plain_download), flush=True)
        if not args.skip_pages:
            jars = []
            for person in people[1:args.clients + 1]:
                browser = Browser(port)
                browser.sign_in(person)
                jars.append(dict(browser.cookies))
            dashboard = page_load(port, "/dashboard", jars, args.seconds, args.warmup)
            hello = page_load(port, "/bench-hello/", [{} for _ in jars], args.seconds, args.warmup)
            share = dashboard["rps"] / hello["rps"]
            print(f"\n| {args.clients} concurrent clients, {args.seconds:.0f} s | requests | errors | req/s "
                  "| p50 ms | p95 ms | p99 ms |")
            print("|---|---|---|---|---|---|---|")
            for name, stats in (("/dashboard (signed in)", dashboard), ("bare Flask hello", hello)):
                print(f"| {name} | {stats['requests']} | {stats['errors']} | {stats['rps']:.0f} "
                      f"| {stats['p50']:.1f} | {stats['p95']:.1f} | {stats['p99']:.1f} |")
            print(f"\ndashboard throughput is {share:.1%} of hello ({verdict(share >= TARGETS['hello_share'])}: "
                  f">= {TARGETS['hello_share']:.0%}, at this bench's 40 portfolios); a closed loop with no pause "
                  "measures only queueing (p95 about clients / throughput), so the p95 < "
                  f"{TARGETS['p95_ms']} ms target is measured open loop at national size by bench/page_targets.py")
            if share < TARGETS["hello_share"]:
                failures.append(f"dashboard throughput {share:.1%} of hello")
            if dashboard["errors"]:
                failures.append(f"dashboard: {dashboard['errors']} errors")
        print("\nall targets met" if not failures else "\ntargets missed:\n- " + "\n- ".join(failures))
        return 0
    finally:
        stop_server(server)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
