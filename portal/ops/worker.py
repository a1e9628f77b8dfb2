"""The worker: delivers the outbox as mail is queued and runs the scheduled jobs (`flask --app portal worker`).

Requests only queue mail (portal/mail.py); this process sends it. Its main thread looks for due mail every
WORKER_POLL_SECONDS (at once again after a full batch); a second thread runs the jobs that are due
(portal/ops/jobs.py), so a long retention purge never holds up an invitation. Run as many workers as you like
against one database: each message is claimed by one of them, and each job runs in one at a time.
"""

import logging
import os
import socket
import threading
from collections.abc import Callable

from flask import Flask

from portal import mail
from portal.extensions import db
from portal.ops import jobs

log = logging.getLogger(__name__)

MAIL_BATCH = 100  # messages a pass claims at most before it looks at the clock and the stop signal again


class Worker:
    """One worker process's loop; stop() ends it after the current step."""

    def __init__(self, app: Flask, name: str | None = None) -> None:
        self.app = app
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._stopping = threading.Event()

    def deliver_mail(self) -> tuple[int, int]:
        """One delivery pass: (sent, failed). A dead mail server ends the pass at its first failure."""
        with self.app.app_context():
            try:
                return mail.deliver_due(limit=MAIL_BATCH, stop_on_failure=True)
            finally:
                db.session.remove()

    def run_jobs(self) -> list[jobs.RunResult]:
        """Run every job that is due and that no other worker is running."""
        with self.app.app_context():
            try:
                return jobs.run_due(self.name)
            finally:
                db.session.remove()

    def run_once(self) -> tuple[tuple[int, int], list[jobs.RunResult]]:
        """One pass of each: deliver what is due, then run the jobs that are due."""
        return self.deliver_mail(), self.run_jobs()

    def run(self) -> None:
        """Deliver and run jobs until stop() is called."""
        poll = float(self.app.config["WORKER_POLL_SECONDS"])
        log.info("worker %s started: looking for mail every %s seconds and for due jobs every %s seconds",
                 self.name, poll, jobs.JOB_CHECK_SECONDS)
        job_thread = threading.Thread(target=self._loop, args=(self._jobs_step, jobs.JOB_CHECK_SECONDS),
                                      name="portal-jobs", daemon=True)
        job_thread.start()
        self._loop(self._mail_step, poll)
        job_thread.join()
        log.info("worker %s stopped", self.name)

    def stop(self) -> None:
        """Ask the loops to end once their current step is done."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        """Whether stop() has been called."""
        return self._stopping.is_set()

    def _mail_step(self) -> bool:
        sent, failed = self.deliver_mail()
        if sent or failed:
            log.info("mail: sent %s, failed %s", sent, failed)
        return sent + failed >= MAIL_BATCH and not failed  # a full batch: more may be waiting

    def _jobs_step(self) -> bool:
        self.run_jobs()
        return False

    def _loop(self, step: Callable[[], bool], seconds: float) -> None:
        while not self._stopping.is_set():
            try:
                more = step()
            except Exception:
                # The database may be restarting: say so, and try again at the next interval.
                log.exception("worker step %s failed", step.__name__)
                more = False
            if not more:
                self._stopping.wait(seconds)
