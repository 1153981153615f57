"""``pay2connect emulate-router``: the emulator as a stand-alone server on the real clock."""

from __future__ import annotations

import threading

from router.emulator.device import RouterEmulator

FIRST_DEVICE_HOST = 11  # devices get 10.5.50.11, .12, … inside the seeded hotspot network


def simulated_devices(count: int) -> list[tuple[str, str]]:
    """``(mac, ip)`` pairs; the MACs are locally administered (``02:…``), never a real vendor's."""
    return [
        (f"02:50:32:00:00:{number:02X}", f"10.5.50.{FIRST_DEVICE_HOST + number - 1}") for number in range(1, count + 1)
    ]


def serve_forever(host: str = "127.0.0.1", port: int = 8728, *, devices: int = 3) -> None:
    """Run until Ctrl-C, printing where to connect and with which credentials."""
    emulator = RouterEmulator(host=host, port=port).start()
    try:
        for mac, ip in simulated_devices(devices):
            emulator.device_join(mac, ip)
        print(f"RouterOS API emulator (RouterOS {emulator.state.version}) listening on {emulator.host}:{emulator.port}")
        print(
            f"  API user: {emulator.username}  password: {emulator.password}  hotspot server: {emulator.hotspot_server}"
        )
        for mac, ip in simulated_devices(devices):
            print(f"  device on the hotspot: {mac}  {ip}")
        print("Press Ctrl-C to stop.", flush=True)
        stopped = threading.Event()
        while not stopped.wait(1.0):
            pass
    except KeyboardInterrupt:
        print("stopping")
    finally:
        emulator.stop()
