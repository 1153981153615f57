"""The steps of ``pay2connect install`` (see :mod:`portal.cli.install`). Each checks before it
acts, so running the installer twice changes nothing that is already right."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import click

from portal.cli.common import fail
from portal.cli.install_files import (
    Choices,
    Layout,
    config_sections,
    fill,
    render_caddyfile,
    render_config,
    unit_values,
)

MPESA_FROM_ENVIRONMENT = {
    "MPESA_ENVIRONMENT": "environment",
    "MPESA_CONSUMER_KEY": "consumer_key",
    "MPESA_CONSUMER_SECRET": "consumer_secret",
    "MPESA_SHORTCODE": "shortcode",
    "MPESA_PASSKEY": "passkey",
}
UNITS = (
    "pay2connect-web@.service",
    "pay2connect-worker@.service",
    "pay2connect.target",
    "pay2connect-backup.service",
    "pay2connect-backup.timer",
)
STOCK_CADDYFILE_MARK = "root * /usr/share/caddy"  # Debian's example site


def run(command: list[str], *, user: str | None = None, check: bool = True, **kwargs: object) -> str:
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
        kwargs.setdefault("cwd", "/")  # the caller's folder may be closed to that user
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        fail(f"{' '.join(command[:6])}: exit {result.returncode}: {detail[-600:]}")
    return str(result.stdout)


def step(text: str) -> None:
    click.echo(f"==> {text}")


def ensure_user(layout: Layout) -> None:
    if subprocess.run(["getent", "passwd", layout.user], capture_output=True, check=False).returncode == 0:
        return
    step(f"creating the system user {layout.user}")
    run(
        [
            *("useradd", "--system", "--user-group", "--home-dir", "/var/lib/pay2connect", "--no-create-home"),
            *("--shell", "/usr/sbin/nologin", layout.user),
        ]
    )


def check_reachable(layout: Layout) -> None:
    """The service user must be able to run the venv (every parent folder searchable)."""
    program = str(layout.venv / "bin" / "pay2connect")
    probe = subprocess.run(["runuser", "-u", layout.user, "--", "test", "-x", program], check=False)
    if probe.returncode != 0:
        fail(f"the {layout.user} user cannot run {program}: make its parent folders searchable (chmod o+x)")


def ensure_folders(layout: Layout) -> None:
    """config 0750 root:group (secrets readable by the service, not writable); data 0750 owner."""
    for path, owner, mode in (
        (layout.config_dir, "root", 0o750),
        (layout.data, layout.user, 0o750),
        (layout.backups, layout.user, 0o750),
    ):
        path.mkdir(parents=True, exist_ok=True)
        shutil.chown(path, owner, layout.user)
        path.chmod(mode)


def ensure_postgres(choices: Choices, password: str, systemd: bool) -> str:
    """Role and database (owned by the role); returns the URL. The password follows the config."""
    if not _pg_ready():
        if systemd:
            run(["systemctl", "enable", "--now", "postgresql"])
        else:
            for line in run(["pg_lsclusters", "--no-header"]).splitlines():
                version, cluster = line.split()[:2]
                run(["pg_ctlcluster", version, cluster, "start"], check=False)
    if not _pg_ready():
        fail("PostgreSQL does not answer on this machine (pg_isready): start it, then run this again")
    role, database = choices.db_user, choices.db_name
    literal = password.replace("'", "''")
    exists = run(["psql", "-tAc", f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'"], user="postgres").strip()
    verb = "ALTER" if exists == "1" else "CREATE"
    if verb == "CREATE":
        step(f"creating the PostgreSQL role {role} and database {database}")
    run(["psql", "-v", "ON_ERROR_STOP=1", "-qc", f"{verb} ROLE \"{role}\" LOGIN PASSWORD '{literal}'"], user="postgres")
    has_db = run(["psql", "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{database}'"], user="postgres").strip()
    if has_db != "1":
        run(["createdb", "--owner", role, database], user="postgres")
    return f"postgresql://{role}:{quote(password, safe='')}@127.0.0.1:5432/{database}"


def _pg_ready() -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], check=False).returncode == 0


def existing_database_password(config: Path) -> str | None:
    import tomllib
    from urllib.parse import unquote, urlsplit

    try:
        url = tomllib.loads(config.read_text())["database"]["url"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return None
    password = urlsplit(url).password
    return unquote(password) if password else None


def mpesa_values(environ: dict[str, str]) -> dict[str, str]:
    values = {key: environ[name] for name, key in MPESA_FROM_ENVIRONMENT.items() if environ.get(name)}
    missing = [
        name for name in ("MPESA_CONSUMER_KEY", "MPESA_CONSUMER_SECRET", "MPESA_PASSKEY") if not environ.get(name)
    ]
    if missing:
        fail(
            "Daraja credentials missing: set "
            + ", ".join(missing)
            + " (and MPESA_SHORTCODE, MPESA_ENVIRONMENT=production when live) in the environment of this command"
        )
    return values


def write_config(layout: Layout, choices: Choices, database_url: str) -> bool:
    if layout.config.exists():
        return False
    step(f"writing {layout.config} with fresh secrets (mode 0640 root:{layout.user})")
    try:
        text = render_config(config_sections(layout, choices, mpesa_values(dict(os.environ)), database_url))
    except ValueError as err:
        fail(str(err))
    partial = layout.config.with_suffix(".partial")
    partial.write_text(text)
    shutil.chown(partial, "root", layout.user)
    partial.chmod(0o640)
    partial.replace(layout.config)
    return True


def validate_config(layout: Layout) -> None:
    from portal.config import ConfigError, load_settings

    try:
        load_settings(layout.config, environ={})
    except ConfigError as err:
        fail([f"{layout.config}: {line}" for line in err.problems])


def write_file(path: Path, text: str, mode: int = 0o644) -> bool:
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return True


def write_units(layout: Layout, choices: Choices, source: Path) -> None:
    values = unit_values(layout, choices)
    for name in UNITS:
        if write_file(layout.units / name, fill((source / "systemd" / name).read_text(), values)):
            step(f"wrote {layout.units / name}")
    if write_file(layout.journald, fill((source / "deploy" / "journald.conf").read_text(), values)):
        step(f"wrote {layout.journald} (journal rotation)")


def write_caddyfile(layout: Layout, choices: Choices, source: Path) -> None:
    text = render_caddyfile((source / "deploy" / "Caddyfile").read_text(), layout, choices)
    path = layout.caddyfile
    ours = "written by `scripts/install`"
    if path.exists() and ours not in path.read_text() and STOCK_CADDYFILE_MARK not in path.read_text():
        side = path.with_name("pay2connect.caddy")
        write_file(side, text)
        click.echo(f"note: {path} is your own; pay2connect's sites are in {side}: merge them, then reload caddy")
        return
    if path.exists() and ours in path.read_text() and path.read_text() != text:
        click.echo(f"note: kept {path} (edited since install); the fresh version is in {path}.new")
        write_file(path.with_name("Caddyfile.new"), text)
        return
    if path.exists() and STOCK_CADDYFILE_MARK in path.read_text():
        shutil.copy2(path, path.with_name("Caddyfile.before-pay2connect"))
    if write_file(path, text):
        step(f"wrote {path} ({choices.tls_mode} certificates)")


def create_first_admin(layout: Layout, choices: Choices) -> str | None:
    password = secrets.token_urlsafe(12)
    pay2connect = str(layout.venv / "bin" / "pay2connect")
    out = run(
        [pay2connect, "--config", str(layout.config), "admin", "create", choices.admin, "--unless-exists"],
        user=layout.user,
        input=password + "\n",
        cwd=str(layout.data),
    )
    return password if "is ready" in out else None
