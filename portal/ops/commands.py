"""Flask commands for keys, backups, retention, blob storage, sessions, documents' panel copies and the worker
(never run by the web)."""

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import FrameType

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from portal import clock
from portal.auth import sessions
from portal.extensions import current_flask_app
from portal.ops import backup, deployment, jobs, keys, retention
from portal.ops.worker import Worker
from portal.security.crypto import KeyringError

# Keys -----------------------------------------------------------------------------------------------------


@click.group("keys", cls=AppGroup)
def keys_group() -> None:
    """The keyring: add, activate, re-wrap (or rotate, all three on one host), report, retire, verify."""


def _not_writable(exc: keys.KeyringNotWritable, then: str) -> None:
    click.echo(f"The keyring was NOT changed ({exc}). Store this keyring wherever every host of the deployment gets "
               f"its keyring (PORTAL_KEYRING_JSON, or the file PORTAL_KEYRING_FILE names), restart each host, then "
               f"{then}:\n")
    click.echo(exc.keyring.to_json())
    raise SystemExit(2) from None


def _blocked(exc: keys.RotationBlocked, command: str) -> None:
    click.echo(f"re-wrap stopped: {exc}.", err=True)
    click.echo("Everything re-encrypted before that row is kept. Restore the value from a backup made "
               f"before it changed, then run `keys {command}` again to finish.", err=True)
    raise SystemExit(1) from None


def _report(result: keys.RotationResult, command: str) -> None:
    click.echo(f"re-wrapped {result.data_keys} data keys and re-encrypted {result.fields} rows of fields "
               f"in {result.batches} batches")
    if result.complete:
        click.echo(f"rotation complete: every data key and field is under {result.active}")
    else:
        click.echo(f"rotation NOT complete (stopped by --limit): run `keys {command}` again to continue")


_BATCH = click.option("--batch-size", default=keys.BATCH_SIZE, show_default=True, help="Rows re-encrypted per commit.")
_LIMIT = click.option("--limit", type=int, default=None, help="Stop after this many batches (re-run to continue).")
_NO_WAIT = click.option("--no-wait", is_flag=True,
                        help="Do not wait for running hosts to follow (only when no portal process is running).")


@keys_group.command("add")
def keys_add_command() -> None:
    """Step 1 of 3: add a new key, NOT active, to the keyring, to be given to every host before it is used."""
    try:
        kid = keys.add_key(None)
    except keys.KeyringNotWritable as exc:
        new = [k for k in exc.keyring.keys if k not in keys.current_keyring().keys]
        _not_writable(exc, f"check that each host's /health/ready lists {new[0]}, then run `keys activate {new[0]}` "
                           "and `keys rewrap`")
        return
    click.echo(f"added key {kid} to {deployment.keyring_file(current_app)} (not active)")
    click.echo(f"Next: give every host of the deployment this keyring file, restarting each host whose keyring "
               f"does not come from this file, and check that each host's /health/ready lists {kid}. Then run "
               f"`keys activate {kid}`.")


@keys_group.command("activate")
@click.argument("kid")
def keys_activate_command(kid: str) -> None:
    """Step 2 of 3: make a key every host holds the deployment's active key."""
    try:
        keys.activate(None, kid)
    except KeyringError as exc:
        click.echo(f"not activated: {exc}", err=True)
        raise SystemExit(1) from None
    seconds = current_app.config["DEPLOYMENT_CHECK_SECONDS"]
    click.echo(f"key {kid} is the deployment's active key; every running host encrypts under it within "
               f"{seconds} seconds, and a host whose keyring lacks it stops serving and says so at /health/ready")
    click.echo("Next: run `keys rewrap` to move everything under it.")


@keys_group.command("rewrap")
@_BATCH
@_LIMIT
@_NO_WAIT
def keys_rewrap_command(batch_size: int, limit: int | None, no_wait: bool) -> None:
    """Step 3 of 3: re-wrap every data key and re-encrypt every field under the active key (resumable)."""
    try:
        result = keys.rewrap(None, batch_size=batch_size, limit=limit, wait=not no_wait, say=click.echo)
    except KeyringError as exc:
        click.echo(f"not re-wrapped: {exc}", err=True)
        raise SystemExit(1) from None
    except keys.RotationBlocked as exc:
        _blocked(exc, "rewrap")
    _report(result, "rewrap")


@keys_group.command("rotate")
@_BATCH
@_LIMIT
@_NO_WAIT
def keys_rotate_command(batch_size: int, limit: int | None, no_wait: bool) -> None:
    """On a single host: add a key, activate it and re-wrap everything under it (resumable)."""
    try:
        result = keys.rotate(None, batch_size=batch_size, limit=limit, wait=not no_wait, say=click.echo)
    except keys.KeyringNotWritable as exc:
        new = [k for k in exc.keyring.keys if k not in keys.current_keyring().keys]
        _not_writable(exc, f"run `keys activate {new[0]}` and `keys rewrap` to re-encrypt everything under it")
        return
    except keys.RotationBlocked as exc:
        _blocked(exc, "rotate")
    if result.added:
        click.echo(f"added key {result.active} to the keyring and made it active")
    else:
        click.echo(f"resuming the unfinished rotation to key {result.active}")
    _report(result, "rotate")


@keys_group.command("status")
def keys_status_command() -> None:
    """Report how many data keys, fields, recovery codes and audit events each KEK protects."""
    keyring = keys.current_keyring()
    found = keys.usage()
    recorded = keys.recorded_keys()
    click.echo(f"{'key':<8}{'state':<10}{'data keys':>10}{'fields':>10}{'recovery':>10}{'audit':>10}")
    for kid in sorted(set(keyring.keys) | set(found.kids()) | set(recorded)):
        used = found.uses(kid) or (kid in recorded and recorded[kid].activated_at is not None)
        if kid not in keyring.keys:
            state = "MISSING" if used else "elsewhere"
        else:
            state = "active" if kid == keyring.active_id else ("kept" if used else "inactive")
        click.echo(f"{kid:<8}{state:<10}{found.data_keys[kid]:>10}{found.fields[kid]:>10}"
                   f"{found.recovery_codes[kid]:>10}{found.audit_events[kid]:>10}")
    pending = found.pending(keyring.active_id)
    click.echo(f"{pending} data keys and field values are not yet under the active key"
               + (": run `keys rewrap` (or `keys rotate`) to finish" if pending else ""))
    findings = deployment.check(current_app)
    if not findings.ready:
        for problem in findings.reasons:
            click.echo(f"this host cannot serve: {problem}")


@keys_group.command("retire")
@click.argument("kid")
def keys_retire_command(kid: str) -> None:
    """Remove an old KEK from the keyring, only once nothing uses it."""
    try:
        keys.retire(None, kid)
    except KeyringError as exc:
        click.echo(f"not retired: {exc}", err=True)
        raise SystemExit(1) from None
    except keys.KeyringNotWritable as exc:
        _not_writable(exc, "the key is retired (the deployment's records no longer list it)")
    click.echo(f"retired key {kid}")


@keys_group.command("verify")
def keys_verify_command() -> None:
    """Decrypt every blob that still has a key and check it against its stored digest (BLAKE3-256)."""
    checked, failures = keys.verify_blobs()
    for failure in failures:
        click.echo(f"FAILED document {failure.document_id} version {failure.version}: {failure.reason}", err=True)
    click.echo(f"verified {checked - len(failures)} of {checked} blobs; {len(failures)} failed")
    if failures:
        raise SystemExit(1)


# Backups --------------------------------------------------------------------------------------------------


@click.group("backup", cls=AppGroup)
def backup_group() -> None:
    """Backups of the database and blobs (never the keyring)."""


@backup_group.command("create")
@click.argument("directory", type=click.Path(path_type=Path))
def backup_create_command(directory: Path) -> None:
    """Write a consistent database snapshot, the blobs and a manifest of SHA-256 digests to an empty DIRECTORY."""
    try:
        summary = backup.create(directory)
    except backup.BackupError as exc:
        click.echo(f"backup failed: {exc}", err=True)
        raise SystemExit(1) from None
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"backed up the {summary.database} database ({summary.rows} rows) and {summary.blobs} blobs "
               f"to {directory}; {summary.files} files in the manifest")
    click.echo("the keyring is NOT in the backup: keep it separately (see the README)")


@backup_group.command("verify")
@click.argument("directory", type=click.Path(path_type=Path))
def backup_verify_command(directory: Path) -> None:
    """Check every file of a backup against its manifest."""
    problems = backup.verify(directory)
    for problem in problems:
        click.echo(f"FAILED {problem}", err=True)
    if problems:
        click.echo(f"backup {directory} is NOT intact: {len(problems)} problems", err=True)
        raise SystemExit(1)
    click.echo(f"backup {directory} is intact")


@backup_group.command("restore")
@click.argument("directory", type=click.Path(path_type=Path))
def backup_restore_command(directory: Path) -> None:
    """Restore a verified backup into this instance's empty database and blob store."""
    try:
        summary = backup.restore(directory)
    except backup.BackupError as exc:
        click.echo(f"restore refused: {exc}", err=True)
        raise SystemExit(1) from None
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"restored {summary.rows} rows and {summary.blobs} blobs; run `keys verify` to check every document")


@contextmanager
def _not_while_a_worker_runs(job: str) -> Iterator[None]:
    """Hold a scheduled job's lock for a command that does the same work, or refuse while a worker runs it."""
    with jobs.exclusive(job) as held:
        if not held:
            click.echo(f"not started: a worker is running {job} now; try again once it has finished "
                       "(`jobs status` shows it)", err=True)
            raise SystemExit(1)
        yield


# Retention and storage ------------------------------------------------------------------------------------


@click.group("retention", cls=AppGroup)
def retention_group() -> None:
    """Deleting portfolios once their retention period has passed."""


@retention_group.command("purge")
@click.option("--dry-run", is_flag=True, help="List what would be purged without deleting anything.")
def retention_purge_command(dry_run: bool) -> None:
    """Crypto-shred and delete the documents of portfolios past their retention date (not kept exemplars)."""
    due = retention.due_portfolios()
    if not due:
        click.echo("nothing is due for purging")
        return
    for portfolio, published in due:
        click.echo(f"{'would purge' if dry_run else 'purging'} portfolio {portfolio.id} "
                   f"(minutes published {published:%Y-%m-%d})")
    if dry_run:
        click.echo(f"dry run: {len(due)} portfolios would be purged; nothing was deleted")
        return
    with _not_while_a_worker_runs("retention-purge"):
        purged = retention.purge(None, [portfolio for portfolio, _ in due])
    click.echo(f"purged {len(purged)} portfolios: {sum(purged.values())} documents crypto-shredded and deleted")


@click.group("storage", cls=AppGroup)
def storage_group() -> None:
    """The encrypted blob store."""


@storage_group.command("gc")
@click.option("--grace-minutes", default=retention.DEFAULT_GC_GRACE_SECONDS // 60, show_default=True,
              help="Spare files changed more recently than this (uploads under way).")
def storage_gc_command(grace_minutes: int) -> None:
    """Remove blobs no document version needs and temporary files left by interrupted uploads."""
    with _not_while_a_worker_runs("storage-gc"):
        removed = retention.collect_garbage(grace_minutes * 60)
    for name in removed:
        click.echo(f"removed {name}")
    click.echo(f"removed {len(removed)} orphaned files")


@click.group("sessions", cls=AppGroup)
def sessions_group() -> None:
    """Sign-in sessions."""


@sessions_group.command("prune")
def sessions_prune_command() -> None:
    """Delete the records of sessions that have expired (a session ends at its time limits in any case)."""
    with _not_while_a_worker_runs("sessions-prune"):
        click.echo(f"removed {sessions.prune()} expired sessions")


# The deployment -------------------------------------------------------------------------------------------


@click.group("deployment", cls=AppGroup)
def deployment_group() -> None:
    """What every host of the deployment must share: check this host, record a new SECRET_KEY."""


@deployment_group.command("check")
def deployment_check_command() -> None:
    """Say whether this host may serve (as /health/ready does), and why not; exits non-zero when it may not."""
    findings = deployment.check(current_app, store=True)
    if findings.ready:
        click.echo(f"this host may serve: its SECRET_KEY and keyring match the deployment's (active key "
                   f"{keys.current_keyring().active_id}) and it sees the deployment's blob store")
        return
    for problem in findings.reasons:
        click.echo(f"this host may not serve: {problem}", err=True)
    raise SystemExit(1)


@deployment_group.command("record-secret-key")
def deployment_record_secret_key_command() -> None:
    """After giving every host a new SECRET_KEY: record it as the deployment's (hosts with the old one stop)."""
    deployment.record_secret_key(None)
    click.echo("recorded this host's SECRET_KEY as the deployment's; hosts with another one now stop serving "
               f"within {current_app.config['DEPLOYMENT_CHECK_SECONDS']} seconds")


# The worker and its jobs ----------------------------------------------------------------------------------


@click.command("worker")
@click.option("--once", is_flag=True, help="Deliver what is due and run the jobs that are due, then exit.")
@with_appcontext
def worker_command(once: bool) -> None:
    """Deliver mail as it is queued and run the scheduled jobs, until stopped (Ctrl-C or SIGTERM)."""
    worker = Worker(current_flask_app())
    if once:
        (sent, failed), results = worker.run_once()
        click.echo(f"mail: sent {sent}, failed {failed}")
        for result in results:
            click.echo(f"{result.job}: {result.outcome}: {result.summary}")
        return

    def stop(signum: int, _frame: FrameType | None) -> None:
        if worker.stopping:
            raise SystemExit(128 + signum)  # asked twice: stop now, even in the middle of a job
        click.echo("worker stopping after the current step (press Ctrl-C again to stop at once)", err=True)
        worker.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    worker.run()


@click.group("jobs", cls=AppGroup)
def jobs_group() -> None:
    """The scheduled jobs the worker runs."""


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "-"


@jobs_group.command("status")
def jobs_status_command() -> None:
    """Show each job's interval, latest run (start, end, outcome, summary) and when it is next due."""
    now = clock.now()
    for row in jobs.status():
        every = f"every {int(row.every.total_seconds() // 60)} min" if row.every else "off"
        click.echo(f"{row.job.name} ({every}): {row.job.description}")
        if row.latest is None:
            click.echo("  never run")
        else:
            run = row.latest
            click.echo(f"  last run: {run.outcome}, started {_when(run.started_at)}, finished {_when(run.finished_at)}"
                       f" on {run.worker}")
            if run.summary:
                click.echo(f"  {run.summary}")
        if row.next_due is not None:
            click.echo("  next due: " + ("now" if row.next_due <= now else _when(row.next_due)))


@jobs_group.command("run")
@click.argument("name", type=click.Choice([job.name for job in jobs.JOBS]))
def jobs_run_command(name: str) -> None:
    """Run one job now, whether or not it is due (never while a worker runs it); it is recorded like the others."""
    job = jobs.find(name)
    assert job is not None  # click.Choice allows only known names
    result = jobs.run(job, f"command line (pid {os.getpid()})", force=True)
    if result is None:
        click.echo(f"{name} is running in a worker now: not started again", err=True)
        raise SystemExit(1)
    click.echo(f"{name}: {result.outcome}: {result.summary}")
    if result.outcome != jobs.SUCCEEDED:
        raise SystemExit(1)


# Documents ------------------------------------------------------------------------------------------------


@click.group("documents", cls=AppGroup)
def documents_group() -> None:
    """Documents stored before the current version of the portal."""


@documents_group.command("clean")
def documents_clean_command() -> None:
    """Make the panel's copies (without identifying metadata) of versions stored before the portal made them."""
    from portal.documents import services as documents

    counts = documents.make_missing_panel_copies()
    if not counts:
        click.echo("every version already has its panel copy, or a reason why not")
        return
    for state, count in sorted(counts.items()):
        click.echo(f"{count} version{'s' if count != 1 else ''}: {state.replace('_', ' ')}")
    if counts.get("failed"):
        click.echo("some versions failed their integrity check: run `keys verify` to see which", err=True)
        raise SystemExit(1)


COMMANDS = (keys_group, deployment_group, backup_group, retention_group, storage_group, sessions_group, documents_group,
            worker_command, jobs_group)
