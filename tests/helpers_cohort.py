"""Helpers for the cohort tests: the cohort CSV import through HTTP (the registry rows themselves: factories.py)."""

import io
import re

from conftest import csrf_from

# The cohort CSV import, through HTTP ----------------------------------------------------------------

HEADER = ("nqsw_name,nqsw_email,employer,cohort,service,assessor_name,assessor_email,assessor_organisation,"
          "outcome,outcome_date,exemplar_consent\n")


def upload_csv(client, text: str | bytes, filename: str = "cohort.csv"):
    """Send a cohort CSV to the import page as the signed-in client."""
    token = csrf_from(client.get("/cohort/import").get_data(as_text=True))
    data = text.encode() if isinstance(text, str) else text
    return client.post("/cohort/import", data={"csrf_token": token, "file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def sealed_from(html: str) -> str:
    """The sealed preview carried from the preview page to the confirmation."""
    match = re.search(r'name="sealed" type="hidden" value="([^"]+)"|type="hidden" name="sealed" value="([^"]+)"'
                      r'|id="sealed" name="sealed" type="hidden" value="([^"]+)"', html)
    assert match, html
    return next(g for g in match.groups() if g)
