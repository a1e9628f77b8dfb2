"""Flask commands: first-run-link, audit verify, mail deliver."""

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from portal import audit, mail, maintenance_cli
from portal.auth import services as auth_services
from portal.demo import demo_command


@click.command("first-run-link")
@click.option("--base-url", default=None, help="The address people use to reach the portal.")
@with_appcontext
def first_run_link_command(base_url: str | None) -> None:
    """Print a one-time link to create the first administrator (only while there is none)."""
    if base_url:
        current_app.config["BASE_URL"] = base_url
    with current_app.test_request_context(base_url=current_app.config["BASE_URL"]):
        token = auth_services.first_admin_link()
        if token is None:
            click.echo("An administrator exists: sign in at " + current_app.config["BASE_URL"] + "/sign-in")
            return
        link = mail.external_url("auth.accept_link", token=token)
    click.echo("\nCreate the first administrator with this one-time link (valid for 24 hours):\n")
    click.echo(f"    {link}\n")


# AppGroup (not click.group) so each subcommand runs inside the application context.
audit_group = AppGroup("audit", help="The audit trail.")


@audit_group.command("verify")
def audit_verify_command() -> None:
    """Check the hash chain and report the first edited or deleted event."""
    checked, problem = audit.verify()
    if problem is None:
        click.echo(f"audit trail intact: {checked} events verified")
        return
    where = f"event {problem.seq}" + (f" (row id {problem.event_id})" if problem.event_id else "")
    click.echo(f"audit trail BROKEN at {where}: {problem.reason}; {checked} events before it verified", err=True)
    raise SystemExit(1)


mail_group = AppGroup("mail", help="The outbox.")


@mail_group.command("deliver")
def mail_deliver_command() -> None:
    """Deliver every message that is due (run from cron or a timer every minute)."""
    sent, failed = mail.deliver_due(limit=1000)
    click.echo(f"sent {sent}, failed {failed} (failed messages stay in the outbox and are retried)")


def install(app: Flask) -> None:
    """Register the commands."""
    for command in (first_run_link_command, audit_group, mail_group, demo_command, *maintenance_cli.COMMANDS):
        app.cli.add_command(command)
