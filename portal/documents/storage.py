"""The blob store: encrypted blobs as files named by random ids under BLOB_DIR (mode 0600).

Blobs are written to a temporary name, flushed to disk and renamed into place, so a blob is either
complete or absent; the database row that names it is committed only after the rename. A crash between
the two leaves an orphan (a blob or temporary file no row names), which remove_orphans() deletes.
"""

import io
import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from flask import Flask, current_app

_BLOB_ID = re.compile(r"^[0-9a-f]{32}$")
_TEMP_PREFIX = ".tmp-"


class BlobStore:
    """Files under one directory, each named by an opaque random id."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    @classmethod
    def from_app(cls, app: Flask) -> "BlobStore":
        """Return the store in the app's BLOB_DIR."""
        return cls(Path(app.config["BLOB_DIR"]))

    @staticmethod
    def new_blob_id() -> str:
        """Return a new random blob id (128 bits, hex) that reveals nothing about the document."""
        return secrets.token_hex(16)

    def path(self, blob_id: str) -> Path:
        """Return the file of a blob, refusing anything that is not a blob id (no path tricks)."""
        if not _BLOB_ID.match(blob_id):
            raise ValueError("not a blob id")
        return self.root / blob_id

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
        """Delete temporary files and blobs no row names; return the file names removed.

        grace_seconds spares files modified more recently than that, so a collection run while
        uploads are under way does not remove a blob whose row is about to be committed.
        """
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


def current_store() -> BlobStore:
    """The blob store of the running app."""
    store = current_app.extensions.get("blob_store")
    if store is None or store.root != Path(current_app.config["BLOB_DIR"]):
        store = current_app.extensions["blob_store"] = BlobStore.from_app(current_app)
    return store
