"""The cohort CSV import: a preview of every row, nothing written on any error, one transaction on confirm."""

import io

from conftest import csrf_from, submit
from helpers_cohort import HEADER, sealed_from, upload_csv

from portal.extensions import db
from portal.models import Assessor, AuditEvent, Cohort, Nqsw, Organisation, Portfolio, Role, User

GOOD = HEADER + (
    "Ada Example,ada@example.org,Northshire Council,Academy 2026,children,Sam Assessor,sam@example.org,"
    "Northshire Council,pass,2026-06-30,yes\n"
    "Ben Example,BEN@example.org,Northshire Council,Academy 2026,Children's services,Sam Assessor,"
    "sam@example.org,,fail,30/06/2026,no\n"
    "Cal Example,cal@example.org,Southvale Trust,grow your own,adults,,,,,,\n"
)


def counts(app) -> tuple[int, int, int, int, int, int]:
    with app.app_context():
        return tuple(db.session.scalar(db.select(db.func.count()).select_from(model))
                     for model in (Nqsw, Assessor, Portfolio, Organisation, Cohort, User))


def test_preview_lists_every_row_writes_nothing_then_confirm_writes_all(app, admin_client):
    client, _ = admin_client
    before = counts(app)
    page = upload_csv(client, GOOD)
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    for name in ("Ada Example", "Ben Example", "Cal Example"):
        assert name in html
    assert "New organisations will be created: Northshire Council, Southvale Trust" in html
    assert "New cohorts will be created: Academy 2026, grow your own" in html
    assert counts(app) == before  # the preview wrote nothing
    response = client.post("/cohort/import/confirm", data={"csrf_token": csrf_from(html),
                                                           "sealed": sealed_from(html)})
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        nqsws = {n.email: n for n in db.session.scalars(db.select(Nqsw))}
        assert set(nqsws) == {"ada@example.org", "ben@example.org", "cal@example.org"}
        assert nqsws["ben@example.org"].service == "children" and nqsws["cal@example.org"].service == "adults"
        assert nqsws["cal@example.org"].cohort.name == "grow your own"
        assessors = list(db.session.scalars(db.select(Assessor)))
        assert [a.email for a in assessors] == ["sam@example.org"]  # one Assessor for two NQSWs
        portfolios = {p.nqsw.email: p for p in db.session.scalars(db.select(Portfolio))}
        assert portfolios["ada@example.org"].outcome == "pass" and portfolios["ada@example.org"].exemplar_consent
        assert str(portfolios["ben@example.org"].outcome_date) == "2026-06-30"
        assert portfolios["cal@example.org"].outcome is None and portfolios["cal@example.org"].assessor is None
        assert db.session.scalar(db.select(db.func.count()).select_from(User)) == before[5]  # no accounts
        assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "cohort.imported")) is not None


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_written(app, admin_client):
    client, _ = admin_client
    submit(client, "/cohort/nqsws/new", {"name": "Existing Person", "email": "taken@example.org",
                                          "employer": "0", "cohort": "0", "service": "adults"})
    before = counts(app)
    text = HEADER + (
        "Ok Row,ok@example.org,Northshire Council,Academy 2026,children,,,,pass,2026-06-01,\n"  # line 2: fine
        "Dup One,dup@example.org,Northshire Council,Academy 2026,children,,,,,,\n"  # line 3
        "Dup Two,dup@example.org,Northshire Council,Academy 2026,children,,,,,,\n"  # line 4: duplicate
        "Taken,taken@example.org,Northshire Council,Academy 2026,adults,,,,,,\n"  # line 5: in registry
        "Bad Date,date@example.org,Northshire Council,Academy 2026,adults,,,,pass,31/02/2026,\n"  # line 6
        "Bad Outcome,outcome@example.org,Northshire Council,Academy 2026,adults,,,,maybe,2026-06-01,\n"  # 7
        "Bad Service,service@example.org,Northshire Council,Academy 2026,mental health,,,,,,\n"  # line 8
        ",missing@example.org,,Academy 2026,adults,,,,,,\n"  # line 9: name and employer missing
        "No Email,not-an-email,Northshire Council,Academy 2026,adults,,,,,,\n"  # line 10
    )
    page = upload_csv(client, text)
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert "Nothing has been imported" in html
    assert "Line 4: nqsw_email dup@example.org is also on line 3" in html
    assert "Line 5: nqsw_email taken@example.org is already in the registry" in html
    assert "Line 6: outcome_date “31/02/2026” is not a date" in html
    assert "Line 7: outcome “maybe” is not one the portal knows: write pass, fail or extension" in html
    assert "Line 8: service “mental health” is not one the portal knows: write children or adults" in html
    assert "Line 9: nqsw_name is missing; employer is missing" in html
    assert "Line 10: nqsw_email “not-an-email” is not an email address" in html
    assert "Line 2:" not in html and "Line 3:" not in html
    assert 'name="sealed"' not in html  # no way to confirm a bad file
    assert counts(app) == before


def test_file_level_problems(app, admin_client):
    client, _ = admin_client
    page = upload_csv(client, "nqsw_name,email\nAda,ada@example.org\n")
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert "lacks the column(s): nqsw_email, employer, cohort, service" in html
    assert "unknown column(s): email" in html
    assert "The file is empty" in upload_csv(client, b"").get_data(as_text=True)
    not_utf8 = upload_csv(client, HEADER.encode() + b"\xff\xfe\x00bad\n")
    assert "not a CSV saved as UTF-8" in not_utf8.get_data(as_text=True)
    too_big = upload_csv(client, HEADER + "x" * (2 * 1024 * 1024 + 10))
    assert too_big.status_code == 400 and "larger than 2 MB" in too_big.get_data(as_text=True)
    assert counts(app)[0] == 0


def test_no_file_chosen_is_an_error(app, admin_client):
    client, _ = admin_client
    token = csrf_from(client.get("/cohort/import").get_data(as_text=True))
    response = client.post("/cohort/import", data={"csrf_token": token, "file": (io.BytesIO(b""), "")},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choose a CSV file" in response.get_data(as_text=True)


def test_upload_needs_the_csrf_token(app, admin_client):
    client, _ = admin_client
    response = client.post("/cohort/import", data={"file": (io.BytesIO(GOOD.encode()), "c.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert counts(app)[0] == 0


def test_confirm_rechecks_and_refuses_tampering_and_other_people(app, admin_client, signed_in):
    client, _ = admin_client
    html = upload_csv(client, GOOD).get_data(as_text=True)
    sealed = sealed_from(html)
    # Tampered: nothing written, back to the upload page.
    tampered = sealed[:-4] + "AAAA"
    response = client.post("/cohort/import/confirm", data={"csrf_token": csrf_from(html), "sealed": tampered})
    assert response.status_code == 302 and response.headers["Location"].endswith("/cohort/import")
    # Another administrator cannot confirm this one's preview.
    other, _ = signed_in(Role.ADMIN)
    token = csrf_from(other.get("/cohort/import").get_data(as_text=True))
    response = other.post("/cohort/import/confirm", data={"csrf_token": token, "sealed": sealed})
    assert response.status_code == 302
    assert counts(app)[0] == 0
    # The registry changed after the preview: the confirmation checks again and writes nothing.
    submit(client, "/cohort/nqsws/new", {"name": "Ada Again", "email": "ada@example.org", "employer": "0",
                                          "cohort": "0", "service": "children"})
    response = client.post("/cohort/import/confirm", data={"csrf_token": csrf_from(html), "sealed": sealed})
    assert response.status_code == 400
    assert "ada@example.org is already in the registry" in response.get_data(as_text=True)
    assert counts(app)[0] == 1


def test_only_the_lead_can_import(app, signed_in):
    member, _ = signed_in(Role.MEMBER)
    assert member.get("/cohort/import").status_code == 404
    assert member.post("/cohort/import/confirm", data={"sealed": "x"}).status_code in (400, 404)
    assert member.get("/cohort").status_code == 404


def test_one_of_each_reads_in_the_singular_and_the_service_error_names_the_accepted_values(app, admin_client):
    client, _ = admin_client
    one = HEADER + ("Ada Example,ada@example.org,Northshire Council,Academy 2026,children,Sam Assessor,"
                    "sam@example.org,,pass,2026-06-30,yes\n")
    html = upload_csv(client, one).get_data(as_text=True)
    for expected in ("1 row is ready", "1 NQSW and their portfolio will be added", "1 new Assessor will be added",
                     "A new organisation will be created: Northshire Council",
                     "A new cohort will be created: Academy 2026"):
        assert expected in html, expected
    assert "1 rows" not in html and "1 NQSWs" not in html and "1 new Assessors" not in html
    response = client.post("/cohort/import/confirm", data={"csrf_token": csrf_from(html),
                                                           "sealed": sealed_from(html)}, follow_redirects=True)
    flashed = response.get_data(as_text=True)
    assert ("Imported 1 NQSW and their portfolio, 1 new Assessor, 1 new organisation and 1 new cohort."
            in flashed), flashed
    two = HEADER + (
        "Bo Example,bo@example.org,Northshire Council,Academy 2026,kids,,,,,,\n"
        "Cy Example,cy@example.org,Southvale Trust,Grow your own,adults,,,,,,\n")
    html = upload_csv(client, two).get_data(as_text=True)
    assert "1 of 2 rows has problems" in html
    assert "Line 2: service “kids” is not one the portal knows: write children or adults" in html
    html = upload_csv(client, two.replace("kids", "children")).get_data(as_text=True)
    assert "2 rows are ready" in html and "2 NQSWs and their portfolios will be added" in html
    assert "0 new Assessors will be added" in html and "A new organisation will be created: Southvale Trust" in html
