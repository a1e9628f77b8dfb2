"""The versioned assessment template: the built-in default, publishing a new version, validation."""

import json

import pytest
from conftest import submit
from helpers_reviews import answers_for, base, make_meeting
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Assessment, AssessmentTemplate, AuditEvent, Role
from portal.reviews import form_schema
from portal.reviews.template_default import DEFAULT_SCHEMA


def _template_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AssessmentTemplate))


def test_default_template_is_valid_and_keeps_the_counted_keys():
    schema, problems = form_schema.validate(json.dumps(DEFAULT_SCHEMA))
    assert problems == [] and schema == DEFAULT_SCHEMA
    keys = {(q.get("group"), q["key"]) for s in DEFAULT_SCHEMA["sections"] for q in s["questions"]}
    for key in ("accurate", "valid", "robust", "sufficient", "agreement", "agreement_comment", "supervision_frequency",
                "protected_time", "reduced_workload", "reviews_3_and_6_months", "support_comment",
                "feedback_assessor", "feedback_nqsw", "exemplars", "themes", "accurate_comment"):
        assert (None, key) in keys, key
    assert ("evidence", "people_feedback") in keys and ("evidence", "direct_observation") in keys


def test_the_default_is_seeded_on_first_use_not_on_viewing(app, signed_in):
    client, member = signed_in(Role.MEMBER)
    panel = make_meeting(app, [(member.id, "member")], portfolios=1)
    client.get(base(panel, panel.portfolio_ids[0]))
    assert _template_count(app) == 0  # a GET changes nothing
    submit(client, f"{base(panel, panel.portfolio_ids[0])}/sections/part1", answers_for("part1"))
    with app.app_context():
        template = db.session.scalar(select(AssessmentTemplate))
        assert (template.version, template.active) == (1, True)
        assert db.session.scalar(select(Assessment)).template_id == template.id


def test_publishing_a_new_version_keeps_existing_assessments_on_theirs(app, signed_in, admin_client):
    early_client, early = signed_in(Role.MEMBER)
    late_client, late = signed_in(Role.MEMBER)
    panel = make_meeting(app, [(early.id, "member"), (late.id, "member")], portfolios=1)
    pid = panel.portfolio_ids[0]
    submit(early_client, f"{base(panel, pid)}/sections/part2", answers_for("part2"))
    client, _admin = admin_client
    page = client.get("/reviews/templates/new").get_data(as_text=True)
    assert "Is the decision accurate?" in page  # the current version, ready to edit
    schema = json.loads(json.dumps(DEFAULT_SCHEMA))
    schema["sections"][1]["questions"][0]["label"] = "Is the Internal Panel's decision accurate?"
    response = submit(client, "/reviews/templates/new", {"name": "Reviewer template 2027",
                                                         "schema": json.dumps(schema)})
    assert response.status_code == 302
    with app.app_context():
        versions = {t.version: t.active for t in db.session.scalars(select(AssessmentTemplate))}
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "assessment_template.published"))
        assert len(list(events)) == 1
    assert versions == {1: False, 2: True}
    listing = client.get("/reviews/templates").get_data(as_text=True)
    assert "Reviewer template 2027" in listing and "Earlier version" in listing
    old = early_client.get(f"{base(panel, pid)}/sections/part2").get_data(as_text=True)
    new = late_client.get(f"{base(panel, pid)}/sections/part2").get_data(as_text=True)
    assert "Is the decision accurate?" in old and "Internal Panel&#39;s decision accurate" not in old
    assert "Is the Internal Panel&#39;s decision accurate?" in new


@pytest.mark.parametrize(("schema", "message"), [
    ("{not json", "not valid JSON"),
    ('{"sections": []}', "non-empty list of"),
    (json.dumps({"sections": [{"key": "part1", "title": "Only", "questions": [
        {"key": "Bad Key", "type": "choice", "label": "Q", "options": [["yes", "Yes"]]}]}]}),
     "at least 2 options"),
    (json.dumps({"sections": [{"key": "part1", "title": "Only", "questions": [
        {"key": "x", "type": "essay", "label": "Q"}]}]}), "needs a type"),
    ("DROP", "not valid JSON"),
])
def test_invalid_templates_are_refused_and_change_nothing(app, admin_client, schema, message):
    client, _admin = admin_client
    response = submit(client, "/reviews/templates/new", {"name": "Broken", "schema": schema})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "govuk-error-summary" in page and "The template was not published" in page and message in page
    assert _template_count(app) == 0


def test_a_template_that_drops_counted_questions_is_refused(app, admin_client):
    client, _admin = admin_client
    schema = json.loads(json.dumps(DEFAULT_SCHEMA))
    schema["sections"] = [s for s in schema["sections"] if s["key"] != "support"]
    response = submit(client, "/reviews/templates/new", {"name": "No support", "schema": json.dumps(schema)})
    assert response.status_code == 400
    assert "keep them as choices: supervision_frequency" in response.get_data(as_text=True)
    assert _template_count(app) == 0


@pytest.mark.parametrize("role", [Role.MEMBER, Role.OBSERVER, Role.ASSESSOR, Role.NQSW])
def test_only_the_lead_edits_templates(app, signed_in, role):
    client, _person = signed_in(role)
    assert client.get("/reviews/templates").status_code == 404
    assert client.get("/reviews/templates/new").status_code == 404
    response = client.post("/reviews/templates/new", data={"name": "x", "schema": json.dumps(DEFAULT_SCHEMA)})
    assert response.status_code in (400, 404)
    assert _template_count(app) == 0
