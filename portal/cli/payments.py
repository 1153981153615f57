"""``pay2connect payments pause|resume|status|recheck``: the money side from a shell."""

from __future__ import annotations

import getpass

import click

from portal.cli.common import config_option, fail, open_ledger, settings_from


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:40]
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


@click.group()
def payments() -> None:
    """M-Pesa payments: pause, resume, re-check stuck ones."""


@payments.command("pause")
@click.option("--reason", default="", help='Why, for the audit log (e.g. "Safaricom outage").')
@config_option
@click.pass_context
def pause(ctx: click.Context, reason: str) -> None:
    """Stop sending M-Pesa prompts; the splash page says so. Pending payments are still confirmed."""
    from portal.clock import SystemClock
    from portal.domain.pause import pause_payments

    open_ledger(settings_from(ctx))
    if pause_payments(SystemClock(), actor=_actor(), reason=reason):
        click.echo("M-Pesa payments are paused: no prompt will be sent until `pay2connect payments resume`.")
    else:
        click.echo("M-Pesa payments were already paused.")


@payments.command("resume")
@click.option("--reason", default="", help="Why, for the audit log.")
@config_option
@click.pass_context
def resume(ctx: click.Context, reason: str) -> None:
    """Send M-Pesa prompts again."""
    from portal.clock import SystemClock
    from portal.domain.pause import resume_payments

    open_ledger(settings_from(ctx))
    if resume_payments(SystemClock(), actor=_actor(), reason=reason):
        click.echo("M-Pesa payments are on again.")
    else:
        click.echo("M-Pesa payments were not paused.")


@payments.command("status")
@config_option
@click.pass_context
def status(ctx: click.Context) -> None:
    """Say whether the owner's pause switch is on."""
    from portal.domain.pause import manual_state
    from portal.web.admin.formatting import time_text

    open_ledger(settings_from(ctx))
    current = manual_state()
    if current.manual:
        why = f": {current.reason}" if current.reason else ""
        click.echo(f"paused by {current.changed_by} since {time_text(current.changed_at)}{why}")
    else:
        click.echo("payments are on")


@payments.command("recheck")
@click.option(
    "--older-than", default="30m", show_default=True, help="Only payments started longer ago (90s, 30m, 2h, 1d)."
)
@config_option
@click.pass_context
def recheck(ctx: click.Context, older_than: str) -> None:
    """Ask M-Pesa (STK Query) about every stuck payment; grant the ones that were paid."""
    from portal.cli.servers import _services as build_services_or_fail
    from portal.domain import recheck as rules
    from portal.domain.errors import BadInput
    from portal.domain.packages import parse_duration

    try:
        seconds = parse_duration(older_than)
    except ValueError as err:
        fail(f"--older-than: {err}")
    settings = settings_from(ctx)
    services = build_services_or_fail(settings, background=False)
    try:
        try:
            started = rules.start_run(services, older_than_seconds=seconds, actor=_actor())
        except BadInput as err:
            fail(f"--older-than: {'; '.join(err.params.get('problems') or [err.key])}")
        click.echo(f"re-checking {started.total} payment(s) started more than {older_than} ago")

        def show(done: int, total: int, result: rules.CheckResult) -> None:
            click.echo(f"[{done}/{total}] payment #{result.payment_id}: {result.outcome} - {result.detail}")

        final = rules.run(services, started.id, progress=show)
    finally:
        services.close()
    click.echo(
        f"checked {final.checked}: {final.paid} paid, {final.failed} failed, "
        f"{final.still_pending} still pending, {final.errors} could not be checked"
    )
