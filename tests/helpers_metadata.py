"""Files of each accepted kind with a person's name in every metadata field the panel's copy must not carry."""

import io
import zipfile

NAME = "Jane Smith (NQSW)"
INITIALS = "JQZ"  # initials that occur nowhere else in the files
LOGIN = "jane.smith@council.example"
PATH = r"C:\Users\JaneSmith\AppData\Roaming\Microsoft\Templates\Normal.dotm"
IDENTIFYING = (NAME.encode(), b"Jane Smith", b"JaneSmith", INITIALS.encode(), LOGIN.encode())

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
CP = "http://schemas.openxmlformats.org/package/2006/metadata/core-properties"
DC = "http://purl.org/dc/elements/1.1/"
DCTERMS = "http://purl.org/dc/terms/"
EP = "http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"
CUSTOM = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
VT = "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"
REL = "http://schemas.openxmlformats.org/package/2006/relationships"
XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def _core() -> str:
    fields = "".join(f"<{tag}>{NAME}</{tag}>" for tag in (
        "dc:creator", "cp:lastModifiedBy", "dc:title", "dc:subject", "dc:description", "cp:keywords", "cp:category",
        "cp:contentStatus"))
    return (f'{XML}<cp:coreProperties xmlns:cp="{CP}" xmlns:dc="{DC}" xmlns:dcterms="{DCTERMS}">{fields}'
            "</cp:coreProperties>")


def _app(application: str) -> str:
    return (f'{XML}<Properties xmlns="{EP}" xmlns:vt="{VT}"><Application>{application}</Application>'
            f"<Company>{NAME}</Company><Manager>{NAME}</Manager><Template>{PATH}</Template></Properties>")


def _custom() -> str:
    return (f'{XML}<Properties xmlns="{CUSTOM}" xmlns:vt="{VT}"><property fmtid="{{D5CDD505-2E9C-101B-9397-'
            f'08002B2CF9AE}}" pid="2" name="Owner"><vt:lpwstr>{NAME}</vt:lpwstr></property></Properties>')


def _zip(entries: list[tuple[str, str | bytes]], stored_first: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, (name, content) in enumerate(entries):
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 1, 9, 0, 0))
            info.compress_type = zipfile.ZIP_STORED if stored_first and number == 0 else zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def docx() -> bytes:
    """A Word document: properties, comments, tracked insertions, deletions and moves, people, template path."""
    change = f'w:author="{NAME}" w:date="2026-11-01T09:00:00Z"'
    document = (f'{XML}<w:document xmlns:w="{W}"><w:body>'
                f'<w:p><w:r><w:t>Reflection on practice.</w:t></w:r></w:p>'
                f'<w:p><w:ins w:id="1" {change}><w:r><w:t>Added by a reviewer.</w:t></w:r></w:ins>'
                f'<w:del w:id="2" {change}><w:r><w:delText>Removed.</w:delText></w:r></w:del>'
                f'<w:moveFrom w:id="3" {change}><w:r><w:t>Moved.</w:t></w:r></w:moveFrom>'
                f'<w:r><w:rPr><w:rPrChange w:id="4" {change}><w:rPr/></w:rPrChange></w:rPr><w:t>Restyled.</w:t></w:r>'
                f'<w:commentRangeStart w:id="0"/><w:r><w:t>Commented.</w:t></w:r><w:commentRangeEnd w:id="0"/>'
                f'</w:p></w:body></w:document>')
    comments = (f'{XML}<w:comments xmlns:w="{W}"><w:comment w:id="0" w:author="{NAME}" w:initials="{INITIALS}" '
                f'w:date="2026-11-01T09:00:00Z"><w:p><w:r><w:t>A comment.</w:t></w:r></w:p></w:comment></w:comments>')
    people = (f'{XML}<w15:people xmlns:w15="http://schemas.microsoft.com/office/word/2012/wordml">'
              f'<w15:person w15:author="{NAME}"><w15:presenceInfo w15:providerId="AD" w15:userId="{LOGIN}"/>'
              "</w15:person></w15:people>")
    settings_rels = (f'{XML}<Relationships xmlns="{REL}"><Relationship Id="rId1" Type="http://schemas.openxmlformats'
                     '.org/officeDocument/2006/relationships/attachedTemplate" '
                     f'Target="file:///{PATH}" TargetMode="External"/></Relationships>')
    parts = entries(_python_docx_base())
    parts.update({"docProps/core.xml": _core().encode(), "docProps/app.xml": _app("Microsoft Office Word").encode(),
                  "docProps/custom.xml": _custom().encode(), "word/document.xml": document.encode(),
                  "word/comments.xml": comments.encode(), "word/people.xml": people.encode(),
                  "word/_rels/settings.xml.rels": settings_rels.encode()})
    return _zip(list(parts.items()))


def _python_docx_base() -> bytes:
    """An empty document as Word's own library writes it (content types, relationships, styles)."""
    import docx as python_docx

    out = io.BytesIO()
    python_docx.Document().save(out)
    return out.getvalue()


def xlsx() -> bytes:
    """An Excel workbook: properties, comment authors, threaded-comment persons, shared-workbook user, path."""
    workbook = (f'{XML}<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
                'xmlns:x15ac="http://schemas.microsoft.com/office/spreadsheetml/2010/11/ac">'
                f'<fileSharing userName="{NAME}"/><mc:AlternateContent><mc:Choice Requires="x15">'
                r'<x15ac:absPath url="C:\Users\JaneSmith\Documents\"/></mc:Choice></mc:AlternateContent>'
                '<sheets><sheet name="Hours" sheetId="1"/></sheets></workbook>')
    comments = (f'{XML}<comments xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><authors>'
                f'<author>{NAME}</author><author>tc={{0001}}</author></authors><commentList>'
                '<comment ref="A1" authorId="0"><text><t>Checked.</t></text></comment></commentList></comments>')
    persons = ('<personList xmlns="http://schemas.microsoft.com/office/spreadsheetml/2018/threadedcomments">'
               f'<person displayName="{NAME}" id="{{0001}}" userId="{LOGIN}" providerId="AD"/></personList>')
    revisions = (f'{XML}<headers xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" guid="{{1}}">'
                 f'<header guid="{{2}}" dateTime="2026-11-01T09:00:00" userName="{NAME}" r:id="rId1" '
                 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"/></headers>')
    return _zip([
        ("[Content_Types].xml", f"{XML}<Types/>"), ("docProps/core.xml", _core()),
        ("docProps/app.xml", _app("Microsoft Excel")), ("docProps/custom.xml", _custom()),
        ("xl/workbook.xml", workbook), ("xl/worksheets/sheet1.xml", f"{XML}<worksheet><v>Protected time 10%</v>"
                                                                    "</worksheet>"),
        ("xl/comments1.xml", comments), ("xl/persons/person.xml", persons),
        ("xl/revisions/revisionHeaders.xml", revisions),
    ])


def odt() -> bytes:
    """An OpenDocument text: meta.xml, an annotation and a tracked change, each with its creator."""
    office = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
    text = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
    meta_ns = "urn:oasis:names:tc:opendocument:xmlns:meta:1.0"
    ns = f'xmlns:office="{office}" xmlns:text="{text}" xmlns:dc="{DC}" xmlns:meta="{meta_ns}"'
    meta = (f'{XML}<office:document-meta {ns} office:version="1.3"><office:meta>'
            f"<meta:initial-creator>{NAME}</meta:initial-creator><dc:creator>{NAME}</dc:creator>"
            f"<dc:title>{NAME}</dc:title><dc:subject>{NAME}</dc:subject><meta:keyword>{NAME}</meta:keyword>"
            f'<meta:user-defined meta:name="Owner">{NAME}</meta:user-defined></office:meta></office:document-meta>')
    content = (f'{XML}<office:document-content {ns} office:version="1.3"><office:body><office:text>'
               "<text:tracked-changes><text:changed-region text:id=\"c1\"><text:insertion><office:change-info>"
               f"<dc:creator>{NAME}</dc:creator><dc:date>2026-11-01T09:00:00</dc:date></office:change-info>"
               "</text:insertion></text:changed-region></text:tracked-changes>"
               "<text:p>Reflection.<office:annotation><dc:creator>" + NAME + "</dc:creator>"
               f"<meta:creator-initials>{INITIALS}</meta:creator-initials><dc:date>2026-11-01T09:00:00</dc:date>"
               "<text:p>A comment.</text:p></office:annotation></text:p>"
               "</office:text></office:body></office:document-content>")
    return _zip([("mimetype", "application/vnd.oasis.opendocument.text"), ("content.xml", content),
                 ("meta.xml", meta), ("styles.xml", f'{XML}<office:document-styles {ns}/>'),
                 ("META-INF/manifest.xml", f"{XML}<manifest/>")], stored_first=True)


def pdf() -> bytes:
    """A PDF: the document information dictionary, XMP metadata and a comment, each naming the person."""
    from pypdf import PdfWriter
    from pypdf.annotations import Text
    from pypdf.generic import NameObject, TextStringObject

    writer = PdfWriter()
    writer.add_blank_page(300, 300)
    writer.add_metadata({key: NAME for key in ("/Author", "/Title", "/Subject", "/Keywords", "/Creator",
                                               "/Producer", "/Owner")})
    writer.xmp_metadata = (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
        f'xmlns:dc="{DC}" xmlns:xmp="http://ns.adobe.com/xap/1.0/"><dc:creator><rdf:Seq><rdf:li>{NAME}</rdf:li>'
        f"</rdf:Seq></dc:creator><xmp:CreatorTool>{NAME}</xmp:CreatorTool></rdf:Description></rdf:RDF>"
        '</x:xmpmeta><?xpacket end="w"?>').encode()
    comment = Text(rect=(20, 20, 60, 60), text="Checked against the KSS.")
    comment[NameObject("/T")] = TextStringObject(NAME)
    writer.add_annotation(0, comment)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def jpeg() -> bytes:
    """A JPEG turned by its EXIF orientation, with the person in EXIF, XMP, IPTC and a comment."""
    from PIL import Image

    image = Image.new("RGB", (64, 32), (200, 30, 30))
    for x in range(32):
        image.putpixel((x, 5), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotated
    exif[0x013B] = NAME  # Artist
    exif[0x8298] = NAME  # Copyright
    exif[0x010E] = NAME  # ImageDescription
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif.tobytes(), comment=NAME.encode())
    data = out.getvalue()
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><dc:creator>" + NAME.encode() + b"</dc:creator></x:xmpmeta>"
    iptc = b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x14\x1c\x02\x50\x00\x11" + NAME.encode()
    extra = b"".join(bytes([0xFF, marker]) + (len(body) + 2).to_bytes(2, "big") + body
                     for marker, body in ((0xE1, xmp), (0xED, iptc)))
    return data[:2] + extra + data[2:] + b"trailing " + NAME.encode()


def png() -> bytes:
    """A PNG with the person in tEXt, zTXt and iTXt chunks and in EXIF."""
    from PIL import Image, PngImagePlugin

    image = Image.new("RGB", (16, 16), (10, 120, 10))
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", NAME)
    info.add_text("Comment", NAME, zip=True)
    info.add_itxt("Description", NAME, lang="en", tkey="Description")
    exif = Image.Exif()
    exif[0x013B] = NAME
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info, exif=exif.tobytes())
    return out.getvalue()


def entries(archive: bytes) -> dict[str, bytes]:
    """Every entry of a zip, inflated."""
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        return {name: opened.read(name) for name in opened.namelist()}


def identifying(content: bytes) -> list[bytes]:
    """Which identifying strings occur in these bytes (raw, and in every entry if they are a zip)."""
    found = [clue for clue in IDENTIFYING if clue in content]
    if content.startswith(b"PK"):
        for body in entries(content).values():
            found += [clue for clue in IDENTIFYING if clue in body and clue not in found]
    return found
