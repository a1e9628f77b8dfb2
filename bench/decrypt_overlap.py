"""Decrypt-and-send in turn against decrypt-ahead (the download's read-ahead), in-process over a socket pair.

    .venv/bin/python bench/decrypt_overlap.py [--megabytes 512] [--rounds 3]

Encrypts random bytes into a temporary blob, then sends its plaintext through a socket pair to a reader
thread, first decrypting each piece just before sending it, then through portal.documents.readahead, which
decrypts the next pieces on a second thread while the current one is sent. Prints MB/s for each.
"""

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Generator, Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal.documents.readahead import read_ahead
from portal.security import streams

PIECE = 256 * 1024


def plaintext_pieces(path: Path, key: bytes, context: bytes) -> Generator[bytes, None, None]:
    """The blob's plaintext, decrypted piece by piece as the download does."""
    with path.open("rb", buffering=0) as handle:
        yield from streams.decrypt_chunks(key, context, iter(lambda: handle.read(PIECE), b""))


def send_all(pieces: Iterable[bytes], size: int) -> float:
    """Send the pieces to a reader thread that discards them; return MB/s."""
    sender, receiver = socket.socketpair()

    def read() -> None:
        buffer, received = bytearray(1 << 20), 0
        while received < size:
            received += receiver.recv_into(buffer)

    reader = threading.Thread(target=read)
    started = time.perf_counter()
    reader.start()
    for piece in pieces:
        sender.sendall(piece)
    reader.join()
    elapsed = time.perf_counter() - started
    sender.close()
    receiver.close()
    return size / elapsed / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    size = args.megabytes << 20
    key, context = streams.new_data_key(), streams.blob_context(1, 1, "0" * 32)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "blob"
        encryptor = streams.BlobEncryptor(key, context)
        block = os.urandom(1 << 20)
        with path.open("wb") as out:
            for _ in range(args.megabytes):
                out.write(encryptor.update(block))
            out.write(encryptor.finalize())
        for _ in range(args.rounds):
            in_turn = send_all(plaintext_pieces(path, key, context), size)
            ahead = send_all(read_ahead(plaintext_pieces(path, key, context)), size)
            print(f"in turn {in_turn:5.0f} MB/s   read-ahead {ahead:5.0f} MB/s   ({ahead / in_turn - 1:+.0%})",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
