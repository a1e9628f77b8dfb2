"""Removing an NQSW or Assessor from the registry, after confirmation: an Assessor only when no portfolio names
them, an NQSW only with portfolios that are still empty (which go too)."""

import pytest
from conftest import csrf_from, submit
from factories import add_document_row, make_meeting, make_registered_portfolio, store_document
from helpers_cohort import HEADER, sealed_from, upload_csv

from portal import clock
from portal.documents import shredding
from portal.extensions import db
from portal.models import (
    Assessment,
    Assessor,
    AuditEvent,
    Cohort,
    Document,
    Nqsw,
    Organisation,
    PanelView,
    Portfolio,
    Role,
    SampledPortfolio,
    SampleDraw,
    User,
)
from portal.ops import retention
from portal.portfolios import removal
from portal.reviews import services as review_services


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
    pid = make_registered_portfolio(app, 1)
    for title in ("One", "Two", "Three"):
        add_document_row(app, pid, admin.id, "direct_observation", title=title)
    with app.app_context():
        nqsw_id = db.session.get(Portfolio, pid).nqsw_id
        events_before = db.session.scalar(db.select(db.func.count(AuditEvent.id)))
    page = client.get(f"/cohort/nqsws/{nqsw_id}/remove")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Nqsw Person 1 cannot be removed" in html
    assert "Nqsw Person 1 has a portfolio that is not empty: it has 3 documents." in html
    assert "keep the entry" in html
    assert f"/portfolios/{pid}" in html
    assert 'name="submit"' not in html and "govuk-button--warning" not in html

    token = csrf_from(client.get(f"/cohort/nqsws/{nqsw_id}/edit").get_data(as_text=True))
    forced = client.post(f"/cohort/nqsws/{nqsw_id}/remove", data={"csrf_token": token})
    forced_html = forced.get_data(as_text=True)
    assert forced.status_code == 409
    assert "Nqsw Person 1 has a portfolio that is not empty: it has 3 documents." in forced_html
    assert 'name="submit"' not in forced_html
    with app.app_context():
        assert db.session.get(Nqsw, nqsw_id) is not None
        assert db.session.get(Portfolio, pid).nqsw_id == nqsw_id
        assert db.session.scalar(db.select(db.func.count(Document.id)).where(Document.portfolio_id == pid)) == 3
        assert db.session.scalar(db.select(db.func.count(AuditEvent.id))) == events_before


def test_an_assessor_is_removable_once_no_portfolio_names_them(app, admin_client):
    client, _ = admin_client
    first = make_registered_portfolio(app, 1, assessor_email="shared@example.org")
    second = make_registered_portfolio(app, 2, assessor_email="shared@example.org")
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


def _stale_first_look(monkeypatch, hide=lambda use: False, blank: bool = False) -> list[int]:
    """Make remove_entry's own check see the entry as it was a moment ago; return the calls made."""
    real = removal.dependents
    calls = []

    def stale(entry):
        calls.append(entry.id)
        found = real(entry)
        if len(calls) > 1:
            return found
        # The first look misses what was added, as if it had been added a moment later.
        return removal.Dependents(found.entry, found.kind, [
            removal.PortfolioUse(use.portfolio) if blank else use for use in found.portfolios if not hide(use)])

    monkeypatch.setattr(removal, "dependents", stale)
    return calls


def test_a_portfolio_added_after_the_check_still_keeps_the_entry(app, admin_client, monkeypatch):
    """The delete re-checks in the same statement, so a stale "nothing refers to it" cannot remove a used entry."""
    client, _ = admin_client
    first = make_registered_portfolio(app, 1)
    with app.app_context():
        nqsw_id = db.session.get(Portfolio, first).nqsw_id
    page = client.get(f"/cohort/nqsws/{nqsw_id}/remove").get_data(as_text=True)
    assert "Their portfolio is removed too" in page and 'name="submit"' in page
    with app.app_context():
        db.session.add(Portfolio(nqsw_id=nqsw_id, created_at=clock.now()))
        db.session.commit()
        second = db.session.scalar(db.select(db.func.max(Portfolio.id)))
    calls = _stale_first_look(monkeypatch, hide=lambda use: use.portfolio.id == second)

    refused = client.post(f"/cohort/nqsws/{nqsw_id}/remove", data={"csrf_token": csrf_from(page)})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 409 and len(calls) >= 2
    # The first portfolio's delete ran and was rolled back with everything else: both are still there.
    with app.app_context():
        assert db.session.get(Nqsw, nqsw_id) is not None
        assert {p.id for p in db.session.scalars(db.select(Portfolio).where(Portfolio.nqsw_id == nqsw_id))} == {
            first, second}
        assert not _removed_events("nqsw") and not _removed_events("portfolio")
    # Both are empty, so the page says what removing does now and lets the Lead confirm that instead.
    assert "The registry changed while you were removing the entry" in html
    assert "Their portfolios are removed too" in html and "Nqsw Person 1 has 2 portfolios." in html
    assert f"portfolio {first}:" in html and f"portfolio {second}:" in html and 'name="submit"' in html

    monkeypatch.undo()
    done = client.post(f"/cohort/nqsws/{nqsw_id}/remove", data={"csrf_token": csrf_from(html)})
    assert done.status_code == 302
    assert ("Nqsw Person 1 has been removed from the registry, with their 2 empty portfolios."
            in client.get("/cohort/nqsws").get_data(as_text=True))
    with app.app_context():
        assert db.session.get(Nqsw, nqsw_id) is None
        assert db.session.get(Portfolio, first) is None and db.session.get(Portfolio, second) is None
        assert sorted(e.target for e in _removed_events("portfolio")) == sorted(
            [f"portfolio:{first}", f"portfolio:{second}"])


def _sample(pid: int, meeting_id: int, drawn_by: int, current: bool = True) -> None:
    draw = SampleDraw(meeting_id=meeting_id, seed="0" * 32, population=f"[{pid}]", parameters="{}",
                      picks=f"[{pid}]", drawn_by_id=drawn_by, drawn_at=clock.now(), current=current)
    db.session.add(draw)
    db.session.flush()
    if current:
        db.session.add(SampledPortfolio(meeting_id=meeting_id, portfolio_id=pid, draw_id=draw.id, position=1))


def _assess(pid: int, meeting_id: int, user_id: int) -> None:
    db.session.add(Assessment(meeting_id=meeting_id, portfolio_id=pid, user_id=user_id,
                              template=review_services.current_template(), created_at=clock.now(),
                              updated_at=clock.now()))


def _panel_view(pid: int, meeting_id: int, user_id: int) -> None:
    db.session.add(PanelView(meeting_id=meeting_id, portfolio_id=pid, feedback_nqsw="Well evidenced",
                             updated_by_id=user_id, updated_at=clock.now()))


# What each kind of use adds to a portfolio (made directly, each on its own), and how the page names it.
LATER_USES = {
    "document": ("it has 1 document", lambda pid, mid, uid: db.session.add(Document(
        portfolio_id=pid, evidence_type="pdp", title="Plan", created_by_id=uid, created_at=clock.now()))),
    "sample": ("it was sampled for the meeting on 30 November 2026", _sample),
    "assessment": ("it has 1 assessment", _assess),
    "panel view": ("the panel recorded its view or feedback on it", _panel_view),
}


@pytest.mark.parametrize("use", list(LATER_USES))
def test_anything_added_to_the_portfolio_after_the_check_keeps_both(app, admin_client, monkeypatch, use):
    """Each statement re-checks what it deletes: a stale "the portfolio is empty" removes nothing."""
    client, admin = admin_client
    pid = make_registered_portfolio(app, 1)
    mid = make_meeting(app)
    with app.app_context():
        nqsw_id = db.session.get(Portfolio, pid).nqsw_id
    page = client.get(f"/cohort/nqsws/{nqsw_id}/remove").get_data(as_text=True)
    assert 'name="submit"' in page
    reason, add = LATER_USES[use]
    with app.app_context():
        add(pid, mid, admin.id)
        db.session.commit()
    calls = _stale_first_look(monkeypatch, blank=True)

    refused = client.post(f"/cohort/nqsws/{nqsw_id}/remove", data={"csrf_token": csrf_from(page)})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 409 and len(calls) >= 2
    assert f"Nqsw Person 1 has a portfolio that is not empty: {reason}." in html and 'name="submit"' not in html
    with app.app_context():
        assert db.session.get(Nqsw, nqsw_id) is not None and db.session.get(Portfolio, pid) is not None
        assert not _removed_events("nqsw") and not _removed_events("portfolio")


def test_an_imported_nqsw_is_removed_with_their_empty_portfolio(app, admin_client):
    client, admin = admin_client
    preview = upload_csv(client, HEADER + (
        "Ada Example,ada@example.org,Northshire Council,Academy 2026,children,Sam Assessor,sam@example.org,,"
        "pass,2026-06-30,yes\n"
        "Ben Example,ben@example.org,Northshire Council,Academy 2026,adults,Sam Assessor,sam@example.org,,,,\n"))
    html = preview.get_data(as_text=True)
    assert client.post("/cohort/import/confirm", data={"csrf_token": csrf_from(html),
                                                       "sealed": sealed_from(html)}).status_code == 302
    with app.app_context():
        ada, ben = (db.session.scalar(db.select(Portfolio).join(Nqsw).where(Nqsw.email == email))
                    for email in ("ada@example.org", "ben@example.org"))
        nqsw_id, pid, assessor_id = ada.nqsw_id, ada.id, ada.assessor_id
        others = ben.id
        events_before = db.session.scalar(db.select(db.func.max(AuditEvent.seq)))

    page = client.get(f"/cohort/nqsws/{nqsw_id}/remove")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    # The page says what removing will do before the Lead confirms.
    assert "Remove Ada Example from the registry?" in html and "Their portfolio is removed too" in html
    assert "It is empty: no documents, not even" in html and "never sampled" in html
    assert "no assessments or panel feedback" in html
    assert f"portfolio {pid}:" in html and "outcome Pass (30 June 2026);" in html
    assert "Assessor: Sam Assessor; exemplar consent given" in html
    assert "The Assessor stays in the registry" in html
    assert "only that an NQSW entry and its portfolio were removed" in html
    assert "govuk-button--warning" in html and 'name="submit"' in html
    with app.app_context():
        assert db.session.get(Portfolio, pid) is not None  # GET never removes

    done = client.post(f"/cohort/nqsws/{nqsw_id}/remove", data={"csrf_token": csrf_from(html)})
    assert done.status_code == 302 and done.headers["Location"].endswith("/cohort/nqsws")
    listing = client.get("/cohort/nqsws").get_data(as_text=True)
    assert "Ada Example has been removed from the registry, with their empty portfolio." in listing
    assert "ada@example.org" not in listing and "ben@example.org" in listing
    assert client.get(f"/portfolios/{pid}").status_code == 404
    assert "Ada Example" not in client.get("/portfolios").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Nqsw, nqsw_id) is None and db.session.get(Portfolio, pid) is None
        # The rest of the import stays: the other NQSW, the shared Assessor, the organisation and the cohort.
        assert db.session.get(Portfolio, others) is not None and db.session.get(Assessor, assessor_id) is not None
        assert db.session.scalar(db.select(db.func.count(Organisation.id))) == 1
        assert db.session.scalar(db.select(db.func.count(Cohort.id))) == 1
        events = list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.seq > events_before)
                                         .order_by(AuditEvent.seq)))
        assert [(e.action, e.target, e.actor_id) for e in events] == [
            ("portfolio.removed", f"portfolio:{pid}", admin.id), ("nqsw.removed", f"nqsw:{nqsw_id}", admin.id)]
        assert f'"nqsw":{nqsw_id}' in events[0].details and f'"portfolios":[{pid}]' in events[1].details
        trail = _audit_text()
        assert "Ada" not in trail and "ada@example.org" not in trail


def _purge(pid: int, meeting_id: int, user_id: int) -> None:
    _sample(pid, meeting_id, user_id)
    db.session.commit()
    retention.purge_portfolio(None, db.session.get(Portfolio, pid))


def _deleted_document(pid: int, meeting_id: int, user_id: int) -> None:
    document = db.session.scalar(db.select(Document).where(Document.portfolio_id == pid))
    shredding.delete_document(db.session.get(User, user_id), document, "uploaded to the wrong portfolio")


# Each thing that keeps a portfolio (and so its NQSW), made on its own, and how the page says it.
KEEPS = {
    **LATER_USES,
    "deleted document": ("it has 1 deleted document (kept as a record)", _deleted_document),
    "superseded draw": ("it was sampled for the meeting on 30 November 2026",
                        lambda pid, mid, uid: _sample(pid, mid, uid, current=False)),
    "purge": ("it was purged under the retention policy on 27 November 2026 and it was sampled for the meeting "
              "on 30 November 2026", _purge),
}


@pytest.mark.parametrize("use", list(KEEPS))
def test_an_nqsw_whose_portfolio_is_not_empty_stays_and_the_page_says_why(app, admin_client, use):
    client, admin = admin_client
    pid = make_registered_portfolio(app, 1)
    mid = make_meeting(app)
    if use == "deleted document":
        store_document(app, admin.id, [b"the wrong evidence"], portfolio_id=pid)
    reason, add = KEEPS[use]
    with app.app_context():
        add(pid, mid, admin.id)
        db.session.commit()
        nqsw_id = db.session.get(Portfolio, pid).nqsw_id
        documents = db.session.scalar(db.select(db.func.count(Document.id)))
        events_before = db.session.scalar(db.select(db.func.count(AuditEvent.id)))
    page = client.get(f"/cohort/nqsws/{nqsw_id}/remove")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Nqsw Person 1 cannot be removed" in html
    assert (f"Nqsw Person 1 has a portfolio that is not empty: {reason}. The entry can be removed only together "
            "with an empty portfolio, so keep the entry.") in html
    assert 'name="submit"' not in html and "govuk-button--warning" not in html
    # A purged portfolio has no page to link to.
    assert (f'href="/portfolios/{pid}"' in html) is (use != "purge")

    token = csrf_from(client.get(f"/cohort/nqsws/{nqsw_id}/edit").get_data(as_text=True))
    forced = client.post(f"/cohort/nqsws/{nqsw_id}/remove", data={"csrf_token": token})
    assert forced.status_code == 409 and reason in forced.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Nqsw, nqsw_id) is not None and db.session.get(Portfolio, pid) is not None
        assert db.session.scalar(db.select(db.func.count(Document.id))) == documents
        assert db.session.scalar(db.select(db.func.count(AuditEvent.id))) == events_before


def test_an_nqsw_with_an_empty_and_a_used_portfolio_stays(app, admin_client):
    client, admin = admin_client
    used = make_registered_portfolio(app, 1)
    add_document_row(app, used, admin.id, "pdp")
    with app.app_context():
        nqsw_id = db.session.get(Portfolio, used).nqsw_id
        db.session.add(Portfolio(nqsw_id=nqsw_id, created_at=clock.now()))
        db.session.commit()
    html = client.get(f"/cohort/nqsws/{nqsw_id}/remove").get_data(as_text=True)
    assert "Nqsw Person 1 has 2 portfolios and 1 of them is not empty (see below)." in html
    assert "Nqsw Person 1&#39;s portfolio</a>:\n    it has 1 document" in html
    assert "Nqsw Person 1&#39;s portfolio</a>:\n    empty" in html
    assert 'name="submit"' not in html
    assert submit(client, f"/cohort/nqsws/{nqsw_id}/remove", {}, page=f"/cohort/nqsws/{nqsw_id}/edit"
                  ).status_code == 409
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Portfolio.id)).where(Portfolio.nqsw_id == nqsw_id)) == 2


def test_an_assessor_named_on_a_purged_portfolio_stays_without_a_dead_link(app, admin_client):
    client, admin = admin_client
    pid = make_registered_portfolio(app, 1)
    mid = make_meeting(app)
    with app.app_context():
        _purge(pid, mid, admin.id)
        assessor_id = db.session.get(Portfolio, pid).assessor_id
    html = client.get(f"/cohort/assessors/{assessor_id}/remove").get_data(as_text=True)
    assert ("Assessor Person 1 is named as the Assessor on 1 portfolio, one purged under the retention policy. "
            "A purged portfolio cannot be changed, so keep the entry.") in html
    assert "purged under the retention policy on 27 November 2026" in html
    assert f"/cohort/portfolios/{pid}/edit" not in html and 'name="submit"' not in html


@pytest.mark.parametrize("role", [Role.MEMBER, Role.OBSERVER, Role.ASSESSOR, Role.NQSW])
def test_only_the_lead_may_remove_entries(app, signed_in, role):
    pid = make_registered_portfolio(app, 1)
    with app.app_context():
        db.session.add(Nqsw(name="Lone Person", email="lone@example.org", service="children"))
        db.session.add(Assessor(name="Lone Assessor", email="lone.assessor@example.org"))
        db.session.commit()
        nqsw_id = db.session.scalar(db.select(Nqsw.id).where(Nqsw.email == "lone@example.org"))
        assessor_id = db.session.scalar(db.select(Assessor.id).where(Assessor.email == "lone.assessor@example.org"))
        used_assessor = db.session.get(Portfolio, pid).assessor_id
    browser, _ = signed_in(role)
    token = csrf_from(browser.get("/account/password").get_data(as_text=True))
    with app.app_context():
        with_empty_portfolio = db.session.get(Portfolio, pid).nqsw_id
    for path in (f"/cohort/nqsws/{nqsw_id}/remove", f"/cohort/assessors/{assessor_id}/remove",
                 f"/cohort/assessors/{used_assessor}/remove", "/cohort/nqsws/999/remove",
                 f"/cohort/nqsws/{with_empty_portfolio}/remove"):
        assert browser.get(path).status_code == 404, path
        assert browser.post(path, data={"csrf_token": token}).status_code == 404, path
    with app.app_context():
        assert db.session.get(Nqsw, nqsw_id) is not None and db.session.get(Assessor, assessor_id) is not None
        assert db.session.get(Portfolio, pid) is not None and db.session.get(Nqsw, with_empty_portfolio) is not None
        assert not _removed_events("nqsw") and not _removed_events("assessor") and not _removed_events("portfolio")


def test_unknown_entries_are_404_for_the_lead(admin_client):
    client, _ = admin_client
    assert client.get("/cohort/nqsws/999/remove").status_code == 404
    assert client.get("/cohort/assessors/999/remove").status_code == 404
