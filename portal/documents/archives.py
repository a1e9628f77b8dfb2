"""Archive bombs: DOCX, XLSX and ODT files are zip archives, judged by their directory without extracting anything.

A zip's central directory, at its end, lists every entry with its compressed and uncompressed size and where it
starts. ContentSniffer keeps the file's last megabyte as it streams past (never the whole file), and Python's
zipfile reads the directory from it through `_Window`, a read-only view that puts the kept bytes at their real
offsets, so ZIP64 and every other detail of the format are read by the standard library, not by hand.

What is checked, from the directory (declared sizes):
- how many entries (at most ARCHIVE_MAX_ENTRIES, 1,000 by default);
- their total uncompressed size (at most ARCHIVE_MAX_BYTES, 100 MB by default);
- each entry's compression ratio (entries over 1 MB may grow at most ARCHIVE_MAX_RATIO times, 200 by default:
  text compresses 5 to 20 times, a zip bomb about 1,000);
- that entries neither overlap nor run into the directory (overlapping entries are how "non-recursive" bombs make
  a small file expand to many times its declared total), and that no two share a name (which different programs
  would resolve differently).
Declared sizes can lie, so they are also checked against the content where that is cheap: when the portal makes
the panel's copy of the file (cleaning.py), every entry is inflated in memory, no further than its declared size,
and its CRC-32 checked, and a file whose entries are not what its directory says is refused there.
"""

import io
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MB = 1024 * 1024
RATIO_FROM_BYTES = MB  # smaller entries may compress as well as they like: they cannot grow far
_LOCAL_HEADER_BYTES = 30


class ArchiveRefused(Exception):
    """The archive would expand too far, holds too many entries, or is built to mislead; the message says which."""


@dataclass(frozen=True)
class Limits:
    """What an uploaded archive may hold."""

    max_bytes: int = 100 * MB
    max_entries: int = 1000
    max_ratio: int = 200


class _Window(io.RawIOBase):
    """The last bytes of a file, readable at their real offsets; reading before them is an error."""

    def __init__(self, tail: bytes, size: int) -> None:
        super().__init__()
        self._tail, self._size, self._start, self._position = tail, size, size - len(tail), 0

    def readable(self) -> bool:
        """It is."""
        return True

    def seekable(self) -> bool:
        """It is."""
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move within the file's full length."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        """Where reading would start."""
        return self._position

    def readinto(self, buffer: "WriteableBuffer") -> int:
        """Copy kept bytes; refuse bytes that were not kept."""
        if self._position >= self._size:
            return 0
        if self._position < self._start:
            raise OSError("the zip directory starts before the bytes kept from the end of the file")
        start = self._position - self._start
        view = memoryview(buffer)  # a bytearray from RawIOBase.read, a memoryview from a buffered reader
        piece = self._tail[start:start + len(view)]
        view[:len(piece)] = piece
        self._position += len(piece)
        return len(piece)


class DirectoryNotKept(Exception):
    """The archive's directory is larger than the bytes kept from its end (so it lists very many entries)."""


@dataclass(frozen=True)
class Directory:
    """A zip's entries as its central directory lists them, and where that directory starts."""

    entries: list[zipfile.ZipInfo]
    start: int

    @property
    def names(self) -> set[str]:
        """The entries' names."""
        return {entry.filename for entry in self.entries}


def directory(tail: bytes, size: int) -> Directory | None:
    """The central directory of a zip, read from its last bytes; None if it is not a zip.

    Raises DirectoryNotKept when the directory begins before the kept bytes.
    """
    try:
        with zipfile.ZipFile(_Window(tail, size)) as archive:
            return Directory(archive.infolist(), archive.start_dir)
    except OSError as exc:
        raise DirectoryNotKept(str(exc)) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        return None


def _mb(size: int) -> str:
    return f"{size / MB:,.0f} MB" if size >= 10 * MB else f"{size / MB:,.1f} MB"


def check(filename: str, found: Directory, limits: Limits) -> None:
    """Refuse an archive that would expand too far, holds too many entries or whose entries overlap."""
    entries = found.entries
    if len(entries) > limits.max_entries:
        raise ArchiveRefused(f"{filename} holds {len(entries):,} files inside it; the portal accepts at most "
                             f"{limits.max_entries:,}. Save it again from Word, Excel or LibreOffice, or as a PDF")
    total = sum(entry.file_size for entry in entries)
    if total > limits.max_bytes:
        raise ArchiveRefused(f"{filename} would expand to {_mb(total)} when opened, over the limit of "
                             f"{_mb(limits.max_bytes)}. Save it as a PDF, or make it smaller, and upload it again")
    for entry in entries:
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > RATIO_FROM_BYTES and ratio > limits.max_ratio:
            raise ArchiveRefused(f"{filename} holds a file ({entry.filename[:80]}) that would expand {ratio:,.0f} "
                                 f"times when opened, which is how harmful files are built. Save it again from "
                                 "Word, Excel or LibreOffice, or as a PDF")
    if len({entry.filename for entry in entries}) < len(entries):
        raise ArchiveRefused(f"{filename} is damaged or built to mislead the programs that open it (two files "
                             "inside it have the same name). Save it again from Word, Excel or LibreOffice, or as "
                             "a PDF")
    end = 0
    for entry in sorted(entries, key=lambda e: e.header_offset):
        name_bytes = len(entry.orig_filename.encode("utf-8" if entry.flag_bits & 0x800 else "cp437", "replace"))
        if entry.header_offset < end:
            raise ArchiveRefused(f"{filename} is damaged or built to mislead the programs that open it (files "
                                 "inside it overlap). Save it again from Word, Excel or LibreOffice, or as a PDF")
        end = entry.header_offset + _LOCAL_HEADER_BYTES + name_bytes + entry.compress_size
    if end > found.start:
        raise ArchiveRefused(f"{filename} is damaged or built to mislead the programs that open it (its files run "
                             "into its list of contents). Save it again from Word, Excel or LibreOffice, or as a PDF")
