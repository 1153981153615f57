"""Two real ``pay2connect worker`` processes on one Redis: one leads, one stands by. A leader
stopped with SIGTERM hands over at once; a leader killed with SIGKILL is replaced within its
lock's lifetime, and the customers' sessions still end on time."""

from __future__ import annotations

import signal
import time

from tests.faults.report import REAL_TIME_TOLERANCE, check_losses, report
from tests.faults.world import World, config_text, wait_for

LEASE = 5  # leader_lock_seconds for these tests (default 30): the takeover is measured against it


def lease_config(world: World) -> None:
    world.config.write_text(
        config_text(
            port=world.web_port,
            data_dir=world.tmp / "data",
            ledger_url=world.ledger_url,
            redis_url=world.redis_url,
            simulator_url=world.simulator.base_url,
            router_port=world.emulator.port,
            worker={"sweep_interval_seconds": 1, "outbox_base_delay_seconds": 1, "leader_lock_seconds": LEASE},
        )
    )


def owner_of(proc_text: str) -> str:
    return proc_text.split("pay2connect worker ", 1)[1].split(" started", 1)[0]


def two_workers(world: World) -> tuple[object, str, object, str]:
    leader = world.start_worker()
    leader_owner = owner_of(leader.text())
    assert wait_for(lambda: world.leader() == leader_owner, 5)
    standby = world.start_worker()
    standby_owner = owner_of(standby.text())
    time.sleep(0.5)
    assert world.leader() == leader_owner, "the standby took the lock from a live leader"
    return leader, leader_owner, standby, standby_owner


def test_a_leader_stopped_with_sigterm_hands_over_at_once(world):
    lease_config(world)
    leader, _owner, _standby, standby_owner = two_workers(world)
    leader.signal(signal.SIGTERM)  # type: ignore[attr-defined]
    started = time.monotonic()
    assert wait_for(lambda: world.leader() == standby_owner, LEASE + 2)
    took = time.monotonic() - started
    assert leader.wait_exit(10) is not None  # type: ignore[attr-defined]
    assert took < 2.0, f"the standby waited {took:.1f} s: the lock was not released"
    report("leader stopped (SIGTERM)", f"standby leads after {took:.1f} s (lease {LEASE} s)", "no customer online")


def test_a_leader_killed_is_replaced_within_its_lease_and_sessions_end_on_time(world):
    lease_config(world)
    package = world.package()
    devices = world.devices(5)
    world.start_web()
    leader, _owner, _standby, standby_owner = two_workers(world)
    for n, (mac, ip) in enumerate(devices):
        assert world.pay(package.id, mac, ip, phone=f"07140000{n:02d}").status_code == 200
    assert wait_for(lambda: all(world.emulator.is_online(mac) for mac, _ in devices), 15)

    leader.signal(signal.SIGKILL)  # type: ignore[attr-defined]
    started = time.monotonic()
    assert wait_for(lambda: world.leader() == standby_owner, LEASE + 5)
    took = time.monotonic() - started
    assert took <= LEASE + 1.5, f"standby took {took:.1f} s for a {LEASE} s lease"

    world.run_out_every_grant()
    assert not any(world.emulator.is_online(mac) for mac, _ in devices)
    lost = check_losses(world.emulator, {mac: 60 for mac, _ in devices}, REAL_TIME_TOLERANCE)
    report("leader killed (SIGKILL)", f"standby leads after {took:.1f} s (lease {LEASE} s)", lost)
