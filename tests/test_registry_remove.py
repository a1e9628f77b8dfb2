"""Removing an NQSW or Assessor from the registry: only when nothing refers to the entry, after confirmation."""

import pytest
from conftest import csrf_from, submit
from helpers_cohort import add_document, make_portfolio

from portal import clock
from portal.extensions import db
from portal.models import Assessor, AuditEvent, Document, Nqsw, Portfolio, Role
from portal.portfolios import services


def _add_nqsw(app, client, name: str = "Alex Example", email: str = "alex@example.org") -> int:
    response = submit(client, "/cohort/nqsws/new", {"name": name, "email": email, "employer": "0", "cohort": "0",
                                                     "service": "children"})
    assert response.status_code == 302
    with app.app_context():
        return int(db.session.scalar(db.select(Nqsw.id).where(Nqsw.email == email)))


def _add_assessor(app, client, name: str = "Sam Assessor", email: str = "sam@example.org") -> int:
    response = submit(client, "/cohort/assessors/new", {"name": name, "email": email, "organisation": "0"})
    assert response.status_code == 302
    with app.app_context():
        return int(db.session.scalar(db.select(Assessor.id).where(Assessor.email == email)))


def _audit_text() -> str:
    return " ".join(f"{e.action} {e.target} {e.details}" for e in db.session.scalars(db.select(AuditEvent)))


def _removed_events(kind: str) -> list[AuditEvent]:
    return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == f"{kind}.removed")))


def test_an_nqsw_without_a_portfolio_is_removed_after_confirmation(app, admin_client):
    client, admin = admin_client
    nqsw_id = _add_nqsw(app, client)
    listing = client.get("/cohort/nqsws").get_data(as_text=True)
    assert f"/cohort/nqsws/{nqsw_id}/remove" in listing
    assert f"/cohort/nqsws/{nqsw_id}/remove" in client.get(f"/cohort/nqsws/{nqsw_id}/edit").get_data(as_text=True)

    page = client.get(f"/cohort/nqsws/{nqsw_id}/remove")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Remove Alex Example from the registry?" in html and "alex@example.org" in html
    assert "govuk-button--warning" in html and 'name="submit"' in html
    with app.app_context():
        assert db.session.get(Nqsw, nqsw_id) is not None  # GET never removes
        assert not _removed_events("nqsw")

    # No CSRF token: refused, nothing changes.
    assert client.post(f"/cohort/nqsws/{nqsw_id}/remove", data={}).status_code == 400
    with app.app_context():
        assert db.session.get(Nqsw, nqsw_id) is not None

    done = client.post(f"/cohort/nqsws/{nqsw_id}/remove", data={"csrf_token": csrf_from(html)})
    assert done.status_code == 302 and done.headers["Location"].endswith("/cohort/nqsws")
    after = client.get("/cohort/nqsws").get_data(as_text=True)
    assert "Alex Example has been removed from the registry." in after
    assert "alex@example.org" not in after
    with app.app_context():
        assert db.session.get(Nqsw, nqsw_id) is None
        assert db.session.scalar(db.select(Nqsw.id).where(Nqsw.email == "alex@example.org")) is None
        events = _removed_events("nqsw")
        assert len(events) == 1
        assert (events[0].target, events[0].actor_id) == (f"nqsw:{nqsw_id}", admin.id)
        trail = _audit_text()
        assert "Alex" not in trail and "alex@example.org" not in trail
    assert client.get(f"/cohort/nqsws/{nqsw_id}/remove").status_code == 404
    assert client.post(f"/cohort/nqsws/{nqsw_id}/remove", data={"csrf_token": csrf_from(html)}).status_code == 404


def test_an_nqsw_with_a_portfolio_cannot_be_removed_even_by_a_forced_post(app, admin_client):
    client, admin = admin_client
    pid = make_portfolio(app, 1)
    for title in ("One", "Two", "Three"):
        add_document(app, pid, "direct_observation", admin.id, title=title)
    with app.app_context():
        nqsw_id = db.session.get(Portfolio, pid).nqsw_id
        events_before = db.session.scalar(db.select(db.func.count(AuditEvent.id)))
    page = client.get(f"/cohort/nqsws/{nqsw_id}/remove")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Nqsw Person 1 cannot be removed" in html
    assert "Nqsw Person 1 has a portfolio with 3 documents." in html and "keep the entry" in html
    assert f"/portfolios/{pid}" in html
    assert 'name="submit"' not in html and "govuk-button--warning" not in html

    token = csrf_from(client.get(f"/cohort/nqsws/{nqsw_id}/edit").get_data(as_text=True))
    forced = client.post(f"/cohort/nqsws/{nqsw_id}/remove", data={"csrf_token": token})
    forced_html = forced.get_data(as_text=True)
    assert forced.status_code == 409
    assert "Nqsw Person 1 has a portfolio with 3 documents." in forced_html and 'name="submit"' not in forced_html
    with app.app_context():
        assert db.session.get(Nqsw, nqsw_id) is not None
        assert db.session.get(Portfolio, pid).nqsw_id == nqsw_id
        assert db.session.scalar(db.select(db.func.count(Document.id)).where(Document.portfolio_id == pid)) == 3
        assert db.session.scalar(db.select(db.func.count(AuditEvent.id))) == events_before


def test_an_assessor_is_removable_once_no_portfolio_names_them(app, admin_client):
    client, _ = admin_client
    first = make_portfolio(app, 1, assessor_email="shared@example.org")
    second = make_portfolio(app, 2, assessor_email="shared@example.org")
    with app.app_context():
        assessor_id = db.session.get(Portfolio, first).assessor_id
        name = db.session.get(Assessor, assessor_id).name
    html = client.get(f"/cohort/assessors/{assessor_id}/remove").get_data(as_text=True)
    assert f"{name} is named as the Assessor on 2 portfolios." in html
    assert "Choose another Assessor (or none) on those portfolios first, or keep the entry." in html
    assert f"/cohort/portfolios/{first}/edit" in html and f"/cohort/portfolios/{second}/edit" in html
    assert 'name="submit"' not in html

    token = csrf_from(client.get(f"/cohort/assessors/{assessor_id}/edit").get_data(as_text=True))
    forced = client.post(f"/cohort/assessors/{assessor_id}/remove", data={"csrf_token": token})
    assert forced.status_code == 409 and "is named as the Assessor on 2 portfolios" in forced.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Assessor, assessor_id) is not None and not _removed_events("assessor")

    with app.app_context():
        nqsw_ids = [db.session.get(Portfolio, pid).nqsw_id for pid in (first, second)]
    for pid, nqsw_id in zip((first, second), nqsw_ids, strict=True):
        assert submit(client, f"/cohort/portfolios/{pid}/edit", {"nqsw": str(nqsw_id), "assessor": "0",
                                                                 "outcome": "pass",
                                                                 "outcome_date": ["1", "6", "2026"]}).status_code == 302
        if pid == first:
            html = client.get(f"/cohort/assessors/{assessor_id}/remove").get_data(as_text=True)
            assert f"{name} is named as the Assessor on 1 portfolio." in html and "that portfolio" in html

    removed = submit(client, f"/cohort/assessors/{assessor_id}/remove", {})
    assert removed.status_code == 302 and removed.headers["Location"].endswith("/cohort/assessors")
    with app.app_context():
        assert db.session.get(Assessor, assessor_id) is None
        assert [e.target for e in _removed_events("assessor")] == [f"assessor:{assessor_id}"]
        trail = _audit_text()
        assert name not in trail and "shared@example.org" not in trail
        # The NQSWs and their portfolios are untouched.
        assert all(db.session.get(Portfolio, pid) is not None for pid in (first, second))


def test_a_new_assessor_without_portfolios_is_removed_from_its_own_page(app, admin_client):
    client, _ = admin_client
    assessor_id = _add_assessor(app, client)
    assert f"/cohort/assessors/{assessor_id}/remove" in client.get("/cohort/assessors").get_data(as_text=True)
    edit = client.get(f"/cohort/assessors/{assessor_id}/edit").get_data(as_text=True)
    assert f"/cohort/assessors/{assessor_id}/remove" in edit and "Remove this Assessor" in edit
    html = client.get(f"/cohort/assessors/{assessor_id}/remove").get_data(as_text=True)
    assert "Remove Sam Assessor from the registry?" in html and "sam@example.org" in html
    assert submit(client, f"/cohort/assessors/{assessor_id}/remove", {}).status_code == 302
    assert "Sam Assessor has been removed" in client.get("/cohort/assessors").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Assessor, assessor_id) is None


def test_a_portfolio_added_after_the_check_still_keeps_the_entry(app, admin_client, monkeypatch):
    """The delete re-checks in the same statement, so a stale "nothing refers to it" cannot remove a used entry."""
    client, _ = admin_client
    nqsw_id = _add_nqsw(app, client)
    token = csrf_from(client.get(f"/cohort/nqsws/{nqsw_id}/remove").get_data(as_text=True))
    with app.app_context():
        db.session.add(Portfolio(nqsw_id=nqsw_id, created_at=clock.now()))
        db.session.commit()
    real = services.dependents
    calls = []

    def stale(entry):
        calls.append(entry.id)
        found = real(entry)
        # The first look misses the new portfolio, as if it had been added a moment later.
        return services.Dependents(found.entry, found.kind, []) if len(calls) == 1 else found

    monkeypatch.setattr(services, "dependents", stale)
    refused = client.post(f"/cohort/nqsws/{nqsw_id}/remove", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "Alex Example has a portfolio with no documents." in refused.get_data(as_text=True)
    assert len(calls) >= 2
    with app.app_context():
        assert db.session.get(Nqsw, nqsw_id) is not None and not _removed_events("nqsw")


@pytest.mark.parametrize("role", [Role.MEMBER, Role.OBSERVER, Role.ASSESSOR, Role.NQSW])
def test_only_the_lead_may_remove_entries(app, signed_in, role):
    pid = make_portfolio(app, 1)
    with app.app_context():
        db.session.add(Nqsw(name="Lone Person", email="lone@example.org", service="children"))
        db.session.add(Assessor(name="Lone Assessor", email="lone.assessor@example.org"))
        db.session.commit()
        nqsw_id = db.session.scalar(db.select(Nqsw.id).where(Nqsw.email == "lone@example.org"))
        assessor_id = db.session.scalar(db.select(Assessor.id).where(Assessor.email == "lone.assessor@example.org"))
        used_assessor = db.session.get(Portfolio, pid).assessor_id
    browser, _ = signed_in(role)
    token = csrf_from(browser.get("/account/password").get_data(as_text=True))
    for path in (f"/cohort/nqsws/{nqsw_id}/remove", f"/cohort/assessors/{assessor_id}/remove",
                 f"/cohort/assessors/{used_assessor}/remove", "/cohort/nqsws/999/remove"):
        assert browser.get(path).status_code == 404, path
        assert browser.post(path, data={"csrf_token": token}).status_code == 404, path
    with app.app_context():
        assert db.session.get(Nqsw, nqsw_id) is not None and db.session.get(Assessor, assessor_id) is not None
        assert not _removed_events("nqsw") and not _removed_events("assessor")


def test_unknown_entries_are_404_for_the_lead(admin_client):
    client, _ = admin_client
    assert client.get("/cohort/nqsws/999/remove").status_code == 404
    assert client.get("/cohort/assessors/999/remove").status_code == 404
