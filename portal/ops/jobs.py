"""The scheduled jobs, and how they run: never two runs of one job at once, across every worker; every run recorded.

Each job is an entry in JOBS: a name, the setting that holds its interval in minutes (0 turns it off) and a function
that does the work, commits it and returns a one-line summary. The worker (portal/ops/worker.py) calls run_due()
every JOB_CHECK_SECONDS; `flask --app portal jobs run NAME` runs one at once; `jobs status` shows the record.

The timetable is the job_runs table itself: a job is due when its latest run started at least its interval ago
(JOB_RETRY_MINUTES after a run that failed or did not finish, if that is sooner). Every worker reads the same timetable,
and a restarted worker neither repeats a job that has just run nor waits a whole interval for one that is overdue.

A worker runs a job only while it holds that job's lock, and checks again that the job is due once it holds it,
so two workers never run one job at once, nor one straight after the other. The lock is let go by the database
server (PostgreSQL: a session-level advisory lock, on a connection of its own) or by the operating system (SQLite,
which lives on one machine: flock on a file beside the database) the moment its holder ends, even when it is
killed, so a dead worker never blocks a job; the run it left unfinished is then recorded as interrupted.

Written here rather than taken from a scheduling library: APScheduler 3 keeps each job's next run time in each
process's memory and, as its author says, cannot stop two schedulers that share a job store from running one job
at the same time; APScheduler 4, which can, is still a pre-release; `schedule` keeps its timetable in memory and
reads the wall clock, not the portal's. Each would need this module's lock and record around it all the same, and
what is left, "is the interval up?", is one comparison.

Reminders: the reminders job sends the reading reminders, access-closing notices and the Leads' digest that fall
due (portal/reviews/reminders.py); each is recorded before it is queued, so none goes twice.
"""

import fcntl
import logging
import os
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from portal import audit, clock, mail
from portal.auth import keeping, sessions, throttle
from portal.documents import services as documents
from portal.extensions import db
from portal.models import JobRun
from portal.ops import retention
from portal.reviews import reminders

log = logging.getLogger(__name__)

JOB_CHECK_SECONDS = 30  # how often the worker looks for due jobs; intervals are in minutes
_LOCK_NAMESPACE = 0x706F7274  # "port": keeps the portal's advisory locks apart from other applications' on the server
RUNNING, SUCCEEDED, FAILED, INTERRUPTED = "running", "succeeded", "failed", "interrupted"


class JobFailed(Exception):
    """A job found something wrong; its run is recorded as failed with this message."""


@dataclass(frozen=True)
class Outcome:
    """What a successful run reports, and what the job's next run starts from (its checkpoint)."""

    summary: str
    checkpoint: str = ""


@dataclass(frozen=True)
class Job:
    """A piece of scheduled work."""

    name: str
    description: str
    setting: str  # the configuration key holding its interval in minutes; 0 turns the job off
    work: Callable[[str], Outcome]  # given the checkpoint of the latest successful run ("" if none)


@dataclass(frozen=True)
class RunResult:
    """How one run ended."""

    job: str
    outcome: str
    summary: str


# The jobs -------------------------------------------------------------------------------------------------


def _retention_purge(_checkpoint: str) -> Outcome:
    due = retention.due_portfolios()
    if not due:
        return Outcome("nothing is due for purging")
    purged = retention.purge(None, [portfolio for portfolio, _ in due])
    return Outcome(f"purged {len(purged)} portfolios: {sum(purged.values())} documents crypto-shredded and deleted")


def _storage_gc(_checkpoint: str) -> Outcome:
    return Outcome(f"removed {len(retention.collect_garbage())} orphaned files")


def _sessions_prune(_checkpoint: str) -> Outcome:
    summary = f"removed {sessions.prune()} expired sessions"
    if kept := keeping.prune():
        summary += f" and {kept} kept forms older than {keeping.keep_days()} days"
    return Outcome(summary)


def _sign_in_attempts_prune(_checkpoint: str) -> Outcome:
    return Outcome(f"removed {throttle.prune_attempts()} sign-in attempts older than any throttling window")


def _outbox_prune(_checkpoint: str) -> Outcome:
    days = int(current_app.config["MAIL_KEEP_SENT_DAYS"])
    return Outcome(f"removed {mail.prune_sent(days)} emails sent more than {days} days ago")


def _reminders(_checkpoint: str) -> Outcome:
    return Outcome(reminders.send_due().summary())


def _name_check(_checkpoint: str) -> Outcome:
    counts = documents.check_names_again()
    if not counts:
        return Outcome("no sampled document is due a names check")
    named, checked = counts.get("named", 0), sum(counts.values()) - counts.get("failed", 0)
    summary = f"checked {checked} sampled documents for names: {named} name someone"
    if counts.get("failed"):
        summary += f"; {counts['failed']} could not be opened (integrity failure, audited)"
    return Outcome(summary)


def _audit_chain(_checkpoint: str) -> Outcome:
    """Chain audit events that no appender has taken yet (portal/audit.py): after a burst of requests on
    PostgreSQL, the last events can wait for the next commit otherwise."""
    return Outcome(f"chained {audit.chain_pending()} audit events that were waiting")


def _audit_anchor(checkpoint: str) -> Outcome:
    """Verify the audit trail against the anchor the previous run recorded, then record and log the new anchor.

    The logged anchor is the copy that counts: ship the worker's log somewhere the database's administrators cannot
    change (docs/security.md). The copy kept in job_runs lets each run check the trail against the previous one
    without anyone's help, which catches any deletion made without also rewriting job_runs.
    """
    seq, _, digest = checkpoint.partition(":")
    anchor = (int(seq), digest) if seq.isdigit() and int(seq) > 0 else None
    checked, problem = audit.verify(anchor)
    if problem is not None:
        raise JobFailed(f"audit trail BROKEN at {problem.where}: {problem.reason}; "
                        f"{checked} events before it verified")
    head_seq, head_hash = audit.head()
    # Logged by run() like every summary: the line to ship where the database's administrators cannot change it.
    return Outcome(f"audit trail intact: {checked} events verified; anchor for the next check: {head_seq}:{head_hash}",
                   checkpoint=f"{head_seq}:{head_hash}")


JOBS: tuple[Job, ...] = (
    Job("retention-purge", "crypto-shred portfolios past their retention date", "JOB_RETENTION_PURGE_MINUTES",
        _retention_purge),
    Job("storage-gc", "remove blobs and temporary files no document uses", "JOB_STORAGE_GC_MINUTES", _storage_gc),
    Job("sessions-prune", "delete the records of expired sign-in sessions and old kept forms",
        "JOB_SESSIONS_PRUNE_MINUTES", _sessions_prune),
    Job("sign-in-attempts-prune", "delete sign-in attempts too old to count for throttling",
        "JOB_SIGN_IN_ATTEMPTS_PRUNE_MINUTES", _sign_in_attempts_prune),
    Job("outbox-prune", "delete emails sent more than MAIL_KEEP_SENT_DAYS ago", "JOB_OUTBOX_PRUNE_MINUTES",
        _outbox_prune),
    Job("audit-chain", "chain audit events still waiting for the appender", "JOB_AUDIT_CHAIN_MINUTES",
        _audit_chain),
    Job("audit-anchor", "verify the audit trail and record a new anchor", "JOB_AUDIT_ANCHOR_MINUTES", _audit_anchor),
    Job("reminders", "email the reading reminders, access-closing notices and Lead digests that are due",
        "JOB_REMINDERS_MINUTES", _reminders),
    Job("name-check", "search newly sampled documents for people's names again (the registry may have grown)",
        "JOB_NAME_CHECK_MINUTES", _name_check),
)


def find(name: str) -> Job | None:
    """The job of that name, or None."""
    return next((job for job in JOBS if job.name == name), None)


# The timetable --------------------------------------------------------------------------------------------


def interval(job: Job) -> timedelta | None:
    """How often the job runs, or None when its setting turns it off."""
    minutes = int(current_app.config[job.setting])
    return timedelta(minutes=minutes) if minutes > 0 else None


def latest_run(name: str) -> JobRun | None:
    """The job's most recent run, finished or not."""
    return db.session.scalars(select(JobRun).where(JobRun.job == name)
                              .order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(1)).first()


def next_due(job: Job, latest: JobRun | None) -> datetime | None:
    """When the job is next due (now, if it never ran), or None when it is turned off."""
    every = interval(job)
    if every is None:
        return None
    if latest is None:
        return clock.now()
    if latest.outcome != SUCCEEDED:
        # Failed or interrupted: try again sooner. Still running: look again as soon, in case its worker died (if it
        # is alive, its lock turns the attempt away at once).
        every = min(every, timedelta(minutes=int(current_app.config["JOB_RETRY_MINUTES"])))
    return clock.as_utc(latest.started_at) + every


def _checkpoint(name: str) -> str:
    return db.session.scalar(select(JobRun.checkpoint).where(JobRun.job == name, JobRun.outcome == SUCCEEDED)
                             .order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(1)) or ""


# The lock -------------------------------------------------------------------------------------------------


@contextmanager
def exclusive(name: str) -> Iterator[bool]:
    """Hold the job's lock for the block if no one else holds it; yield whether this caller got it."""
    engine = db.engine
    if engine.dialect.name == "postgresql":
        key = zlib.crc32(name.encode("utf-8")) - 2**31  # a signed 32-bit key, the same in every process
        with engine.connect() as connection:
            held = bool(connection.execute(text("SELECT pg_try_advisory_lock(CAST(:ns AS integer), "
                                                "CAST(:key AS integer))"), {"ns": _LOCK_NAMESPACE, "key": key})
                        .scalar())
            connection.commit()  # the lock outlives the transaction; no transaction stays open during the job
            try:
                yield held
            finally:
                if held:
                    try:
                        connection.execute(text("SELECT pg_advisory_unlock(CAST(:ns AS integer), "
                                                "CAST(:key AS integer))"), {"ns": _LOCK_NAMESPACE, "key": key})
                        connection.commit()
                    except DBAPIError:
                        connection.invalidate()  # the server lets go of a closed connection's locks
        return
    path = _lock_file(name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True  # closing the descriptor below lets go of the lock, as the end of the process would
    finally:
        os.close(fd)


def _lock_file(name: str) -> Path:
    """A lock file beside the SQLite database, so every worker using that database finds the same one."""
    database = db.engine.url.database
    if database and database != ":memory:":
        return Path(f"{database}-job-{name}.lock")
    folder = Path(current_app.instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"job-{name}.lock"


# Running --------------------------------------------------------------------------------------------------


def run(job: Job, worker: str, force: bool = False) -> RunResult | None:
    """Run the job if it is due (or at once, with force) and no one else is running it; record the run.

    Returns None when another worker holds the job, or (without force) when it is no longer due.
    """
    with exclusive(job.name) as held:
        if not held:
            return None
        _close_interrupted(job.name)
        if not force:
            due = next_due(job, latest_run(job.name))
            if due is None or due > clock.now():
                db.session.rollback()
                return None
        checkpoint = _checkpoint(job.name)
        record = JobRun(job=job.name, worker=worker[:120], started_at=clock.now(), outcome=RUNNING, summary="",
                        checkpoint="")
        db.session.add(record)
        db.session.commit()
        record_id = record.id
        try:
            outcome = job.work(checkpoint)
        except Exception as exc:
            db.session.rollback()
            summary = str(exc) if isinstance(exc, JobFailed) else f"{type(exc).__name__}: {exc}"
            result = RunResult(job.name, FAILED, summary[:2000])
            log.exception("job %s failed: %s", job.name, summary)
            checkpoint = ""
        else:
            result = RunResult(job.name, SUCCEEDED, outcome.summary[:2000])
            checkpoint = outcome.checkpoint
            log.info("job %s: %s", job.name, outcome.summary)
        now = clock.now()
        db.session.execute(update(JobRun).where(JobRun.id == record_id)
                           .values(finished_at=now, outcome=result.outcome, summary=result.summary,
                                   checkpoint=checkpoint).execution_options(synchronize_session=False))
        keep = timedelta(days=int(current_app.config["JOB_HISTORY_DAYS"]))
        db.session.execute(delete(JobRun).where(JobRun.job == job.name, JobRun.started_at < now - keep,
                                                JobRun.id != record_id).execution_options(synchronize_session=False))
        db.session.commit()
        return result


def _close_interrupted(name: str) -> None:
    """Record as interrupted the runs of a job whose worker ended mid-run (the caller holds the job's lock)."""
    db.session.execute(update(JobRun).where(JobRun.job == name, JobRun.outcome == RUNNING)
                       .values(outcome=INTERRUPTED, finished_at=clock.now(),
                               summary="its worker stopped before the run finished")
                       .execution_options(synchronize_session=False))
    db.session.commit()


def run_due(worker: str) -> list[RunResult]:
    """Run every job that is due and that no other worker is running; return how each run ended."""
    results = []
    for job in JOBS:
        due = next_due(job, latest_run(job.name))
        db.session.rollback()  # end the read before a job that may take a while
        if due is not None and due <= clock.now():
            result = run(job, worker)
            if result is not None:
                results.append(result)
    return results


@dataclass(frozen=True)
class JobStatus:
    """One job as `jobs status` shows it."""

    job: Job
    every: timedelta | None
    latest: JobRun | None
    next_due: datetime | None


def status() -> list[JobStatus]:
    """Every job with its interval, its latest run and when it is next due."""
    rows = []
    for job in JOBS:
        latest = latest_run(job.name)
        rows.append(JobStatus(job, interval(job), latest, next_due(job, latest)))
    return rows
