"""``pay2connect vouchers create|list|revoke``.

``create`` prints the new codes one per line and nothing else on stdout, so it can be piped
into a print job or a file; everything else it says goes to stderr. The codes are not
stored: this output is the only copy.
"""

from __future__ import annotations

import click

from portal.cli.common import config_option, fail, open_ledger, settings_from
from portal.domain.errors import BadInput, NotFound


@click.group()
def vouchers() -> None:
    """Printed codes worth a package (cash sales, agents, M-Pesa outages)."""


@vouchers.command("create")
@click.option("--package", "package_id", required=True, help="Package id (see `pay2connect packages list`).")
@click.option("--count", required=True, help="How many codes (1-1000).")
@click.option("--label", default="", help="A note for the batch: an agent, an event.")
@click.option("--use-by", default="", help="Last day a code can be used for the first time, e.g. 2026-12-31.")
@config_option
@click.pass_context
def create(ctx: click.Context, package_id: str, count: str, label: str, use_by: str) -> None:
    """Make COUNT codes for a package and print them, one per line."""
    from portal.clock import SystemClock
    from portal.domain import vouchers as rules
    from portal.domain.accounts import audit

    settings = settings_from(ctx)
    open_ledger(settings)
    clock = SystemClock()
    try:
        made = rules.create_batch(
            settings,
            clock,
            package_id=package_id,
            count=rules.parse_count(count),
            actor="cli",
            label=rules.parse_label(label),
            use_by=rules.parse_use_by(use_by, clock.now()),
        )
    except BadInput as err:
        if err.key == "voucher_no_secret":
            fail("set [portal] secret_key (16+ characters) first: voucher codes are hashed with it")
        fail(list(err.params.get("problems") or [err.key]))
    audit("cli", "voucher.create", clock, batch=made.batch.id, count=len(made.codes), package=made.package.id)
    for code in made.codes:
        click.echo(code)
    click.echo(
        f"batch {made.batch.id}: {len(made.codes)} x KSh {made.batch.price} ({made.package.name}); "
        "these codes are not stored and cannot be shown again",
        err=True,
    )


@vouchers.command("list")
@config_option
@click.pass_context
def list_batches(ctx: click.Context) -> None:
    """Batches, newest first, with how many vouchers are in each state."""
    from portal.clock import SystemClock, to_nairobi
    from portal.domain import vouchers as rules
    from portal.domain.vouchers_codes import lookup_keys

    settings = settings_from(ctx)
    open_ledger(settings)
    rows = rules.batch_rows(SystemClock().now())
    if not rows:
        click.echo("no vouchers yet: make some with `pay2connect vouchers create --package ID --count N`")
        return
    known = {key.key_id for key in lookup_keys(settings)}
    states = "  ".join(f"{rules.STATE_LABELS[s]:>8}" for s in rules.STATES)
    click.echo(f"{'batch':>5}  {'made':<16}  {'package':<16} {'price':>7}  {'label':<16} {'count':>5}  {states}  key")
    for row in rows:
        b = row.batch
        counts = "  ".join(f"{row.states[s]:>8}" for s in rules.STATES)
        key = b.key_id if b.key_id in known else f"{b.key_id} (key not configured: these codes cannot be used)"
        click.echo(
            f"{b.id:>5}  {to_nairobi(b.created_at):%Y-%m-%d %H:%M}  {b.package.name[:16]:<16} {b.price:>7}  "
            f"{b.label[:16]:<16} {b.count:>5}  {counts}  {key}"
        )


@vouchers.command("revoke")
@click.argument("batch")
@config_option
@click.pass_context
def revoke(ctx: click.Context, batch: str) -> None:
    """Stop every voucher of BATCH and end the sessions they gave."""
    from portal.clock import SystemClock
    from portal.domain import vouchers as rules
    from portal.domain.accounts import audit

    open_ledger(settings_from(ctx))
    clock = SystemClock()
    try:
        done = rules.revoke_batch(clock, batch, actor="cli")
    except NotFound:
        fail(f"there is no voucher batch {batch!r}")
    if done.already:
        click.echo(f"batch {done.batch.id} was already revoked")
        return
    audit("cli", "voucher.revoke", clock, batch=done.batch.id, unused=done.unused, ended=len(done.ended))
    click.echo(
        f"batch {done.batch.id} revoked: {done.unused} unused vouchers stopped, {len(done.ended)} live sessions "
        "ended (the worker cuts them off on the router within seconds)"
    )
