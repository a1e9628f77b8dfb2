"""The documents forms: upload and replacement read from the streamed body (see uploads.py), and deletion.

WTForms would need the whole body parsed first, which is exactly what must not happen to file content;
the field names below are the ones templates/documents/upload.html and replace.html render. The delete
form carries no file, so it is an ordinary WTForms form.
"""

import re
from collections.abc import Iterator

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovTextArea
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from portal.documents.services import NewFile
from portal.documents.uploads import FilePart
from portal.models import EvidenceType

UPLOAD_ROWS = 5
MAX_FIELDS = 100
MAX_REASON_CHARS = 500
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


def _stripped(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class DeleteForm(FlaskForm):
    """Why a document is being destroyed: kept in the audit trail with who did it."""

    reason = TextAreaField(
        "Why are you deleting this document?",
        widget=GovTextArea(),
        description=f"For example, it was uploaded to the wrong portfolio. Up to {MAX_REASON_CHARS} characters. "
                    "The reason is kept in the audit trail, so do not name anyone.",
        filters=[_stripped],
        validators=[DataRequired("Enter why you are deleting this document"),
                    Length(max=MAX_REASON_CHARS,
                           message=f"The reason must be {MAX_REASON_CHARS} characters or fewer")],
    )
