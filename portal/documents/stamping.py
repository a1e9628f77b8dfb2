"""The optional PDF_STAMP setting: each page of a PDF a person opens or downloads carries their name.

fpdf2 draws a one-line overlay the size of each page and pypdf merges it on top. This needs the whole
(already authenticated) PDF in memory, bounded by MAX_UPLOAD_BYTES, which is why the setting is off by default.
"""

import io

from portal.models import User

_RED = (160, 0, 0)


class StampFailure(Exception):
    """The PDF could not be read to be stamped."""


def stamp_text(user: User, when: str) -> str:
    """The words put on every page."""
    return f"Confidential - viewed by {user.name} on {when}"


def stamp(pdf: bytes, text: str) -> bytes:
    """Return the PDF with the text along the foot of every page."""
    from fpdf import FPDF
    from pypdf import PdfReader, PdfWriter

    line = text.encode("latin-1", "replace").decode("latin-1")  # the core PDF fonts cover Latin-1 only
    try:
        writer = PdfWriter(clone_from=io.BytesIO(pdf))
        for page in writer.pages:
            width, height = float(page.mediabox.width), float(page.mediabox.height)
            overlay = FPDF(unit="pt", format=(width, height))
            overlay.set_auto_page_break(False)
            overlay.add_page()
            overlay.set_font("helvetica", size=9)
            overlay.set_text_color(*_RED)
            overlay.text(x=18, y=height - 14, text=line)
            page.merge_page(PdfReader(io.BytesIO(bytes(overlay.output()))).pages[0])
        out = io.BytesIO()
        writer.write(out)
    except Exception as exc:  # pypdf raises many kinds of error for a malformed PDF
        raise StampFailure(f"the PDF could not be stamped: {type(exc).__name__}") from exc
    return out.getvalue()
