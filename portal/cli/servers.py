"""Long-running and diagnostic commands: serve, worker, demo, check, routeros-setup, simulators."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any

import click

from portal.cli.common import config_option, fail, settings_from

log = logging.getLogger(__name__)


def _services(settings: Any, **kwargs: Any) -> Any:
    from portal.ledger.database import DatabaseUnavailable
    from portal.ledger.migrations import SchemaAhead, SchemaBehind
    from portal.live import LiveStoreUnavailable
    from portal.wiring import build_services

    try:
        return build_services(settings, **kwargs)
    except (DatabaseUnavailable, LiveStoreUnavailable, SchemaBehind, SchemaAhead) as err:
        fail(str(err))
    except OSError as err:
        fail(f"cannot start: {err}")


def _listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def _serve_app(app: Any, host: str, port: int, banner: str = "", **options: Any) -> None:
    """Bind, then say so (the banner only appears once the port really listens), then serve."""
    from waitress.server import create_server

    try:
        server = create_server(app, host=host, port=port, threads=8, ident="pay2connect", **options)
    except OSError as err:
        fail(f"cannot listen on {host}:{port}: {err.strerror or err}")
    if banner:
        click.echo(banner)

    def stop(*_: object) -> None:  # systemctl stop: leave through the finally blocks (embedded Redis too)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        server.run()
    finally:
        server.close()


@click.command()
@click.option("--with-worker", is_flag=True, help="Also run the worker in this process (one box, embedded Redis).")
@config_option
@click.pass_context
def serve(ctx: click.Context, with_worker: bool) -> None:
    """Run the web app (portal, API, admin, callback) under waitress."""
    from portal import create_app
    from portal.web.app import proxy_options
    from portal.worker.scheduler import Worker

    settings = settings_from(ctx)
    services = _services(settings)
    app = create_app(services=services)
    host, port = _listen(settings.portal.listen)
    runner = Worker(services) if with_worker else None
    if runner is not None:
        runner.start()
    banner = f"pay2connect serving on http://{host}:{port} (public URL {settings.portal.public_url})" + (
        " with the worker" if runner else ""
    )
    try:
        _serve_app(app, host, port, banner, **proxy_options(settings))
    finally:
        if runner is not None:
            runner.stop()
        services.close()


@click.command()
@click.option("--once", is_flag=True, help="Run every job once and exit.")
@config_option
@click.pass_context
def worker(ctx: click.Context, once: bool) -> None:
    """Run the worker: expiry, confirmation polling (STK Query), router outbox and router reconciliation."""
    from portal.worker.scheduler import Worker, run_all_jobs_once

    settings = settings_from(ctx)
    services = _services(settings, background=False)
    try:
        if once:
            for name, count in run_all_jobs_once(services).items():
                click.echo(f"{name}: {count}")
            return
        runner = Worker(services, blocking=True)

        def stop(*_: object) -> None:  # systemctl stop: finish the job in hand, then leave
            if runner.scheduler.running:
                runner.scheduler.shutdown(wait=False)
            else:
                raise SystemExit(0)

        signal.signal(signal.SIGTERM, stop)
        click.echo(f"pay2connect worker {runner.owner} started")
        try:
            runner.start()
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            services.live.release_leader(runner.owner)
    finally:
        services.close()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="Web port.")
@click.option("--data-dir", default="./var/demo", show_default=True, help="Where the demo keeps its files.")
def demo(host: str, port: int, data_dir: str) -> None:
    """Everything embedded: SQLite, Redis, Daraja simulator, RouterOS emulator, worker."""
    from portal import create_app
    from portal.cli.demo import DemoStack, demo_settings
    from portal.config import ConfigError
    from portal.worker.scheduler import Worker

    try:
        settings = demo_settings(host=host, port=port, data_dir=data_dir)
    except ConfigError as err:
        fail(err.problems, 2)
    _check_port_free(host, port)
    stack = DemoStack.build(settings)
    runner = Worker(stack.services)
    runner.start()
    app = create_app(services=stack.services)
    try:
        _serve_app(app, host, port, stack.banner())
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()
        stack.close()


def _check_port_free(host: str, port: int) -> None:
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            fail(f"cannot listen on {host}:{port} ({err.strerror}); try --port {port + 1}")


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


@click.command("simulate-daraja")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8900, show_default=True, type=click.IntRange(1, 65535))
@click.option("--consumer-key", default="sim-consumer-key", show_default=True)
@click.option("--consumer-secret", default="sim-consumer-secret", show_default=True)
@click.option("--shortcode", default="174379", show_default=True)
@click.option("--passkey", default="", help="Default: Safaricom's public sandbox passkey.")
@click.option(
    "--outcome",
    type=click.Choice(["ask", "success"]),
    default="ask",
    show_default=True,
    help="ask: approve on the virtual phone page; success: every prompt is approved.",
)
@click.option(
    "--callback-ca",
    type=click.Path(exists=True, dir_okay=False),
    help="Trust this CA for HTTPS callbacks (a staging proxy with its own CA, e.g. Caddy's tls internal).",
)
def simulate_daraja(
    host: str,
    port: int,
    consumer_key: str,
    consumer_secret: str,
    shortcode: str,
    passkey: str,
    outcome: str,
    callback_ca: str | None,
) -> None:
    """Run the Daraja simulator stand-alone (staging, the install test)."""
    import os
    import threading

    if callback_ca:
        os.environ["PAY2CONNECT_SIMULATOR_CA_BUNDLE"] = callback_ca

    from portal.clock import SystemClock
    from portal.mpesa.client import SANDBOX_PASSKEY
    from portal.mpesa.simulator import DarajaSimulator

    _check_port_free(host, port)
    simulator = DarajaSimulator(
        clock=SystemClock(),
        host=host,
        port=port,
        consumer_key=consumer_key,
        consumer_secret=consumer_secret,
        shortcode=shortcode,
        passkey=passkey or SANDBOX_PASSKEY,
        default_outcome=outcome,
    )
    simulator.start()
    click.echo(f"Daraja simulator:  {simulator.base_url}")
    click.echo(f"Virtual phone:     {simulator.phone_page_url}")
    click.echo(f"Credentials:       consumer_key={consumer_key} shortcode={shortcode} (secret and passkey as given)")
    click.echo("Press Ctrl-C to stop.", nl=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()


@click.command("emulate-router")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8728, show_default=True, type=click.IntRange(1, 65535))
@click.option("--devices", default=3, show_default=True, type=click.IntRange(0, 250))
@click.option("--username", default="pay2connect", show_default=True, help="The API user.")
@click.option("--password", default="", help="The API user's password (default: the emulator's own).")
def emulate_router(host: str, port: int, devices: int, username: str, password: str) -> None:
    """Run the RouterOS API emulator stand-alone (staging, the install test)."""
    if not password and username == "pay2connect":
        from router.emulator import serve_forever

        _check_port_free(host, port)
        serve_forever(host=host, port=port, devices=devices)
        return
    import threading

    from router.emulator import RouterEmulator
    from router.emulator.standalone import simulated_devices

    _check_port_free(host, port)
    emulator = RouterEmulator(host=host, port=port, username=username, password=password or "secret").start()
    for mac, ip in simulated_devices(devices):
        emulator.device_join(mac, ip)
    click.echo(f"RouterOS API emulator listening on {emulator.host}:{emulator.port} (API user {username})")
    for mac, ip in simulated_devices(devices):
        click.echo(f"  device on the hotspot: {mac}  {ip}")
    click.echo("Press Ctrl-C to stop.")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


SERVER_COMMANDS = (serve, worker, demo, check, routeros_setup, simulate_daraja, emulate_router)
