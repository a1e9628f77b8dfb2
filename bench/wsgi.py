"""The benchmark's server: the unchanged portal, with comparison apps mounted beside it for the bench only.

The product has no plaintext route: this module refuses to load unless PORTAL_BENCH=1, and it is not part of
the portal package. /bench-plain parses the upload with the portal's own streaming multipart reader and
stores the same bytes unencrypted in a LocalBlobStore (temporary file, fsync, rename), and serves them with a
plain send_file; /bench-raw reads the request body in the reader's 256 KB pieces and drops them (a bare WSGI
app: the ceiling an upload's parsing, encryption and storage are measured against); /bench-hello is a bare Flask
"hello". Every response names the worker process that served it, so the benchmark can read that worker's memory.
With BENCH_AUDIT=off (bench/downloads.py's comparison run) audit.record does nothing, to measure what the audit
write costs; the product has no such switch.
"""

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flask import Flask, abort, request, send_file
from sqlalchemy import event
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from portal import create_app
from portal.documents.storage import LocalBlobStore
from portal.documents.uploads import READ_BYTES, FilePart, MultipartReader
from portal.extensions import db

if os.environ.get("PORTAL_BENCH") != "1":
    raise RuntimeError("bench/wsgi.py is for benchmarks only (set PORTAL_BENCH=1)")

if os.environ.get("BENCH_AUDIT") == "off":
    from portal import audit

    def _no_audit(*_args: Any, **_kwargs: Any) -> None:
        """The comparison run's audit write: nothing."""

    audit.record = _no_audit

plain = Flask("bench_plain")
plain_store = LocalBlobStore(Path(os.environ["BENCH_PLAIN_DIR"]))


@plain.post("/upload")
def plain_upload() -> tuple[str, int]:
    """Store the first file of the multipart body as it is."""
    for part in MultipartReader(request).parts():
        if isinstance(part, FilePart):
            blob_id = plain_store.new_blob_id()
            with plain_store.write(blob_id) as out:
                for chunk in part.chunks:
                    out.write(chunk)
            return blob_id, 201
    abort(400)


@plain.get("/files/<blob_id>")
def plain_download(blob_id: str) -> Any:
    """send_file of the stored bytes."""
    return send_file(plain_store.path(blob_id), mimetype="application/pdf",
                     as_attachment=True, download_name="bench.pdf")


def raw_read(environ: dict, start_response: Callable[..., Callable]) -> Iterable[bytes]:
    """Read the whole body in READ_BYTES pieces, keep nothing, and answer how many bytes came."""
    stream, left, total = environ["wsgi.input"], int(environ.get("CONTENT_LENGTH") or 0), 0
    while left > 0:
        data = stream.read(min(READ_BYTES, left))
        if not data:
            break
        total, left = total + len(data), left - len(data)
    start_response("201 Created", [("Content-Type", "text/plain")])
    return [str(total).encode()]


hello = Flask("bench_hello")


@hello.get("/")
def hello_index() -> str:
    """The bare Flask baseline."""
    return "hello"


_statements = threading.local()


def _count_statement(*_args: Any) -> None:
    _statements.count = getattr(_statements, "count", 0) + 1


class WorkerHeader:
    """Adds X-Bench-Worker (the pid of the worker that served the request) and X-Bench-Statements (the SQL
    statements the request ran before its response started, for bench/scale.py)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable[..., Callable]) -> Iterable[bytes]:
        _statements.count = 0

        def start(status: str, headers: list, exc_info: Any = None) -> Callable:
            return start_response(status, [*headers, ("X-Bench-Worker", str(os.getpid())),
                                           ("X-Bench-Statements", str(_statements.count))], exc_info)

        return self.app(environ, start)


portal = create_app()
with portal.app_context():
    event.listen(db.engine, "before_cursor_execute", _count_statement)
application = WorkerHeader(DispatcherMiddleware(portal, {"/bench-plain": plain, "/bench-raw": raw_read,
                                                                  "/bench-hello": hello}))
