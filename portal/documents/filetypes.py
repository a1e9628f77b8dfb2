"""What an upload really is, judged by its content (magic bytes, zip contents, UTF-8 text), not its name.

ContentSniffer watches the plaintext as it streams past (keeping only the first 4 KB and the last 1 MB, so
memory stays constant) and names the kind of file at the end. The file's extension must agree with it,
so an HTML page named .pdf is refused.
"""

import codecs
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from portal.documents import archives

HEAD_BYTES = 4096
TAIL_BYTES = 1024 * 1024
MAX_NAME_CHARS = 150


@dataclass(frozen=True)
class FileKind:
    """A kind of file the portal accepts."""

    key: str
    label: str
    mimetype: str
    extensions: tuple[str, ...]

    @property
    def opens_inline(self) -> bool:
        """PDFs open in the browser; everything else downloads."""
        return self.key == "pdf"

    @property
    def is_archive(self) -> bool:
        """DOCX, XLSX and ODT files are zip archives (checked for archive bombs)."""
        return self.key in ("docx", "xlsx", "odt")


KINDS = {
    kind.key: kind
    for kind in (
        FileKind("pdf", "PDF", "application/pdf", (".pdf",)),
        FileKind("docx", "Word document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                 (".docx",)),
        FileKind("xlsx", "Excel spreadsheet", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                 (".xlsx",)),
        FileKind("odt", "OpenDocument text", "application/vnd.oasis.opendocument.text", (".odt",)),
        FileKind("doc", "Word 97-2003 document", "application/msword", (".doc",)),
        FileKind("png", "PNG image", "image/png", (".png",)),
        FileKind("jpeg", "JPEG image", "image/jpeg", (".jpg", ".jpeg")),
        FileKind("txt", "Text file", "text/plain; charset=utf-8", (".txt",)),
    )
}
KIND_BY_MIMETYPE = {kind.mimetype: kind for kind in KINDS.values()}
ACCEPTED_EXTENSIONS = sorted({ext for kind in KINDS.values() for ext in kind.extensions})
_MAGIC = (
    (b"%PDF-", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "doc"),
)
_MARKUP = re.compile(rb"^\s*<(!doctype|html|head|body|script|svg|\?xml)", re.IGNORECASE)
_ODT_MIMETYPE = b"mimetypeapplication/vnd.oasis.opendocument.text"


class FileRefused(Exception):
    """The file is not one of the accepted kinds, or its content does not match its name."""


def kind_for(mimetype: str) -> FileKind | None:
    """The kind stored under a content type."""
    return KIND_BY_MIMETYPE.get(mimetype)


def clean_filename(raw: str) -> str:
    """Return the name without any path, control characters or excess length, keeping the extension."""
    name = unicodedata.normalize("NFC", raw.replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(" " if unicodedata.category(ch).startswith(("C", "Z")) else ch for ch in name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 10:
        stem, ext = name, ""
    ext = f".{ext.lower()}" if ext else ""
    stem = stem.strip(" .")[: MAX_NAME_CHARS - len(ext)] or "document"
    return stem + ext


def extension(filename: str) -> str:
    """The lower-case extension with its dot, or ''."""
    stem, dot, ext = filename.rpartition(".")
    return f".{ext.lower()}" if dot and stem else ""


class ContentSniffer:
    """Watches a file's bytes go past and says what kind of file it is."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.size = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._text = True
        self._directory: archives.Directory | Literal[False] | None = None

    def feed(self, chunk: bytes) -> None:
        """Look at the next piece of the file."""
        self.size += len(chunk)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        if self.head[:2] == b"PK":  # only zip-based formats (DOCX, XLSX, ODT) are identified by their end
            self.tail += chunk
            if len(self.tail) > 2 * TAIL_BYTES:
                del self.tail[:-TAIL_BYTES]
        if self._text:
            try:
                self._decoder.decode(chunk)
                self._text = b"\x00" not in chunk
            except UnicodeDecodeError:
                self._text = False

    def kind(self) -> FileKind | None:
        """The kind of file seen, or None if it is none of the accepted kinds.

        Raises archives.DirectoryNotKept for a zip whose directory is longer than the end kept of it.
        """
        head = bytes(self.head)
        for magic, key in _MAGIC:
            if head.startswith(magic):
                return KINDS[key]
        if head.startswith(b"PK\x03\x04"):
            return self._zip_kind()
        if self._text and self.size:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                return None
            return None if _MARKUP.match(head) else KINDS["txt"]
        return None

    def _zip_kind(self) -> FileKind | None:
        found = self.zip_directory()
        names = found.names if found else set()
        head_is_odt = bytes(self.head[30:30 + len(_ODT_MIMETYPE)]) == _ODT_MIMETYPE
        if head_is_odt and "content.xml" in names:
            return KINDS["odt"]
        if not head_is_odt and "[Content_Types].xml" in names:
            if "word/document.xml" in names:
                return KINDS["docx"]
            if "xl/workbook.xml" in names:
                return KINDS["xlsx"]
        return None

    def zip_directory(self) -> archives.Directory | None:
        """The zip's central directory, read from the end of the file kept in `tail`; None if it is not a zip.

        Raises archives.DirectoryNotKept when the directory is longer than the kept end (a very long list).
        """
        if self._directory is None:
            self._directory = archives.directory(bytes(self.tail), self.size) or False
        return self._directory or None

    def identify(self, filename: str) -> FileKind:
        """Return the kind of file, refusing it if unknown or if its name claims another kind."""
        try:
            kind = self.kind()
        except archives.DirectoryNotKept:
            raise FileRefused(f"{filename} holds too many files inside it: its list of contents alone is over "
                              f"{TAIL_BYTES // (1024 * 1024)} MB. Save it again from Word, Excel or LibreOffice, "
                              "or as a PDF") from None
        ext = extension(filename)
        if ext not in ACCEPTED_EXTENSIONS:
            raise FileRefused(f"{filename} must be a PDF, Word, Excel, OpenDocument text, PNG, JPEG or text file")
        if kind is None:
            raise FileRefused(f"{filename} is not a file the portal accepts: its content is not a PDF, Word, "
                              "Excel, OpenDocument text, PNG, JPEG or plain text file")
        if ext not in kind.extensions:
            raise FileRefused(f"{filename} is named as a {ext} file but its content is a {kind.label}, or "
                              f"something else: rename it or upload the right file")
        return kind
