"""Helpers shared by the command-line modules: config loading and one-line failures."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from portal.config import ConfigError, Settings, load_settings

EXIT_CONFIG = 2
EXIT_FAILED = 1


def fail(lines: list[str] | str, code: int = EXIT_FAILED) -> NoReturn:
    for line in [lines] if isinstance(lines, str) else lines:
        click.echo(f"error: {line}", err=True)
    sys.exit(code)


def settings_from(ctx: click.Context) -> Settings:
    try:
        return load_settings(ctx.obj.get("config"))
    except ConfigError as err:
        fail(err.problems, EXIT_CONFIG)


def open_ledger(settings: Settings, *, report: Callable[[str], None] | None = None) -> None:
    """Open the ledger and bring its schema to this release's version (data kept)."""
    from portal.ledger import migrations
    from portal.ledger.database import DatabaseUnavailable, open_database

    try:
        migrations.upgrade(open_database(settings.database_url), report=report)
    except migrations.SchemaAhead as err:
        fail(str(err))
    except DatabaseUnavailable as err:
        fail(str(err))
    except Exception as err:  # noqa: BLE001 - e.g. a read-only folder; say it in one line
        fail(f"cannot prepare the database: {err}")


def config_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--config FILE`` accepted after the sub-command too, as in ``pay2connect serve --config``."""

    def remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value:
            ctx.ensure_object(dict)["config"] = value

    return click.option(
        "--config",
        "config_path",
        metavar="FILE",
        expose_value=False,
        callback=remember,
        is_eager=True,
        help="TOML config file (default ./config.toml or $PAY2CONNECT_CONFIG).",
    )(command)
