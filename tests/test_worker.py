"""The worker: mail never slows a page (tested with a mail server that accepts and never answers), two workers
deliver each email once and never run one job at once, and every scheduled job runs when due and is recorded."""

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from conftest import Person, outbox, submit
from flask import Flask
from flask.testing import FlaskClient
from helpers_mail import Collector, body_of, deliver, free_port, queue_mail, wait_until
from sqlalchemy import func, select, text

from portal import audit, clock
from portal.extensions import db
from portal.models import AuditEvent, JobRun, OutboxMessage, SignInAttempt, UserSession
from portal.ops import jobs
from portal.ops.worker import Worker


class SilentServer:
    """A mail server that has hung: it accepts every connection on loopback and never says a word."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections.append(connection)  # held open, unanswered

    def close(self) -> None:
        self._closing.set()
        self._thread.join()
        for connection in self.connections:
            connection.close()
        self.listener.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def app_config(app_config: dict, silent_server: SilentServer) -> dict:
    """Deliver by SMTP to the server that never answers (a test points SMTP_PORT elsewhere to make it work)."""
    return {**app_config, "MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": silent_server.port,
            "SMTP_TIMEOUT_SECONDS": 30}


def _smtp_server() -> tuple[Controller, Collector]:
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller, collector


def _invite(browser: FlaskClient, address: str) -> float:
    """Invite someone over HTTP; return how long the request took."""
    started = time.perf_counter()
    response = submit(browser, "/admin/people/invite", {"name": "Ina Invitee", "email": address, "role": "member",
                                                         "organisation": "0"})
    elapsed = time.perf_counter() - started
    assert response.status_code == 302, response.get_data(as_text=True)
    return elapsed


# Mail never slows a page ----------------------------------------------------------------------------------


def test_an_invitation_answers_at_once_when_the_mail_server_does_not_answer(
        app: Flask, silent_server: SilentServer, admin_client: tuple[FlaskClient, Person]) -> None:
    browser, _ = admin_client
    # Delivery in the request would wait the server's 30 s timeout; a busy machine still answers in well under 5 s.
    assert _invite(browser, "ina@example.org") < 5
    [message] = outbox(app)
    assert message.sent_at is None and message.attempts == 0  # queued, untouched
    assert silent_server.connections == []  # the request never even connected

    app.config["SMTP_TIMEOUT_SECONDS"] = 0.5
    assert deliver(app) == (0, 1)  # the worker meets the hung server, gives up on time and keeps the message
    [message] = outbox(app)
    assert len(silent_server.connections) == 1
    assert message.sent_at is None and message.attempts == 1 and "timed out" in message.last_error

    controller, collector = _smtp_server()  # the mail server is back
    app.config["SMTP_PORT"] = controller.port
    try:
        clock.advance(timedelta(minutes=3))
        assert deliver(app) == (1, 0)
    finally:
        controller.stop()
    assert [m["To"] for m in collector.messages] == ["ina@example.org"]
    assert "https://portal.test/invite/" in body_of(collector.messages[0])
    assert outbox(app)[0].sent_at is not None


def test_pages_answer_at_once_while_the_worker_waits_on_a_hung_mail_server(
        app: Flask, silent_server: SilentServer, admin_client: tuple[FlaskClient, Person]) -> None:
    browser, _ = admin_client
    _invite(browser, "first@example.org")
    app.config["SMTP_TIMEOUT_SECONDS"] = 10
    worker = threading.Thread(target=deliver, args=(app,))
    worker.start()
    try:
        wait_until(lambda: silent_server.connections, 5, "the worker to reach the mail server")
        # The worker has claimed a message and waits 10 s on the server: pages and new invitations do not wait
        # for it (the bound leaves room for a busy machine).
        assert _invite(browser, "second@example.org") < 4
        started = time.perf_counter()
        assert browser.get("/admin/emails").status_code == 200
        assert time.perf_counter() - started < 4
        assert worker.is_alive()  # still waiting: the requests above really overlapped with it
    finally:
        worker.join()
    assert sorted((m.recipient, m.attempts) for m in outbox(app)) == [("first@example.org", 1),
                                                                      ("second@example.org", 0)]


# Two workers ----------------------------------------------------------------------------------------------


def test_two_workers_deliver_every_email_exactly_once(app: Flask) -> None:
    controller, collector = _smtp_server()
    app.config["SMTP_PORT"] = controller.port
    count = 40
    queue_mail(app, count)
    start = threading.Barrier(2)
    sent_by: dict[str, int] = {}

    def work(name: str) -> None:
        worker = Worker(app, name=name)
        start.wait()
        total = 0
        while True:
            sent, failed = worker.deliver_mail()
            assert failed == 0
            if sent == 0:
                break
            total += sent
        sent_by[name] = total

    threads = [threading.Thread(target=work, args=(name,)) for name in ("one", "two")]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        controller.stop()
    received = Counter(m["To"] for m in collector.messages)
    assert received == Counter(f"person{n}@example.org" for n in range(count))  # each once, none missing
    assert sum(sent_by.values()) == count
    assert all(m.sent_at is not None and m.attempts == 1 for m in outbox(app))


class Overlap:
    """A job that records how many copies of itself run at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = self.peak = self.runs = 0
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, _checkpoint: str) -> jobs.Outcome:
        with self.lock:
            self.running += 1
            self.runs += 1
            self.peak = max(self.peak, self.running)
        self.started.set()
        self.release.wait(10)
        with self.lock:
            self.running -= 1
        return jobs.Outcome("done")


@pytest.fixture
def overlap_job(app: Flask, monkeypatch: pytest.MonkeyPatch) -> tuple[jobs.Job, Overlap]:
    recorder = Overlap()
    job = jobs.Job("overlap", "records overlapping runs", "JOB_OVERLAP_MINUTES", recorder)
    app.config["JOB_OVERLAP_MINUTES"] = 60
    monkeypatch.setattr(jobs, "JOBS", (job,))
    return job, recorder


def _in_thread(app: Flask, target: object, *args: object) -> tuple[threading.Thread, list]:
    results: list = []

    def run() -> None:
        with app.app_context():
            try:
                results.append(target(*args))  # type: ignore[operator]
            finally:
                db.session.remove()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, results


def test_two_workers_never_run_one_job_at_once(app: Flask, overlap_job: tuple[jobs.Job, Overlap]) -> None:
    job, recorder = overlap_job
    first, first_results = _in_thread(app, jobs.run_due, "worker-one")
    assert recorder.started.wait(10)  # the first worker is in the middle of the job
    second, second_results = _in_thread(app, jobs.run_due, "worker-two")
    second.join(10)
    assert not second.is_alive() and second_results == [[]]  # the job was held: not run, and no waiting for it
    # Even run by hand, it does not start while a worker runs it.
    third, third_results = _in_thread(app, jobs.run, job, "by hand", True)
    third.join(10)
    assert third_results == [None]
    recorder.release.set()
    first.join(10)
    assert [r.outcome for r in first_results[0]] == ["succeeded"]
    # Once it has finished, the second worker finds it no longer due.
    again, again_results = _in_thread(app, jobs.run_due, "worker-two")
    again.join(10)
    assert again_results == [[]]
    assert recorder.peak == 1 and recorder.runs == 1
    with app.app_context():
        runs = db.session.scalars(select(JobRun)).all()
        assert [(r.job, r.worker, r.outcome) for r in runs] == [("overlap", "worker-one", "succeeded")]


def test_the_lock_is_per_job_and_let_go_after_a_run(app: Flask, overlap_job: tuple[jobs.Job, Overlap]) -> None:
    job, recorder = overlap_job
    recorder.release.set()
    with app.app_context():
        with jobs.exclusive("another-job") as held:
            assert held  # holding another job's lock does not block this one
            assert jobs.run(job, "worker-one", force=True) is not None
        assert jobs.run(job, "worker-one", force=True) is not None  # let go after each run
        with jobs.exclusive("overlap") as held, jobs.exclusive("overlap") as again:
            assert held and not again
    assert recorder.runs == 2


# The schedule and the record ------------------------------------------------------------------------------


def _names(results: list[jobs.RunResult]) -> list[str]:
    return sorted(result.job for result in results)


ALL_JOBS = sorted(job.name for job in jobs.JOBS)


def test_each_job_runs_when_due_and_every_run_is_recorded(app: Flask) -> None:
    worker = Worker(app, name="worker-one")
    results = worker.run_jobs()
    assert _names(results) == ALL_JOBS
    assert all(result.outcome == "succeeded" for result in results), results
    assert worker.run_jobs() == []  # nothing is due again yet
    clock.advance(timedelta(minutes=61))
    # every minute, every 10 minutes and hourly
    assert _names(worker.run_jobs()) == ["audit-chain", "name-check", "reminders", "sessions-prune"]
    clock.advance(timedelta(days=1))
    assert _names(worker.run_jobs()) == ALL_JOBS  # and the daily ones
    with app.app_context():
        runs = db.session.scalars(select(JobRun).order_by(JobRun.id)).all()
        assert len(runs) == 2 * len(ALL_JOBS) + 4
        assert all(r.outcome == "succeeded" and r.finished_at is not None and r.worker == "worker-one" for r in runs)
        assert all(clock.as_utc(r.finished_at) >= clock.as_utc(r.started_at) for r in runs)

    output = app.test_cli_runner().invoke(args=["jobs", "status"]).output
    for name in ALL_JOBS:
        assert f"{name} (every " in output
    assert "sessions-prune (every 60 min)" in output and "retention-purge (every 1440 min)" in output
    assert output.count("last run: succeeded") == len(ALL_JOBS)
    assert "removed 0 expired sessions" in output and "next due: " in output


def test_the_worker_command_delivers_and_runs_the_jobs(app: Flask) -> None:
    controller, collector = _smtp_server()
    app.config["SMTP_PORT"] = controller.port
    queue_mail(app, 2)
    try:
        result = app.test_cli_runner().invoke(args=["worker", "--once"])
    finally:
        controller.stop()
    assert result.exit_code == 0, result.output
    assert "mail: sent 2, failed 0" in result.output
    for name in ALL_JOBS:
        assert f"{name}: succeeded" in result.output
    assert len(collector.messages) == 2


def test_the_worker_loop_delivers_mail_as_it_is_queued_until_stopped(
        app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    controller, collector = _smtp_server()
    app.config.update(SMTP_PORT=controller.port, WORKER_POLL_SECONDS=0.05)
    worker = Worker(app)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        browser, _ = admin_client
        _invite(browser, "looped@example.org")
        wait_until(lambda: collector.messages, 10, "the worker to deliver the invitation")
    finally:
        worker.stop()
        thread.join(10)
        controller.stop()
    assert not thread.is_alive()
    assert [m["To"] for m in collector.messages] == ["looped@example.org"]
    with app.app_context():  # its job thread ran the jobs that were due
        assert db.session.scalar(select(func.count()).select_from(JobRun)) == len(ALL_JOBS)


def test_a_job_turned_off_is_not_scheduled_but_runs_by_hand(app: Flask) -> None:
    app.config["JOB_RETENTION_PURGE_MINUTES"] = 0
    assert "retention-purge" not in _names(Worker(app).run_jobs())
    output = app.test_cli_runner().invoke(args=["jobs", "status"]).output
    assert "retention-purge (off)" in output
    result = app.test_cli_runner().invoke(args=["jobs", "run", "retention-purge"])
    assert result.exit_code == 0 and "retention-purge: succeeded: nothing is due for purging" in result.output
    result = app.test_cli_runner().invoke(args=["jobs", "run", "no-such-job"])
    assert result.exit_code == 2 and "no-such-job" in result.output


def test_a_failed_job_is_recorded_and_tried_again_sooner(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def flaky(_checkpoint: str) -> jobs.Outcome:
        calls.append("called")
        if len(calls) == 1:
            raise RuntimeError("the blob store is not mounted")
        return jobs.Outcome("worked this time")

    monkeypatch.setattr(jobs, "JOBS", (jobs.Job("flaky", "fails once", "JOB_FLAKY_MINUTES", flaky),))
    app.config.update(JOB_FLAKY_MINUTES=24 * 60, JOB_RETRY_MINUTES=15)
    worker = Worker(app)
    [result] = worker.run_jobs()
    assert (result.outcome, result.summary) == ("failed", "RuntimeError: the blob store is not mounted")
    clock.advance(timedelta(minutes=14))
    assert worker.run_jobs() == []
    clock.advance(timedelta(minutes=2))
    [result] = worker.run_jobs()  # fifteen minutes after the failure, not a day
    assert (result.outcome, result.summary) == ("succeeded", "worked this time")
    result = app.test_cli_runner().invoke(args=["jobs", "status"])
    assert "last run: succeeded" in result.output


def test_a_run_left_by_a_dead_worker_is_recorded_as_interrupted_and_run_again(app: Flask) -> None:
    with app.app_context():
        db.session.add(JobRun(job="sessions-prune", worker="host:999", started_at=clock.now() - timedelta(minutes=20),
                              outcome="running", summary="", checkpoint=""))
        db.session.commit()
    # Its lock was free: the worker that held it died.
    assert "sessions-prune" in _names(Worker(app, name="test-worker").run_jobs())
    with app.app_context():
        runs = db.session.scalars(select(JobRun).where(JobRun.job == "sessions-prune").order_by(JobRun.id)).all()
        assert [(r.worker, r.outcome) for r in runs] == [("host:999", "interrupted"), ("test-worker", "succeeded")]
        assert runs[0].finished_at is not None


def test_job_history_is_kept_for_the_configured_days(app: Flask) -> None:
    app.config["JOB_HISTORY_DAYS"] = 10
    worker = Worker(app)
    worker.run_jobs()
    for _ in range(12):
        clock.advance(timedelta(days=1))
        worker.run_jobs()
    with app.app_context():
        started = db.session.scalars(select(JobRun.started_at).where(JobRun.job == "audit-anchor")).all()
    assert len(started) == 10  # the runs of the last ten days; the thirteen began twelve days ago
    assert min(clock.as_utc(s) for s in started) > clock.now() - timedelta(days=10)


# What the jobs do -----------------------------------------------------------------------------------------


def _run(app: Flask, name: str) -> jobs.RunResult:
    with app.app_context():
        job = jobs.find(name)
        assert job is not None
        result = jobs.run(job, "test", force=True)
        assert result is not None
        return result


def test_the_outbox_job_deletes_only_emails_sent_long_ago(app: Flask) -> None:
    queue_mail(app, 4)
    with app.app_context():
        messages = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        messages[0].sent_at = clock.now() - timedelta(days=31)
        messages[1].sent_at = clock.now() - timedelta(days=29)
        messages[2].created_at = clock.now() - timedelta(days=60)  # old but never delivered: the Lead must see it
        messages[2].attempts = 8
        db.session.commit()
    result = _run(app, "outbox-prune")
    assert result.summary == "removed 1 emails sent more than 30 days ago"
    assert [m.recipient for m in outbox(app)] == [f"person{n}@example.org" for n in (1, 2, 3)]


def test_the_sign_in_attempts_job_keeps_what_throttling_still_counts(app: Flask) -> None:
    with app.app_context():
        for hours in (49, 25, 23, 1):
            db.session.add(SignInAttempt(account_key="k" * 64, ip="192.0.2.1",
                                         at=clock.now() - timedelta(hours=hours), succeeded=False))
        db.session.commit()
    assert _run(app, "sign-in-attempts-prune").summary.startswith("removed 2 sign-in attempts")
    with app.app_context():
        kept = sorted(clock.now() - clock.as_utc(at) for at in db.session.scalars(select(SignInAttempt.at)))
    assert [round(age / timedelta(hours=1)) for age in kept] == [1, 23]


def test_the_sessions_job_deletes_expired_sessions(
        app: Flask, admin_client: tuple[FlaskClient, Person]) -> None:
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(UserSession)) == 1
    assert _run(app, "sessions-prune").summary == "removed 0 expired sessions"
    clock.advance(timedelta(hours=13))
    assert _run(app, "sessions-prune").summary == "removed 1 expired sessions"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0


def _record_events(app: Flask, count: int) -> None:
    with app.app_context():
        for number in range(count):
            audit.record(None, "test.event", f"thing:{number}")
            db.session.commit()


def test_the_audit_anchor_job_catches_deleted_latest_events(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    _record_events(app, 6)
    with caplog.at_level("INFO", logger="portal.ops.jobs"):
        result = _run(app, "audit-anchor")
    assert result.outcome == "succeeded" and "6 events verified" in result.summary
    with app.app_context():
        anchor = f"6:{audit.head()[1]}"
    assert anchor in result.summary
    logged = f"job audit-anchor: audit trail intact: 6 events verified; anchor for the next check: {anchor}"
    assert logged in caplog.text  # the copy to ship somewhere the database's administrators cannot change
    _record_events(app, 2)
    assert _run(app, "audit-anchor").outcome == "succeeded"  # the trail grew: fine
    with app.app_context():  # delete the last two events and wind the head back to match what is left
        event_6 = db.session.scalar(select(AuditEvent).where(AuditEvent.seq == 6))
        db.session.execute(text("DELETE FROM audit_events WHERE seq > 6"))
        db.session.execute(text("UPDATE audit_head SET seq = 6, hash = :h WHERE id = 1"), {"h": event_6.hash})
        db.session.commit()
        assert audit.verify()[1] is None  # the chain alone cannot tell
    result = _run(app, "audit-anchor")
    assert result.outcome == "failed"
    assert "audit trail BROKEN" in result.summary and "ends before event 8, which the anchor recorded" in result.summary


@pytest.mark.parametrize(("command", "job"), [(["storage", "gc"], "storage-gc"),
                                              (["sessions", "prune"], "sessions-prune")])
def test_a_command_refuses_to_run_a_job_a_worker_is_running(app: Flask, command: list[str], job: str) -> None:
    with app.app_context(), jobs.exclusive(job) as held:
        assert held  # a worker is in the middle of the job
        result = app.test_cli_runner().invoke(args=command)
    assert result.exit_code == 1 and f"a worker is running {job} now" in result.output
    assert app.test_cli_runner().invoke(args=command).exit_code == 0  # and runs once the worker has finished
