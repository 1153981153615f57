"""``pay2connect backup FILE`` and ``pay2connect restore FILE``: the ledger, copied while it runs.

SQLite: the online backup API (a consistent copy while the web processes and the worker keep
writing). PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore --clean`` (Debian's
``postgresql-client``; the password goes through ``PGPASSWORD``, never the command line).
Redis needs no backup: the live state is rebuilt from the ledger.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from urllib.parse import unquote, urlsplit

import click

from portal.cli.common import config_option, fail, settings_from

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"


def _sqlite_path(url: str) -> Path | None:
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :].split("?", 1)[0]
        return Path(path) if path and path != ":memory:" else None
    return None


def _pg_environment(url: str) -> tuple[dict[str, str], str]:
    """libpq environment for ``url`` and the database name (no password on any command line)."""
    parts = urlsplit(url)
    env = dict(os.environ)
    for name, value in (
        ("PGHOST", parts.hostname),
        ("PGPORT", str(parts.port) if parts.port else None),
        ("PGUSER", unquote(parts.username) if parts.username else None),
        ("PGPASSWORD", unquote(parts.password) if parts.password else None),
    ):
        if value:
            env[name] = value
    return env, unquote(parts.path.lstrip("/"))


def _run(command: list[str], env: dict[str, str]) -> None:
    tool = command[0]
    if shutil.which(tool) is None:
        fail(f"{tool} not found: install Debian's postgresql-client (apt-get install postgresql-client)")
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        fail(f"{tool} failed: {detail[-1] if detail else f'exit {result.returncode}'}")


def _kind(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(16)
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "postgresql"
    return "unknown"


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@config_option
@click.pass_context
def backup(ctx: click.Context, file: Path) -> None:
    """Copy the ledger to FILE while everything keeps running."""
    settings = settings_from(ctx)
    url = settings.database_url
    if not file.parent.is_dir():
        fail(f"{file.parent}: no such folder")
    partial = file.with_name(file.name + ".partial")
    source = _sqlite_path(url)
    if source is not None:
        if not source.is_file():
            fail(f"{source}: no ledger there yet (run `pay2connect migrate` first)")
        try:
            with (
                closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as live,
                closing(sqlite3.connect(partial)) as copy,
            ):
                live.backup(copy)
        except sqlite3.Error as err:
            partial.unlink(missing_ok=True)
            fail(f"backup failed: {err}")
    elif url.startswith(("postgres://", "postgresql://")):
        env, database = _pg_environment(url)
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={partial}", database], env)
    else:
        fail("backup knows SQLite and PostgreSQL ledgers only")
    partial.chmod(0o600)  # the ledger holds phone numbers
    partial.replace(file)
    click.echo(f"backup written: {file} ({file.stat().st_size} bytes)")


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask: replace the ledger with FILE.")
@config_option
@click.pass_context
def restore(ctx: click.Context, file: Path, yes: bool) -> None:
    """Replace the ledger with a backup. Stop the web processes and the worker first."""
    settings = settings_from(ctx)
    url = settings.database_url
    kind = _kind(file)
    target = _sqlite_path(url)
    expected = "sqlite" if target is not None else "postgresql"
    if kind != expected:
        fail(f"{file}: not a {expected} backup of the ledger (this config uses {expected})")
    if not yes:
        if not sys.stdin.isatty():
            fail("restore replaces every row of the ledger: add --yes to confirm")
        click.confirm("Replace every row of the ledger with this backup?", abort=True)
    if target is not None:
        _restore_sqlite(file, target)
    else:
        env, database = _pg_environment(url)
        _run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                f"--dbname={database}",
                str(file),
            ],
            env,
        )
    click.echo(f"restored {file}; now run `pay2connect migrate`, then start the services")


def _restore_sqlite(file: Path, target: Path) -> None:
    try:
        with closing(sqlite3.connect(f"file:{file}?mode=ro", uri=True)) as saved:
            tables = {row[0] for row in saved.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "payment" not in tables:
                fail(f"{file}: an SQLite file, but not a pay2connect ledger (no payment table)")
            target.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(target)) as live:
                saved.backup(live)  # page by page into the live file, WAL and all
    except sqlite3.Error as err:
        fail(f"restore failed: {err}")
