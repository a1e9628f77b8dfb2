"""Read an upload's multipart body as it streams in, so file content is never spooled to disk.

Werkzeug's own form parser writes any file part over 500 KB to a plaintext temporary file. The upload
views are exempt from the automatic CSRF check (which would parse the body that way before the view
runs) and read the body here instead: the CSRF token must come before any file, and each file's bytes
are handed on piece by piece to be encrypted straight into the blob store.
"""

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Request, current_app
from flask_wtf.csrf import CSRFError, same_origin, validate_csrf
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from wtforms import ValidationError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

READ_BYTES = 256 * 1024
MAX_FIELD_BYTES = 16 * 1024
MAX_PARTS = 200
FORM_FILE_MEMORY_BYTES = 16 * 1024 * 1024


@dataclass
class FilePart:
    """One file in the body: its form name, the name the browser gave it, and its bytes as they arrive."""

    name: str
    filename: str
    content_type: str
    chunks: Iterator[bytes]


class MultipartReader:
    """Yields text fields as (name, value) and files as FileParts, in body order."""

    def __init__(self, request: Request) -> None:
        boundary = request.mimetype_params.get("boundary", "")
        if request.mimetype != "multipart/form-data" or not boundary:
            raise BadRequest("The form was not sent as a file upload.")
        self._stream = request.stream
        self._decoder = MultipartDecoder(boundary.encode("latin-1"), 2 * READ_BYTES, max_parts=MAX_PARTS)
        self._events = self._read_events()

    def _read_events(self) -> Iterator[object]:
        while True:
            data = self._stream.read(READ_BYTES)
            self._decoder.receive_data(data or None)
            event = self._next_event()
            while not isinstance(event, NeedData):
                yield event
                if isinstance(event, Epilogue):
                    return
                event = self._next_event()
            if not data:
                raise BadRequest("The upload was cut short.")

    def _next_event(self) -> object:
        try:
            return self._decoder.next_event()
        except ValueError:  # the body ended, or broke off, where the multipart format does not allow
            raise BadRequest("The upload was cut short or not well formed.") from None

    def _data(self) -> Iterator[bytes]:
        for event in self._events:
            if not isinstance(event, Data):
                raise BadRequest("The upload was not well formed.")
            if event.data:
                yield event.data
            if not event.more_data:
                return

    def parts(self) -> Iterator[tuple[str, str] | FilePart]:
        """Each field or file in turn; a file's chunks must be read (or are skipped) before the next part."""
        for event in self._events:
            if isinstance(event, Field):
                value = bytearray()
                for data in self._data():
                    value += data
                    if len(value) > MAX_FIELD_BYTES:
                        raise BadRequest("A form field was too long.")
                yield event.name, value.decode("utf-8", "replace")
            elif isinstance(event, File):
                part = FilePart(event.name, event.filename or "", event.headers.get("Content-Type", ""),
                                self._data())
                yield part
                for _ in part.chunks:  # skip whatever the consumer did not read
                    pass
            elif isinstance(event, Epilogue):
                return


def check_csrf(request: Request, token: str | None) -> None:
    """The same checks as Flask-WTF's CSRFProtect: a valid token and, over HTTPS, a same-origin referrer."""
    try:
        validate_csrf(request.headers.get("X-CSRFToken") or token)
    except ValidationError as exc:
        raise CSRFError(exc.args[0]) from None
    strict = request.is_secure and current_app.config.get("WTF_CSRF_SSL_STRICT", True)
    if strict and not (request.referrer and same_origin(request.referrer, f"https://{request.host}/")):
        raise CSRFError("The referrer does not match the host.")


def checked_parts(request: Request, max_body: int) -> Iterator[tuple[str, str] | FilePart]:
    """Check the body's CSRF token (which must come before any file) now; return the remaining parts."""
    if request.content_length is not None and request.content_length > max_body:
        raise RequestEntityTooLarge(f"The upload is larger than the limit of {max_body // (1024 * 1024)} MB. "
                                    "Nothing was uploaded.")
    parts = MultipartReader(request).parts()
    token = request.headers.get("X-CSRFToken")
    if token is None:
        first = next(parts, None)
        if not isinstance(first, tuple) or first[0] != "csrf_token":
            raise CSRFError("The CSRF token is missing.")
        token = first[1]
    check_csrf(request, token)
    return parts


class _CappedBuffer(io.BytesIO):
    """An in-memory file that refuses to grow past a limit."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit

    def write(self, data: "ReadableBuffer", /) -> int:
        """Append, unless that would pass the limit."""
        if self.tell() + memoryview(data).nbytes > self._limit:
            raise RequestEntityTooLarge("The file is too large for this form.")
        return super().write(data)


class MemoryOnlyRequest(Request):
    """The app's request class: file parts parsed by Werkzeug anywhere else (for example a CSV import) are
    held in memory up to FORM_FILE_MEMORY_BYTES and never spooled to a plaintext temporary file."""

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> io.BytesIO:
        return _CappedBuffer(FORM_FILE_MEMORY_BYTES)
