"""Helpers shared by the command-line modules: config loading and one-line failures."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
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
        db = open_database(settings.database_url)
        with _one_migrator_at_a_time(db, settings.database_url):
            migrations.upgrade(db, report=report)
    except migrations.SchemaAhead as err:
        fail(str(err))
    except DatabaseUnavailable as err:
        fail(str(err))
    except Exception as err:  # noqa: BLE001 - e.g. a read-only folder; say it in one line
        fail(f"cannot prepare the database: {err}")


SCHEMA_LOCK_KEY = 0x70326320  # "p2c ": PostgreSQL advisory lock held while migrating


@contextmanager
def _one_migrator_at_a_time(db: Any, url: str) -> Iterator[None]:
    """Several units start at once and each runs ``migrate`` first: they take turns, and the
    ones after the first find nothing left to do (PostgreSQL advisory lock, or a file lock)."""
    if url.startswith(("postgres://", "postgresql://")):
        db.execute_sql("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        try:
            yield
        finally:
            db.execute_sql("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))
        return
    path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
    if not path or path == ":memory:":
        yield
        return
    import fcntl

    with open(Path(path).with_name(Path(path).name + ".migrate-lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


def claim_port(host: str, port: int) -> socket.socket:
    """Bind the port now and hold it, or refuse to start with one clear line when it is taken.

    The demo claims its web port before it starts its simulators on ports the system picks, so
    none of them can be handed the port it was asked to serve on. Early visitors wait in the
    backlog until the server takes the socket over."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)  # listening: no other socket, SO_REUSEADDR or not, can bind it now
    except OSError as err:
        sock.close()
        fail(f"cannot listen on {host}:{port} ({err.strerror}); try --port {port + 1}")
    return sock


def check_port_free(host: str, port: int) -> None:
    """Refuse to start (one clear line) when the port is taken."""
    claim_port(host, port).close()
