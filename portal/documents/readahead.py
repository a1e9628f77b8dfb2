"""Decrypt the next pieces of a download while the current one is being sent.

A socket write releases the GIL while the kernel copies the piece, so a second thread that runs the decrypting
iterator a few pieces ahead decrypts while the current piece is being sent, instead of alternating between the
two steps. (Decryption itself holds the GIL: two threads decrypting at once are no faster than one.) The
thread touches only what the iterator itself holds (a file handle and a decryptor): no database session,
no request context. Errors raised by the iterator are re-raised in the reader, in order, after the pieces
that came before them; closing the reader (a client that went away) stops the thread and closes the source.
"""

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

Piece = TypeVar("Piece")

DEPTH = 4  # pieces waiting at most: with 256 KB pieces, a download holds about a megabyte ahead


class _Done:
    """The source is exhausted."""


_DONE = _Done()


class _Failed:
    """An exception raised by the source, carried to the reader."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(source: Generator[Piece, None, None], depth: int = DEPTH) -> Iterator[Piece]:
    """Yield what `source` yields, produced by a background thread up to `depth` pieces ahead."""
    ready: queue.Queue[Piece | _Failed | _Done] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        # Once the reader has set `stop` it empties the queue, so the one put that may follow cannot block.
        try:
            for piece in source:
                ready.put(piece)
                if stop.is_set():
                    return
            ready.put(_DONE)
        except BaseException as error:  # carried to the reader, which raises it where the response is built
            ready.put(_Failed(error))
        finally:
            source.close()

    producer = threading.Thread(target=produce, name="download-read-ahead", daemon=True)
    producer.start()
    try:
        while not isinstance(item := ready.get(), _Done):
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        while True:  # make room, so a producer waiting to hand over a piece sees the stop at once
            try:
                ready.get_nowait()
            except queue.Empty:
                break
        producer.join()
