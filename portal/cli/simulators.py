"""The stand-alone simulators for staging and the install test: ``simulate-daraja`` and
``emulate-router``."""

from __future__ import annotations

import signal
from collections.abc import Callable

import click

from portal.cli.common import check_port_free
from portal.cli.heap import settle_heap


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

    if callback_ca:
        os.environ["PAY2CONNECT_SIMULATOR_CA_BUNDLE"] = callback_ca

    from portal.clock import SystemClock
    from portal.mpesa.client import SANDBOX_PASSKEY
    from portal.mpesa.simulator import DarajaSimulator

    check_port_free(host, port)
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
    _until_stopped(simulator.stop)


@click.command("emulate-router")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8728, show_default=True, type=click.IntRange(1, 65535))
@click.option("--devices", default=3, show_default=True, type=click.IntRange(0, 250))
@click.option("--username", default="pay2connect", show_default=True, help="The API user.")
@click.option("--password", default="", help="The API user's password (default: the emulator's own).")
def emulate_router(host: str, port: int, devices: int, username: str, password: str) -> None:
    """Run the RouterOS API emulator stand-alone (staging, the install test)."""
    settle_heap()  # its thresholds; the emulator's own state is built as devices arrive
    if not password and username == "pay2connect":
        from router.emulator import serve_forever

        check_port_free(host, port)
        serve_forever(host=host, port=port, devices=devices)
        return
    from router.emulator import RouterEmulator
    from router.emulator.standalone import simulated_devices

    check_port_free(host, port)
    emulator = RouterEmulator(host=host, port=port, username=username, password=password or "secret").start()
    for mac, ip in simulated_devices(devices):
        emulator.device_join(mac, ip)
    click.echo(f"RouterOS API emulator listening on {emulator.host}:{emulator.port} (API user {username})")
    for mac, ip in simulated_devices(devices):
        click.echo(f"  device on the hotspot: {mac}  {ip}")
    click.echo("Press Ctrl-C to stop.")
    _until_stopped(emulator.stop)


def _until_stopped(stop: Callable[[], object]) -> None:
    """Block until SIGTERM or Ctrl-C, then ``stop`` the server."""
    import threading

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
