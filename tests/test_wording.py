"""Numbers in words as a person writes them: plurals and file sizes (portal/wording.py), on the pages too."""

import pytest
from conftest import outbox, submit
from factories import make_portfolio
from helpers_cohort import HEADER, upload_csv

from portal.reading.services import Progress
from portal.wording import count_of, file_size, wait


@pytest.mark.parametrize(("number", "expected"), [
    (0, "0 new cohorts"), (1, "1 new cohort"), (2, "2 new cohorts"), (1200, "1,200 new cohorts"),
])
def test_count_of_agrees_with_the_number(number, expected):
    assert count_of(number, "new cohort", "new cohorts") == expected


@pytest.mark.parametrize(("size", "expected"), [
    (0, "0 bytes"), (1, "1 byte"), (12, "12 bytes"), (1023, "1,023 bytes"),
    (1024, "1 KB"), (1536, "1.5 KB"), (30 * 1024, "30 KB"), (100 * 1024, "100 KB"), (999 * 1024, "999 KB"),
    (1024 * 1024, "1 MB"), (int(1.25 * 1024 * 1024), "1.2 MB"), (200 * 1024 * 1024, "200 MB"),
    (int(200.4 * 1024 * 1024), "200 MB"), (1024 ** 3, "1 GB"), (int(2.5 * 1024 ** 3), "2.5 GB"),
    (3 * 1024 ** 4, "3 TB"), (2048 * 1024 ** 4, "2,048 TB"),
])
def test_file_size_has_no_empty_decimals_and_the_right_unit(size, expected):
    assert file_size(size) == expected


@pytest.mark.parametrize(("seconds", "expected"), [
    (1, "1 minute"), (60, "1 minute"), (61, "2 minutes"), (900, "15 minutes"), (7200, "120 minutes"),
    (7201, "3 hours"), (86400, "24 hours"),
])
def test_a_wait_is_rounded_up_to_whole_minutes_then_hours(seconds, expected):
    assert wait(seconds) == expected


def test_the_upload_limit_and_the_dashboard_read_as_a_person_writes(app, admin_client):
    client, _ = admin_client
    pid = make_portfolio(app)
    page = client.get(f"/portfolios/{pid}/documents/upload").get_data(as_text=True)
    assert "can be up\n  to 200 MB:" in page and "200.0 MB" not in page
    app.config["MAX_UPLOAD_BYTES"] = 1024 * 1024 + 512 * 1024
    assert "to 1.5 MB:" in client.get(f"/portfolios/{pid}/documents/upload").get_data(as_text=True)


@pytest.mark.parametrize(("read", "pages", "expected"), [
    (1, 2, "read 1 of 2 pages"), (9, 12, "read 9 of 12 pages"), (1, 1, ""), (0, 5, ""),
])
def test_pages_read_agree_with_the_number(read, pages, expected):
    assert Progress(read, pages).describe() == expected


def test_one_hour_one_attempt_and_one_value_are_singular(app, admin_client):
    client, _ = admin_client
    app.config.update(INVITATION_HOURS=1, MAIL_MAX_ATTEMPTS=1)
    invite = client.get("/admin/people/invite").get_data(as_text=True)
    assert "expires in 1 hour." in invite and "1 hours" not in invite, invite[invite.find("<main"):][:1500]
    emails = client.get("/admin/emails").get_data(as_text=True)
    assert "stops after 1 attempt." in emails and "1 attempts" not in emails
    response = submit(client, "/admin/people/invite", {"name": "Una Single", "email": "una@example.org",
                                                       "role": "member", "organisation": "0"})
    assert response.status_code in (200, 302), response.get_data(as_text=True)
    body = [m.body for m in outbox(app) if m.recipient == "una@example.org"][-1]
    assert "expires in 1 hour:" in body and "1 hours" not in body
    app.config.update(INVITATION_HOURS=72)
    assert "expires in 72 hours." in client.get("/admin/people/invite").get_data(as_text=True)


def test_a_short_row_in_the_cohort_file_counts_in_words(admin_client):
    client, _ = admin_client
    page = upload_csv(client, HEADER + "Solo\n").get_data(as_text=True)
    assert "has 1 value but the header has 11 columns" in page
