"""Archive bombs: DOCX, XLSX and ODT uploads are judged by their zip directory and refused before anything is kept."""

import io
import struct
import zipfile
from pathlib import Path

import pytest
from conftest import Person
from factories import make_portfolio
from flask import Flask
from flask.testing import FlaskClient
from helpers_documents import office_zip, upload

from portal.extensions import db
from portal.models import Document, DocumentVersion

MB = 1024 * 1024


def _docx(extra: list[tuple[str, bytes]]) -> bytes:
    """A DOCX (the entries that identify one) with extra entries, deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        for name, content in extra:
            archive.writestr(name, content)
    return buffer.getvalue()


def _office(kind: str, extra: list[tuple[str, bytes]]) -> bytes:
    """A DOCX, XLSX or ODT (the entries that identify it) with extra entries, deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with zipfile.ZipFile(io.BytesIO(office_zip(kind))) as skeleton:
            for info in skeleton.infolist():
                archive.writestr(info.filename, skeleton.read(info), zipfile.ZIP_STORED
                                 if info.filename == "mimetype" else zipfile.ZIP_DEFLATED)
        for name, content in extra:
            archive.writestr(name, content)
    return buffer.getvalue()


def _nothing_kept(app: Flask) -> bool:
    with app.app_context():
        counts = (db.session.scalar(db.select(db.func.count()).select_from(Document)),
                  db.session.scalar(db.select(db.func.count()).select_from(DocumentVersion)))
    root = Path(app.config["BLOB_DIR"])
    return counts == (0, 0) and (not root.exists() or not any(root.iterdir()))


def _refused(app: Flask, client: FlaskClient, filename: str, content: bytes, message: str) -> None:
    pid = make_portfolio(app)
    response = upload(client, pid, [(filename, content, "final_report")])
    page = response.get_data(as_text=True)
    assert response.status_code == 400, page[:500]
    assert "There is a problem" in page and message in page and 'href="#file-0"' in page
    assert _nothing_kept(app)


def test_a_small_docx_holding_a_150_mb_entry_is_refused(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    bomb = _docx([("word/media/filler.bin", bytes(150 * MB))])
    assert len(bomb) < 200 * 1024  # the case: about 149 KB
    _refused(app, client, "Final report.docx", bomb,
             "Final report.docx would expand to 150 MB when opened, over the limit of 100 MB")


def test_a_docx_with_1502_entries_is_refused(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    crowded = _docx([(f"word/media/part{n}.xml", b"<x/>") for n in range(1500)])
    _refused(app, client, "Many parts.docx", crowded,
             "Many parts.docx holds 1,502 files inside it; the portal accepts at most 1,000")


def test_an_entry_with_an_absurd_compression_ratio_is_refused(app: Flask,
                                                              admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    squeezed = _docx([("xl/sharedStrings.xml", bytes(8 * MB))])  # 8 MB in about 8 KB: a thousand times
    _refused(app, client, "Hours.docx", squeezed, "Hours.docx holds a file (xl/sharedStrings.xml) that would expand")


@pytest.mark.parametrize("kind", ["xlsx", "odt"])
def test_spreadsheets_and_odt_documents_are_judged_the_same_way(app: Flask, admin_client: tuple[FlaskClient, Person],
                                                                 kind: str) -> None:
    client, _ = admin_client
    bomb = _office(kind, [("media/filler.bin", bytes(150 * MB))])
    assert len(bomb) < 200 * 1024
    _refused(app, client, f"Hours.{kind}", bomb, f"Hours.{kind} would expand to 150 MB when opened, over the limit")
    crowded = _office(kind, [(f"media/part{n}.xml", b"<x/>") for n in range(1500)])
    entries = len(zipfile.ZipFile(io.BytesIO(crowded)).infolist())
    _refused(app, client, f"Parts.{kind}", crowded,
             f"Parts.{kind} holds {entries:,} files inside it; the portal accepts at most 1,000")
    # The skeleton itself is accepted, so it is the bombs that are refused, not the format.
    pid = make_portfolio(app)
    assert upload(client, pid, [(f"Fine.{kind}", office_zip(kind), "final_report")]).status_code == 302


def _with_a_second_directory_entry(archive: bytes, name: bytes) -> bytes:
    """The archive with its last entry listed twice in the directory, under another name, at the same offset."""
    end = archive.rfind(b"PK\x05\x06")
    size, offset = struct.unpack_from("<II", archive, end + 12)
    directory = archive[offset:offset + size]
    last = directory.rfind(b"PK\x01\x02")
    name_length = struct.unpack_from("<H", directory, last + 28)[0]
    copy = bytearray(directory[last:])
    copy[46:46 + name_length] = name.ljust(name_length, b"_")[:name_length]
    new_directory = directory + bytes(copy)
    count = struct.unpack_from("<H", archive, end + 10)[0] + 1
    record = bytearray(archive[end:end + 22])
    struct.pack_into("<HHII", record, 8, count, count, len(new_directory), offset)
    return archive[:offset] + new_directory + bytes(record)


def test_overlapping_entries_are_refused(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    overlapping = _with_a_second_directory_entry(_docx([("word/styles.xml", b"<styles/>" * 100)]), b"word/other")
    with zipfile.ZipFile(io.BytesIO(overlapping)) as opened:  # Python's zipfile on its own reads it happily
        assert len(opened.namelist()) == 4
    _refused(app, client, "Styles.docx", overlapping, "Styles.docx is damaged or built to mislead the programs")


def test_two_entries_with_one_name_are_refused(app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    twice = _docx([("word/comments.xml", b"<a/>")])
    buffer = io.BytesIO(twice)
    with pytest.warns(UserWarning), zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("word/comments.xml", b"<b/>")
    _refused(app, client, "Twice.docx", buffer.getvalue(), "two files inside it have the same name")


def test_an_entry_larger_than_its_directory_says_is_refused(app: Flask,
                                                           admin_client: tuple[FlaskClient, Person]) -> None:
    # The directory is all the portal reads before storing, so a lie there is caught when the entries are read
    # to make the panel's copy: each is inflated no further than its declared size and its CRC-32 checked.
    client, _ = admin_client
    honest = _docx([("word/media/notes.bin", b"n" * 3 * MB)])
    with zipfile.ZipFile(io.BytesIO(honest)) as opened:
        entry = opened.getinfo("word/media/notes.bin")
        directory_at = opened.start_dir
    lying = bytearray(honest)
    struct.pack_into("<I", lying, entry.header_offset + 22, 1000)  # local header: uncompressed size
    record = lying.find(b"word/media/notes.bin", directory_at) - 46
    struct.pack_into("<I", lying, record + 24, 1000)  # central directory: uncompressed size
    _refused(app, client, "Notes.docx", bytes(lying),
             "Notes.docx is damaged or built to mislead the programs that open it: a file inside it is not what")


@pytest.fixture
def ten_entries(app_config: dict) -> None:
    """At most 10 entries and 1 MB expanded, for this test."""
    app_config["ARCHIVE_MAX_ENTRIES"] = 10
    app_config["ARCHIVE_MAX_BYTES"] = MB


def test_the_limits_are_settings_and_exactly_at_them_is_fine(ten_entries: None, app: Flask,
                                                             admin_client: tuple[FlaskClient, Person]) -> None:
    client, _ = admin_client
    pid = make_portfolio(app)
    at_limit = _docx([(f"word/part{n}.xml", b"<x/>") for n in range(8)])
    assert upload(client, pid, [("ten.docx", at_limit, "pdp")]).status_code == 302
    eleven = _docx([(f"word/part{n}.xml", b"<x/>") for n in range(9)])
    assert "holds 11 files inside it; the portal accepts at most 10" in upload(
        client, pid, [("eleven.docx", eleven, "pdp")]).get_data(as_text=True)
    big = _docx([("word/media/a.bin", bytes(2 * MB))])
    assert "would expand to 2.0 MB when opened, over the limit of 1.0 MB" in upload(
        client, pid, [("big.docx", big, "pdp")]).get_data(as_text=True)
    for kind in ("xlsx", "odt"):
        assert upload(client, pid, [(f"ok.{kind}", office_zip(kind), "pdp")]).status_code == 302
