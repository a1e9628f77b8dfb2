"""The panel's copy of a file: the same content without the hidden details that name people.

Portfolios are pseudonymised for the panel, but a file can name its author where no one looks: a PDF's document
information and XMP metadata, an Office file's properties, the authors of its comments and tracked changes, a
photo's EXIF. Everyone but the Lead receives a copy made here, once, when the file is uploaded (and stored
encrypted like any other blob). Everything happens in memory, on a file already authenticated; nothing is
written to disk.

- PDF (pypdf): the document information dictionary and every XMP metadata stream are removed, comment authors
  (a markup annotation's /T) become "Author", application data (/PieceInfo) is dropped, and the file is rewritten
  from its live objects only, so earlier revisions kept by incremental saves go too.
- DOCX, XLSX, ODT (zipfile and lxml): the archive is rewritten entry by entry. Core, app and custom properties
  (docProps/*.xml) and ODT's meta.xml are emptied; authors of comments, tracked changes and threaded comments
  become "Author", initials and sign-in ids are removed; local file paths (Excel's absPath, Word's attached
  template) are blanked. Every entry is inflated no further than its declared size and its CRC-32 checked, so
  an archive whose directory lies about its entries is refused (ArchiveMismatch).
- JPEG: APP1 (EXIF and XMP), APP13 (IPTC), comments and any other application segments are dropped, and so is
  anything after the image's end; the EXIF orientation is kept (rebuilt by Pillow) so photos stay upright.
  Colour profiles (APP2 ICC_PROFILE), JFIF (APP0) and Adobe (APP14) segments are kept. Pillow itself cannot do
  this: it would decode and re-encode the image, losing quality; the segment walk below is hand-written
  because no kept library removes JPEG segments without re-encoding.
- PNG: text chunks (tEXt, zTXt, iTXt, where Author and Comment live), eXIf and tIME are dropped, and anything
  after IEND. Hand-written for the same reason: Pillow would decode and re-encode every pixel.

Plain text has nothing hidden; Word 97-2003 (.doc) files are binary containers that cannot be rewritten safely,
so they are not cleaned (the upload tells the Lead).
"""

import io
import re
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable
from typing import BinaryIO, Protocol

from lxml import etree

from portal.documents.archives import ArchiveRefused


class Sink(Protocol):
    """Where a clean copy is written: a file opened for writing, or an object with these three of its methods."""

    def write(self, data: bytes, /) -> int: ...

    def tell(self) -> int: ...

    def flush(self) -> None: ...


NEUTRAL_AUTHOR = "Author"
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
COPY_BYTES = 1024 * 1024
_PDF_END_BYTES = 4096  # where a PDF's startxref must be (the format allows a little trailing data after %%EOF)


class CannotClean(Exception):
    """The file could not be read to be cleaned (damaged, password-protected, or of a shape not understood)."""


class ArchiveMismatch(ArchiveRefused):
    """An entry of the archive is not what its directory says (size or checksum): the upload is refused."""


# PDF ---------------------------------------------------------------------------------------------------------


def _blank(value: object) -> None:
    """Empty an object that is being unlinked, so that nothing of it is written even as an unreferenced object."""
    from pypdf.generic import DictionaryObject, StreamObject

    target = value.get_object() if hasattr(value, "get_object") else value
    if isinstance(target, StreamObject):
        target.set_data(b"")
        for key in [k for k in target if k != "/Length"]:
            del target[key]
    elif isinstance(target, DictionaryObject):
        target.clear()


def clean_pdf(source: BinaryIO, sink: Sink) -> None:
    """Write the PDF without document information, XMP metadata, comment authors or earlier revisions."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    source.seek(max(0, source.seek(0, io.SEEK_END) - _PDF_END_BYTES))
    if b"startxref" not in source.read():
        # Without its cross-reference table pypdf would rebuild one by scanning every byte (seconds for a large
        # file); a PDF that lacks one at its end is damaged or incomplete anyway.
        raise CannotClean("the PDF has no cross-reference table at its end: it is damaged or incomplete")
    try:
        source.seek(0)
        reader = PdfReader(source)
        if reader.is_encrypted:
            raise CannotClean("the PDF is protected with a password or restrictions")
        # Cloning copies only the objects reachable from the document's root (and its information dictionary),
        # so objects of earlier revisions, kept in the file by incremental saves, are left behind.
        writer = PdfWriter(clone_from=reader)
        if writer._info is not None:
            _blank(writer._info)
        writer.metadata = None
        for item in list(writer._objects):  # every object the document holds: pages, annotations, streams
            target = item.get_object() if item is not None else None
            if not isinstance(target, DictionaryObject):
                continue
            for key in ("/Metadata", "/PieceInfo"):
                if key in target:
                    _blank(target[key])
                    del target[key]
            if "/T" in target and "/Rect" in target and target.get("/Subtype") not in (None, "/Widget"):
                target[NameObject("/T")] = TextStringObject(NEUTRAL_AUTHOR)  # a comment's author
        # pypdf annotates the stream as IO[Any], but writes to it with write() and tell() only (and flushes it).
        writer.write(sink)  # type: ignore[arg-type]
    except CannotClean:
        raise
    except Exception as exc:  # pypdf raises many kinds of error for a malformed PDF
        raise CannotClean(f"the PDF could not be read: {type(exc).__name__}") from exc


# DOCX, XLSX, ODT ---------------------------------------------------------------------------------------------

_PROPERTY_PARTS = {"docProps/core.xml", "docProps/app.xml", "docProps/custom.xml", "meta.xml"}
_OFFICE_PARTS = re.compile(r"^(word/.*\.xml|xl/.*\.xml|content\.xml|styles\.xml|.*\.rels)$")
_CLUES = (b"author", b"initials", b"userName", b"person", b"absPath", b"creator", b"userId", b"providerId",
          b"file:")
_DROPPED_ATTRIBUTES = {"initials", "userId", "providerId"}
_AUTHOR_ATTRIBUTES = {"author", "userName"}
_DROPPED_ELEMENTS = {"presenceInfo", "creator-initials", "sender-initials"}
_AUTHOR_ELEMENTS = {"creator", "author"}  # ODT's dc:creator; the list of authors in an Excel comments part


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _parse(content: bytes) -> etree._ElementTree:
    tree = etree.ElementTree(etree.fromstring(content, _XML_PARSER))
    if tree.docinfo.doctype:
        raise CannotClean("a part of the file declares a document type, which Office files never do")
    return tree


def _serialise(tree: etree._ElementTree) -> bytes:
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8",
                          standalone=tree.docinfo.standalone)


def _emptied(content: bytes) -> bytes:
    """A properties part with its root (and ODT's office:meta) kept and every property removed."""
    tree = _parse(content)
    root = tree.getroot()
    for child in list(root):
        # ODT: office:document-meta > office:meta > the properties (a comment has no name, so it goes too)
        if isinstance(child.tag, str) and _local(child.tag) == "meta":
            for grandchild in list(child):
                child.remove(grandchild)
            child.text = None
        else:
            root.remove(child)
    root.text = None
    return _serialise(tree)


def _without_authors(content: bytes) -> bytes:
    """Every author of a comment or change as "Author"; initials, sign-in ids and local paths removed."""
    if not any(clue in content for clue in _CLUES):
        return content
    tree = _parse(content)
    for element in list(tree.iter()):
        if not isinstance(element.tag, str):
            continue  # comments and processing instructions
        local = _local(element.tag)
        parent = element.getparent()
        if local in _DROPPED_ELEMENTS and parent is not None:
            parent.remove(element)
            continue
        if local in _AUTHOR_ELEMENTS and len(element) == 0 and (element.text or "").strip():
            element.text = NEUTRAL_AUTHOR
        for name in list(element.attrib):
            attribute = _local(name)
            if attribute in _DROPPED_ATTRIBUTES:
                del element.attrib[name]
            elif attribute in _AUTHOR_ATTRIBUTES or (attribute == "displayName" and local == "person"):
                element.attrib[name] = NEUTRAL_AUTHOR
            elif (attribute == "url" and local == "absPath") or (
                    attribute == "Target" and element.attrib[name].lower().startswith("file:")):
                element.attrib[name] = "" if attribute == "url" else "file:///"
    return _serialise(tree)


def _cleaner(name: str) -> Callable[[bytes], bytes] | None:
    if name in _PROPERTY_PARTS:
        return _emptied
    if _OFFICE_PARTS.match(name):
        return _without_authors
    return None


def clean_office(source: BinaryIO) -> bytes:
    """The DOCX, XLSX or ODT rewritten without properties or authors, its entries in their order and compression.

    Raises ArchiveMismatch when an entry is not what the directory says, CannotClean when it cannot be read.
    """
    out = io.BytesIO()
    try:
        with zipfile.ZipFile(source) as archive, zipfile.ZipFile(out, "w") as copy:
            for entry in archive.infolist():
                fresh = zipfile.ZipInfo(entry.filename, date_time=entry.date_time)
                fresh.compress_type, fresh.external_attr = entry.compress_type, entry.external_attr
                fresh.create_system = entry.create_system
                cleaner = _cleaner(entry.filename)
                if cleaner is None:
                    fresh.file_size = entry.file_size
                    with archive.open(entry) as reading, copy.open(fresh, "w") as writing:
                        shutil.copyfileobj(reading, writing, COPY_BYTES)
                else:
                    copy.writestr(fresh, cleaner(archive.read(entry)))
    except zipfile.BadZipFile as exc:  # a CRC or size that does not match the directory
        raise ArchiveMismatch(str(exc)) from exc
    except (EOFError, zlib.error) as exc:
        raise ArchiveMismatch(f"an entry ends early or is corrupt: {exc}") from exc
    except (etree.XMLSyntaxError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise CannotClean(f"a part of the file could not be read: {type(exc).__name__}") from exc
    return out.getvalue()


# JPEG and PNG ------------------------------------------------------------------------------------------------

_ORIENTATION = 0x0112
_STANDALONE = set(range(0xD0, 0xDA)) | {0x01}  # RSTn, SOI, EOI, TEM: markers without a length


def _exif_orientation_segment(payload: bytes) -> bytes:
    """An APP1 segment holding only the orientation found in this EXIF payload, or b"" if there is none."""
    from PIL import Image

    found = Image.Exif()
    try:
        found.load(payload)
        orientation = found.get(_ORIENTATION)
    except Exception:  # a damaged EXIF block: keep nothing of it
        return b""
    if not isinstance(orientation, int) or not 1 < orientation <= 8:
        return b""
    kept = Image.Exif()
    kept[_ORIENTATION] = orientation
    body = kept.tobytes()
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def _keep_jpeg_segment(marker: int, payload: bytes) -> bytes | None:
    """The segment to write for an application or comment segment: itself, a rebuilt one, or None to drop it."""
    if marker == 0xE0 or (marker == 0xEE and payload.startswith(b"Adobe")) or (
            marker == 0xE2 and payload.startswith(b"ICC_PROFILE\x00")):
        return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
        return _exif_orientation_segment(payload)
    return None


def clean_jpeg(data: bytes) -> bytes:
    """The JPEG without EXIF (but its orientation), XMP, IPTC, comments or trailing data; pixels untouched."""
    if not data.startswith(b"\xff\xd8"):
        raise CannotClean("the JPEG does not start as one")
    out, position, size = bytearray(b"\xff\xd8"), 2, len(data)
    while position < size:
        if data[position] != 0xFF:
            raise CannotClean("the JPEG's segments are damaged")
        while position < size and data[position] == 0xFF:  # fill bytes before a marker
            position += 1
        if position >= size:
            break
        marker = data[position]
        position += 1
        if marker == 0xD9:  # end of image: anything after it (extra pictures, appended data) is dropped
            out += b"\xff\xd9"
            return bytes(out)
        if marker in _STANDALONE:
            out += bytes([0xFF, marker])
            continue
        if position + 2 > size:
            raise CannotClean("the JPEG ends inside a segment")
        length = struct.unpack_from(">H", data, position)[0]
        if length < 2 or position + length > size:
            raise CannotClean("the JPEG ends inside a segment")
        payload = data[position + 2:position + length]
        position += length
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            kept = _keep_jpeg_segment(marker, payload)
            if kept:
                out += kept
            continue
        out += bytes([0xFF, marker]) + struct.pack(">H", length) + payload
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the next marker that is not RSTn
            end = position
            while True:
                end = data.find(b"\xff", end)
                if end < 0 or end + 1 >= size:
                    raise CannotClean("the JPEG ends inside its image data")
                following = data[end + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    end += 2
                elif following == 0xFF:
                    end += 1
                else:
                    break
            out += data[position:end]
            position = end
    raise CannotClean("the JPEG has no end")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_DROPPED = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"}


def clean_png(data: bytes) -> bytes:
    """The PNG without text chunks, EXIF or modification time, or anything after its end; pixels untouched."""
    if not data.startswith(_PNG_SIGNATURE):
        raise CannotClean("the PNG does not start as one")
    out, position = bytearray(_PNG_SIGNATURE), len(_PNG_SIGNATURE)
    while position + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 12 + length
        if length > 0x7FFFFFFF or end > len(data):
            raise CannotClean("the PNG ends inside a chunk")
        if kind not in _PNG_DROPPED:
            out += data[position:end]
        position = end
        if kind == b"IEND":
            return bytes(out)
    raise CannotClean("the PNG has no end")


def _office(source: io.BytesIO, sink: Sink) -> None:
    sink.write(clean_office(source))


def _image(cleaner: Callable[[bytes], bytes]) -> Callable[[io.BytesIO, Sink], None]:
    def write(source: io.BytesIO, sink: Sink) -> None:
        sink.write(cleaner(source.getvalue()))

    return write


CLEANERS: dict[str, Callable[[io.BytesIO, Sink], None]] = {
    "pdf": clean_pdf, "docx": _office, "xlsx": _office, "odt": _office,
    "jpeg": _image(clean_jpeg), "png": _image(clean_png),
}


def clean(kind: str, source: io.BytesIO, sink: Sink) -> None:
    """Write the panel's copy of a file of this kind (a key of CLEANERS), held in `source`, to `sink`."""
    CLEANERS[kind](source, sink)
