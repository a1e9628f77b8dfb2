"""The versioned assessment template: the built-in default, publishing a new version, validation."""

import json
import re
from html import unescape

import pytest
from conftest import submit
from factories import make_panel
from helpers_reviews import answers_for, base
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
    panel = make_panel(app, [(member.id, "member")], portfolios=1)
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
    panel = make_panel(app, [(early.id, "member"), (late.id, "member")], portfolios=1)
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



# The form-based editor ------------------------------------------------------------------------------------

WORDING = "/reviews/templates/wording"
PART2 = "\u201cPart 2: the decision\u201d"


def _form_values(html: str) -> dict[str, str]:
    """Every text box, text area and checked radio of a page, as a browser would send them."""
    values = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name is None or name.group(1) == "csrf_token" or ('type="radio"' in tag and "checked" not in tag):
            continue
        values[name.group(1)] = unescape(value.group(1)) if value else ""
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S):
        values[name] = unescape(text).strip("\n")
    return values


def _wording(client, changes: dict[str, str]):
    values = _form_values(client.get(WORDING).get_data(as_text=True))
    assert values["s2-q1-label"] == "Is the decision accurate?" and values["s1-q1-o2"] == "No"
    return submit(client, WORDING, {**values, **changes})


def _published(app) -> list[dict]:
    with app.app_context():
        return [json.loads(t.schema) for t in db.session.scalars(
            select(AssessmentTemplate).order_by(AssessmentTemplate.version))]


def test_changing_the_wording_publishes_the_next_version_and_old_assessments_keep_theirs(app, signed_in,
                                                                                          admin_client):
    early_client, early = signed_in(Role.MEMBER)
    late_client, late = signed_in(Role.MEMBER)
    panel = make_panel(app, [(early.id, "member"), (late.id, "member")], portfolios=1)
    pid = panel.portfolio_ids[0]
    submit(early_client, f"{base(panel, pid)}/sections/part2", answers_for("part2"))  # begun on version 1
    client, _admin = admin_client
    page = client.get(WORDING).get_data(as_text=True)
    assert "This publishes version 2" in page and "cannot be removed and stays a choice" in page
    response = _wording(client, {"name": "Reviewer template 2027",
                                 "s2-title": "Part 2: the Internal Panel's decision",
                                 "s2-q1-label": "Is the Internal Panel's decision accurate?",
                                 "s2-q1-hint": "", "s2-q2-required": "yes", "s1-q1-o2": "No, it is missing"})
    assert response.status_code == 302, response.get_data(as_text=True)
    old, new = _published(app)
    part2 = new["sections"][1]
    assert part2["title"] == "Part 2: the Internal Panel's decision"
    assert part2["questions"][0] == {"key": "accurate", "type": "choice", "required": True,
                                     "label": "Is the Internal Panel's decision accurate?",
                                     "options": [["yes", "Yes"], ["no", "No"]]}
    assert part2["questions"][1]["required"] is True and old["sections"][1]["questions"][1]["required"] is False
    assert new["sections"][0]["questions"][0]["options"] == [["yes", "Yes"], ["no", "No, it is missing"]]
    assert [s["key"] for s in new["sections"]] == [s["key"] for s in old["sections"]]
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "assessment_template.published"))
        assert "wording" in event.details
        assert {t.version: t.active for t in db.session.scalars(select(AssessmentTemplate))} == {1: False, 2: True}
    earlier = early_client.get(f"{base(panel, pid)}/sections/part2").get_data(as_text=True)
    later = late_client.get(f"{base(panel, pid)}/sections/part2").get_data(as_text=True)
    assert "Is the decision accurate?" in earlier and "Internal Panel&#39;s decision accurate" not in earlier
    assert "Is the Internal Panel&#39;s decision accurate?" in later


@pytest.mark.parametrize("name", ["accurate", "evidence-pdp", "agreement", "supervision_frequency"])
def test_a_counted_question_cannot_be_removed(app, admin_client, name):
    client, _admin = admin_client
    listing = client.get("/reviews/templates").get_data(as_text=True)
    assert f"/reviews/templates/questions/{name}/remove" not in listing
    assert "/reviews/templates/questions/themes/remove" in listing
    for response in (client.get(f"/reviews/templates/questions/{name}/remove"),
                     submit(client, f"/reviews/templates/questions/{name}/remove", {"name": "Smaller"},
                            page="/reviews/templates")):
        assert response.status_code == 409
        assert "cannot be removed: the reports count its answers" in response.get_data(as_text=True)
    assert _template_count(app) == 0


def test_a_counted_question_cannot_become_a_written_answer(app, admin_client):
    client, _admin = admin_client
    schema = json.loads(json.dumps(DEFAULT_SCHEMA))
    accurate = schema["sections"][1]["questions"][0]
    accurate["type"] = "text"
    del accurate["options"]
    response = submit(client, "/reviews/templates/new", {"name": "Written", "schema": json.dumps(schema)})
    assert response.status_code == 400
    assert "keep them as choices: accurate (\u201cIs the decision accurate?\u201d)" in response.get_data(as_text=True)
    # The wording form has no way to change a question's type: a forged field is ignored.
    assert _wording(client, {"s2-q1-type": "text"}).status_code == 302
    assert _published(app)[-1]["sections"][1]["questions"][0]["type"] == "choice"


def test_an_added_choice_question_is_asked_and_its_answer_stored(app, signed_in, admin_client):
    client, _admin = admin_client
    add = "/reviews/templates/sections/part3/questions/new"
    page = client.get(add).get_data(as_text=True)
    assert "This publishes version 1:" in page
    response = submit(client, add, {"label": "Was the portfolio easy to find your way around?", "hint": "Its index",
                                    "kind": "choice", "options": "Yes\r\nNo\r\n\r\nPartly", "required": "yes",
                                    "name": "With navigation"})
    assert response.status_code == 302, response.get_data(as_text=True)
    (schema,) = _published(app)
    added = schema["sections"][3]["questions"][-1]
    key = "was_the_portfolio_easy_to_find"
    assert added == {"key": key, "type": "choice", "label": "Was the portfolio easy to find your way around?",
                     "hint": "Its index", "required": True,
                     "options": [["yes", "Yes"], ["no", "No"], ["partly", "Partly"]]}
    assert form_schema.KEY.match(key)
    member_client, member = signed_in(Role.MEMBER)
    panel = make_panel(app, [(member.id, "member")], portfolios=1)
    section = f"{base(panel, panel.portfolio_ids[0])}/sections/part3"
    assert "Was the portfolio easy to find your way around?" in member_client.get(section).get_data(as_text=True)
    assert submit(member_client, section, {**answers_for("part3"), key: "partly"}).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Assessment)).answer_map[key] == "partly"
    # A second question with the same wording gets a key of its own; then the first is removed, after confirming.
    assert submit(client, add, {"label": "Was the portfolio easy to find your way around?", "kind": "text",
                                "required": "no", "name": "Twice"}).status_code == 302
    assert _published(app)[-1]["sections"][3]["questions"][-1]["key"] == f"{key}_2"
    remove = f"/reviews/templates/questions/{key}/remove"
    assert "This publishes version 3 without this question" in client.get(remove).get_data(as_text=True)
    assert submit(client, remove, {"name": "Without navigation"}).status_code == 302
    latest = _published(app)[-1]
    assert key not in {q["key"] for s in latest["sections"] for q in s["questions"]}
    assert f"{key}_2" in {q["key"] for s in latest["sections"] for q in s["questions"]}


@pytest.mark.parametrize(("changes", "message"), [
    ({"s2-q3-label": "  "}, f"Enter the label of question 3 in {PART2}"),
    ({"s2-title": ""}, "Enter the title of section 2"),
    ({"s1-q1-o2": "yes"}, "has two options labelled \u201cyes\u201d: give each option a different label"),
    ({"s1-q1-o1": ""}, "Enter the label of option 1 of question 1"),
    ({"s2-q1-label": "x" * 301}, f"The label of question 1 in {PART2} must be 300 characters or fewer"),
    ({"s2-q1-hint": "x" * 1001}, "must be 1,000 characters or fewer"),
    ({"name": ""}, "Enter a name for the new version"),
])
def test_bad_wording_is_refused_and_publishes_nothing(app, admin_client, changes, message):
    client, _admin = admin_client
    response = _wording(client, changes)
    page = unescape(response.get_data(as_text=True))
    assert response.status_code == 400
    assert "govuk-error-summary" in page and message in page and "<title>Error: " in page
    assert _template_count(app) == 0


@pytest.mark.parametrize(("data", "message"), [
    ({"label": "", "kind": "text"}, "Enter the question"),
    ({"label": "x" * 301, "kind": "text"}, "The question must be 300 characters or fewer"),
    ({"label": "Q", "kind": "choice", "options": "Yes"}, "Enter at least 2 options for a choice"),
    ({"label": "Q", "kind": "choice", "options": "Yes\nNo\nyes"}, "\u201cyes\u201d is listed twice"),
    ({"label": "Q", "kind": "choice", "options": "Yes\n" + "x" * 201}, "Option 2 must be 200 characters or fewer"),
    ({"label": "Q"}, "Choose the type of answer"),
])
def test_bad_new_questions_are_refused_and_publish_nothing(app, admin_client, data, message):
    client, _admin = admin_client
    add = "/reviews/templates/sections/part2/questions/new"
    based_on = _form_values(client.get(add).get_data(as_text=True))["based_on"]
    response = submit(client, add, {"required": "no", "name": "New", "based_on": based_on, **data})
    assert response.status_code == 400
    assert message in unescape(response.get_data(as_text=True))
    assert _template_count(app) == 0


def test_an_editor_opened_before_another_change_publishes_nothing(app, admin_client):
    client, _admin = admin_client
    values = _form_values(client.get(WORDING).get_data(as_text=True))
    assert _wording(client, {"s2-q1-label": "First change?"}).status_code == 302
    response = submit(client, WORDING, {**values, "s2-q1-label": "Second change?"})
    assert response.status_code == 409 and "changed while this page was open" in response.get_data(as_text=True)
    assert _template_count(app) == 1


@pytest.mark.parametrize("path", [WORDING, "/reviews/templates/sections/part1/questions/new",
                                  "/reviews/templates/questions/themes/remove"])
def test_only_the_lead_uses_the_form_editor(app, signed_in, path):
    client, _person = signed_in(Role.MEMBER)
    assert client.get(path).status_code == 404
    assert client.post(path, data={"name": "x"}).status_code in (400, 404)
    assert _template_count(app) == 0
