"""The upload and replacement forms, read from the streamed body (see uploads.py) rather than WTForms.

WTForms would need the whole body parsed first, which is exactly what must not happen to file content;
the field names below are the ones templates/documents/upload.html and replace.html render.
"""

import re
from collections.abc import Iterator

from portal.documents.services import NewFile
from portal.documents.uploads import FilePart
from portal.models import EvidenceType

UPLOAD_ROWS = 5
MAX_FIELDS = 100
_FILE_FIELD = re.compile(r"file-(\d{1,2})")


def evidence_choices() -> list[tuple[str, str]]:
    """The evidence types as (value, label) for the select boxes."""
    return [(e.value, e.label) for e in EvidenceType]


def new_files(parts: Iterator[tuple[str, str] | FilePart]) -> Iterator[NewFile]:
    """Each chosen file with the evidence type and title given in its row (which come before it)."""
    fields: dict[str, str] = {}
    for part in parts:
        if isinstance(part, tuple):
            if len(fields) < MAX_FIELDS:
                fields[part[0]] = part[1]
            continue
        match = _FILE_FIELD.fullmatch(part.name)
        if match is None or not part.filename:
            continue  # an empty file box: the reader skips its (empty) content
        row = match.group(1)
        yield NewFile(fields.get(f"evidence_type-{row}", ""), fields.get(f"title-{row}", ""), part.filename,
                      part.chunks, part.content_type, field=f"file-{row}")


def replacement_file(parts: Iterator[tuple[str, str] | FilePart]) -> FilePart | None:
    """The file chosen on the replacement form, if any."""
    for part in parts:
        if isinstance(part, FilePart) and part.name == "file" and part.filename:
            return part
    return None
