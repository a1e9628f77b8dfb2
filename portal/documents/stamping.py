"""The optional PDF_STAMP setting: each page of a PDF a person opens or downloads carries their name.

fpdf2 draws a one-line overlay for all pages (one overlay page the size of each page, so the font is loaded
once) and pypdf merges each overlay page on top. The line uses the portal's embedded PDF font (pdf_fonts), so
any name is stamped exactly, and it is marked as a watermark artifact, so a tagged PDF stays fully tagged. This
needs the whole (already authenticated) PDF in memory, bounded by MAX_UPLOAD_BYTES, which is why the setting
is off by default.
"""

import io

from portal.models import User
from portal.reports import pdf_fonts

_RED = (160, 0, 0)


class StampFailure(Exception):
    """The PDF could not be read to be stamped."""


def stamp_text(user: User, when: str) -> str:
    """The words put on every page."""
    return f"Confidential - viewed by {user.name} on {when}"


def stamp(pdf: bytes, text: str) -> bytes:
    """Return the PDF with the text along the foot of every page."""
    from pypdf import PdfReader, PdfWriter

    from portal.reports.pdf_tags import TaggedPdf

    try:
        writer = PdfWriter(clone_from=io.BytesIO(pdf))
        if writer.pages:
            overlay = TaggedPdf(unit="pt")
            overlay.set_auto_page_break(False)
            typeface = pdf_fonts.register(overlay)
            line = typeface.text(text)
            for page in writer.pages:
                width, height = float(page.mediabox.width), float(page.mediabox.height)
                overlay.add_page(format=(width, height))
                overlay.set_font(typeface.family, size=9)
                overlay.set_text_color(*_RED)
                with overlay.artifact("Pagination", "Watermark"):
                    overlay.text(x=18, y=height - 14, text=line)
            stamps = PdfReader(io.BytesIO(bytes(overlay.output()))).pages
            for page, stamped in zip(writer.pages, stamps, strict=True):
                page.merge_page(stamped)
        out = io.BytesIO()
        writer.write(out)
    except Exception as exc:  # pypdf raises many kinds of error for a malformed PDF
        raise StampFailure(f"the PDF could not be stamped: {type(exc).__name__}") from exc
    return out.getvalue()
