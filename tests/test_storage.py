"""The blob store, local folder and S3 bucket alike: all-or-nothing writes, no overwrites, orphans removed."""

import hashlib
import os
import stat
import threading
import tracemalloc
from pathlib import Path

import pytest
from conftest import S3Bucket

from portal.documents.storage import BlobStore, LocalBlobStore, S3BlobStore, StoreError, store_for

pytestmark = pytest.mark.both_blob_stores


@pytest.fixture
def store(tmp_path: Path, blob_backend: str, request: pytest.FixtureRequest) -> BlobStore:
    """An empty store of each kind."""
    if blob_backend == "s3":
        return store_for(request.getfixturevalue("s3_bucket").config)
    return LocalBlobStore(tmp_path / "blobs")


def _everything(store: BlobStore) -> list[str]:
    """Every entry: files of the folder, or objects and unfinished uploads of the bucket."""
    if isinstance(store, LocalBlobStore):
        return sorted(p.name for p in store.root.iterdir())
    assert isinstance(store, S3BlobStore)
    objects = store.client.list_objects_v2(Bucket=store.bucket).get("Contents", [])
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    return sorted([o["Key"] for o in objects] + [f"upload:{u['Key']}" for u in uploads])


def test_a_blob_appears_only_when_complete(store: BlobStore) -> None:
    blob_id = store.new_blob_id()
    assert len(blob_id) == 32 and blob_id != store.new_blob_id()
    with store.write(blob_id) as handle:
        handle.write(b"cipher")
        handle.write(b"text")
        assert not store.exists(blob_id)
        assert list(store.ids()) == []
    assert store.exists(blob_id) and store.size(blob_id) == 10
    with store.open(blob_id) as handle:
        assert handle.read() == b"ciphertext"
    assert list(store.ids()) == [blob_id]
    if isinstance(store, LocalBlobStore):
        assert stat.S_IMODE(os.stat(store.path(blob_id)).st_mode) == 0o600
        assert sorted(p.name for p in store.root.iterdir()) == [blob_id]
    else:
        assert _everything(store) == [f"blobs/{blob_id}"]


def test_failed_write_leaves_nothing(store: BlobStore) -> None:
    blob_id = store.new_blob_id()
    with pytest.raises(RuntimeError), store.write(blob_id) as handle:
        handle.write(b"partial" * 1024 * 1024)  # over one S3 part: an upload was started, and is aborted
        raise RuntimeError("upload refused")
    assert _everything(store) == []
    assert not store.exists(blob_id)


def test_existing_blob_is_never_overwritten(store: BlobStore) -> None:
    blob_id = store.new_blob_id()
    with store.write(blob_id) as handle:
        handle.write(b"one")
    with pytest.raises(FileExistsError), store.write(blob_id) as handle:
        handle.write(b"two")
    with store.open(blob_id) as handle:
        assert handle.read() == b"one"


@pytest.mark.parametrize("bad", ["../etc/passwd", "ABC", "", "a" * 31, ".tmp-" + "a" * 32, "a" * 32 + "/x"])
def test_ids_that_are_not_blob_ids_are_refused(store: BlobStore, bad: str) -> None:
    for use in (store.open, store.delete, store.exists, store.size):
        with pytest.raises(ValueError):
            use(bad)
    with pytest.raises(ValueError), store.write(bad):
        pass


def test_a_missing_blob_is_file_not_found(store: BlobStore) -> None:
    blob_id = store.new_blob_id()
    with pytest.raises(FileNotFoundError):
        store.open(blob_id)
    with pytest.raises(FileNotFoundError):
        store.size(blob_id)
    assert not store.exists(blob_id)


def test_remove_orphans(store: BlobStore) -> None:
    kept, orphan, unfinished = store.new_blob_id(), store.new_blob_id(), store.new_blob_id()
    for blob_id in (kept, orphan):
        with store.write(blob_id) as handle:
            handle.write(b"x")
    if isinstance(store, LocalBlobStore):
        (store.root / f".tmp-{unfinished}-dead").write_bytes(b"killed mid-upload")
    else:  # a process killed mid-upload leaves a multipart upload that is never completed nor aborted
        assert isinstance(store, S3BlobStore)
        upload = store.client.create_multipart_upload(Bucket=store.bucket, Key=store.key(unfinished))
        store.client.upload_part(Bucket=store.bucket, Key=store.key(unfinished), UploadId=upload["UploadId"],
                                 PartNumber=1, Body=b"killed mid-upload")
    assert len(_everything(store)) == 3
    assert store.remove_orphans({kept}, grace_seconds=3600) == []
    removed = store.remove_orphans({kept})
    assert len(removed) == 2 and orphan in removed
    assert list(store.ids()) == [kept]
    assert len(_everything(store)) == 1
    store.delete(kept)
    assert not store.exists(kept)
    store.delete(kept)  # deleting twice is harmless
    assert _everything(store) == []


def test_a_large_blob_streams_in_parts_with_constant_memory(store: BlobStore) -> None:
    """40 MB in and out, in 256 KB writes and reads: memory stays at about one S3 part (5 MB in the tests)."""
    blob_id, piece, pieces = store.new_blob_id(), os.urandom(256 * 1024), 160
    assert not store.exists(blob_id)  # (the S3 client, made once per process, is not counted)
    tracemalloc.start()
    try:
        with store.write(blob_id) as handle:
            for _ in range(pieces):
                handle.write(piece)
        with store.open(blob_id) as handle:
            buffer, total, digest = bytearray(256 * 1024), 0, hashlib.sha256()
            while length := handle.readinto(buffer):
                digest.update(memoryview(buffer)[:length])
                total += length
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == store.size(blob_id) == len(piece) * pieces
    assert digest.digest() == hashlib.sha256(piece * pieces).digest()
    assert peak < 12 * 1024 * 1024, f"peak {peak} bytes"  # about one part, never the 40 MB
    if isinstance(store, S3BlobStore):
        head = store.client.head_object(Bucket=store.bucket, Key=store.key(blob_id))
        assert head["ETag"].endswith('-8"')  # 40 MB in 5 MB parts: a multipart upload of 8 parts


def test_an_unreachable_bucket_says_why(s3_bucket: S3Bucket) -> None:
    good = store_for(s3_bucket.config)
    assert good.problem() is None
    missing = store_for({**s3_bucket.config, "S3_BUCKET": "no-such-bucket-here"})
    assert "no-such-bucket-here" in (missing.problem() or "")
    closed = store_for({**s3_bucket.config, "S3_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert "cannot be reached" in (closed.problem() or "")
    with pytest.raises(StoreError):
        list(missing.ids())


def test_a_store_used_from_threads_and_a_forked_child(store: BlobStore) -> None:
    """One store serves a server's threads, and a forked worker makes its own client rather than share one."""
    ids = [store.new_blob_id() for _ in range(8)]

    def put(blob_id: str) -> None:
        with store.write(blob_id) as handle:
            handle.write(blob_id.encode())

    threads = [threading.Thread(target=put, args=(blob_id,)) for blob_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(store.ids()) == sorted(ids)
    pid = os.fork()
    if pid == 0:  # the child reads every blob through the store it inherited
        ok = all(store.open(blob_id).read() == blob_id.encode() for blob_id in ids)
        os._exit(0 if ok else 1)
    assert os.waitpid(pid, 0)[1] == 0
