"""No lost work when time runs out: the timeout warning's endpoints, and forms sent after the session ended."""

import html
import re
from datetime import timedelta

from conftest import csrf_from, fresh_code, sign_in
from factories import make_panel
from helpers_auth import code_step, password_step
from helpers_reports import build_meeting
from helpers_reviews import answers_for, base
from sqlalchemy import func, select, update
from werkzeug.datastructures import MultiDict

from portal import clock
from portal.extensions import db
from portal.models import Assessment, AuditEvent, KeptForm, Minutes, Role, UserSession

KEEP = re.compile(r'name="portal_keep" value="([^"]+)"')
WARNING = re.compile(r'id="timeout-warning"[^>]*data-seconds-left="(\d+)"\s+data-warn-seconds="(\d+)"')
TYPED = "The reflective log links each visit to supervision.\nIt names no one, and shows real learning."


def _after_session_ended(client, path: str, page: str, data: dict):
    """Open the form page, let the session end (31 idle minutes), then send the form as a browser would."""
    text = client.get(page).get_data(as_text=True)
    sealed = html.unescape(KEEP.search(text).group(1))
    clock.advance(timedelta(minutes=31))
    return client.post(path, data={**data, "csrf_token": csrf_from(text), "portal_keep": sealed})


def _save_kept(client):
    """On *Unsaved work*, press the first *Save it* button (its form holds what was kept)."""
    page = client.get("/unsaved-work").get_data(as_text=True)
    form = re.search(r'<form method="post" action="([^"]+)" class="portal-inline-form">((?:(?!</form>).)*?'
                     r'name="portal_kept".*?)</form>', page, re.S)
    fields = [(html.unescape(n), html.unescape(v))
              for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(2))]
    return client.post(html.unescape(form.group(1)), data=MultiDict(fields))


def _kept_rows(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(KeptForm)) or 0


# The warning's endpoints ---------------------------------------------------------------------------------------


def test_signed_in_pages_carry_the_warning_and_public_pages_do_not(app, client, signed_in):
    assert 'id="timeout-warning"' not in client.get("/sign-in").get_data(as_text=True)
    browser, _ = signed_in()
    page = browser.get("/account").get_data(as_text=True)
    seconds, warn = map(int, WARNING.search(page).groups())
    assert 29 * 60 <= seconds <= 30 * 60 and warn == 120
    assert "Stay signed in" in page and "timeout-warning.js" in page
    with app.app_context():  # signed in 11 h 50 min ago: the absolute limit is nearer than the idle one
        db.session.execute(update(UserSession).values(created_at=clock.now() - timedelta(hours=11, minutes=50)))
        db.session.commit()
    page = browser.get("/account").get_data(as_text=True)
    assert int(WARNING.search(page).group(1)) <= 10 * 60


def test_asking_how_long_is_left_does_not_keep_the_session_alive(app, signed_in):
    browser, _ = signed_in()
    clock.advance(timedelta(minutes=20))
    assert 540 <= browser.get("/session/time-left").get_json()["seconds_left"] <= 600
    clock.advance(timedelta(minutes=9))
    assert 0 < browser.get("/session/time-left").get_json()["seconds_left"] <= 60
    clock.advance(timedelta(minutes=2))
    response = browser.get("/session/time-left")
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in")


def test_the_browser_fetching_a_stylesheet_or_icon_does_not_keep_the_session_alive(app, signed_in):
    # A browser fetches the favicon or a stylesheet on its own, at any moment: that is not the person at work.
    browser, _ = signed_in()
    clock.advance(timedelta(minutes=20))
    for path in ("/static/dist/images/favicon.ico", "/static/dist/portal.css"):
        assert browser.get(path).status_code == 200
    assert 540 <= browser.get("/session/time-left").get_json()["seconds_left"] <= 600
    clock.advance(timedelta(minutes=11))
    response = browser.get("/session/time-left")
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in")


def test_stay_signed_in_starts_the_idle_time_again(app, signed_in):
    browser, _ = signed_in()
    clock.advance(timedelta(minutes=29))
    assert 0 < browser.get("/session/time-left").get_json()["seconds_left"] <= 60
    account = browser.get("/account").get_data(as_text=True)  # any request also counts as activity
    clock.advance(timedelta(minutes=29))
    response = browser.post("/session/keep-alive", data={"csrf_token": csrf_from(account)},
                            headers={"Accept": "application/json"})
    assert 30 * 60 - 2 <= response.get_json()["seconds_left"] <= 30 * 60
    clock.advance(timedelta(minutes=29))
    assert browser.get("/dashboard").status_code == 200
    # Without a script the button is a plain form that returns to the page it was on.
    plain = browser.post("/session/keep-alive", data={"csrf_token": csrf_from(account), "next": "/account"})
    assert plain.status_code == 302 and plain.headers["Location"] == "/account"
    offsite = browser.post("/session/keep-alive", data={"csrf_token": csrf_from(account), "next": "//evil.example"})
    assert offsite.headers["Location"] == "/dashboard"
    assert browser.post("/session/keep-alive", data={}).status_code == 400  # no CSRF token


def test_keep_alive_cannot_revive_an_ended_session(app, signed_in):
    browser, _ = signed_in()
    account = browser.get("/account").get_data(as_text=True)
    clock.advance(timedelta(minutes=31))
    response = browser.post("/session/keep-alive", data={"csrf_token": csrf_from(account)},
                            headers={"Accept": "application/json"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in")
    assert browser.get("/dashboard").status_code == 302


def test_the_signed_out_page(app, client, signed_in):
    page = client.get("/signed-out?next=/account").get_data(as_text=True)
    assert "You have been signed out" in page and 'href="/sign-in?next=/account"' in page
    assert 'href="/sign-in?next=//evil.example"' not in client.get("/signed-out?next=//evil.example").get_data(
        as_text=True)
    browser, _ = signed_in()
    assert browser.get("/signed-out?next=/account").headers["Location"] == "/account"


# No lost work -----------------------------------------------------------------------------------------------------


def test_an_assessment_sent_after_the_session_ended_is_kept_and_saved_after_signing_in(app, signed_in):
    browser, person = signed_in(Role.MEMBER)
    panel = make_panel(app, [(person.id, "member")])
    pid = panel.portfolio_ids[0]
    path = f"{base(panel, pid)}/sections/part1"
    answers = {name: (TYPED if value == "x" else value) for name, value in answers_for("part1", text="x").items()}
    response = _after_session_ended(browser, path, path, answers)
    assert response.status_code == 302 and response.headers["Location"] == "/sign-in?next=/unsaved-work"
    assert _kept_rows(app) == 1
    with app.app_context():  # kept encrypted: the typed words are not in the table as written
        raw = db.session.connection().exec_driver_sql("SELECT content FROM kept_forms").scalar()
        assert "reflective log" not in raw
    # Signing in again lands on Unsaved work, which shows every word that was typed.
    sign_in_page = browser.get("/sign-in?next=/unsaved-work").get_data(as_text=True)
    assert "It has been kept: sign in again to save it." in sign_in_page
    password_step(browser, person.email, person.password, path="/sign-in?next=/unsaved-work")
    landed = code_step(browser, fresh_code(app, person), path="/sign-in/code?next=/unsaved-work")
    assert landed.headers["Location"] == "/unsaved-work"
    page = browser.get("/unsaved-work").get_data(as_text=True)
    assert html.escape(TYPED, quote=True).split("\n")[0] in page and "It names no one" in page
    saved = _save_kept(browser)
    assert saved.status_code == 302 and saved.headers["Location"] == base(panel, pid)
    with app.app_context():
        assessment = db.session.scalar(select(Assessment).where(Assessment.user_id == person.id))
        typed = [v for v in assessment.answer_map.values() if isinstance(v, str) and "reflective log" in v]
        assert typed and typed[0].replace("\r\n", "\n") == TYPED, "every word typed was saved"
        actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"session.form_kept", "session.kept_form_saved"} <= actions
    assert _kept_rows(app) == 0
    assert "You have no unsaved work." in browser.get("/unsaved-work").get_data(as_text=True)


def test_the_minutes_sent_after_the_session_ended_are_kept_and_saved(app, signed_in, make_user):
    chair, chair_person = signed_in(Role.MEMBER, name="Chair Fictional")
    built = build_meeting(app, chair_person.id)
    m = built.meeting_id
    notes = "The panel discussed reflective writing at length.\n\nDecision: confirm both outcomes."
    response = _after_session_ended(chair, f"/meetings/{m}/minutes/notes", f"/meetings/{m}/minutes/edit",
                                     {"notes": notes})
    assert response.headers["Location"] == "/sign-in?next=/unsaved-work"
    sign_in(app, chair, chair_person)
    page = chair.get("/unsaved-work").get_data(as_text=True)
    assert "The minutes of" in page and "Decision: confirm both outcomes." in page
    saved = _save_kept(chair)
    assert saved.status_code == 302 and saved.headers["Location"] == f"/meetings/{m}/minutes/edit"
    with app.app_context():
        stored = db.session.scalar(select(Minutes.notes).where(Minutes.meeting_id == m))
    assert stored.replace("\r\n", "\n") == notes
    assert _kept_rows(app) == 0


def test_kept_work_is_shown_only_to_the_person_who_typed_it(app, signed_in, make_user):
    browser, person = signed_in(Role.MEMBER)
    panel = make_panel(app, [(person.id, "member")])
    path = f"{base(panel, panel.portfolio_ids[0])}/sections/part1"
    _after_session_ended(browser, path, path, answers_for("part1", text=TYPED))
    other = make_user(Role.MEMBER)
    sign_in(app, browser, other)  # someone else signs in on the same browser
    page = browser.get("/unsaved-work").get_data(as_text=True)
    assert "You have no unsaved work." in page and "reflective log" not in page
    with app.app_context():
        kept_id = db.session.scalar(select(KeptForm.id))
    account = browser.get("/account").get_data(as_text=True)
    assert browser.post(f"/unsaved-work/{kept_id}/discard", data={"csrf_token": csrf_from(account)}).status_code \
        == 404
    assert _kept_rows(app) == 1
    # Its owner can discard it.
    owner = app.test_client()
    sign_in(app, owner, person)
    account = owner.get("/account").get_data(as_text=True)
    assert owner.post(f"/unsaved-work/{kept_id}/discard", data={"csrf_token": csrf_from(account)}).status_code \
        == 302
    assert _kept_rows(app) == 0


def test_only_a_genuine_seal_for_that_very_form_keeps_anything(app, signed_in, make_user):
    browser, person = signed_in(Role.MEMBER)
    panel = make_panel(app, [(person.id, "member")])
    part1 = f"{base(panel, panel.portfolio_ids[0])}/sections/part1"
    part2 = f"{base(panel, panel.portfolio_ids[0])}/sections/part2"
    text = browser.get(part1).get_data(as_text=True)
    sealed = html.unescape(KEEP.search(text).group(1))
    clock.advance(timedelta(minutes=31))
    token = csrf_from(text)
    moved = browser.post(part2, data={"csrf_token": token, "portal_keep": sealed, "x": "moved"})
    forged = browser.post(part1, data={"csrf_token": token, "portal_keep": sealed[:-4] + "AAAA", "x": "forged"})
    for response, path in ((moved, part2), (forged, part1)):
        assert response.headers["Location"] == f"/sign-in?next={path}"
    assert _kept_rows(app) == 0
    clock.advance(timedelta(hours=25))  # a seal older than any session keeps nothing either
    assert browser.post(part1, data={"csrf_token": token, "portal_keep": sealed}).headers["Location"] \
        == f"/sign-in?next={part1}"
    assert _kept_rows(app) == 0


def test_kept_forms_are_pruned_after_their_days(app, signed_in):
    browser, person = signed_in(Role.MEMBER)
    panel = make_panel(app, [(person.id, "member")])
    path = f"{base(panel, panel.portfolio_ids[0])}/sections/part1"
    _after_session_ended(browser, path, path, answers_for("part1", text=TYPED))
    clock.advance(timedelta(days=6))
    assert "removed" in app.test_cli_runner().invoke(args=["jobs", "run", "sessions-prune"]).output
    assert _kept_rows(app) == 1
    clock.advance(timedelta(days=2))
    output = app.test_cli_runner().invoke(args=["jobs", "run", "sessions-prune"]).output
    assert "1 kept forms older than 7 days" in output and _kept_rows(app) == 0
