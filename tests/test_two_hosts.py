"""Two hosts, one journey: two gunicorn instances on their own loopback ports share one PostgreSQL database, one
S3-compatible bucket and one keyring file, and every request of a whole cycle goes to the other host from the
one before, as behind a load balancer; the keys are rotated across both while they serve. Nothing fails and
nothing is lost.

PostgreSQL only (a deployment of several hosts needs a database server): it runs in the PostgreSQL leg.
"""

import io
import json
import re
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import KEYRING, PG_URL, Person, csrf_from, submit
from factories import make_panel
from flask import Flask
from helpers_auth import GOOD_PASSWORD, enrol, invite
from helpers_reports import build_meeting
from helpers_reviews import complete
from helpers_servers import ROOT, Alternating, Server, server_environment, start_gunicorn
from sqlalchemy import func, select

from portal import clock, create_app
from portal.extensions import db
from portal.models import AuditEvent, Document, DocumentVersion, FeedbackRelease, Minutes, Role, User
from portal.security import totp

if PG_URL:

    @pytest.fixture
    def blob_backend() -> str:
        """Both hosts keep their blobs in one S3 bucket."""
        return "s3"

    def _observer(app_config: dict, keyring_file: Path) -> Flask:
        """The test's own view of the database, with the deployment's keyring file (as it is now)."""
        return create_app({**app_config, "KEYRING": None, "KEYRING_FILE": str(keyring_file)})

    def _sign_in(browser: Alternating, observer: Flask, person: Person, password_on: Server, code_on: Server) -> None:
        """The password on one host, the security code on the other."""
        with browser.on(password_on):
            assert submit(browser, "/sign-in", {"email": person.email, "password": person.password}).status_code == 302
        with browser.on(code_on):
            response = submit(browser, "/sign-in/code", {"code": _code_now(observer, person)})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]

    def _code_now(observer: Flask, person: Person) -> str:
        """A code for a time step the person has not used yet. The hosts run on the machine's clock, so rather than
        moving the test's clock on (as fresh_code does for an in-process app), wait for the next step."""
        with observer.app_context():
            last = db.session.get(User, person.id).totp_last_step
        while last is not None and int(time.time()) // 30 <= last:
            time.sleep(0.5)
        return totp.code_at(person.secret, clock.now())

    def _document(observer: Flask, portfolio_id: int) -> tuple[int, int]:
        with observer.app_context():
            document = db.session.scalars(select(Document).where(Document.portfolio_id == portfolio_id)
                                          .order_by(Document.id.desc())).first()
            return document.id, document.current_version_id

    def _download(browser: Alternating, portfolio_id: int, document_id: int, version_id: int) -> bytes:
        response = browser.get(f"/portfolios/{portfolio_id}/documents/{document_id}/versions/{version_id}/download")
        assert response.status_code == 200, (response.host.name, response.get_data(as_text=True)[:500])
        return response.data

    def _upload(browser: Alternating, portfolio_id: int, filename: str, content: bytes) -> None:
        token = csrf_from(browser.get(f"/portfolios/{portfolio_id}/documents/upload").get_data(as_text=True))
        response = browser.post(f"/portfolios/{portfolio_id}/documents/upload", data={
            "csrf_token": token, "evidence_type-0": "supervision", "title-0": "Supervision record",
            "file-0": (io.BytesIO(content), filename)})
        assert response.status_code == 302, (response.host.name, response.get_data(as_text=True)[:800])

    def _flask(environment: dict[str, str], *args: str) -> str:
        """Run `flask --app portal ...` as an operator would, on a third machine of the deployment."""
        done = subprocess.run([sys.executable, "-m", "flask", "--app", "portal", *args], cwd=ROOT, env=environment,
                              capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def _ready_keys(browser: Alternating, host: Server) -> list[str]:
        with browser.on(host):
            answer = browser.get("/health/ready")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return json.loads(answer.data)["keys"]

    def test_two_hosts_serve_one_journey_request_by_request_through_a_key_rotation(
            app: Flask, app_config: dict, make_user, tmp_path: Path) -> None:
        clock.reset()  # the hosts run on the machine's clock, and so do the codes and dates made here
        keyring_file = tmp_path / "keyring.json"  # the deployment's keyring, as a file mounted on every host
        KEYRING.save(keyring_file)
        environment = server_environment(app_config, keyring_file, DEPLOYMENT_CHECK_SECONDS=1)
        observer = _observer(app_config, keyring_file)
        lead = make_user(Role.ADMIN, name="Lead Fictional")
        chair = make_user(Role.MEMBER, name="Chair Fictional")
        hosts = [start_gunicorn("host-a", environment, tmp_path, workers=2, threads=4),
                 start_gunicorn("host-b", environment, tmp_path, workers=2, threads=4)]
        a, b = hosts
        try:
            # The Lead signs in (password on A, code on B) and invites a panel member.
            lead_browser = Alternating(hosts)
            _sign_in(lead_browser, observer, lead, a, b)
            link = invite(observer, lead_browser, "member@example.org", name="Member Fictional")

            # The member enrols, each step on the other host from the one before, then signs in afresh.
            member_browser = Alternating(hosts)
            secret, _ = enrol(observer, member_browser, link)
            with observer.app_context():
                member_id = db.session.scalar(select(User.id).where(User.email == "member@example.org"))
            member = Person(member_id, "member@example.org", "Member Fictional", "member", GOOD_PASSWORD, secret)
            member_browser = Alternating(hosts)
            _sign_in(member_browser, observer, member, b, a)

            # A meeting samples a portfolio; the Lead uploads to it and the member reads it from either host.
            today = clock.today()
            panel = make_panel(app, [(chair.id, "chair"), (member.id, "member")], portfolios=1, start=5,
                                 held_on=today + timedelta(days=7), reading_deadline=today + timedelta(days=5))
            portfolio = panel.portfolio_ids[0]
            notes = b"Supervision notes, version one.\n" * 20_000  # 640 KB of text
            _upload(lead_browser, portfolio, "supervision.txt", notes)
            document, version = _document(observer, portfolio)
            assert _download(member_browser, portfolio, document, version) == notes
            assert _download(member_browser, portfolio, document, version) == notes  # and from the other host
            assert _download(lead_browser, portfolio, document, version) == notes

            # The member assesses it, section by section across both hosts.
            complete(member_browser, panel, portfolio)

            # The Chair of a meeting held yesterday records, approves and publishes its minutes and releases feedback.
            built = build_meeting(app, chair.id)
            chair_browser = Alternating(hosts)
            _sign_in(chair_browser, observer, chair, a, b)
            page = f"/meetings/{built.meeting_id}/minutes"
            for path, data, form in ((f"{page}/key-messages", {"text": "Date every reflection."}, f"{page}/edit"),
                                     (f"{page}/approve", {}, page),
                                     (f"/meetings/{built.meeting_id}/feedback-release", {}, None),
                                     (f"{page}/publish", {}, page)):
                response = submit(chair_browser, path, data, page=form)
                assert response.status_code == 302, (path, response.host.name, response.get_data(as_text=True)[:800])

            # Key rotation across both hosts while they serve: add (inactive), activate, re-wrap.
            steps: list[str] = []

            def rotate() -> None:
                steps.append(_flask(environment, "keys", "add"))
                while not all("k2" in _ready_keys(Alternating(hosts), host) for host in hosts):
                    threading.Event().wait(0.2)
                steps.append(_flask(environment, "keys", "activate", "k2"))
                steps.append(_flask(environment, "keys", "rewrap"))

            rotation = threading.Thread(target=rotate)
            rotation.start()
            rounds = 0
            while rotation.is_alive():
                assert _download(member_browser, portfolio, document, version) == notes
                assert lead_browser.get(f"/portfolios/{portfolio}/documents").status_code == 200
                assert chair_browser.get(page).status_code == 200
                rounds += 1
            rotation.join()
            assert len(steps) == 3 and "k2" in steps[0], steps
            assert rounds >= 3, steps  # both hosts served throughout

            # Under the new key: a second upload, read from both hosts, and the first file still whole.
            threading.Event().wait(1.5)  # DEPLOYMENT_CHECK_SECONDS: every worker of each host follows the active key
            for host in hosts:
                with lead_browser.on(host):
                    assert json.loads(lead_browser.get("/health/ready").data)["active_key"] == "k2"
            _upload(lead_browser, portfolio, "second.txt", b"Second record, under the new key.\n" * 1000)
            observer = _observer(app_config, keyring_file)
            second, second_version = _document(observer, portfolio)
            for _ in hosts:
                assert _download(member_browser, portfolio, second, second_version).startswith(b"Second record")
                assert _download(member_browser, portfolio, document, version) == notes
            _sign_in(Alternating(hosts), observer, member, a, b)  # sign-in still works, with its secrets re-wrapped

            # Nothing lost: every row is there and every blob decrypts to its digest, under k2; the trail holds.
            with observer.app_context():
                assert db.session.scalar(select(func.count()).select_from(DocumentVersion)) == 2
                assert {v.kek_id for v in db.session.scalars(select(DocumentVersion))} == {"k2"}
                assert db.session.scalar(select(Minutes.status).where(Minutes.meeting_id == built.meeting_id)) == (
                    "published")
                assert db.session.scalar(select(func.count()).select_from(FeedbackRelease)) == 1
                actions = set(db.session.scalars(select(AuditEvent.action)))
                assert {"document.uploaded", "assessment.submitted", "feedback.released"} <= actions, actions
                db.session.remove()
                db.engine.dispose()
            verified = _flask(environment, "keys", "verify")
            assert re.search(r"verified 2 of 2 blobs; 0 failed", verified), verified
            _flask(environment, "audit", "verify")  # exits non-zero if any event was edited or lost
            assert len({name for name in member_browser.answered}) == 2  # both hosts answered the member
        finally:
            for host in hosts:
                host.stop()
        for host in hosts:
            assert "Traceback" not in host.output() and " ERROR " not in host.output(), host.output()
