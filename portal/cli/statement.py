"""``pay2connect statement import FILE``: reconcile an M-Pesa statement from a shell."""

from __future__ import annotations

import click

from portal.cli.common import config_option, fail, open_ledger, settings_from
from portal.cli.payments import _actor


@click.group()
def statement() -> None:
    """M-Pesa statements: import one and see how it matches the ledger."""


@statement.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@config_option
@click.pass_context
def import_file(ctx: click.Context, file: str) -> None:
    """Import the statement CSV from the M-Pesa business portal; print the four counts."""
    from portal.clock import SystemClock
    from portal.domain.statement_import import import_statement
    from portal.mpesa.statement import StatementFormatError

    settings = settings_from(ctx)
    try:
        handle = open(file, "rb")  # noqa: SIM115 - closed below; opened first to report a bad path early
    except OSError as err:
        fail(f"{file}: cannot read it: {err.strerror or err}")
    open_ledger(settings)
    try:
        with handle:
            result = import_statement(handle, filename=file, actor=_actor(), settings=settings, clock=SystemClock())
    except StatementFormatError as err:
        fail(f"{file}: {err}")
    except (OSError, UnicodeError) as err:
        fail(f"{file}: cannot read it: {err}")
    row = result.statement
    if result.already_imported:
        click.echo(f"{file}: already imported on {row.imported_at:%Y-%m-%d %H:%M} UTC; nothing changed")
    else:
        click.echo(
            f"{file}: {row.rows_read} rows read, {row.lines_added} new money-in lines, {row.lines_known} already "
            f"imported, {row.rows_ignored} money-out or not completed, {row.rows_skipped} unreadable"
        )
        for problem in result.problems[:20]:
            click.echo(f"  {problem}")
    c = result.counts
    click.echo(f"matched: {c['matched']}")
    click.echo(f"statement only (money received, no access given): {c['statement_only']}")
    click.echo(f"ledger only (not on any statement): {c['ledger_only']}")
    click.echo(f"mismatched (amount or time): {c['mismatch']}")
    if c["resolved"]:
        click.echo(f"settled as refunded: {c['resolved']}")
