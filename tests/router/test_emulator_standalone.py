"""``serve_forever`` as ``pay2connect emulate-router`` runs it: a separate process until Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from contextlib import closing

from librouteros import connect

from router.emulator.standalone import simulated_devices


def test_simulated_devices_use_locally_administered_macs() -> None:
    devices = simulated_devices(3)
    assert [ip for _, ip in devices] == ["10.5.50.11", "10.5.50.12", "10.5.50.13"]
    assert all(int(mac[:2], 16) & 0b10 for mac, _ in devices)  # the "locally administered" bit


def test_serve_forever_prints_where_to_connect_and_stops_on_ctrl_c() -> None:
    command = "from router.emulator import serve_forever; serve_forever(port=0, devices=2)"
    with subprocess.Popen(
        [sys.executable, "-u", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        try:
            _check_running_emulator(process)
        finally:
            if process.poll() is None:
                process.kill()


def _check_running_emulator(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    banner = [process.stdout.readline() for _ in range(5)]
    found = re.search(r"listening on 127\.0\.0\.1:(\d+)", banner[0])
    assert found is not None, banner
    assert "API user: pay2connect  password: secret" in banner[1]
    assert banner[4].startswith("Press Ctrl-C")
    with closing(connect("127.0.0.1", "pay2connect", "secret", port=int(found.group(1)), timeout=2)) as api:
        assert [host["address"] for host in api.path("ip", "hotspot", "host")] == ["10.5.50.11", "10.5.50.12"]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0
    assert "stopping" in process.stdout.read()
