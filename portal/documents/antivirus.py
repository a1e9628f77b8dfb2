"""Optional virus scanning of uploads with ClamAV's daemon (clamd), through clamdpy's INSTREAM client.

With CLAMD set (a Unix socket path, or HOST:PORT), each uploaded file's plaintext is sent to clamd from memory as
it streams in, in the same pass that encrypts it into the blob store: nothing is written to disk on the portal's
side (clamd itself holds the stream in its TemporaryDirectory while it scans: docs/documents.md says to put that
on a memory filesystem). The verdict comes when the file ends:

- clean: the upload goes on;
- infected: refused (Infected), and the upload service audits it;
- anything else, the scanner unreachable, too slow, failing, or the file over the scanner's limits: refused
  (NotScanned). With scanning configured a file is never stored unscanned.

clamdpy's instream() pulls the file through a `read()` method, while an upload pushes pieces as they arrive;
`_PullReader` turns one into the other (each read() hands clamdpy the next piece, which the upload's own pass
has already sniffed, hashed and encrypted), so the file is read once, with no thread and no buffer.
"""

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from clamdpy import ClamdNetworkSocket, ClamdUnixSocket
from clamdpy.exceptions import BufferTooLongError, ClamdException

log = logging.getLogger(__name__)

# clamd's own flag for a file it could not scan whole (MaxFileSize, MaxScanSize, ... with AlertExceedsMax yes)
_LIMITS_EXCEEDED = "Heuristics.Limits.Exceeded"
READ_BYTES = 256 * 1024


class NotScanned(Exception):
    """The file could not be scanned, so it was not stored; the message says why, naming the file."""


class Infected(Exception):
    """The scanner found something in the file; `signature` is what it found."""

    def __init__(self, message: str, signature: str) -> None:
        super().__init__(message)
        self.signature = signature


class _TooLargeToScan(Exception):
    pass


class _SourceFailed(Exception):
    """An error raised by the pieces themselves, carried through clamdpy untouched."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class _PullReader:
    """A file-like object whose read() returns the next piece of an iterable, counting what it has handed on."""

    def __init__(self, pieces: Iterable[bytes], limit: int) -> None:
        self._pieces: Iterator[bytes] = iter(pieces)
        self._limit = limit
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        """The next non-empty piece (whatever `size` asks), or b"" at the end."""
        while True:
            try:
                piece = next(self._pieces, None)
            except Exception as exc:  # the upload's own error (too large, cut short, disk full): not the scanner's
                raise _SourceFailed(exc) from exc
            if piece is None:
                return b""
            if piece:
                self.size += len(piece)
                if self.size > self._limit:  # stop before clamd's StreamMaxLength would cut the stream off
                    raise _TooLargeToScan
                return bytes(piece)


@dataclass(frozen=True)
class Scanner:
    """Where clamd listens, how long to wait for it, and the largest file it is set to scan."""

    address: str
    timeout: float = 60.0
    max_bytes: int = 25 * 1024 * 1024

    def _client(self) -> ClamdNetworkSocket:
        if self.address.startswith("/"):
            return ClamdUnixSocket(path=self.address, timeout=self.timeout, line_terminator="z")
        host, _, port = self.address.rpartition(":")
        return ClamdNetworkSocket(host=host.strip("[]"), port=int(port), timeout=self.timeout, line_terminator="z")

    def _failed(self, filename: str, exc: BaseException) -> NotScanned:
        log.error("virus scanner at %s failed: %s", self.address, getattr(exc, "msg", None) or exc)
        return NotScanned(f"{filename} was not uploaded because the virus scanner could not check it. Try again in a "
                          "few minutes; if it keeps happening, tell whoever runs the portal")

    def scan(self, filename: str, pieces: Iterable[bytes]) -> None:
        """Send every piece to clamd as it is produced; return if clean, else raise Infected or NotScanned.

        Errors raised by `pieces` itself (the upload's own checks) pass through unchanged.
        """
        reader = _PullReader(pieces, self.max_bytes)
        try:
            result = self._client().instream(reader, max_chunk_size=READ_BYTES)
        except _SourceFailed as failed:
            raise failed.error from None
        except _TooLargeToScan:
            raise NotScanned(f"{filename} is larger than {self.max_bytes / (1024 * 1024):g} MB, the largest file "
                             "the virus scanner checks, so it was not uploaded") from None
        except (BufferTooLongError, BrokenPipeError, ConnectionResetError) as exc:
            if isinstance(exc, OSError) and not reader.size:
                raise self._failed(filename, exc) from None
            # clamd answers "INSTREAM size limit exceeded" and hangs up once a stream passes its StreamMaxLength;
            # a hang-up while the file is being sent is that (clamdpy cannot read the answer after a failed send).
            log.error("clamd stopped reading a stream after %d bytes: its StreamMaxLength is below CLAMD_MAX_BYTES "
                      "(%d)", reader.size, self.max_bytes)
            raise NotScanned(f"{filename} is larger than the virus scanner accepts, so it was not uploaded"
                             ) from None
        except (TimeoutError, ClamdException, OSError) as exc:
            raise self._failed(filename, exc) from None
        if result.status == "OK":
            return
        reason = result.reason or ""
        if result.status == "FOUND" and reason.startswith(_LIMITS_EXCEEDED):
            raise NotScanned(f"{filename} is too large or complex for the virus scanner to check whole, so it was "
                             "not uploaded")
        if result.status == "FOUND":
            raise Infected(f"{filename} was not uploaded: the virus scanner found {reason} in it. Do not open "
                           "it; tell your IT service desk", reason)
        log.error("virus scanner at %s answered %s %s", self.address, result.status, reason)
        raise NotScanned(f"{filename} was not uploaded because the virus scanner could not check it ({reason})")


def from_config(config: dict) -> Scanner | None:
    """The scanner the CLAMD settings describe, or None when scanning is off."""
    address = str(config.get("CLAMD") or "").strip()
    if not address:
        return None
    return Scanner(address, float(config.get("CLAMD_TIMEOUT_SECONDS", 60)),
                   int(config.get("CLAMD_MAX_BYTES", 25 * 1024 * 1024)))
