"""``pay2connect install``: the part of ``scripts/install`` that needs the product (run as root).

``scripts/install`` (shell: it needs nothing but Debian) installs the packages and builds the
venv from the wheel, then runs this (Python: typed, tested, and it validates the config it
writes with the product's own loader): the system user, folders and permissions, PostgreSQL
role and database, the config with fresh secrets, migrations, the first admin, the systemd
units, the Caddy proxy and journald's rotation, then enables and starts everything.
``--root DIR --no-systemd`` writes a complete install under DIR and starts nothing (CI).
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from pathlib import Path

import click

from portal.cli import install_steps as steps
from portal.cli.common import fail
from portal.cli.install_files import UNIT_PATTERNS, Choices, Layout


def _ports(text: str) -> tuple[int, ...]:
    try:
        ports = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"expected ports like 8081,8082, got {text!r}") from None
    if not ports or any(not 1 <= p <= 65535 for p in ports):
        raise click.BadParameter(f"expected ports 1-65535, got {text!r}")
    return ports


def _settings(values: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected section.key=value, got {item!r}")
        pairs[key.strip()] = value
    return pairs


@click.command("install")
@click.option("--domain", default="", help="Public DNS name for HTTPS: the M-Pesa callback and the admin.")
@click.option("--lan-address", default="", help="The portal's address on the hotspot LAN (one box at the venue).")
@click.option("--tls", type=click.Choice(["acme", "internal"]), help="acme (default with --domain) or internal.")
@click.option("--acme-email", default="", help="Contact address for the certificate authority.")
@click.option("--http-port", default=80, type=click.IntRange(1, 65535), show_default=True)
@click.option("--https-port", default=443, type=click.IntRange(1, 65535), show_default=True)
@click.option("--web-ports", default="8081,8082", show_default=True, help="One web process per port.")
@click.option("--workers", default=2, type=click.IntRange(1, 9), show_default=True, help="Leader + standbys.")
@click.option("--postgres", is_flag=True, help="PostgreSQL (Debian's) instead of SQLite.")
@click.option("--db-name", default="pay2connect", show_default=True)
@click.option("--db-user", default="pay2connect", show_default=True)
@click.option("--redis-url", default="redis://127.0.0.1:6379/0", show_default=True)
@click.option("--router-host", default="192.168.88.1", show_default=True, help="The venue router's API address.")
@click.option("--router-name", default="main", show_default=True)
@click.option("--admin", "admin_name", default="admin", show_default=True, help="The first admin's user name.")
@click.option(
    "--set", "set_values", multiple=True, metavar="KEY=VALUE", help="Any config key, e.g. mpesa.shortcode=4123987."
)
@click.option(
    "--root", default="/", type=click.Path(file_okay=False, path_type=Path), help="Install under DIR (tests)."
)
@click.option(
    "--source", type=click.Path(exists=True, file_okay=False, path_type=Path), help="The checkout (templates)."
)
@click.option("--no-systemd", is_flag=True, help="Write the units but start nothing (no systemd: CI, containers).")
@click.option("--uninstall", is_flag=True, help="Stop and remove units and proxy config; keep config and data.")
def install(**options: object) -> None:
    """Install this box (Debian 12 / Ubuntu 24.04): run through scripts/install, as root."""
    if os.geteuid() != 0:
        fail("run as root: sudo scripts/install ...")
    layout = Layout(root=Path(str(options["root"])).resolve())
    systemd = not options["no_systemd"]
    if options["uninstall"]:
        uninstall(layout, systemd)
        return
    source = Path(str(options["source"] or Path(__file__).resolve().parents[2]))
    if not (source / "systemd" / "pay2connect-web@.service").is_file():
        fail(f"{source}: not a pay2connect checkout (give --source DIR)")
    choices = Choices(
        domain=str(options["domain"]),
        lan_address=str(options["lan_address"]),
        tls=str(options["tls"] or ""),
        acme_email=str(options["acme_email"]),
        http_port=int(str(options["http_port"])),
        https_port=int(str(options["https_port"])),
        web_ports=_ports(str(options["web_ports"])),
        workers=int(str(options["workers"])),
        postgres=bool(options["postgres"]),
        db_name=str(options["db_name"]),
        db_user=str(options["db_user"]),
        redis_url=str(options["redis_url"]),
        router_host=str(options["router_host"]),
        router_name=str(options["router_name"]),
        admin=str(options["admin_name"]),
        settings=_settings(tuple(str(v) for v in options["set_values"])),  # type: ignore[attr-defined]
    )
    for name in (choices.db_name, choices.db_user, choices.admin):
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,39}", name):
            fail(f"{name!r}: database, role and admin names are lowercase letters, digits and _")
    if not (choices.domain or choices.lan_address):
        fail("give --domain (public name, HTTPS) and/or --lan-address (the portal on the venue's LAN)")
    steps.ensure_user(layout)
    steps.check_reachable(layout)
    steps.ensure_folders(layout)
    database_url = ""
    if choices.postgres:
        password = steps.existing_database_password(layout.config) or secrets.token_urlsafe(24)
        database_url = steps.ensure_postgres(choices, password, systemd)
    created = steps.write_config(layout, choices, database_url)
    if not created:
        click.echo(f"kept {layout.config} (it exists; edit it by hand)")
    steps.validate_config(layout)
    pay2connect = str(layout.venv / "bin" / "pay2connect")
    steps.step("migrating the ledger")
    click.echo(
        steps.run(
            [pay2connect, "--config", str(layout.config), "migrate"], user=layout.user, cwd=str(layout.data)
        ).strip()
    )
    steps.write_units(layout, choices, source)
    steps.write_caddyfile(layout, choices, source)
    admin_password = steps.create_first_admin(layout, choices)  # last: its password is shown once
    if systemd:
        start(layout, choices)
    summary(layout, choices, admin_password, systemd)


def start(layout: Layout, choices: Choices) -> None:
    steps.step("enabling and starting the services")
    units = [f"pay2connect-web@{port}.service" for port in choices.web_ports]
    units += [f"pay2connect-worker@{n}.service" for n in range(1, choices.workers + 1)]
    steps.run(["systemctl", "daemon-reload"])
    steps.run(["systemctl", "restart", "systemd-journald"], check=False)
    base = ["redis-server", "caddy"] + (["postgresql"] if choices.postgres else [])
    steps.run(["systemctl", "enable", "--now", *base])
    steps.run(["systemctl", "enable", "pay2connect.target", "pay2connect-backup.timer", *units])
    steps.run(["systemctl", "restart", *units])  # new code after an upgrade
    steps.run(["systemctl", "start", "pay2connect.target", "pay2connect-backup.timer"])
    steps.run(["systemctl", "reload-or-restart", "caddy"])


def summary(layout: Layout, choices: Choices, admin_password: str | None, systemd: bool) -> None:
    click.echo("")
    click.echo(f"pay2connect is installed. Config: {layout.config}  Data: {layout.data}  Backups: {layout.backups}")
    click.echo(f"  Portal (hotspot customers): {choices.public_url}/")
    click.echo(f"  Admin:                      {choices.https_url}/admin/")
    if admin_password:
        click.echo(f"  First admin: {choices.admin}  one-time password: {admin_password}")
        click.echo(
            "  (shown once, stored only as a hash; set your own with: sudo -u pay2connect "
            f"{layout.venv}/bin/pay2connect --config {layout.config} admin create {choices.admin})"
        )
    if not systemd:
        click.echo(
            "  Not started (--no-systemd): run each unit's ExecStartPre and ExecStart lines as "
            f"{layout.user}, from {layout.units}"
        )
    click.echo("Next: put the Daraja values in the config if they are not there, then")
    click.echo(f"  {layout.venv}/bin/pay2connect --config {layout.config} routeros-setup --include-password")
    click.echo(f"  {layout.venv}/bin/pay2connect --config {layout.config} check")


def uninstall(layout: Layout, systemd: bool) -> None:
    if systemd:
        listed = subprocess.run(
            ["systemctl", "list-units", "--all", "--plain", "--no-legend", *UNIT_PATTERNS],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        units = [word for word in listed if word.startswith("pay2connect")]
        steps.run(
            ["systemctl", "disable", "--now", "pay2connect.target", "pay2connect-backup.timer", *units], check=False
        )
    for name in steps.UNITS:
        (layout.units / name).unlink(missing_ok=True)
    for wants in layout.units.glob("*.wants/pay2connect*"):
        wants.unlink(missing_ok=True)
    layout.journald.unlink(missing_ok=True)
    caddyfile = layout.caddyfile
    before = caddyfile.with_name("Caddyfile.before-pay2connect")
    if caddyfile.exists() and "written by `scripts/install`" in caddyfile.read_text():
        if before.exists():
            before.replace(caddyfile)
        else:
            caddyfile.unlink()
    if systemd:
        steps.run(["systemctl", "daemon-reload"], check=False)
        steps.run(["systemctl", "reload-or-restart", "caddy"], check=False)
    click.echo("pay2connect's services, units and proxy sites are removed. Kept, delete by hand if you mean it:")
    click.echo(f"  {layout.config_dir} (config, secrets)  {layout.data} (ledger)  {layout.backups} (backups)")
    click.echo(f"  the PostgreSQL database and role, if any; the system user {layout.user}")
