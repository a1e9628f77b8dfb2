"""The blob store: encrypted blobs named by random ids, in a local folder or an S3-compatible bucket.

Both backends hold exactly the same bytes (the Cobblestone ciphertext portal/security/streams.py makes) under
the same 32-hex-digit ids, and behave the same way:

- a blob is either complete or absent: `write` gives a file to write the ciphertext into, and the blob appears
  under its id only when the block ends without an error (the local store fsyncs a temporary file and renames
  it; the S3 store completes a multipart upload). An error removes what was written. The database row that
  names a blob is committed only after the blob is complete, so a crash between the two leaves an orphan (a
  blob no row names, a temporary file, an unfinished multipart upload), which `remove_orphans` deletes;
- an existing blob is never overwritten;
- memory stays constant whatever the size: the S3 store holds one part of ciphertext (S3_PART_BYTES) at a time.

BLOB_STORE chooses the backend: "local" (the default; BLOB_DIR, one filesystem every host and worker shares)
or "s3" (S3_BUCKET under S3_PREFIX, at S3_ENDPOINT_URL for a service other than Amazon's). docs/configuration.md
lists the settings; docs/operations.md says how to set up a bucket.
"""

import base64
import hashlib
import io
import os
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, BinaryIO

from flask import Flask, current_app

_BLOB_ID = re.compile(r"^[0-9a-f]{32}$")
_TEMP_PREFIX = ".tmp-"
MIN_PART_BYTES = 5 * 1024 * 1024  # S3's smallest part (but the last)
BACKENDS = ("local", "s3")


class StoreError(OSError):
    """The blob store could not be reached or refused a request; the message says which and why."""


def check_blob_id(blob_id: str) -> str:
    """Return the id, refusing anything that is not a blob id (no path or key tricks)."""
    if not _BLOB_ID.match(blob_id):
        raise ValueError("not a blob id")
    return blob_id


class BlobStore(ABC):
    """Encrypted blobs, each named by an opaque random id."""

    @staticmethod
    def new_blob_id() -> str:
        """Return a new random blob id (128 bits, hex) that reveals nothing about the document."""
        return secrets.token_hex(16)

    @abstractmethod
    def describe(self) -> str:
        """Where the blobs are, for messages (never a secret)."""

    @abstractmethod
    @contextmanager
    def write(self, blob_id: str) -> Iterator[BinaryIO]:
        """Give a writable file; on success the blob appears complete under its id, on error nothing does."""

    @abstractmethod
    def open(self, blob_id: str) -> io.BufferedIOBase:
        """Open a blob for reading (binary, with read and readinto); FileNotFoundError if it is absent."""

    @abstractmethod
    def delete(self, blob_id: str) -> None:
        """Remove a blob if it exists."""

    @abstractmethod
    def exists(self, blob_id: str) -> bool:
        """True if the blob is present."""

    @abstractmethod
    def size(self, blob_id: str) -> int:
        """The blob's size in bytes (ciphertext)."""

    @abstractmethod
    def ids(self) -> Iterator[str]:
        """Every complete blob's id (temporary files and unfinished uploads excluded)."""

    @abstractmethod
    def remove_orphans(self, known_ids: set[str], grace_seconds: float = 0.0) -> list[str]:
        """Delete blobs no row names, temporary files and unfinished uploads; return what was removed.

        grace_seconds spares anything written more recently than that (by the store's own clock), so a
        collection run while uploads are under way does not remove a blob whose row is about to be committed.
        """

    @abstractmethod
    def problem(self) -> str | None:
        """Why this host cannot use the store (unreachable, unreadable, unwritable), or None."""


# The local folder ------------------------------------------------------------------------------------------


class LocalBlobStore(BlobStore):
    """Files under one directory (mode 0700), each (mode 0600) named by its blob id."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def describe(self) -> str:
        """The folder."""
        return f"the blob folder {self.root}"

    def path(self, blob_id: str) -> Path:
        """Return the file of a blob, refusing anything that is not a blob id (no path tricks)."""
        return self.root / check_blob_id(blob_id)

    @contextmanager
    def write(self, blob_id: str) -> Iterator[BinaryIO]:
        """Give a writable file; on success fsync and rename it into place, on error remove it."""
        final = self.path(blob_id)
        if final.exists():
            raise FileExistsError("a blob with this id already exists")
        temp = self.root / f"{_TEMP_PREFIX}{blob_id}-{secrets.token_hex(4)}"
        handle = os.fdopen(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
        try:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            os.replace(temp, final)
            self._sync_directory()
        except BaseException:
            handle.close()
            temp.unlink(missing_ok=True)
            raise

    def open(self, blob_id: str) -> io.BufferedIOBase:
        """Open a blob for reading (binary, with readinto)."""
        return open(self.path(blob_id), "rb")

    def delete(self, blob_id: str) -> None:
        """Remove a blob if it exists."""
        self.path(blob_id).unlink(missing_ok=True)
        self._sync_directory()

    def exists(self, blob_id: str) -> bool:
        """True if the blob is present."""
        return self.path(blob_id).is_file()

    def size(self, blob_id: str) -> int:
        """The blob's size in bytes (ciphertext)."""
        return self.path(blob_id).stat().st_size

    def ids(self) -> Iterator[str]:
        """Every complete blob's id (temporary files excluded)."""
        with os.scandir(self.root) as entries:
            for entry in entries:
                if entry.is_file() and _BLOB_ID.match(entry.name):
                    yield entry.name

    def remove_orphans(self, known_ids: set[str], grace_seconds: float = 0.0) -> list[str]:
        """Delete temporary files and blobs no row names, older than grace_seconds; return the file names."""
        cutoff = self._filesystem_now() - grace_seconds
        removed = []
        with os.scandir(self.root) as entries:
            for entry in entries:
                orphan = entry.name.startswith(_TEMP_PREFIX) or (
                    _BLOB_ID.match(entry.name) is not None and entry.name not in known_ids
                )
                if orphan and entry.is_file() and entry.stat().st_mtime <= cutoff:
                    Path(entry.path).unlink(missing_ok=True)
                    removed.append(entry.name)
        if removed:
            self._sync_directory()
        return sorted(removed)

    def problem(self) -> str | None:
        """Why the folder cannot be used, or None."""
        if not self.root.is_dir():
            return f"{self.describe()} does not exist: give every host the deployment's shared blob folder"
        if not os.access(self.root, os.R_OK | os.W_OK | os.X_OK):
            return f"{self.describe()} cannot be read and written by this host's user"
        return None

    def _filesystem_now(self) -> float:
        """The current time by the clock that stamps this directory's files.

        Ages are compared with modification times, which the filesystem sets (on a network filesystem, by
        the server's clock), so "now" is read the same way: from a file written now. Falls back to this
        host's clock when the directory cannot be written.
        """
        probe = self.root / f".clock-{secrets.token_hex(8)}"
        try:
            descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError:
            return time.time()
        try:
            return os.fstat(descriptor).st_mtime
        finally:
            os.close(descriptor)
            probe.unlink(missing_ok=True)

    def _sync_directory(self) -> None:
        # The rename or unlink is durable only once the directory entry itself is on disk.
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# An S3-compatible bucket -----------------------------------------------------------------------------------


class S3BlobStore(BlobStore):
    """Objects in one bucket, named PREFIX + blob id, written by multipart upload one part at a time.

    The client is made in the process that uses it (a server that forks its workers after start gets one
    client per worker, never a shared connection pool).
    """

    def __init__(self, bucket: str, prefix: str = "blobs/", part_bytes: int = 8 * 1024 * 1024,
                 client_options: dict[str, Any] | None = None, addressing_style: str = "auto") -> None:
        if not bucket:
            raise ValueError("S3_BUCKET is not set")
        if part_bytes < MIN_PART_BYTES:
            raise ValueError(f"S3_PART_BYTES must be at least {MIN_PART_BYTES} (5 MiB), S3's smallest part")
        self.bucket, self.prefix, self.part_bytes = bucket, prefix, int(part_bytes)
        self._options = {k: v for k, v in (client_options or {}).items() if v}
        self._addressing_style = addressing_style or "auto"
        self._client: Any = None
        self._pid = 0

    @property
    def client(self) -> Any:
        """This process's boto3 S3 client."""
        if self._client is None or self._pid != os.getpid():
            import boto3
            from botocore.config import Config

            self._client = boto3.session.Session().client("s3", config=Config(
                connect_timeout=10, read_timeout=60, retries={"max_attempts": 5, "mode": "standard"},
                s3={"addressing_style": self._addressing_style},
                # Checksums only where the API requires them: many S3-compatible services refuse the newer
                # default ones. Each part carries a Content-MD5 instead, and every blob is authenticated on read.
                request_checksum_calculation="when_required", response_checksum_validation="when_required",
            ), **self._options)
            self._pid = os.getpid()
        return self._client

    def describe(self) -> str:
        """The bucket, prefix and endpoint."""
        endpoint = self._options.get("endpoint_url") or "Amazon S3"
        return f"the S3 bucket {self.bucket} (prefix {self.prefix!r}, at {endpoint})"

    def key(self, blob_id: str) -> str:
        """The object key of a blob."""
        return self.prefix + check_blob_id(blob_id)

    @contextmanager
    def write(self, blob_id: str) -> Iterator[BinaryIO]:
        """Give a writer that sends each full part as it fills; complete the upload on success, abort on error."""
        key = self.key(blob_id)
        if self.exists(blob_id):
            raise FileExistsError("a blob with this id already exists")
        writer = _MultipartWriter(self, key)
        try:
            yield writer  # type: ignore[misc]
            writer.complete()
        except BaseException:
            writer.abort()
            raise

    def open(self, blob_id: str) -> io.BufferedIOBase:
        """Start reading the object; its body streams as it is read."""
        key = self.key(blob_id)
        with _errors(f"read blob {blob_id}"):
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        return io.BufferedReader(_ObjectReader(response["Body"], blob_id), 256 * 1024)

    def delete(self, blob_id: str) -> None:
        """Remove the object (deleting an absent one is not an error in S3)."""
        key = self.key(blob_id)
        with _errors(f"delete blob {blob_id}"):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def exists(self, blob_id: str) -> bool:
        """True if the object is present."""
        try:
            self.size(blob_id)
        except FileNotFoundError:
            return False
        return True

    def size(self, blob_id: str) -> int:
        """The object's size."""
        key = self.key(blob_id)
        with _errors(f"look up blob {blob_id}"):
            return int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])

    def _objects(self) -> Iterator[tuple[str, datetime]]:
        """(blob id, last modified) of every object under the prefix named like a blob."""
        with _errors("list the blobs"):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    name = item["Key"][len(self.prefix):]
                    if _BLOB_ID.match(name):
                        yield name, item["LastModified"]

    def ids(self) -> Iterator[str]:
        """Every complete blob's id (unfinished multipart uploads are not objects yet)."""
        for name, _ in self._objects():
            yield name

    def remove_orphans(self, known_ids: set[str], grace_seconds: float = 0.0) -> list[str]:
        """Delete objects no row names and abort unfinished uploads, older than grace_seconds by the server's
        clock; return the blob ids removed (an aborted upload as `ID (unfinished upload)`)."""
        cutoff = self._server_now() - timedelta(seconds=grace_seconds)
        removed: list[str] = []
        doomed = [name for name, modified in self._objects() if name not in known_ids and modified <= cutoff]
        for start in range(0, len(doomed), 1000):  # DeleteObjects takes at most 1,000 keys
            batch = doomed[start:start + 1000]
            with _errors("delete orphan blobs"):
                result = self.client.delete_objects(Bucket=self.bucket, Delete={
                    "Objects": [{"Key": self.prefix + name} for name in batch], "Quiet": True})
            failed = {e["Key"][len(self.prefix):] for e in result.get("Errors", [])}
            removed.extend(name for name in batch if name not in failed)
        with _errors("list unfinished uploads"):
            for page in self.client.get_paginator("list_multipart_uploads").paginate(
                    Bucket=self.bucket, Prefix=self.prefix):
                for upload in page.get("Uploads", []):
                    if self._last_activity(upload) <= cutoff:
                        self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                           UploadId=upload["UploadId"])
                        removed.append(f"{upload['Key'][len(self.prefix):]} (unfinished upload)")
        return sorted(removed)

    def _last_activity(self, upload: dict[str, Any]) -> datetime:
        """When an unfinished upload last received a part (a slow upload of a large file started long ago is still
        alive), or when it started if it has none."""
        latest: datetime = upload["Initiated"]
        for page in self.client.get_paginator("list_parts").paginate(Bucket=self.bucket, Key=upload["Key"],
                                                                      UploadId=upload["UploadId"]):
            for part in page.get("Parts", []):
                latest = max(latest, part["LastModified"])
        return latest

    def _server_now(self) -> datetime:
        """The current time by the server that stamps the objects (its Date header), else this host's clock."""
        with _errors("reach the bucket"):
            response = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
        date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        try:
            return parsedate_to_datetime(date).astimezone(UTC) if date else datetime.now(UTC)
        except (TypeError, ValueError):
            return datetime.now(UTC)

    def problem(self) -> str | None:
        """Why the bucket cannot be used (unreachable, missing, access denied), or None."""
        try:
            self._server_now()
        except StoreError as exc:
            return f"{self.describe()} cannot be reached: {exc}"
        return None


class _MultipartWriter:
    """A write-only file that sends the ciphertext to S3 one part at a time: memory holds one part at most.

    A blob smaller than one part is sent with a single PutObject when it is complete; anything larger starts a
    multipart upload with its first full part and is completed (or aborted) by S3BlobStore.write.
    """

    def __init__(self, store: S3BlobStore, key: str) -> None:
        self._store, self._key = store, key
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.written = 0

    def write(self, data: bytes) -> int:
        """Add ciphertext; send a part whenever a whole one is held."""
        view, size = memoryview(data), self._store.part_bytes
        while view:
            room = size - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            if len(self._buffer) == size:  # a whole part: send this buffer itself and start a new one
                part, self._buffer = self._buffer, bytearray()
                self._send_part(part)
        self.written += len(data)
        return len(data)

    def flush(self) -> None:
        """Nothing to do: parts are sent as they fill, the rest when the blob is complete."""

    def _send_part(self, part: bytes | bytearray) -> None:
        client, bucket = self._store.client, self._store.bucket
        with _errors("upload a blob"):
            if self._upload_id is None:
                self._upload_id = client.create_multipart_upload(Bucket=bucket, Key=self._key)["UploadId"]
            number = len(self._parts) + 1
            response = client.upload_part(Bucket=bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number,
                                          Body=part, ContentMD5=_md5(part))
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})

    def complete(self) -> None:
        """Send what is left and make the blob appear; check the stored size is what was written."""
        client, bucket = self._store.client, self._store.bucket
        rest, self._buffer = self._buffer, bytearray()
        if self._upload_id is None:
            with _errors("upload a blob"):
                client.put_object(Bucket=bucket, Key=self._key, Body=rest, ContentMD5=_md5(rest))
        else:
            if rest:
                self._send_part(rest)
            with _errors("complete a blob's upload"):
                client.complete_multipart_upload(Bucket=bucket, Key=self._key, UploadId=self._upload_id,
                                                 MultipartUpload={"Parts": self._parts})
            self._upload_id = None
        stored = self._store.size(self._key[len(self._store.prefix):])
        if stored != self.written:
            self._store.delete(self._key[len(self._store.prefix):])
            raise StoreError(f"the store holds {stored} bytes of a blob of {self.written}: it was removed")

    def abort(self) -> None:
        """Forget what was sent (an abort that fails leaves an unfinished upload for `storage gc`)."""
        self._buffer = bytearray()
        if self._upload_id is not None:
            # The original error is the one to report; an abort that fails is left to `storage gc`.
            with suppress(Exception):
                self._store.client.abort_multipart_upload(Bucket=self._store.bucket, Key=self._key,
                                                          UploadId=self._upload_id)


class _ObjectReader(io.RawIOBase):
    """An object's body as a raw binary file; a broken connection or short body raises StoreError (an OSError)."""

    def __init__(self, body: Any, blob_id: str) -> None:
        super().__init__()
        self._body, self._blob_id = body, blob_id

    def readable(self) -> bool:
        """Yes."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Read up to len(buffer) bytes of the body."""
        with _errors(f"read blob {self._blob_id}"):
            data = self._body.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        """Release the connection."""
        if not self.closed:
            self._body.close()
        super().close()


def _md5(data: bytes | bytearray) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


@contextmanager
def _errors(doing: str) -> Iterator[None]:
    """Turn the client's errors into OSErrors: FileNotFoundError for a missing object, StoreError otherwise."""
    from botocore.exceptions import BotoCoreError, ClientError
    from urllib3.exceptions import HTTPError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("NoSuchKey", "404", "NotFound") or (status == 404 and code != "NoSuchBucket"):
            raise FileNotFoundError(f"cannot {doing}: no such blob") from exc
        raise StoreError(f"cannot {doing}: {code or status} {error.get('Message', '')}".rstrip()) from exc
    except (BotoCoreError, HTTPError) as exc:
        raise StoreError(f"cannot {doing}: {type(exc).__name__}: {exc}") from exc


# Choosing the store ----------------------------------------------------------------------------------------


def store_for(config: Any) -> BlobStore:
    """The store the configuration names (BLOB_STORE)."""
    backend = str(config.get("BLOB_STORE") or "local")
    if backend == "local":
        return LocalBlobStore(Path(config["BLOB_DIR"]))
    if backend == "s3":
        options = {"endpoint_url": config.get("S3_ENDPOINT_URL"), "region_name": config.get("S3_REGION"),
                   "aws_access_key_id": config.get("S3_ACCESS_KEY_ID"),
                   "aws_secret_access_key": config.get("S3_SECRET_ACCESS_KEY")}
        return S3BlobStore(str(config.get("S3_BUCKET") or ""), str(config.get("S3_PREFIX") or ""),
                           int(config.get("S3_PART_BYTES") or 8 * 1024 * 1024), options,
                           str(config.get("S3_ADDRESSING_STYLE") or "auto"))
    raise ValueError(f"BLOB_STORE must be one of {', '.join(BACKENDS)}, not {backend!r}")


_SETTINGS = ("BLOB_STORE", "BLOB_DIR", "S3_BUCKET", "S3_PREFIX", "S3_ENDPOINT_URL", "S3_REGION", "S3_ACCESS_KEY_ID",
             "S3_SECRET_ACCESS_KEY", "S3_PART_BYTES", "S3_ADDRESSING_STYLE")


def app_store(app: Flask) -> BlobStore:
    """The app's blob store, made again when its settings change (as tests do)."""
    settings = tuple(str(app.config.get(name)) for name in _SETTINGS)
    cached = app.extensions.get("blob_store")
    if cached is None or cached[0] != settings:
        cached = app.extensions["blob_store"] = (settings, store_for(app.config))
    return cached[1]


def current_store() -> BlobStore:
    """The blob store of the running app."""
    return app_store(current_app)
