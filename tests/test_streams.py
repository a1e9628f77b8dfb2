"""Cobblestone-256 blob encryption: known answer, format, every kind of tampering refused; download read-ahead."""

import hashlib
import threading
import time
from collections.abc import Iterator

import pytest

from portal.documents.readahead import read_ahead
from portal.security import streams
from portal.security.crypto import DecryptionError

KAT_KEY = bytes(range(32))
KAT_CONTEXT = streams.blob_context(7, 11, "00112233445566778899aabbccddeeff")
KAT_PLAINTEXT = b"Known answer: the moderation portal pins Cobblestone-256.\n"
# Made once with cryptography 50.0.2. The header holds a random nonce, so a fresh encryption never
# repeats these bytes: the known answer is that this pinned ciphertext still decrypts to the plaintext.
KAT_CIPHERTEXT = bytes.fromhex(
    "ef02ae90c3db08aeb859aa03c22587ba1759ecf2cb5952f0dea3bb131a1c2073fc0c806d8b75ba1328f3812f0ab3e3eb3d07"
    "d2dfb87cb241448373c7f77fa99b7939a68b652db90d75d464ad204dcd5c43732149213c8ae38e85ae863bce339f5bf2d843"
    "1a80a8ad90980c4d3bd429d4a5ccb22c59db282ed7e3039c2152f9695185"
)
KAT_SHA256 = "2cb28d11fd4d9f689a24876c6fca65f4f1fda75db00d55ccf40b6249e00a14ca"
STEP = streams.CHUNK_BYTES + streams.TAG_BYTES


def encrypt(key: bytes, context: bytes, plaintext: bytes) -> bytes:
    """Encrypt in uneven pieces, as an upload arrives."""
    encryptor = streams.BlobEncryptor(key, context)
    pieces = [encryptor.update(plaintext[i : i + 5000]) for i in range(0, len(plaintext), 5000)]
    return b"".join(pieces) + encryptor.finalize()


def pieces(data: bytes, size: int = 7000) -> Iterator[bytes]:
    """Feed ciphertext in pieces that do not line up with its chunks."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


def decrypt(key: bytes, context: bytes, ciphertext: bytes) -> bytes:
    """Decrypt all of it."""
    return b"".join(streams.decrypt_chunks(key, context, pieces(ciphertext)))


def test_known_answer() -> None:
    assert hashlib.sha256(KAT_CIPHERTEXT).hexdigest() == KAT_SHA256
    assert KAT_CONTEXT == b"portal document blob v1|7|11|00112233445566778899aabbccddeeff"
    assert decrypt(KAT_KEY, KAT_CONTEXT, KAT_CIPHERTEXT) == KAT_PLAINTEXT
    assert len(KAT_CIPHERTEXT) == streams.encrypted_size(len(KAT_PLAINTEXT))


def test_format_sizes_and_randomised_header() -> None:
    key = streams.new_data_key()
    assert len(key) == 32 and key != streams.new_data_key()
    for size in (0, 1, streams.CHUNK_BYTES - 1, streams.CHUNK_BYTES, 3 * streams.CHUNK_BYTES + 5):
        plaintext = bytes(i % 251 for i in range(size))
        ciphertext = encrypt(key, b"ctx", plaintext)
        assert len(ciphertext) == streams.encrypted_size(size)
        assert decrypt(key, b"ctx", ciphertext) == plaintext
    assert encrypt(key, b"ctx", b"same") != encrypt(key, b"ctx", b"same")


def test_update_releases_only_whole_verified_chunks() -> None:
    key = streams.new_data_key()
    plaintext = b"a" * (3 * streams.CHUNK_BYTES + 10)
    ciphertext = encrypt(key, b"ctx", plaintext)
    sizes = [len(p) for p in streams.decrypt_chunks(key, b"ctx", pieces(ciphertext, 1000))]
    assert all(size % streams.CHUNK_BYTES == 0 for size in sizes[:-1])
    assert sum(sizes) == len(plaintext)


def _released_before_failure(key: bytes, context: bytes, ciphertext: bytes) -> bytes:
    received = bytearray()
    with pytest.raises(DecryptionError):
        for plaintext in streams.decrypt_chunks(key, context, pieces(ciphertext)):
            received += plaintext
    return bytes(received)


@pytest.fixture
def sample() -> tuple[bytes, bytes, bytes]:
    """A key, a four-chunk plaintext with a distinct byte per chunk, and its ciphertext."""
    key = streams.new_data_key()
    plaintext = b"".join(bytes([65 + n]) * streams.CHUNK_BYTES for n in range(3)) + b"Z" * 100
    return key, plaintext, encrypt(key, streams.blob_context(1, 1, "a" * 32), plaintext)


def test_flipped_byte_in_last_chunk_releases_nothing_of_it(sample: tuple[bytes, bytes, bytes]) -> None:
    key, plaintext, ciphertext = sample
    tampered = bytearray(ciphertext)
    tampered[-20] ^= 1
    received = _released_before_failure(key, streams.blob_context(1, 1, "a" * 32), bytes(tampered))
    assert b"Z" not in received and plaintext.startswith(received)


def test_flipped_byte_in_first_chunk_releases_nothing(sample: tuple[bytes, bytes, bytes]) -> None:
    key, _, ciphertext = sample
    tampered = bytearray(ciphertext)
    tampered[streams.HEADER_BYTES + 3] ^= 0x80
    assert _released_before_failure(key, streams.blob_context(1, 1, "a" * 32), bytes(tampered)) == b""


@pytest.mark.parametrize("cut", [1, streams.TAG_BYTES, 100 + streams.TAG_BYTES, 200])
def test_truncation_is_refused(sample: tuple[bytes, bytes, bytes], cut: int) -> None:
    key, _, ciphertext = sample
    _released_before_failure(key, streams.blob_context(1, 1, "a" * 32), ciphertext[:-cut])


def test_truncation_at_a_chunk_boundary_is_refused(sample: tuple[bytes, bytes, bytes]) -> None:
    key, _, ciphertext = sample
    boundary = streams.HEADER_BYTES + 2 * STEP
    _released_before_failure(key, streams.blob_context(1, 1, "a" * 32), ciphertext[:boundary])


def test_reordered_chunks_are_refused(sample: tuple[bytes, bytes, bytes]) -> None:
    key, _, ciphertext = sample
    head, first, second = ciphertext[: streams.HEADER_BYTES], ciphertext[56 : 56 + STEP], ciphertext[56 + STEP :]
    swapped = head + second[:STEP] + first + second[STEP:]
    assert _released_before_failure(key, streams.blob_context(1, 1, "a" * 32), swapped) == b""


@pytest.mark.parametrize("context", [streams.blob_context(2, 1, "a" * 32), streams.blob_context(1, 2, "a" * 32),
                                     streams.blob_context(1, 1, "b" * 32)])
def test_blob_bound_to_document_version_and_blob_id(sample: tuple[bytes, bytes, bytes], context: bytes) -> None:
    key, _, ciphertext = sample
    assert _released_before_failure(key, context, ciphertext) == b""


def test_wrong_key_and_appended_bytes_are_refused(sample: tuple[bytes, bytes, bytes]) -> None:
    key, _, ciphertext = sample
    context = streams.blob_context(1, 1, "a" * 32)
    assert _released_before_failure(streams.new_data_key(), context, ciphertext) == b""
    _released_before_failure(key, context, ciphertext + b"\x00")
    _released_before_failure(key, context, b"")
    with pytest.raises(DecryptionError):
        list(streams.decrypt_chunks(b"short", context, [ciphertext]))


# Read-ahead of downloads ---------------------------------------------------------------------------------------


def _counted(produced: list[int], closed: list[bool], count: int, fail_after: int | None = None):
    try:
        for number in range(count):
            if fail_after is not None and number == fail_after:
                raise DecryptionError("the blob failed authentication")
            produced.append(number)
            yield number
    finally:
        closed.append(True)


def _read_ahead_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "download-read-ahead")


def test_read_ahead_yields_everything_in_order_from_another_thread() -> None:
    produced: list[int] = []
    closed: list[bool] = []
    reader = read_ahead(_counted(produced, closed, 50), depth=2)
    assert next(reader) == 0
    deadline = time.monotonic() + 5
    while len(produced) < 3 and time.monotonic() < deadline:  # the producer runs ahead of the reader
        time.sleep(0.01)
    assert len(produced) >= 3
    assert [0, *reader] == list(range(50)) and closed == [True]
    assert _read_ahead_threads() == 0


def test_read_ahead_raises_the_sources_error_after_the_pieces_before_it() -> None:
    produced: list[int] = []
    closed: list[bool] = []
    reader = read_ahead(_counted(produced, closed, 50, fail_after=7), depth=3)
    received = []
    with pytest.raises(DecryptionError):
        for number in reader:
            received.append(number)
    assert received == list(range(7)) and closed == [True]
    assert _read_ahead_threads() == 0


def test_closing_the_reader_stops_the_producer_and_closes_the_source() -> None:
    produced: list[int] = []
    closed: list[bool] = []
    reader = read_ahead(_counted(produced, closed, 100_000), depth=2)
    assert next(reader) == 0 and next(reader) == 1
    deadline = time.monotonic() + 5
    while len(produced) < 5 and time.monotonic() < deadline:  # two taken, two queued, one waiting to be
        time.sleep(0.01)
    time.sleep(0.05)  # let the producer settle into waiting on the full queue
    started = time.monotonic()
    reader.close()  # a client that went away
    assert time.monotonic() - started < 0.3  # no wait for the producer's put to time out
    assert closed == [True] and len(produced) < 100
    assert _read_ahead_threads() == 0
