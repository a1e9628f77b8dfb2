"""The partnership: member employers with codes, the administrator inviting their Leads, and each employer Lead
running only their own employer's registry (DESIGN section 1, "A partnership, not one employer"; section 3)."""

import re
from html import unescape

from conftest import csrf_from, submit
from factories import make_employer
from flask import Flask
from helpers_auth import lead_of
from helpers_cohort import HEADER, sealed_from, upload_csv
from sqlalchemy import select

from portal.extensions import db
from portal.models import AccountLink, Assessor, Cohort, Nqsw, Organisation, Portfolio


def test_the_administrator_adds_employers_each_with_the_next_code(app: Flask, admin_client) -> None:
    client, _ = admin_client
    for name, kind in (("Riverside Care", "employer"), ("Northfield University", "university"),
                       ("Oakwood Family Trust", "employer")):
        assert submit(client, "/admin/organisations", {"name": name, "kind": kind}).status_code == 302
    with app.app_context():
        codes = dict(db.session.execute(select(Organisation.name, Organisation.code)).all())
    assert codes == {"Riverside Care": "E1", "Northfield University": None, "Oakwood Family Trust": "E2"}
    page = client.get("/admin/partnership").get_data(as_text=True)
    assert "Riverside Care" in page and "Oakwood Family Trust" in page and "Northfield University" not in page
    # The codes as table cells, in order (a bare "E2" could also occur inside a random token on the page).
    cells = re.findall(r'<td class="govuk-table__cell[^"]*">\s*(E\d+)\s*</td>', page)
    assert cells == ["E1", "E2"], cells
    response = submit(client, "/admin/partnership", {"name": "Northshire and District ASYE Partnership"})
    assert response.status_code == 302
    assert "Northshire and District ASYE Partnership" in client.get("/admin/partnership").get_data(as_text=True)


def test_the_administrator_invites_a_lead_only_for_an_employer(app: Flask, admin_client) -> None:
    client, _ = admin_client
    riverside = make_employer(app, "Riverside Care")
    with app.app_context():
        university = Organisation(name="Northfield University", kind="university")
        db.session.add(university)
        db.session.commit()
        university_id = university.id
    invite = {"name": "Rita Riverside", "email": "rita@example.org", "role": "lead"}
    for organisation in (0, university_id):
        refused = submit(client, "/admin/people/invite", {**invite, "organisation": organisation})
        assert refused.status_code == 400
        assert "Choose the employer this Lead works for" in refused.get_data(as_text=True)
    # The partnership page's "Invite a Lead" link starts the form on that employer and role.
    form = client.get(f"/admin/people/invite?employer={riverside}").get_data(as_text=True)
    assert f'value="{riverside}" selected' in form and 'value="lead" checked' in form
    assert submit(client, "/admin/people/invite", {**invite, "organisation": riverside}).status_code == 302
    with app.app_context():
        link = db.session.scalar(select(AccountLink).where(AccountLink.email == "rita@example.org"))
        assert (link.role, link.organisation_id) == ("lead", riverside)


def test_a_lead_invites_only_their_own_employers_assessors_and_nqsws(app: Flask, make_user) -> None:
    riverside, oakwood = make_employer(app, "Riverside Care"), make_employer(app, "Oakwood Family Trust")
    client, _ = lead_of(app, make_user, riverside)
    form = client.get("/admin/people/invite").get_data(as_text=True)
    assert 'value="nqsw"' in form and 'value="assessor"' in form
    assert 'value="admin"' not in form and 'value="lead"' not in form and "Oakwood" not in form
    refused = submit(client, "/admin/people/invite", {"name": "Sneaky", "email": "s@example.org", "role": "admin"})
    assert refused.status_code == 400
    # An organisation named in the form is ignored: the Lead's own employer is the one.
    sent = submit(client, "/admin/people/invite", {"name": "Nia NQSW", "email": "nia@example.org", "role": "nqsw",
                                                   "organisation": oakwood})
    assert sent.status_code == 302
    with app.app_context():
        link = db.session.scalar(select(AccountLink).where(AccountLink.email == "nia@example.org"))
        assert (link.role, link.organisation_id) == ("nqsw", riverside)
        assert db.session.scalar(select(AccountLink).where(AccountLink.email == "s@example.org")) is None
    people = client.get("/admin/people").get_data(as_text=True)
    assert "nia@example.org" in people  # their own invitation is listed


def test_a_lead_keeps_their_own_registry_and_the_employer_comes_from_their_account(app: Flask, make_user) -> None:
    riverside, oakwood = make_employer(app, "Riverside Care"), make_employer(app, "Oakwood Family Trust")
    client, _ = lead_of(app, make_user, riverside)
    assert submit(client, "/cohort", {"name": "Riverside 2026"}).status_code == 302
    with app.app_context():
        cohort = db.session.scalar(select(Cohort).where(Cohort.name == "Riverside 2026"))
        assert cohort.employer_id == riverside
        cohort_id = cohort.id
    # Another employer's id in the form is not a choice the Lead has.
    other = submit(client, "/cohort/nqsws/new", {"name": "Olu Other", "email": "olu@example.org",
                                                 "employer": oakwood, "cohort": cohort_id, "service": "adults"})
    assert other.status_code == 400
    saved = submit(client, "/cohort/nqsws/new", {"name": "Ria Own", "email": "ria@example.org",
                                                 "employer": riverside, "cohort": cohort_id, "service": "adults"})
    assert saved.status_code == 302
    assert submit(client, "/cohort/assessors/new", {"name": "Asa Own", "email": "asa@example.org",
                                                    "organisation": riverside}).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Nqsw.employer_id).where(Nqsw.email == "ria@example.org")) == riverside
        assert db.session.scalar(select(Assessor.organisation_id).where(Assessor.email == "asa@example.org")) \
            == riverside
    assert "Ria Own" in client.get("/cohort/nqsws").get_data(as_text=True)
    assert "Asa Own" in client.get("/cohort/assessors").get_data(as_text=True)


OWN = (HEADER + "Ria Own,ria@example.org,Riverside Care,Riverside 2026,adults,Asa Own,asa@example.org,,pass,"
       "2026-06-01,no\n")
FOREIGN = (HEADER + "Olu Other,olu@example.org,Oakwood Family Trust,Riverside 2026,adults,,,,,,\n"
           "Ria Own,ria@example.org,Riverside Care,Oakwood 2026,adults,Oli Oak,oli@example.org,,,,\n")


def test_a_lead_imports_only_their_own_employers_cohort(app: Flask, make_user) -> None:
    riverside, oakwood = make_employer(app, "Riverside Care"), make_employer(app, "Oakwood Family Trust")
    with app.app_context():
        db.session.add_all([Cohort(name="Oakwood 2026", employer_id=oakwood),
                            Assessor(name="Oli Oak", email="oli@example.org", organisation_id=oakwood)])
        db.session.commit()
    client, _ = lead_of(app, make_user, riverside)
    refused = upload_csv(client, FOREIGN)
    html = unescape(refused.get_data(as_text=True))
    assert refused.status_code == 400
    assert "employer “Oakwood Family Trust” is not your employer" in html
    assert "cohort “Oakwood 2026” is another employer's" in html
    assert "assessor_email oli@example.org is registered for another employer" in html
    preview = upload_csv(client, OWN)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200, html
    done = client.post("/cohort/import/confirm", data={"csrf_token": csrf_from(html), "sealed": sealed_from(html)})
    assert done.status_code == 302
    with app.app_context():
        nqsw = db.session.scalar(select(Nqsw).where(Nqsw.email == "ria@example.org"))
        assert nqsw.employer_id == riverside and nqsw.cohort.employer_id == riverside
        assessor = db.session.scalar(select(Assessor).where(Assessor.email == "asa@example.org"))
        assert assessor.organisation_id == riverside
        assert db.session.scalar(select(Portfolio).where(Portfolio.nqsw_id == nqsw.id)) is not None
        assert db.session.scalar(select(db.func.count()).select_from(Organisation)) == 2  # none created
