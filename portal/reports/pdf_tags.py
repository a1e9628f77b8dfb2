"""Tagged PDF on top of fpdf2: a nested structure tree, marked content that survives page breaks, artifacts.

fpdf2 keeps a structure tree (fpdf.structure_tree) but only tags images, links and styled section titles, each
as a flat child of /Document (titles as /Figure), and cannot follow marked content across a page break. This
module reuses that tree and fpdf2's writing of it (StructTreeRoot, ParentTree, /StructParents, /MarkInfo) and
adds what the minutes, the report and the PDF stamp need: nested elements (Table/TR/TH, L/LI), text of one
element running on to the next page, and page furniture marked as /Artifact.

Every use of fpdf2 internals is in this module and was checked against fpdf2 2.8.9 (the pinned version):
replacing `FPDF.struct_builder` (fpdf.structure_tree is documented as internal), writing BDC/EMC operators with
`FPDF._out`, and setting `PDFPage.struct_parents`, as fpdf2's own `_add_marked_content` does.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fpdf import FPDF
from fpdf.output import PDFPage
from fpdf.structure_tree import StructElem, StructureTreeBuilder
from fpdf.syntax import PDFObject


class UnsupportedTagging(TypeError):
    """fpdf2's own tagging was asked for on a TaggedPdf, which numbers marked content itself."""


class _MarkedContentRef:
    """A /K entry for marked content on another page than the element's /Pg (PDF 1.7, 14.7.4.2)."""

    def __init__(self, page: PDFPage, mcid: int) -> None:
        self.page, self.mcid = page, mcid

    def serialize(self, _security_handler: Any = None, _obj_id: int | None = None) -> str:
        """The MCR dictionary; the page's object id is known only when the file is written."""
        return f"<</Type /MCR /Pg {self.page.ref} /MCID {self.mcid}>>"


class Element(StructElem):
    """A structure element that may carry attributes (/A) and knows the page its content starts on."""

    __slots__ = ("a",)

    def __init__(self, role: str, parent: PDFObject, page: int, attributes: str | None) -> None:
        super().__init__(struct_type=f"/{role}", parent=parent, kids=[], page_number=page)
        self.a = attributes

    def page_number(self) -> int | None:
        # fpdf2 sets /Pg of the document's children from this; it must be the page of the first MCID.
        return self.pg.index() if isinstance(self.pg, PDFPage) else super().page_number()


class _StructureTree(StructureTreeBuilder):
    """fpdf2's tree builder, with every element written out (not only the document's children)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[Element] = []

    def __iter__(self) -> Iterator[PDFObject]:
        yield self.struct_tree_root
        yield self.doc_struct_elem
        yield self.struct_tree_root.parent_tree
        yield from self.elements

    def empty(self) -> bool:
        return not self.elements

    def add_marked_content(self, *args: Any, **kwargs: Any) -> Any:
        """Refuse fpdf2's own tagging (images, links, styled section titles): it would break the numbering here."""
        raise UnsupportedTagging("TaggedPdf tags its own content: draw images, links and section titles "
                                 "inside tagged() or artifact() instead of with fpdf2's own tagging")

    def mark(self, page: PDFPage, element: Element) -> int:
        """Give element the next marked-content id on page and record it in the parent tree."""
        spid = self.spid_per_page_number.setdefault(page.index(), len(self.spid_per_page_number))
        page.struct_parents = spid
        owners = self.struct_tree_root.parent_tree.nums[spid]
        mcid = len(owners)
        owners.append(element)
        if element.pg is None:
            # fpdf2 leaves StructElem.pg unannotated and sets it to None, so mypy takes None for its only type.
            element.pg = page  # type: ignore[assignment]
        element.k.append(mcid if element.pg is page else _MarkedContentRef(page, mcid))
        return mcid


class TaggedPdf(FPDF):
    """An FPDF whose content is tagged: build elements with group/tagged/marked, draw furniture as artifacts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tree = _StructureTree()
        self.struct_builder = self._tree
        self._groups: list[StructElem] = [self._tree.doc_struct_elem]
        self._marking: Element | None = None  # element whose content is being drawn
        self._open = False  # whether its marked-content sequence is open on the current page

    def element(self, role: str, attributes: str | None = None) -> Element:
        """A new structure element (H1, P, TD...) under the innermost open group."""
        parent = self._groups[-1]
        element = Element(role, parent, self.page, attributes)
        parent.k.append(element)
        self._tree.elements.append(element)
        return element

    @contextmanager
    def group(self, role: str, attributes: str | None = None) -> Iterator[Element]:
        """A grouping element (Table, TR, L, LI...): elements made inside the block become its children."""
        element = self.element(role, attributes)
        self._groups.append(element)
        try:
            yield element
        finally:
            self._groups.pop()

    @contextmanager
    def marked(self, element: Element) -> Iterator[None]:
        """Everything drawn in the block is content of element, continued on the next page after a break."""
        if self._marking is not None:
            raise RuntimeError(f"{self._marking.s} content is still open")
        self._marking = element
        self._begin()
        try:
            yield
        finally:
            if self._open:
                self._out("EMC")
            self._marking, self._open = None, False

    @contextmanager
    def tagged(self, role: str, attributes: str | None = None) -> Iterator[Element]:
        """A new element whose content is everything drawn in the block."""
        element = self.element(role, attributes)
        with self.marked(element):
            yield element

    @contextmanager
    def artifact(self, kind: str, subtype: str | None = None) -> Iterator[None]:
        """Draw page furniture (page numbers, rules, repeated table headers) that is not part of the text."""
        if self._open:
            raise RuntimeError("An artifact cannot sit inside tagged content")
        properties = f"/Type /{kind}" + (f" /Subtype /{subtype}" if subtype else "")
        self._out(f"/Artifact <<{properties}>> BDC")
        try:
            yield
        finally:
            self._out("EMC")

    def _begin(self) -> None:
        assert self._marking is not None
        mcid = self._tree.mark(self.pages[self.page], self._marking)
        self._out(f"{self._marking.s} <</MCID {mcid}>> BDC")
        self._open = True

    def footer(self) -> None:
        """Close content broken by a page break (header() reopens it) and draw the running footer."""
        if self._open:
            self._out("EMC")
            self._open = False
        with self.artifact("Pagination", "Footer"):
            self.running_footer()

    def header(self) -> None:
        """Continue content that a page break interrupted."""
        if self._marking is not None:
            self._begin()

    def running_footer(self) -> None:
        """Page furniture at the foot of every page (drawn as an artifact); nothing unless overridden."""
