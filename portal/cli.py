"""Flask commands: first-run-link, audit verify, mail deliver (operators' commands: portal/ops/commands.py)."""

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from portal import audit, mail
from portal.auth import services as auth_services
from portal.ops import commands
from portal.ops.demo import demo_command


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


def _anchor(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[int, str] | None:
    """Parse SEQ:HASH as printed by an earlier verification."""
    if value is None:
        return None
    seq, _, digest = value.partition(":")
    if not seq.isdigit() or int(seq) < 1 or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise click.BadParameter("give the anchor as printed by `audit verify`: SEQ:HASH (64 hex digits)")
    return int(seq), digest


@audit_group.command("verify")
@click.option("--anchor", callback=_anchor, metavar="SEQ:HASH",
              help="An event printed by an earlier verification; it must still be there, unchanged.")
def audit_verify_command(anchor: tuple[int, str] | None) -> None:
    """Check the hash chain and report the first edited or deleted event."""
    checked, problem = audit.verify(anchor)
    if problem is None:
        seq, digest = audit.head()
        click.echo(f"audit trail intact: {checked} events verified"
                   + (f", including the anchor at event {anchor[0]}" if anchor else ""))
        click.echo(f"anchor for the next check: {seq}:{digest}")
        return
    click.echo(f"audit trail BROKEN at {problem.where}: {problem.reason}; {checked} events before it verified",
               err=True)
    raise SystemExit(1)


mail_group = AppGroup("mail", help="The outbox.")


@mail_group.command("deliver")
def mail_deliver_command() -> None:
    """Deliver every message that is due, once (the worker does this continuously)."""
    sent, failed = mail.deliver_due(limit=1000)
    click.echo(f"sent {sent}, failed {failed} (failed messages stay in the outbox and are retried)")


def install(app: Flask) -> None:
    """Register the commands."""
    for command in (first_run_link_command, audit_group, mail_group, demo_command, *commands.COMMANDS):
        app.cli.add_command(command)
