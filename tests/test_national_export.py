"""The national moderation submission: summary report and a random 5% (at least one) of the assessment records,
pseudonymised, as a ZIP of PDF and DOCX with a manifest of digests; re-runnable and audited (issue 13 item 5)."""

import hashlib
import io
import json
import zipfile

from conftest import csrf_from, sign_in
from flask import Flask
from helpers_pages import build_journey
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, Nqsw, Organisation
from portal.reports import national


def _docx_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as docx:
        return docx.read("word/document.xml").decode()


def test_the_export_is_pseudonymised_digested_rerunnable_and_audited(app: Flask, make_user) -> None:
    journey = build_journey(app, make_user)
    admin = app.test_client()
    sign_in(app, admin, journey.lead)
    path = f"/meetings/{journey.earlier_id}/national-export"
    page = admin.get(path)
    assert page.status_code == 200 and "Download the export" in page.get_data(as_text=True)
    response = admin.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    manifest = json.loads(archive.read("manifest.json"))
    names = set(archive.namelist()) - {"manifest.json"}
    assert {"partnership-summary-report.pdf", "partnership-summary-report.docx",
            "assessment-record-1.pdf", "assessment-record-1.docx"} <= names
    assert set(manifest["files"]) == names
    for name in names:
        assert manifest["files"][name] == hashlib.sha256(archive.read(name)).hexdigest()
    sample = manifest["sample"]
    assert len(sample["picks"]) == max(1, -(-len(sample["population"]) * 5 // 100))
    assert national.pick(sample["seed"], sample["population"]) == sample["picks"]  # anyone can re-run it
    with app.app_context():
        secrets = set(db.session.scalars(select(Nqsw.name))) | set(db.session.scalars(select(Organisation.name)))
        secrets |= {journey.chair.name, journey.member.name}
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "national_export.created"))
        assert event is not None and sample["seed"] in event.details
    for name in names:
        if name.endswith(".docx"):
            text = _docx_text(archive.read(name))
            assert "Portfolio " in text
            assert not [s for s in secrets if s in text], name
    assert "Employer " in _docx_text(archive.read("assessment-record-1.docx"))
    # Only the administrator, and only for published minutes.
    member = app.test_client()
    sign_in(app, member, journey.chair)
    assert member.get(path).status_code == 404
    draft = f"/meetings/{journey.meeting_id}/national-export"
    assert "Publish this meeting's minutes first" in admin.get(draft).get_data(as_text=True).replace("&#39;", "'")
    token = csrf_from(admin.get(path).get_data(as_text=True))
    assert admin.post(draft, data={"csrf_token": token}).status_code == 409
