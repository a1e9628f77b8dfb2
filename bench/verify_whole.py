"""Authenticating a file whole before its first byte is sent (VERIFY_WHOLE_MAX_BYTES): what each way costs.

    .venv/bin/python bench/verify_whole.py [--sizes 10M,64M]

Three ways to send a blob of a given size from a file on disk, in the portal's 256 KB pieces, one core:

- stream: decrypt and send piece by piece (what a file over the limit gets: tampering near the end is found
  only after most of the file has gone);
- two passes: decrypt the whole file keeping nothing, then decrypt it again while sending (what the portal does
  up to the limit);
- buffer: decrypt the whole file into memory, then send from memory.

For each: the time until the first byte could be sent, the total time, and the peak of Python memory allocated
(tracemalloc) while doing it. `make bench` prints the same table (bench/run.py calls measure()).
"""

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024
PIECE = 256 * 1024


def _blob(folder: Path, size: int) -> tuple[Path, bytes, bytes]:
    """Encrypt `size` random bytes into a file; return (path, key, context)."""
    from portal.security import streams

    key, context = streams.new_data_key(), streams.blob_context(1, 1, "0" * 32)
    encryptor = streams.BlobEncryptor(key, context)
    path = folder / f"blob-{size}"
    block = os.urandom(MB)
    with path.open("wb") as out:
        for start in range(0, size, MB):
            out.write(encryptor.update(block[: min(MB, size - start)]))
        out.write(encryptor.finalize())
    return path, key, context


def _pieces(path: Path, key: bytes, context: bytes) -> Iterator[bytes]:
    from portal.security import streams

    buffer = bytearray(PIECE)
    view = memoryview(buffer)
    with path.open("rb") as handle:
        yield from streams.decrypt_chunks(key, context, iter(lambda: view[: handle.readinto(buffer)] or b"", b""))


def _stream(path: Path, key: bytes, context: bytes, first: list[float], started: float) -> None:
    for _ in _pieces(path, key, context):
        if not first:
            first.append(time.perf_counter() - started)


def _two_passes(path: Path, key: bytes, context: bytes, first: list[float], started: float) -> None:
    for _ in _pieces(path, key, context):
        pass
    _stream(path, key, context, first, started)


def _buffer(path: Path, key: bytes, context: bytes, first: list[float], started: float) -> None:
    held = list(_pieces(path, key, context))
    for _ in held:
        if not first:
            first.append(time.perf_counter() - started)


WAYS: dict[str, Callable[[Path, bytes, bytes, list[float], float], None]] = {
    "stream": _stream, "two passes": _two_passes, "buffer": _buffer}


def measure(sizes: list[tuple[str, int]]) -> list[str]:
    """The report's lines: a table of each way at each size (median of 3 runs, memory from one traced run)."""
    lines = ["| size | way | first byte ms | total ms | peak Python memory MB |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="portal-verify-whole-") as folder:
        for label, size in sizes:
            path, key, context = _blob(Path(folder), size)
            for name, way in WAYS.items():
                firsts, totals = [], []
                for _ in range(3):
                    first: list[float] = []
                    started = time.perf_counter()
                    way(path, key, context, first, started)
                    totals.append(time.perf_counter() - started)
                    firsts.append(first[0])
                tracemalloc.start()
                way(path, key, context, [], time.perf_counter())
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                lines.append(f"| {label} | {name} | {sorted(firsts)[1] * 1000:.1f} | {sorted(totals)[1] * 1000:.1f} "
                             f"| {peak / MB:.1f} |")
            path.unlink()
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10M,64M")
    args = parser.parse_args()
    sizes = [(s, int(s.rstrip("M")) * MB) for s in args.sizes.split(",")]
    print("\n".join(measure(sizes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
