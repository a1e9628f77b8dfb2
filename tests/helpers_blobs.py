"""What a blob store holds, looked at (and tampered with) from outside the portal: files in the blob folder, or
objects and unfinished multipart uploads in the S3 bucket, read with a plain client."""

from pathlib import Path
from typing import Any

from flask import Flask

from portal.documents.storage import LocalBlobStore, S3BlobStore, app_store


def _s3(app: Flask) -> tuple[Any, str, str]:
    store = app_store(app)
    assert isinstance(store, S3BlobStore)
    return store.client, store.bucket, store.prefix


def is_s3(app: Flask) -> bool:
    """True when the app keeps its blobs in a bucket."""
    return app.config.get("BLOB_STORE") == "s3"


def entries(app: Flask) -> list[str]:
    """Everything in the store: blob names, temporary files, and unfinished uploads as `ID (unfinished upload)`."""
    store = app_store(app)
    if isinstance(store, LocalBlobStore):
        return sorted(p.name for p in store.root.iterdir())
    client, bucket, prefix = _s3(app)
    found = [item["Key"][len(prefix):] for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix) for item in page.get("Contents", [])]
    found += [f"{u['Key'][len(prefix):]} (unfinished upload)" for page in client.get_paginator(
        "list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix) for u in page.get("Uploads", [])]
    return sorted(found)


def read_raw(app: Flask, blob_id: str) -> bytes:
    """A blob's bytes as stored (ciphertext)."""
    with app_store(app).open(blob_id) as handle:
        return handle.read()


def write_raw(app: Flask, blob_id: str, data: bytes) -> None:
    """Put bytes under a blob's name, replacing whatever is there (as an attacker with the store would)."""
    store = app_store(app)
    if isinstance(store, LocalBlobStore):
        path = store.path(blob_id)
        if path.exists():
            path.chmod(0o600)
        path.write_bytes(data)
        return
    client, bucket, prefix = _s3(app)
    client.put_object(Bucket=bucket, Key=prefix + blob_id, Body=data)


def remove_raw(app: Flask, blob_id: str) -> None:
    """Remove a blob behind the portal's back."""
    app_store(app).delete(blob_id)


def flip_byte(app: Flask, blob_id: str, position: int) -> None:
    """Flip one byte of a stored blob."""
    data = bytearray(read_raw(app, blob_id))
    data[position] ^= 0x01
    write_raw(app, blob_id, bytes(data))


def leave_unfinished(app: Flask, blob_id: str, data: bytes) -> None:
    """What a process killed mid-upload leaves: a temporary file, or a multipart upload never completed."""
    store = app_store(app)
    if isinstance(store, LocalBlobStore):
        (store.root / f".tmp-{blob_id}-dead").write_bytes(data)
        return
    client, bucket, prefix = _s3(app)
    upload = client.create_multipart_upload(Bucket=bucket, Key=prefix + blob_id)
    client.upload_part(Bucket=bucket, Key=prefix + blob_id, UploadId=upload["UploadId"], PartNumber=1, Body=data)


class BucketObject:
    """A blob in a bucket, with the few Path methods the tests use on a blob file."""

    def __init__(self, app: Flask, blob_id: str) -> None:
        self.app, self.name = app, blob_id

    def read_bytes(self) -> bytes:
        """The stored bytes."""
        return read_raw(self.app, self.name)

    def write_bytes(self, data: bytes) -> int:
        """Replace the stored bytes."""
        write_raw(self.app, self.name, data)
        return len(data)

    def unlink(self, missing_ok: bool = False) -> None:
        """Remove the object."""
        remove_raw(self.app, self.name)

    def exists(self) -> bool:
        """True while the object is there."""
        return app_store(self.app).exists(self.name)


def blob_file(app: Flask, blob_id: str) -> Path | BucketObject:
    """A blob's file in the folder, or its object in the bucket (read_bytes, write_bytes, unlink, exists)."""
    store = app_store(app)
    return store.path(blob_id) if isinstance(store, LocalBlobStore) else BucketObject(app, blob_id)


def blob_states(app: Flask) -> dict[str, tuple[object, bytes]]:
    """Every complete blob's (when it was last written, bytes) by name."""
    store = app_store(app)
    if isinstance(store, LocalBlobStore):
        return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in store.root.iterdir() if p.is_file()}
    client, bucket, prefix = _s3(app)
    return {item["Key"][len(prefix):]: ((item["LastModified"], item["ETag"]), read_raw(app, item["Key"][len(prefix):]))
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])}


def blob_root(app: Flask) -> Path | None:
    """The blob folder of a local store (None for a bucket)."""
    store = app_store(app)
    return store.root if isinstance(store, LocalBlobStore) else None
