"""Finding people's names in a document's text, page by page. Pure: imports no Flask and no models.

A name is found where its words appear in order as whole words, ignoring case, accents on letters as typed,
punctuation and line breaks between them ("Jane Smith", "JANE\nSMITH", "Smith, Jane"). Names are looked up by
their first word in a dictionary, so the work grows with the length of the text, not with the number of names in
the registry (a national registry holds thousands).
"""

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# A word: letters, with apostrophes or hyphens inside it (O'Neil, Smith-Jones).
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019\-][^\W\d_]+)*")


@dataclass(frozen=True)
class Name:
    """A name to look for, and who it is ("the NQSW", "the Assessor", "another NQSW in the registry")."""

    text: str
    who: str


@dataclass
class Found:
    """A name found in a document: on which pages (numbered from 1; empty for a document without pages)."""

    name: str
    who: str
    pages: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "who": self.who, "pages": self.pages}


def words(text: str) -> list[str]:
    """The words of a text, folded for comparison (case and compatibility forms; apostrophes made plain)."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")
    return _WORD.findall(folded)


def _variants(name: Name) -> list[tuple[str, ...]]:
    """The word sequences that count as the name: as written and, for two words or more, surname first."""
    written = tuple(words(name.text))
    if not written:
        return []
    if len(written) == 1:
        return [written]
    return [written, (written[-1], *written[:-1])]


class Finder:
    """Looks for a fixed set of names in texts."""

    def __init__(self, names: Iterable[Name]) -> None:
        # first word -> [(the whole word sequence, the name)]; the first name given for a sequence wins, so the
        # portfolio's own NQSW and Assessor (given first) are named as such even if the registry repeats them.
        self._by_first: dict[str, list[tuple[tuple[str, ...], Name]]] = {}
        seen: set[tuple[str, ...]] = set()
        for name in names:
            for sequence in _variants(name):
                if sequence in seen:
                    continue
                seen.add(sequence)
                self._by_first.setdefault(sequence[0], []).append((sequence, name))

    def names_in(self, text: str) -> list[Name]:
        """The names that appear in one text, in the order first seen."""
        found: dict[Name, None] = {}
        tokens = words(text)
        for index, token in enumerate(tokens):
            for sequence, name in self._by_first.get(token, ()):
                if tuple(tokens[index:index + len(sequence)]) == sequence:
                    found.setdefault(name)
        return list(found)

    def find(self, pages: Sequence[str], paged: bool) -> list[Found]:
        """The names in a document given as its pages' texts (one text for a document without pages)."""
        results: dict[Name, Found] = {}
        for number, text in enumerate(pages, start=1):
            for name in self.names_in(text):
                item = results.setdefault(name, Found(name.text, name.who))
                if paged:
                    item.pages.append(number)
        return list(results.values())


def describe_pages(pages: Sequence[int]) -> str:
    """'page 3', 'pages 1 and 4', 'pages 1, 2 and 7', 'pages 2 to 5 and 9'."""
    if not pages:
        return ""
    runs: list[str] = []
    start = previous = pages[0]
    for number in [*pages[1:], None]:
        if number is not None and number == previous + 1:
            previous = number
            continue
        if previous - start >= 2:
            runs.append(f"{start} to {previous}")
        else:
            runs.extend(str(n) for n in range(start, previous + 1))
        if number is not None:
            start = previous = number
    if len(pages) == 1:
        return f"page {runs[0]}"
    text = ", ".join(runs[:-1]) + (" and " if len(runs) > 1 else "") + runs[-1]
    return f"pages {text}"
