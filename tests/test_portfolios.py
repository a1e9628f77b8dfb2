"""The cohort registry forms, the portfolio pages, the evidence-completeness check and pseudonyms."""

import re
from datetime import date, timedelta

import pytest
from conftest import csrf_from, sign_in, submit
from factories import add_document_row, make_employer, make_meeting, make_registered_portfolio, seat
from helpers_auth import lead_of
from helpers_queries import count_queries

from portal import clock
from portal.extensions import db
from portal.models import (
    Assessor,
    AuditEvent,
    EvidenceType,
    Meeting,
    Nqsw,
    Organisation,
    Portfolio,
    Role,
    SampledPortfolio,
    SampleDraw,
)
from portal.ops import retention


def test_cohort_and_registry_forms_with_clear_errors(app, admin_client):
    client, _ = admin_client
    assert submit(client, "/cohort", {"name": "Academy 2026"}).status_code == 302
    duplicate = submit(client, "/cohort", {"name": "academy 2026"})
    assert duplicate.status_code == 400 and "A cohort with this name already exists" in duplicate.get_data(as_text=True)
    empty = submit(client, "/cohort/nqsws/new", {"name": "", "email": "nope", "employer": "0", "cohort": "0"})
    html = empty.get_data(as_text=True)
    assert empty.status_code == 400
    assert "Enter the NQSW&#39;s full name" in html or "Enter the NQSW's full name" in html
    assert "Enter an email address in the correct format" in html and "Choose the service" in html
    assert "govuk-error-summary" in html
    added = submit(client, "/cohort/nqsws/new", {"name": "Ada Example", "email": "Ada@Example.org",
                                                  "employer": "0", "cohort": "1", "service": "adults"})
    assert added.status_code == 302
    again = submit(client, "/cohort/nqsws/new", {"name": "Other", "email": "ada@example.org", "employer": "0",
                                                  "cohort": "0", "service": "adults"})
    assert again.status_code == 400 and "Another NQSW already has this email address" in again.get_data(as_text=True)
    assert submit(client, "/cohort/assessors/new", {"name": "Sam Assessor", "email": "sam@example.org",
                                                     "organisation": "0"}).status_code == 302
    with app.app_context():
        nqsw = db.session.scalar(db.select(Nqsw))
        assert nqsw.email == "ada@example.org" and nqsw.cohort.name == "Academy 2026" and nqsw.user_id is None
    no_date = submit(client, "/cohort/portfolios/new", {"nqsw": "1", "assessor": "1", "outcome": "pass",
                                                         "outcome_date": ["", "", ""]})
    assert no_date.status_code == 400
    assert "Enter the date of the Internal Panel" in no_date.get_data(as_text=True)
    bad_date = submit(client, "/cohort/portfolios/new", {"nqsw": "1", "assessor": "1", "outcome": "pass",
                                                          "outcome_date": ["31", "2", "2026"]})
    assert bad_date.status_code == 400 and "must be a real date" in bad_date.get_data(as_text=True)
    saved = submit(client, "/cohort/portfolios/new", {"nqsw": "1", "assessor": "1", "outcome": "extension",
                                                       "outcome_date": ["3", "7", "2026"], "exemplar_consent": "y"})
    assert saved.status_code == 302
    edited = submit(client, "/cohort/portfolios/1/edit", {"nqsw": "1", "assessor": "0", "outcome": "pass",
                                                           "outcome_date": ["4", "7", "2026"]})
    assert edited.status_code == 302
    with app.app_context():
        portfolio = db.session.get(Portfolio, 1)
        assert (portfolio.outcome, portfolio.outcome_date, portfolio.assessor_id) == ("pass", date(2026, 7, 4), None)
        actions = set(db.session.scalars(db.select(AuditEvent.action)))
        assert {"cohort.added", "nqsw.added", "assessor.added", "portfolio.added", "portfolio.updated"} <= actions


def test_portfolio_page_groups_documents_and_shows_what_is_missing(app, admin_client):
    client, admin = admin_client
    pid = make_registered_portfolio(app, 1)
    for n in range(2):
        add_document_row(app, pid, admin.id, "direct_observation", title=f"Observation {n + 1}")
    add_document_row(app, pid, admin.id, "final_report", title="Final report")
    html = client.get(f"/portfolios/{pid}").get_data(as_text=True)
    assert "Nqsw Person 1" in html and "Assessor Person 1" in html  # the Lead sees names
    assert "Direct observations" in html and "2 of 3" in html and "Missing 1" in html
    assert "Incomplete" in html
    documents = html.split(">Documents</h2>")[1]
    assert re.search(r"Final assessment report</h3>\s*<ul[^>]*>\s*<li>Final report</li>", documents)
    assert re.search(r"Direct observations</h3>\s*<ul[^>]*>\s*<li>Observation 1</li>\s*<li>Observation 2</li>",
                     documents)
    assert documents.index("Final assessment report") < documents.index("Direct observations")
    assert f"/portfolios/{pid}/documents" in html
    assert "Incomplete" in client.get("/portfolios").get_data(as_text=True)


@pytest.fixture
def lenient(app_config):
    app_config["EVIDENCE_REQUIREMENTS"] = {"direct_observation": 1}
    return app_config


def test_the_evidence_requirements_are_configurable(lenient, app, admin_client):
    client, admin = admin_client
    pid = make_registered_portfolio(app, 1)
    add_document_row(app, pid, admin.id, "direct_observation")
    html = client.get(f"/portfolios/{pid}").get_data(as_text=True)
    assert "1 of 1" in html and "Supervision records" not in html
    assert "Complete" in client.get("/portfolios").get_data(as_text=True)
    assert "Incomplete" not in client.get("/portfolios").get_data(as_text=True)


def test_pseudonyms_are_unique_and_hide_names_from_the_panel(app, admin_client, signed_in):
    client, admin = admin_client
    member, person = signed_in(Role.MEMBER)
    pids = [make_registered_portfolio(app, n) for n in range(1, 4)]
    for pid in pids:
        response = submit(client, f"/cohort/portfolios/{pid}/pseudonym", {}, page=f"/portfolios/{pid}")
        assert response.status_code == 302
    with app.app_context():
        labels = [db.session.get(Portfolio, pid).pseudonym for pid in pids]
    assert len(set(labels)) == 3 and all(re.fullmatch(r"[A-Z][0-9]{1,4}", label) for label in labels)
    assert f"Portfolio {labels[0]}" in client.get(f"/portfolios/{pids[0]}").get_data(as_text=True)
    # Sample the first portfolio for the member's meeting.
    mid = make_meeting(app, seats={person.id: "member"})
    with app.app_context():
        draw = SampleDraw(meeting_id=mid, seed="0" * 32, population="[]", parameters="{}", picks=f"[{pids[0]}]",
                          drawn_by_id=admin.id, drawn_at=clock.now())
        db.session.add(draw)
        db.session.flush()
        db.session.add(SampledPortfolio(meeting_id=mid, portfolio_id=pids[0], draw_id=draw.id, position=1))
        db.session.commit()
    for path in (f"/portfolios/{pids[0]}", "/portfolios", f"/meetings/{mid}"):
        page = member.get(path)
        html = page.get_data(as_text=True)
        assert page.status_code == 200, path
        assert f"Portfolio {labels[0]}" in html
        assert "Nqsw Person" not in html and "Assessor Person" not in html and "example.org" not in html
    assert member.get(f"/portfolios/{pids[1]}").status_code == 404
    # Only the Lead gives labels.
    assert member.post(f"/cohort/portfolios/{pids[0]}/pseudonym").status_code in (400, 404)


def test_panel_access_opens_with_the_draw_and_closes_with_the_window(app, admin_client, signed_in):
    _, admin = admin_client
    member, person = signed_in(Role.MEMBER)
    outsider, other = signed_in(Role.MEMBER)
    observer, watcher = signed_in(Role.OBSERVER)
    sampled, unsampled, elsewhere = (make_registered_portfolio(app, n) for n in range(1, 4))
    mid = make_meeting(app, seats={person.id: "chair", watcher.id: "observer"})
    other_mid = make_meeting(app, seats={other.id: "member"}, title="Other panel")
    assert member.get(f"/portfolios/{sampled}").status_code == 404  # before the draw
    with app.app_context():
        for meeting_id, pid in ((mid, sampled), (other_mid, elsewhere)):
            draw = SampleDraw(meeting_id=meeting_id, seed="0" * 32, population="[]", parameters="{}", picks="[]",
                              drawn_by_id=admin.id, drawn_at=clock.now())
            db.session.add(draw)
            db.session.flush()
            db.session.add(SampledPortfolio(meeting_id=meeting_id, portfolio_id=pid, draw_id=draw.id, position=1))
        db.session.commit()
    assert member.get(f"/portfolios/{sampled}").status_code == 200
    assert member.get(f"/portfolios/{unsampled}").status_code == 404
    assert member.get(f"/portfolios/{elsewhere}").status_code == 404
    assert outsider.get(f"/portfolios/{sampled}").status_code == 404
    assert observer.get(f"/portfolios/{sampled}").status_code == 404  # observers see the meeting, not portfolios
    assert member.get("/portfolios/999").status_code == 404
    with app.app_context():
        meeting = db.session.get(Meeting, mid)
        meeting.minutes_published_at = clock.now()
        meeting.access_closes_at = clock.now() + timedelta(days=30)
        db.session.commit()
    assert member.get(f"/portfolios/{sampled}").status_code == 200
    clock.advance(timedelta(days=29))
    sign_in(app, member, person)  # the session itself has timed out meanwhile
    assert member.get(f"/portfolios/{sampled}").status_code == 200
    clock.advance(timedelta(days=2))
    sign_in(app, member, person)
    assert member.get(f"/portfolios/{sampled}").status_code == 404
    assert f"/portfolios/{sampled}" not in member.get("/portfolios").get_data(as_text=True)


def test_assessors_and_nqsws_reach_nothing_here(app, signed_in):
    pid = make_registered_portfolio(app, 1)
    for role in (Role.ASSESSOR, Role.NQSW):
        browser, _ = signed_in(role)
        for path in (f"/portfolios/{pid}", "/cohort", "/cohort/nqsws", f"/cohort/portfolios/{pid}/edit"):
            assert browser.get(path).status_code == 404, (role, path)
        assert "Nqsw Person" not in browser.get("/portfolios").get_data(as_text=True)


def test_a_purged_portfolio_cannot_be_seen_or_changed_by_anyone(app, admin_client, signed_in):
    """A retention tombstone is gone from every portfolio page, the Lead's Change page included."""
    client, admin = admin_client
    member, person = signed_in(Role.MEMBER)
    purged, kept = make_registered_portfolio(app, 1, outcome="extension"), make_registered_portfolio(app, 2)
    mid = make_meeting(app, seats={person.id: "member"})
    with app.app_context():
        draw = SampleDraw(meeting_id=mid, seed="0" * 32, population="[]", parameters="{}", picks=f"[{purged}]",
                          drawn_by_id=admin.id, drawn_at=clock.now())
        db.session.add(draw)
        db.session.flush()
        db.session.add(SampledPortfolio(meeting_id=mid, portfolio_id=purged, draw_id=draw.id, position=1))
        db.session.commit()
    edit = f"/cohort/portfolios/{purged}/edit"
    assert client.get(edit).status_code == 200 and member.get(f"/portfolios/{purged}").status_code == 200
    token = csrf_from(client.get(edit).get_data(as_text=True))
    with app.app_context():
        retention.purge_portfolio(None, db.session.get(Portfolio, purged))
        nqsw_id = db.session.get(Portfolio, purged).nqsw_id
        events = db.session.scalar(db.select(db.func.count(AuditEvent.id)))

    change = {"csrf_token": token, "nqsw": str(nqsw_id), "assessor": "0", "outcome": "pass",
              "outcome_date": ["1", "6", "2026"], "exemplar_consent": "y"}
    assert client.get(edit).status_code == 404
    assert client.post(edit, data=change).status_code == 404
    assert client.get(f"/portfolios/{purged}").status_code == 404
    assert client.post(f"/cohort/portfolios/{purged}/pseudonym", data={"csrf_token": token}).status_code == 404
    assert member.get(f"/portfolios/{purged}").status_code == 404
    assert "Nqsw Person 1" not in client.get("/portfolios").get_data(as_text=True)
    with app.app_context():
        tombstone = db.session.get(Portfolio, purged)
        assert (tombstone.outcome, tombstone.assessor_id is not None, tombstone.exemplar_consent) == (
            "extension", True, False)
        assert tombstone.pseudonym is None
        assert db.session.scalar(db.select(db.func.count(AuditEvent.id))) == events  # nothing was recorded
    # The same form still changes a portfolio that is not purged, and there is no portfolio 0 to "change".
    assert client.get(f"/cohort/portfolios/{kept}/edit").status_code == 200
    assert client.get("/cohort/portfolios/0/edit").status_code == 404
    assert client.post("/cohort/portfolios/0/edit", data=change).status_code == 404
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Portfolio.id))) == 2


def test_list_pages_use_a_bounded_number_of_queries(app, admin_client):
    client, admin = admin_client
    paths = ("/portfolios", "/cohort/nqsws", "/cohort/assessors", "/cohort", "/meetings", "/documents/readiness")

    def add(first: int, last: int) -> None:
        for n in range(first, last):
            pid = make_registered_portfolio(app, n, employer=f"Employer {n}")
            add_document_row(app, pid, admin.id, "pdp")
            make_meeting(app, seats={admin.id: "chair"}, title=f"Panel {n}")

    add(1, 3)
    small = [count_queries(app, client, path) for path in paths]
    add(3, 12)
    assert [count_queries(app, client, path) for path in paths] == small


def test_portfolio_page_queries_do_not_grow_with_its_documents(app, admin_client, signed_in, make_user):
    lead, admin = admin_client
    reader, member = signed_in(Role.MEMBER)
    pid = make_registered_portfolio(app, 1)
    seat(app, member.id, [pid])
    kinds = list(EvidenceType)
    add_document_row(app, pid, admin.id, kinds[0].value, title="Document 0")
    clients = (lead, reader)
    small = [count_queries(app, client, f"/portfolios/{pid}") for client in clients]
    uploaders = [make_user(Role.ADMIN).id for _ in range(3)]
    for n in range(1, 15):
        add_document_row(app, pid, uploaders[n % 3], kinds[n % len(kinds)].value, title=f"Document {n}")
    assert "Document 14" in reader.get(f"/portfolios/{pid}").get_data(as_text=True)
    assert [count_queries(app, client, f"/portfolios/{pid}") for client in clients] == small


# The long lists a page at a time ------------------------------------------------------------------------


def _paged_registry(app, count: int, employer_id: int | None = None, first: int = 0, step: int = 1) -> list[int]:
    """NQSWs "Paged Person NNN" (each with a portfolio, a document and an Assessor "Paged Assessor NNN") numbered
    first, first + step, ...; their portfolio ids."""
    with app.app_context():
        employer = (db.session.get(Organisation, employer_id) if employer_id else
                    db.session.scalar(db.select(Organisation).where(Organisation.name == "Paged Council"))
                    or Organisation(name="Paged Council", kind="employer"))
        portfolios = []
        for n in range(first, first + count * step, step):
            assessor = Assessor(name=f"Paged Assessor {n:03d}", email=f"paged.assessor{n:03d}@example.org",
                                organisation=employer)
            nqsw = Nqsw(name=f"Paged Person {n:03d}", email=f"paged{n:03d}@example.org", employer=employer)
            portfolios.append(Portfolio(nqsw=nqsw, assessor=assessor, created_at=clock.now()))
        db.session.add_all(portfolios)
        db.session.commit()
        return [p.id for p in portfolios]


# Each list's path (searched for "paged") and how a row names its person, numbered.
PAGED_LISTS = {
    "/portfolios": (r'">Paged Person (\d{3})</a>', "portfolio", "portfolios"),
    "/cohort/nqsws": (r'">Paged Person (\d{3})<span', "NQSW", "NQSWs"),
    "/cohort/assessors": (r'">Paged Assessor (\d{3})<span', "Assessor", "Assessors"),
    "/documents/readiness": (r'">Paged Person (\d{3})</label>', "portfolio", "portfolios"),
}


def _numbers(client, path: str, page: int, query: str = "paged") -> list[str]:
    response = client.get(f"{path}?q={query}&page={page}")
    assert response.status_code == 200, path
    return re.findall(PAGED_LISTS[path][0], response.get_data(as_text=True))


def test_the_long_lists_are_paged_with_every_row_once_and_the_total(app, admin_client):
    client, admin = admin_client
    pids = _paged_registry(app, 120)
    add_document_row(app, pids[0], admin.id, "pdp")
    for path, (_, _one, many) in PAGED_LISTS.items():
        first = client.get(f"{path}?q=paged").get_data(as_text=True)
        assert f"120 {many}, showing 1 to 50" in first, path
        assert f'aria-label="Pages of {many}"' in first and "page=3" in first and 'rel="next"' in first, path
        numbers = [n for page in (1, 2, 3) for n in _numbers(client, path, page)]
        assert numbers == [f"{n:03d}" for n in range(120)], path  # by name, each once, none cut
        last = client.get(f"{path}?q=paged&page=3").get_data(as_text=True)
        assert f"120 {many}, showing 101 to 120" in last and 'rel="next"' not in last, path
        assert 'rel="prev"' in last and "q=paged" in last, path  # the other pages keep the search
        for beyond in ("99", "0", "-1", "two"):  # past the end: the last page; nonsense: the first
            body = client.get(f"{path}?q=paged&page={beyond}").get_data(as_text=True)
            assert ("showing 101 to 120" if beyond == "99" else "showing 1 to 50") in body, (path, beyond)
        assert _numbers(client, path, 1, "person 007" if "assessor" not in path else "assessor 007") == ["007"]
        assert _numbers(client, path, 1, "PAGED%20PERSON%2011") == ([] if "assessor" in path else
                                                                    [f"11{n}" for n in range(10)])
        none = client.get(f"{path}?q=50%25").get_data(as_text=True)  # a typed % is a character, not a wildcard
        assert f"No {many} match your search" in none and "Paged" not in none.split("</form>")[-1], path
    # The registry searches email addresses too; a short list has no pages.
    only = client.get("/cohort/nqsws?q=paged042@example").get_data(as_text=True)
    assert "1 NQSW<" in only and "Pages of" not in only and "Paged Person 042" in only
    # The evidence check is still shown for the rows of the page.
    assert "Incomplete" in client.get("/portfolios?q=paged&page=2").get_data(as_text=True)


def test_an_employer_leads_pages_hold_only_their_own_employer(app, make_user):
    ours, theirs = make_employer(app, "Riverside Care"), make_employer(app, "Oakwood Family Trust")
    _paged_registry(app, 60, ours, first=0, step=2)  # even numbers ours, odd theirs: interleaved by name
    _paged_registry(app, 60, theirs, first=1, step=2)
    client, _ = lead_of(app, make_user, ours)
    for path, (_, _one, many) in PAGED_LISTS.items():
        second = client.get(f"{path}?q=paged&page=2").get_data(as_text=True)
        assert f"60 {many}, showing 51 to 60" in second, path
        numbers = _numbers(client, path, 1) + _numbers(client, path, 2)
        assert numbers == [f"{n:03d}" for n in range(0, 120, 2)], path
        assert _numbers(client, path, 1, "paged%20person%20001") == [], path  # theirs is not found by a search
        assert _numbers(client, path, 1, "paged%20assessor%20001") == [], path
    # Without a search too: page 2 of their portfolios is still only theirs.
    assert re.findall(r'">Paged Person (\d{3})</a>', client.get("/portfolios?page=2").get_data(as_text=True)) == [
        f"{n:03d}" for n in range(100, 120, 2)]


def test_the_panel_pages_and_searches_only_what_it_sees(app, admin_client, signed_in):
    client, _ = admin_client
    member, person = signed_in(Role.MEMBER)
    pids = _paged_registry(app, 60)
    for pid in pids[:55]:
        assert submit(client, f"/cohort/portfolios/{pid}/pseudonym", {}, page=f"/portfolios/{pid}").status_code == 302
    seat(app, person.id, [*pids[:55], pids[59]])
    with app.app_context():
        label = db.session.get(Portfolio, pids[3]).pseudonym
    first = member.get("/portfolios").get_data(as_text=True)
    assert "56 portfolios, showing 1 to 50" in first
    # Only the portfolio without a label is shown (and sorted) by its name; the others by what the panel sees.
    assert re.findall(r"Paged Person \d+", first) == ["Paged Person 059"]
    assert first.index("Paged Person 059") < first.index("Portfolio ")
    second = member.get("/portfolios?page=2").get_data(as_text=True)
    assert "56 portfolios, showing 51 to 56" in second and "Paged Person" not in second
    assert "No portfolios match your search" in member.get("/portfolios?q=paged%20person%20003").get_data(
        as_text=True)  # a name behind a panel label is not found by searching for it
    found = member.get(f"/portfolios?q={label}").get_data(as_text=True)
    assert f"Portfolio {label}" in found and "Paged Person" not in found.split("</form>")[-1]
    # The Lead finds a portfolio by its panel label as well as by the NQSW's name.
    assert "Paged Person 003" in client.get(f"/portfolios?q={label}").get_data(as_text=True)


def test_the_long_lists_queries_do_not_grow_with_their_rows(app, admin_client, signed_in):
    client, admin = admin_client
    member, person = signed_in(Role.MEMBER)
    pids = _paged_registry(app, 60)
    for pid in pids[:3]:
        add_document_row(app, pid, admin.id, "pdp")
    seat(app, person.id, pids)
    paths = [f"{path}?page=2" for path in PAGED_LISTS] + [f"{path}?q=paged&page=2" for path in PAGED_LISTS]
    small = [count_queries(app, client, path) for path in paths] + [count_queries(app, member, "/portfolios?page=2")]
    more = _paged_registry(app, 140, first=200)
    for pid in more[:20]:
        add_document_row(app, pid, admin.id, "pdp")
    seat(app, person.id, more)
    assert [count_queries(app, client, path) for path in paths] + [
        count_queries(app, member, "/portfolios?page=2")] == small


def test_a_registry_too_long_to_choose_from_is_named_by_email_address(app, admin_client, make_user):
    from portal.portfolios.services import REGISTRY_CHOICES_MAX

    client, _ = admin_client
    pids = _paged_registry(app, REGISTRY_CHOICES_MAX + 1)
    theirs = make_employer(app, "Oakwood Family Trust")
    _paged_registry(app, 1, theirs, first=900)
    with app.app_context():
        nqsw = Nqsw(name="New Person", email="new.person@example.org",
                    employer=db.session.scalar(db.select(Organisation).where(Organisation.name == "Paged Council")))
        db.session.add(nqsw)
        db.session.commit()
        nqsw_id = nqsw.id
        portfolios_before = db.session.scalar(db.select(db.func.count(Portfolio.id)))
    page = client.get("/cohort/portfolios/new").get_data(as_text=True)
    assert 'name="nqsw_email"' in page and 'name="assessor_email"' in page and "<select" not in page.split("<main")[1]
    assert len(page) < 30_000  # not a list of every person
    form = {"outcome": "", "nqsw_email": "NEW.person@example.org ", "assessor_email": "paged.assessor007@example.org"}
    # Someone not in the registry, or in another employer's, is a clear error and nothing is written.
    with app.app_context():
        council = db.session.scalar(db.select(Organisation.id).where(Organisation.name == "Paged Council"))
    lead, _ = lead_of(app, make_user, council)  # an employer Lead: another employer's people are not theirs
    for who, field, wrong in ((client, "nqsw_email", "nobody@example.org"),
                              (client, "assessor_email", "nobody@example.org"),
                              (lead, "nqsw_email", "paged900@example.org"),
                              (lead, "assessor_email", "paged.assessor900@example.org")):
        refused = submit(who, "/cohort/portfolios/new", {**form, field: wrong})
        body = refused.get_data(as_text=True)
        assert refused.status_code == 400 and "There is a problem" in body, (field, wrong)
        assert "in your registry has this email address" in body, (field, wrong)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Portfolio.id))) == portfolios_before
    added = submit(client, "/cohort/portfolios/new", form)
    assert added.status_code == 302
    with app.app_context():
        made = db.session.scalar(db.select(Portfolio).where(Portfolio.nqsw_id == nqsw_id))
        assert made.assessor.email == "paged.assessor007@example.org"
        made_id = made.id
    # Changing it: the form shows the people by email address; an empty Assessor address leaves it without one.
    edit = client.get(f"/cohort/portfolios/{made_id}/edit").get_data(as_text=True)
    assert 'value="new.person@example.org"' in edit and 'value="paged.assessor007@example.org"' in edit
    assert submit(client, f"/cohort/portfolios/{made_id}/edit", {**form, "assessor_email": ""}).status_code == 302
    with app.app_context():
        assert db.session.get(Portfolio, made_id).assessor_id is None
    assert pids  # (the registry's own portfolios are not needed further)
