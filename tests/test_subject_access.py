"""Subject access (issue 17 item 6): the Lead's ZIP of everything held about one NQSW, Assessor or panel member."""

import hashlib
import io
import json
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import TEST_START, Person, csrf_from
from factories import add_document_row, make_employer, make_registered_portfolio, seat
from flask import Flask
from flask.testing import FlaskClient
from helpers_auth import lead_of
from helpers_disk import files_with, open_files_with
from sqlalchemy import select

from portal import audit, clock, visibility
from portal.extensions import db
from portal.models import (
    Assessment,
    AssessmentTemplate,
    AuditEvent,
    FeedbackRecipient,
    FeedbackRelease,
    Nqsw,
    PanelView,
    Portfolio,
    ReadingNote,
    ReadReceipt,
    Role,
    User,
)

A_NOTE = "A-PRIVATE-NOTE-7Q2"
B_NOTE = "B-PRIVATE-NOTE-9K4"
A_ANSWER = "A-ASSESSMENT-ANSWER-3J8"
TO_NQSW = "FEEDBACK-TO-THE-NQSW-5M1"
TO_ASSESSOR = "FEEDBACK-TO-THE-ASSESSOR-6P0"


@dataclass
class World:
    """Ids of the people and things the exports are about."""

    admin: FlaskClient
    admin_person: Person
    member_a: Person
    member_b: Person
    nqsw_account: Person
    nqsw_id: int
    assessor_id: int
    portfolio_id: int
    document_id: int


@pytest.fixture
def world(app: Flask, admin_client: tuple[FlaskClient, Person], signed_in: Callable[..., tuple[FlaskClient, Person]],
          make_user: Callable[..., Person]) -> World:
    admin, lead = admin_client
    _, member_a = signed_in(Role.MEMBER, name="Member Alpha")
    _, member_b = signed_in(Role.MEMBER, name="Member Beta")
    portfolio_id = make_registered_portfolio(app, 1)
    nqsw_account = make_user(Role.NQSW, email="nqsw1@example.org", name="Nqsw Person 1")
    document_id, versions = add_document_row(app, portfolio_id, lead.id, title="Final report", versions=2)
    meeting_a = seat(app, member_a.id, [portfolio_id])
    seat(app, member_b.id, [portfolio_id])
    with app.app_context():
        portfolio = db.session.get(Portfolio, portfolio_id)
        nqsw_id, assessor_id = portfolio.nqsw_id, portfolio.assessor_id
        db.session.get(Nqsw, nqsw_id).user_id = nqsw_account.id
        template = AssessmentTemplate(name="Subject access test", version=1, schema=json.dumps({"sections": []}),
                                      created_at=clock.now())
        db.session.add(template)
        db.session.flush()
        now = clock.now()
        db.session.add(Assessment(meeting_id=meeting_a, portfolio_id=portfolio_id, user_id=member_a.id,
                                  template_id=template.id, answers=json.dumps({"evidence": A_ANSWER}),
                                  status="submitted", created_at=now, updated_at=now, submitted_at=now))
        db.session.add(PanelView(meeting_id=meeting_a, portfolio_id=portfolio_id, decision_view="Sound decision",
                                 feedback_nqsw=TO_NQSW, feedback_assessor=TO_ASSESSOR))
        release = FeedbackRelease(meeting_id=meeting_a, target_on=clock.today(), released_at=now,
                                  released_by_id=lead.id)
        release.recipients.append(FeedbackRecipient(user_id=nqsw_account.id, has_feedback=True, notified_at=now))
        db.session.add(release)
        db.session.add(ReadingNote(user_id=member_a.id, document_id=document_id, page=2, body=A_NOTE,
                                   created_at=now, updated_at=now))
        db.session.add(ReadingNote(user_id=member_b.id, document_id=document_id, page=None, body=B_NOTE,
                                   created_at=now, updated_at=now))
        db.session.add(ReadReceipt(user_id=member_a.id, document_id=document_id, version_id=versions[-1],
                                   first_at=now, last_at=now, views=3, downloads=1))
        audit.record(db.session.get(User, lead.id), "portfolio.outcome_recorded", f"portfolio:{portfolio_id}")
        db.session.commit()
    return World(admin, lead, member_a, member_b, nqsw_account, nqsw_id, assessor_id, portfolio_id, document_id)


def export(client: FlaskClient, path: str) -> dict[str, bytes]:
    """POST the export form as the page sends it; the ZIP's files by name."""
    page = client.get(path)
    assert page.status_code == 200
    response = client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="subject-access-export-') and disposition.endswith('.zip"')
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def text(files: dict[str, bytes], name: str) -> str:
    return files[name].decode("utf-8")


def everything(files: dict[str, bytes]) -> str:
    return "".join(content.decode("utf-8") for content in files.values())


def manifest_checks(files: dict[str, bytes], admin: Person) -> dict:
    manifest = json.loads(files["manifest.json"])
    listed = {entry["name"]: entry for entry in manifest["files"]}
    assert set(listed) == set(files) - {"manifest.json"}
    for name, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(files[name]).hexdigest(), name
        assert entry["bytes"] == len(files[name]) and entry["description"]
    assert manifest["generated_by"] == {"id": admin.id, "name": admin.name}
    generated = datetime.fromisoformat(manifest["generated_at_utc"])
    assert timedelta(0) <= clock.now() - generated < timedelta(minutes=1)  # the portal's clock (it ticks)
    return listed


def test_an_nqsw_export_holds_their_registry_entries_documents_feedback_and_assessments_of_them(
        app: Flask, world: World) -> None:
    files = export(world.admin, f"/cohort/nqsws/{world.nqsw_id}/subject-access")
    listed = manifest_checks(files, world.admin_person)
    person = json.loads(files["person.json"])
    assert person["account"]["id"] == world.nqsw_account.id and person["account"]["email"] == "nqsw1@example.org"
    assert "password_hash" not in text(files, "person.json") and world.nqsw_account.secret not in everything(files)
    [entry] = person["nqsw_entries"]
    assert entry["id"] == world.nqsw_id and entry["employer"]["name"] == "Northshire Council"
    assert [p["id"] for p in entry["portfolios"]] == [world.portfolio_id]
    assert person["assessor_entries"] == []
    documents = text(files, "documents.csv").splitlines()
    assert len(documents) == 3 and all("Final report" in line for line in documents[1:])
    assert listed["documents.csv"]["records"] == 2
    feedback = text(files, "feedback.csv")
    assert TO_NQSW in feedback and TO_ASSESSOR not in feedback
    assert listed["feedback.csv"]["records"] == 1
    of_them = text(files, "assessments_of_their_portfolio.csv")
    assert A_ANSWER in of_them and "Member Alpha" not in of_them and "member" not in of_them.lower()
    assert "Sound decision" in text(files, "panel_view_of_their_portfolio.csv")
    assert A_NOTE not in everything(files) and B_NOTE not in everything(files)
    assert listed["their_assessments.csv"]["records"] == 0
    assert "portfolio.outcome_recorded" in text(files, "audit_events.csv")
    # Named by their account instead, the same person: the account finds the registry entry linked to it.
    by_account = export(world.admin, f"/admin/people/{world.nqsw_account.id}/subject-access")
    assert json.loads(by_account["person.json"])["nqsw_entries"] == person["nqsw_entries"]


def test_an_account_finds_a_registry_entry_with_its_email_address_not_yet_linked(
        app: Flask, world: World, make_user: Callable[..., Person]) -> None:
    account = make_user(Role.ASSESSOR, email="Assessor1@example.org", name="Assessor Person 1")
    files = export(world.admin, f"/admin/people/{account.id}/subject-access")
    person = json.loads(files["person.json"])
    assert [entry["id"] for entry in person["assessor_entries"]] == [world.assessor_id]
    assert person["nqsw_entries"] == [] and TO_ASSESSOR in text(files, "feedback.csv")


def test_an_assessor_export_holds_the_feedback_to_them_and_not_the_nqsws_data(app: Flask, world: World) -> None:
    files = export(world.admin, f"/cohort/assessors/{world.assessor_id}/subject-access")
    listed = manifest_checks(files, world.admin_person)
    person = json.loads(files["person.json"])
    assert person["account"] is None and person["nqsw_entries"] == []
    [entry] = person["assessor_entries"]
    assert entry["email"] == "assessor1@example.org" and entry["assesses_portfolios"] == [world.portfolio_id]
    feedback = text(files, "feedback.csv")
    assert TO_ASSESSOR in feedback and TO_NQSW not in feedback
    assert listed["documents.csv"]["records"] == 0 and listed["assessments_of_their_portfolio.csv"]["records"] == 0
    assert "Nqsw Person 1" not in everything(files) and "nqsw1@example.org" not in everything(files)
    assert json.loads(files["manifest.json"])["subject"]["assessor_entries"] == [world.assessor_id]


def test_a_members_export_holds_their_own_notes_and_assessments_and_no_one_elses(app: Flask, world: World) -> None:
    files_a = export(world.admin, f"/admin/people/{world.member_a.id}/subject-access")
    listed = manifest_checks(files_a, world.admin_person)
    assert A_NOTE in text(files_a, "their_reading_notes.csv") and B_NOTE not in everything(files_a)
    assert listed["their_reading_notes.csv"]["records"] == 1
    assert A_ANSWER in text(files_a, "their_assessments.csv") and listed["their_assessments.csv"]["records"] == 1
    receipts = text(files_a, "read_receipts.csv").splitlines()
    assert len(receipts) == 2 and receipts[1].endswith(",3,1")
    assert listed["sign_in_attempts.csv"]["records"] == 1  # their sign-in (the fixture's)
    assert text(files_a, "sign_in_attempts.csv").splitlines()[1].endswith(",True")
    audit_rows = text(files_a, "audit_events.csv")
    assert "sign_in.succeeded" in audit_rows and "portfolio.outcome_recorded" not in audit_rows
    seats = json.loads(files_a["person.json"])["account"]["meeting_seats"]
    assert [s["panel_role"] for s in seats] == ["member"]
    files_b = export(world.admin, f"/admin/people/{world.member_b.id}/subject-access")
    assert B_NOTE in text(files_b, "their_reading_notes.csv") and A_NOTE not in everything(files_b)
    assert A_ANSWER not in everything(files_b)


def test_the_export_is_audited_with_ids_and_counts_only(app: Flask, world: World) -> None:
    export(world.admin, f"/admin/people/{world.member_a.id}/subject-access")
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "subject_access.exported"))
        details = json.loads(event.details)
        assert event.actor_id == world.admin_person.id and event.target == f"user:{world.member_a.id}"
    assert details["account"] == world.member_a.id and details["counts"]["their_reading_notes.csv"] == 1
    assert world.member_a.email not in event.details and world.member_a.name not in event.details
    assert A_NOTE not in event.details


def test_the_page_explains_the_export_and_is_linked_from_the_persons_pages(app: Flask, world: World) -> None:
    page = world.admin.get(f"/admin/people/{world.nqsw_account.id}/subject-access").get_data(as_text=True)
    assert "Export everything held about Nqsw Person 1" in page and "manifest.json" in page
    assert "NQSW registry entry" in page and "Download the export" in page
    for path, target in [(f"/admin/people/{world.member_a.id}", f"/admin/people/{world.member_a.id}/subject-access"),
                         (f"/cohort/nqsws/{world.nqsw_id}/edit", f"/cohort/nqsws/{world.nqsw_id}/subject-access"),
                         (f"/cohort/assessors/{world.assessor_id}/edit",
                          f"/cohort/assessors/{world.assessor_id}/subject-access")]:
        assert f'href="{target}"' in world.admin.get(path).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "subject_access.exported")) is None


@pytest.mark.parametrize("role", [Role.MEMBER, Role.ASSESSOR, Role.NQSW, Role.OBSERVER])
def test_other_roles_get_404(app: Flask, world: World, role: Role,
                             signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    client, _ = signed_in(role)
    token = csrf_from(client.get("/account/password").get_data(as_text=True))
    for path in (f"/admin/people/{world.member_a.id}/subject-access", f"/cohort/nqsws/{world.nqsw_id}/subject-access",
                 f"/cohort/assessors/{world.assessor_id}/subject-access"):
        assert client.get(path).status_code == 404
        response = client.post(path, data={"csrf_token": token})
        assert response.status_code == 404 and response.mimetype != "application/zip"
    with app.app_context():
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "subject_access.exported")) is None


def test_unknown_ids_and_people_the_rule_refuses_are_404(app: Flask, world: World,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    token = csrf_from(world.admin.get(f"/admin/people/{world.member_a.id}/subject-access").get_data(as_text=True))
    for path in ("/admin/people/9999/subject-access", "/cohort/nqsws/9999/subject-access",
                 "/cohort/assessors/9999/subject-access"):
        assert world.admin.get(path).status_code == 404
        assert world.admin.post(path, data={"csrf_token": token}).status_code == 404
    # The one rule decides: when it refuses someone, their export does not exist for the acting person.
    monkeypatch.setattr(visibility, "may_export_subject", lambda actor, account, nqsws, assessors: False)
    path = f"/admin/people/{world.member_a.id}/subject-access"
    assert world.admin.get(path).status_code == 404
    assert world.admin.post(path, data={"csrf_token": token}).status_code == 404


def test_a_post_without_the_csrf_token_is_refused(app: Flask, world: World) -> None:
    response = world.admin.post(f"/admin/people/{world.member_a.id}/subject-access", data={})
    assert response.status_code == 400 and response.mimetype != "application/zip"


def test_the_export_never_puts_plaintext_on_disk(app: Flask, world: World, temp_files: list[str]) -> None:
    # The ZIP is built in memory: no temporary file is made, and the decrypted note is in no file on disk, nor in
    # any file the process holds open, after the download (the same checks find it when it is written: see
    # test_uploads.test_marker_scans_find_plaintext).
    started = time.time() - 1
    files = export(world.admin, f"/admin/people/{world.member_a.id}/subject-access")
    assert A_NOTE in text(files, "their_reading_notes.csv")
    marker = A_NOTE.encode()
    roots = [Path(app.instance_path), Path(app.config["BLOB_DIR"])]
    assert temp_files == []
    assert files_with(roots, marker) == [] and files_with([Path(tempfile.gettempdir())], marker, started) == []
    assert open_files_with(marker) == []


def test_the_export_is_dated_by_the_portals_clock(app: Flask, world: World) -> None:
    clock.advance(timedelta(minutes=5))  # within the session's idle timeout
    files = export(world.admin, f"/admin/people/{world.member_a.id}/subject-access")
    generated = datetime.fromisoformat(json.loads(files["manifest.json"])["generated_at_utc"])
    assert TEST_START + timedelta(minutes=5) <= generated < TEST_START + timedelta(minutes=10)


def test_an_employer_lead_exports_their_own_employers_people_only(app: Flask, world: World,
                                                                   make_user: Callable[..., Person]) -> None:
    riverside, oakwood = make_employer(app, "Riverside Care"), make_employer(app, "Oakwood Family Trust")
    with app.app_context():
        db.session.get(Nqsw, world.nqsw_id).employer_id = riverside
        db.session.get(User, world.nqsw_account.id).organisation_id = riverside
        db.session.commit()
    own_lead, _ = lead_of(app, make_user, riverside)
    other_lead, _ = lead_of(app, make_user, oakwood)
    files = export(own_lead, f"/cohort/nqsws/{world.nqsw_id}/subject-access")
    assert "Nqsw Person 1" in text(files, "person.json")
    for path in (f"/cohort/nqsws/{world.nqsw_id}/subject-access",  # another employer's people, and a panel member
                 f"/admin/people/{world.nqsw_account.id}/subject-access",
                 f"/admin/people/{world.member_a.id}/subject-access"):
        assert other_lead.get(path).status_code == 404, path
    assert own_lead.get(f"/admin/people/{world.member_a.id}/subject-access").status_code == 404
