"""In-process: the streaming multipart parsers side by side on one upload body (issue 15 item 6, measurement only).

    pip install python-multipart streaming-form-data multipart   # not dependencies of the portal
    .venv/bin/python bench/multipart_parsers.py [--sizes 10M,200M]

Each parser is fed the same body (a CSRF field, then one file of random bytes) in the 256 KB pieces the portal's
reader asks the WSGI stream for, and counts the part bytes it hands back; the figure is MB/s of body parsed, best
of three (one at 200 MB and above), beside a loop that only slices the pieces. Werkzeug's sansio MultipartDecoder
is what portal/documents/uploads.py uses today. A parser that is not installed is reported as such.
"""

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Iterator

MB = 1 << 20
PIECE = 256 * 1024
BOUNDARY = b"benchboundary0123456789abcdef"


def body(size: int) -> bytes:
    head = (b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\ntoken\r\n--' + BOUNDARY
            + b'\r\nContent-Disposition: form-data; name="file-0"; filename="a.pdf"\r\nContent-Type: application/pdf'
            b"\r\n\r\n")
    return head + os.urandom(MB) * (size // MB) + b"\r\n--" + BOUNDARY + b"--\r\n"


def pieces(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), PIECE):
        yield bytes(view[start:start + PIECE])  # a WSGI read returns new bytes


def raw(data: bytes) -> int:
    return sum(len(p) for p in pieces(data))


def werkzeug(data: bytes) -> int:
    from werkzeug.sansio.multipart import Data, Epilogue, MultipartDecoder, NeedData

    decoder, count = MultipartDecoder(BOUNDARY, 2 * PIECE), 0
    for piece in [*pieces(data), None]:
        decoder.receive_data(piece)
        event = decoder.next_event()
        while not isinstance(event, NeedData | Epilogue):
            if isinstance(event, Data):
                count += len(event.data)
            event = decoder.next_event()
    return count


def python_multipart(data: bytes) -> int:
    import python_multipart as parser_module

    count = [0]

    def on_part_data(chunk: bytes, start: int, end: int) -> None:
        count[0] += end - start

    parser = parser_module.MultipartParser(BOUNDARY, {"on_part_data": on_part_data})
    for piece in pieces(data):
        parser.write(piece)
    parser.finalize()
    return count[0]


def streaming_form_data(data: bytes) -> int:
    from streaming_form_data import StreamingFormDataParser
    from streaming_form_data.targets import BaseTarget

    class Counter(BaseTarget):
        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def on_data_received(self, chunk: bytes) -> None:
            self.count += len(chunk)

    parser = StreamingFormDataParser(headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY.decode()}"})
    targets = {"csrf_token": Counter(), "file-0": Counter()}
    for name, target in targets.items():
        parser.register(name, target)
    for piece in pieces(data):
        parser.data_received(piece)
    return sum(t.count for t in targets.values())


def multipart(data: bytes) -> int:
    import multipart as parser_module  # the "multipart" distribution (python-multipart also installs a shim)

    if not hasattr(parser_module, "PushMultipartParser"):
        raise ImportError("the multipart distribution is shadowed by python-multipart's shim")
    count = 0
    with parser_module.PushMultipartParser(BOUNDARY) as parser:
        for piece in [*pieces(data), b""]:
            for event in parser.parse(piece):
                if isinstance(event, bytes | bytearray | memoryview):
                    count += len(event)
    return count


PARSERS: list[tuple[str, Callable[[bytes], int]]] = [
    ("slicing only (ceiling)", raw), ("werkzeug sansio (today)", werkzeug), ("python-multipart", python_multipart),
    ("streaming-form-data", streaming_form_data), ("multipart", multipart)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10M,200M")
    args = parser.parse_args()
    print(f"| parser | {' | '.join(s + ' MB/s' for s in args.sizes.split(','))} |")
    print("|---|" + "---|" * len(args.sizes.split(",")))
    bodies = [(int(s.rstrip("M")) * MB, body(int(s.rstrip("M")) * MB)) for s in args.sizes.split(",")]
    for name, run in PARSERS:
        cells = []
        for size, data in bodies:
            try:
                best = min(_timed(run, data) for _ in range(3 if size < 200 * MB else 1))
                cells.append(f"{size / MB / best:.0f}")
            except ImportError as exc:
                cells.append(f"not installed ({exc})")
        print(f"| {name} | {' | '.join(cells)} |", flush=True)
    return 0


def _timed(run: Callable[[bytes], int], data: bytes) -> float:
    started = time.perf_counter()
    run(data)
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main() if importlib.util.find_spec("werkzeug") else 1)
