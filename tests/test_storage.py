"""The blob store: atomic writes, private files, orphans removed."""

import os
import stat
from pathlib import Path

import pytest

from portal.documents.storage import BlobStore


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    """An empty store."""
    return BlobStore(tmp_path / "blobs")


def test_write_renames_into_place_with_private_mode(store: BlobStore) -> None:
    blob_id = store.new_blob_id()
    assert len(blob_id) == 32 and blob_id != store.new_blob_id()
    with store.write(blob_id) as handle:
        handle.write(b"ciphertext")
        assert not store.exists(blob_id)
        assert next(p.name for p in store.root.iterdir()).startswith(".tmp-")
    assert store.exists(blob_id) and store.size(blob_id) == 10
    assert stat.S_IMODE(os.stat(store.path(blob_id)).st_mode) == 0o600
    with store.open(blob_id) as handle:
        assert handle.read() == b"ciphertext"
    assert list(store.ids()) == [blob_id]
    assert sorted(p.name for p in store.root.iterdir()) == [blob_id]


def test_failed_write_leaves_nothing(store: BlobStore) -> None:
    blob_id = store.new_blob_id()
    with pytest.raises(RuntimeError), store.write(blob_id) as handle:
        handle.write(b"partial")
        raise RuntimeError("upload refused")
    assert list(store.root.iterdir()) == []


def test_existing_blob_is_never_overwritten(store: BlobStore) -> None:
    blob_id = store.new_blob_id()
    with store.write(blob_id) as handle:
        handle.write(b"one")
    with pytest.raises(FileExistsError), store.write(blob_id) as handle:
        handle.write(b"two")
    with store.open(blob_id) as handle:
        assert handle.read() == b"one"


@pytest.mark.parametrize("bad", ["../etc/passwd", "ABC", "", "a" * 31, ".tmp-" + "a" * 32])
def test_ids_that_are_not_blob_ids_are_refused(store: BlobStore, bad: str) -> None:
    with pytest.raises(ValueError):
        store.path(bad)


def test_remove_orphans(store: BlobStore) -> None:
    kept, orphan = store.new_blob_id(), store.new_blob_id()
    for blob_id in (kept, orphan):
        with store.write(blob_id) as handle:
            handle.write(b"x")
    (store.root / f".tmp-{store.new_blob_id()}-dead").write_bytes(b"killed mid-upload")
    assert store.remove_orphans({kept}, grace_seconds=3600) == []
    removed = store.remove_orphans({kept})
    assert len(removed) == 2 and orphan in removed
    assert list(store.ids()) == [kept]
    store.delete(kept)
    assert not store.exists(kept)
    store.delete(kept)  # deleting twice is harmless
