"""The ``pay2connect`` command line. Every failure is one clear line and a non-zero exit."""

from __future__ import annotations

import getpass
import logging
import sys

import click

from portal.cli.common import config_option, fail, open_ledger, settings_from


@click.group()
@click.option("--config", "config_path", metavar="FILE", help="TOML config file.")
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """pay2connect: pay-to-connect Wi-Fi with M-Pesa and MikroTik."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config_path
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not verbose:  # one line per job run every few seconds drowns what matters
        logging.getLogger("apscheduler").setLevel(logging.WARNING)


@main.command("init-db")
@config_option
@click.pass_context
def init_db(ctx: click.Context) -> None:
    """Create the ledger's tables (safe to run again)."""
    settings = settings_from(ctx)
    open_ledger(settings)
    from portal.ledger.database import redact_url

    click.echo(f"database ready: {redact_url(settings.database_url)}")


@main.command("migrate")
@config_option
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Upgrade the ledger's schema to this release (keeps every row; safe to run again)."""
    from portal.ledger import migrations
    from portal.ledger.database import redact_url

    settings = settings_from(ctx)
    open_ledger(settings, report=click.echo)
    click.echo(f"schema version {migrations.latest_version()}: {redact_url(settings.database_url)}")


@main.group()
def admin() -> None:
    """Venue-owner accounts."""


@admin.command("create")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(["owner", "cashier"]),
    default=None,
    help="New admins are owners unless this says cashier; an existing admin keeps their role unless given.",
)
@click.option("--unless-exists", is_flag=True, help="Do nothing if USERNAME exists (the installer's first admin).")
@config_option
@click.pass_context
def admin_create(ctx: click.Context, username: str, role: str | None, unless_exists: bool) -> None:
    """Create USERNAME (or reset its password). Password from a prompt, or stdin when piped.

    Resetting a password ends every session of that admin.
    """
    from portal.clock import SystemClock
    from portal.domain.accounts import admin_role, create_admin
    from portal.domain.errors import BadInput

    settings = settings_from(ctx)
    if unless_exists:
        open_ledger(settings)
        if admin_role(username) is not None:
            click.echo(f"admin {username} exists: left as it is")
            return
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            fail("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    open_ledger(settings)
    try:
        user = create_admin(username, password, SystemClock(), role=role, actor="cli")
    except BadInput as err:
        reasons = {
            "username_invalid": "username must be 3-40 letters, digits or . _ @ -",
            "password_too_short": f"password must be at least {err.params.get('minimum')} characters",
            "password_too_long": f"password must be at most {err.params.get('maximum')} characters",
            "last_owner": f"{username} is the only owner: make another admin an owner first",
        }
        fail(reasons.get(err.key, err.key))
    click.echo(f"admin {user.username} ({user.role}) is ready")


from portal.cli.backup import backup, restore  # noqa: E402 - sub-commands join the group defined above
from portal.cli.install import install  # noqa: E402
from portal.cli.packages import packages  # noqa: E402
from portal.cli.payments import payments  # noqa: E402
from portal.cli.servers import SERVER_COMMANDS  # noqa: E402
from portal.cli.statement import statement  # noqa: E402
from portal.cli.vouchers import vouchers  # noqa: E402

main.add_command(packages)
main.add_command(payments)
main.add_command(statement)
main.add_command(vouchers)
main.add_command(backup)
main.add_command(restore)
main.add_command(install)
for server_command in SERVER_COMMANDS:
    main.add_command(server_command)


def run() -> None:  # pragma: no cover - console entry for python -m
    main(obj={})


if __name__ == "__main__":  # pragma: no cover
    run()
