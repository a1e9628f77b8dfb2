"""`make run`'s launcher (scripts/run_dev.py): the server and the worker together, so mail queued in development
arrives as .eml files; Ctrl-C stops both, and either one stopping stops the other."""

import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import unshifted_environment
from flask import Flask
from helpers_mail import free_port, queue_mail, wait_until
from sqlalchemy import update

from portal import clock, create_app
from portal.extensions import db
from portal.models import OutboxMessage
from portal.security.crypto import Keyring

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


class Launched:
    """The launcher started as `make run` starts it, in a process group of its own (as a terminal would)."""

    def __init__(self, tmp_path: Path) -> None:
        keyring = Keyring.generate()
        self.outbox = tmp_path / "outbox"
        database = tmp_path / "dev.sqlite3"
        settings = {"SECRET_KEY": "development-test-key", "MAIL_BACKEND": "file", "OUTBOX_DIR": str(self.outbox),
                    "BLOB_DIR": str(tmp_path / "blobs"), "BASE_URL": "http://127.0.0.1"}
        app: Flask = create_app({**settings, "INSTANCE_PATH": str(tmp_path), "KEYRING": keyring,
                                 "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}"})
        with app.app_context():
            db.create_all()
        queue_mail(app, 1)  # as a request would have: an invitation waiting in the outbox
        with app.app_context():
            # Due whatever date the launched processes see (they run without faketime's shifted date).
            db.session.execute(update(OutboxMessage).values(next_attempt_at=clock.now() - timedelta(days=1000)))
            db.session.commit()
            db.engine.dispose()
        # Nothing here depends on the date, and the launcher's own waits use time.sleep: leave faketime out.
        env = {key: value for key, value in unshifted_environment().items() if not key.startswith("PORTAL_")}
        env.update({f"PORTAL_{key}": value for key, value in settings.items()})
        env.update(PORTAL_KEYRING_JSON=keyring.to_json(), DATABASE_URL=f"sqlite:///{database}",
                   PORTAL_WORKER_POLL_SECONDS="0.2")
        self.port = free_port()
        self.log = tmp_path / "run.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "scripts/run_dev.py", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: "Press Ctrl-C" in self.output(), 30, "the launcher to start both")
        match = re.search(r"portal \(pid (\d+)\).*\(pid (\d+)\)", self.output())
        assert match, self.output()
        self.server_pid, self.worker_pid = int(match.group(1)), int(match.group(2))

    def stopped(self, seconds: float) -> int:
        """Wait for the launcher to exit; return its exit status (Popen.wait's timeout uses time.sleep)."""
        wait_until(lambda: self.process.poll() is not None, seconds, "the launcher to exit")
        return self.process.returncode

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def close(self) -> None:
        if _group_alive(self.process.pid):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.stopped(10)


@pytest.fixture
def launched(tmp_path: Path) -> Iterator[Launched]:
    started = Launched(tmp_path)
    yield started
    started.close()


def test_make_run_delivers_mail_and_ctrl_c_stops_both(launched: Launched) -> None:
    wait_until(lambda: list(launched.outbox.glob("*.eml")), 30, "the worker to deliver the queued email")
    [eml] = launched.outbox.glob("*.eml")
    assert "https://portal.test/invite/0" in eml.read_text("utf-8")
    wait_until(launched.answers, 30, "the portal to answer")
    os.killpg(launched.process.pid, signal.SIGINT)  # Ctrl-C in the terminal reaches the whole group
    assert launched.stopped(30) == 0, launched.output()
    wait_until(lambda: not _group_alive(launched.process.pid), 10, "the server and the worker to stop")
    assert "worker" in launched.output() and "stopped" in launched.output()


def test_when_the_worker_dies_the_server_is_stopped_too(launched: Launched) -> None:
    wait_until(launched.answers, 30, "the portal to answer")
    os.kill(launched.worker_pid, signal.SIGKILL)
    assert launched.stopped(30) != 0
    assert "The worker stopped" in launched.output()
    wait_until(lambda: not _group_alive(launched.process.pid), 10, "the server to stop")
    assert not launched.answers()
