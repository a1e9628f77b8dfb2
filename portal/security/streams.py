"""Streaming encryption of document blobs with Cobblestone-256 (DESIGN section 5).

Cobblestone-256 is chunked AES-256-GCM with key commitment and truncation protection. Measured behaviour
of `cryptography` 50 that this module relies on (pinned by tests/test_streams.py):
- the ciphertext is a 56-byte header (with a random nonce, so encryption is not deterministic), then
  chunks of 16,384 plaintext bytes, each followed by a 16-byte tag; the last chunk is marked as last
  and is never full (it may be empty);
- the decryptor's update() returns only whole chunks whose tag has been verified (it holds back the last
  chunk until finalize), and finalize() raises InvalidTag when the stream was truncated, extended or
  altered; a wrong key, context, header or chunk order raises InvalidTag at the first chunk.
"""

import secrets
from collections.abc import Iterable, Iterator

import blake3
from cryptography.cobblestone import Cobblestone256Decryptor, Cobblestone256Encryptor
from cryptography.exceptions import AlreadyFinalized, InvalidTag

from portal.security.crypto import KEY_BYTES, DecryptionError

HEADER_BYTES = 56
CHUNK_BYTES = 16_384
TAG_BYTES = 16
_CONTEXT_PREFIX = b"portal document blob v1"
_PANEL_COPY_PREFIX = b"portal document panel copy v1"


def content_digest() -> "blake3.blake3":
    """A new hash of a document's plaintext (BLAKE3-256); `keys verify` compares each blob against it.

    BLAKE3 runs at several GB/s where SHA-256 (without CPU extensions) manages a few hundred MB/s, so
    hashing does not set the speed of uploads.
    """
    return blake3.blake3()


def new_data_key() -> bytes:
    """Return a fresh random 32-byte data key for one document version."""
    return secrets.token_bytes(KEY_BYTES)


def blob_context(document_id: int, version_id: int, blob_id: str) -> bytes:
    """Return the context that binds a blob to its document, version and blob ids."""
    return b"|".join((_CONTEXT_PREFIX, str(int(document_id)).encode(), str(int(version_id)).encode(),
                      blob_id.encode("ascii")))


def panel_copy_context(document_id: int, version_id: int, blob_id: str) -> bytes:
    """Return the context that binds a version's panel copy to its document, version and blob ids.

    Its own prefix means a version's original blob never decrypts as its panel copy (nor the reverse), even if
    the rows' blob ids and keys were swapped.
    """
    return b"|".join((_PANEL_COPY_PREFIX, str(int(document_id)).encode(), str(int(version_id)).encode(),
                      blob_id.encode("ascii")))


def encrypted_size(plaintext_size: int) -> int:
    """Return the size of the ciphertext for a plaintext of this many bytes."""
    chunks = plaintext_size // CHUNK_BYTES + 1  # the last chunk is never full: it may be empty
    return HEADER_BYTES + plaintext_size + chunks * TAG_BYTES


class BlobEncryptor:
    """Encrypt one blob incrementally: feed plaintext to update(), then write what finalize() returns."""

    def __init__(self, data_key: bytes, context: bytes) -> None:
        self._encryptor = Cobblestone256Encryptor(data_key, context)

    def update(self, chunk: bytes | memoryview) -> bytes:
        """Return the ciphertext ready so far (it may be empty)."""
        return self._encryptor.update(chunk)

    def finalize(self) -> bytes:
        """Return the last chunk and its tag; the blob is complete only with these bytes."""
        return self._encryptor.finalize()


def decrypt_chunks(data_key: bytes, context: bytes, chunks: Iterable[bytes | memoryview]) -> Iterator[bytes]:
    """Yield authenticated plaintext only; raise DecryptionError on tampering, truncation or a swap."""
    try:
        decryptor = Cobblestone256Decryptor(data_key, context)
    except ValueError as exc:
        raise DecryptionError("the data key is not valid") from exc
    try:
        for chunk in chunks:
            plaintext = decryptor.update(chunk)
            if plaintext:
                yield plaintext
        tail = decryptor.finalize()
    except (InvalidTag, AlreadyFinalized) as exc:
        raise DecryptionError("the blob failed authentication") from exc
    if tail:
        yield tail
