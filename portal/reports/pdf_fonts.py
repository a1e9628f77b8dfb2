"""The font of the PDFs the portal writes (minutes, summary report, the PDF_STAMP line): DejaVu Sans, embedded.

`make setup` copies DejaVu Sans from the dejavu-fonts-ttf package into static/dist/fonts (built assets are not
committed). fpdf2 embeds only the glyphs a document uses, so names such as Łukasz, Siân Llŷr, Dvořák or Cyrillic
and Greek names are drawn and extracted exactly. A character the font has no glyph for (Chinese, for instance)
is written as "?" rather than as an invisible .notdef glyph.

Without the font files (assets not built) one warning is logged and the PDFs fall back to fpdf2's built-in
Helvetica, which is not embedded and covers Latin-1 only: curly quotes and dashes become their plain forms and
other characters "?", so a PDF is still produced.
"""

import logging
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import TTFFont

log = logging.getLogger(__name__)

FONT_FOLDER = Path(__file__).resolve().parents[2] / "static" / "dist" / "fonts"
FAMILY = "DejaVuSans"
FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}  # style -> file; the PDFs use no italics
FALLBACK = "helvetica"

_LATIN1_REPLACEMENTS = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                                      "\u2014": "-", "\u2026": "...", "\u00a0": " ", "\u2022": "-"})
_warned: set[Path] = set()


@dataclass(frozen=True)
class PdfFonts:
    """The font family registered on one FPDF, and how to prepare text for it."""

    family: str
    embedded: bool  # False: the Helvetica fallback, not embedded, Latin-1 only
    covered: frozenset[int]  # code points every registered style has a glyph for (embedded fonts only)

    def text(self, value: str) -> str:
        """The text as it can be drawn: NFC, and any character without a glyph replaced by "?"."""
        if not self.embedded:
            value = unicodedata.normalize("NFC", value.translate(_LATIN1_REPLACEMENTS))
            return value.encode("latin-1", "replace").decode("latin-1")
        return "".join(map(self._glyph, unicodedata.normalize("NFC", value)))

    def _glyph(self, ch: str) -> str:
        if ord(ch) in self.covered or ch in "\n\r":  # multi_cell breaks lines at these
            return ch
        category = unicodedata.category(ch)
        if category == "Cc":  # a tab or other control character: fpdf2 would drop it silently
            return " "
        if category == "Cf":  # invisible anyway (zero-width space, joiners)
            return ""
        return "?"


def register(pdf: FPDF, styles: str = "", folder: Path | None = None) -> PdfFonts:
    """Add DejaVu Sans (regular plus each style in styles, e.g. "B") to pdf; Helvetica if the files are missing."""
    folder = FONT_FOLDER if folder is None else folder
    paths = {style: folder / FILES[style] for style in dict.fromkeys(("", *styles))}
    missing = [path.name for path in paths.values() if not path.is_file()]
    if missing:
        if folder not in _warned:  # once per folder, not once per PDF
            _warned.add(folder)
            log.warning("PDF fonts missing (%s in %s): run `make setup` to build the assets. Until then PDFs use "
                        "Helvetica, which is not embedded and replaces characters outside Latin-1 with '?'",
                        ", ".join(missing), folder)
        return PdfFonts(FALLBACK, embedded=False, covered=frozenset())
    covered: set[int] | None = None
    for style, path in paths.items():
        pdf.add_font(FAMILY, style, path)
        # fpdf2 2.8.9 keeps each font's character map (code point -> glyph) on the font object.
        font = pdf.fonts[f"{FAMILY.lower()}{style}"]
        assert isinstance(font, TTFFont)  # added from a file just above, not one of the PDF core fonts
        cmap = set(font.cmap)
        covered = cmap if covered is None else covered & cmap
    return PdfFonts(FAMILY, embedded=True, covered=frozenset(covered or ()))
