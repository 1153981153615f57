"""``pay2connect packages list|add|update|disable|enable``."""

from __future__ import annotations

from typing import Any

import click

from portal.cli.common import config_option, fail, open_ledger, settings_from
from portal.domain.errors import BadInput, NotFound


def _problems(err: BadInput) -> list[str]:
    return list(err.params.get("problems") or [err.key])


@click.group()
def packages() -> None:
    """What customers can buy."""


@packages.command("list")
@click.option("--all", "include_inactive", is_flag=True, help="Include disabled packages.")
@config_option
@click.pass_context
def list_packages(ctx: click.Context, include_inactive: bool) -> None:
    """Show packages, in the order the splash page shows them."""
    from portal.domain.packages import format_duration, listed_packages

    open_ledger(settings_from(ctx))
    rows = listed_packages(include_inactive=include_inactive)
    if not rows:
        click.echo('no packages yet: add one with `pay2connect packages add --name "1 hour" --price 10 --duration 1h`')
        return
    click.echo(
        f"{'id':>4}  {'name':<24} {'price':>8}  {'time':>6}  {'data cap':>9}  {'speed':>9}  {'devices':>7}  state"
    )
    for p in rows:
        cap = f"{p.data_cap_bytes // 1_000_000}MB" if p.data_cap_bytes else "-"
        click.echo(
            f"{p.id:>4}  {p.name[:24]:<24} {'KSh ' + str(p.price):>8}  {format_duration(p.duration_seconds):>6}  "
            f"{cap:>9}  {p.rate_limit or '-':>9}  {p.devices:>7}  {'active' if p.active else 'disabled'}"
        )


def _package_options(command: Any) -> Any:
    options = [
        click.option("--name", help='Name shown to customers, e.g. "1 hour".'),
        click.option("--name-sw", help='Swahili name, e.g. "Saa 1".'),
        click.option("--price", help="Whole shillings, e.g. 10."),
        click.option("--duration", help="Time from payment: 90s, 30m, 1h, 7d."),
        click.option("--data-cap", help="Optional data cap, e.g. 500MB (none to clear)."),
        click.option("--rate-limit", help="Optional speed limit upload/download, e.g. 2M/2M (none to clear)."),
        click.option("--devices", help="Devices that may share the package (default 1)."),
        click.option("--order", "sort_order", help="Position on the splash page (lower first)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@packages.command("add")
@_package_options
@config_option
@click.pass_context
def add(ctx: click.Context, **values: Any) -> None:
    """Add a package and print its id."""
    from portal.clock import SystemClock
    from portal.domain.packages import add_package, validate_changes

    open_ledger(settings_from(ctx))
    try:
        package = add_package(validate_changes(values), SystemClock())
    except BadInput as err:
        fail(_problems(err))
    click.echo(package.id)


@packages.command("update")
@click.argument("package_id")
@_package_options
@config_option
@click.pass_context
def update(ctx: click.Context, package_id: str, **values: Any) -> None:
    """Change a package's values (only the options given)."""
    from portal.domain.packages import get_package, update_package, validate_changes

    open_ledger(settings_from(ctx))
    if all(v is None for v in values.values()):
        fail("nothing to change: give at least one option, e.g. --price 15")
    try:
        package = update_package(get_package(package_id), validate_changes(values))
    except BadInput as err:
        fail(_problems(err))
    except NotFound:
        fail(f"no package with id {package_id!r}")
    click.echo(f"package {package.id} updated")


def _set_active(ctx: click.Context, package_id: str, active: bool) -> None:
    from portal.domain.packages import get_package, set_active

    open_ledger(settings_from(ctx))
    try:
        package = set_active(get_package(package_id), active)
    except NotFound:
        fail(f"no package with id {package_id!r}")
    click.echo(f"package {package.id} {'enabled' if active else 'disabled'}")


@packages.command("disable")
@click.argument("package_id")
@config_option
@click.pass_context
def disable(ctx: click.Context, package_id: str) -> None:
    """Stop selling a package (sessions already bought keep running)."""
    _set_active(ctx, package_id, False)


@packages.command("enable")
@click.argument("package_id")
@config_option
@click.pass_context
def enable(ctx: click.Context, package_id: str) -> None:
    """Sell a disabled package again."""
    _set_active(ctx, package_id, True)
