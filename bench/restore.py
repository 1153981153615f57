"""After a router reboot, how long until every customer who was online is back online?

N customers are online on one router (the RouterOS emulator in a process of its own, reached
over TCP; bench/process_host.py), each with a 1-hour grant in the ledger (SQLite) and the
live index (an embedded Redis). The router reboots with a 30 s boot; the real worker (its
router lane, in this process) finds it gone at its next probe, finds it back, stops and
credits the 30 s of every customer it cut off, and logs them all back in. Measured: the real
time from the clock reaching "router back" to the worker settled (everyone confirmed online),
then every customer's ledger credit and online state are checked.

With ``--phases`` it also prints where the worker's real time after the reboot went, step by
step (a step marked with more dots is inside the one above it): the real time, the worker
thread's own CPU time, and the rest, which is the thread waiting (on the router's answers, on
Redis, on the SQLite write lock, or for the interpreter while another thread runs).

    python bench/restore.py [--customers 200 1000 4000] [--phases]
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import shlex
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from process_host import ProcessHost, SharedManualClock, machine_line

BOOT_SECONDS = 30
#: The steps of a restore timed with --phases: (module, function as that module calls it,
#: how deep it is inside the first step, label).
PHASES = (
    ("portal.worker.lanes", "watch_and_reconcile", 0, "probe, stop the clocks, reconcile"),
    ("portal.domain.router_reconciliation", "stop_clocks_after_fault", 1, "stop the clocks (sessions listed, ledger)"),
    ("portal.domain.router_reconciliation", "reconcile_router", 1, "reconcile"),
    ("portal.domain.router_reconciliation", "_running_heads", 2, "running grants read"),
    ("portal.domain.router_reconciliation", "device_chains", 2, "lost devices' chains read"),
    ("portal.domain.router_reconciliation", "_restore_in_one_pass", 2, "restore in one pass"),
    ("portal.domain.router_reconciliation", "device_grants", 3, "what the router is told, per device"),
    ("router.mikrotik", "restore_devices", 3, "router: listings, logins, confirmation (and the 1st half's ledger)"),
    ("router.mikrotik_restore", "_plain_devices", 4, "the three listings"),
    ("portal.domain.router_reconciliation", "confirm_online_many", 3, "ledger: clocks run again, credits (each half)"),
)


class Phases:
    """Real and thread CPU time per step while ``timing`` is set (the functions of
    :data:`PHASES` wrapped where their callers look them up)."""

    def __init__(self) -> None:
        self.timing = False
        self.seconds: dict[str, list[float]] = {label: [0.0, 0.0, 0] for _m, _f, _d, label in PHASES}
        self._originals: list[tuple[Any, str, Any]] = []

    def install(self) -> None:
        for module_name, name, _depth, label in PHASES:
            module = importlib.import_module(module_name)
            original = getattr(module, name)
            self._originals.append((module, name, original))
            setattr(module, name, self._timed(original, label))

    def remove(self) -> None:
        for module, name, original in reversed(self._originals):
            setattr(module, name, original)
        self._originals.clear()

    def _timed(self, call: Any, label: str) -> Any:
        @functools.wraps(call)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.timing:
                return call(*args, **kwargs)
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return call(*args, **kwargs)
            finally:
                spent = self.seconds[label]
                spent[0] += time.perf_counter() - wall
                spent[1] += time.thread_time() - cpu
                spent[2] += 1

        return timed

    def table(self, customers: int) -> list[str]:
        lines = [
            f"where the worker's time went, {customers:,} customers:",
            "| step | calls | real time | worker CPU | waiting |",
            "|---|---:|---:|---:|---:|",
        ]
        for _module, _name, depth, label in PHASES:
            wall, cpu, calls = self.seconds[label]
            if calls:
                lines.append(
                    f"| {'· ' * depth}{label} | {calls:.0f} | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms | "
                    f"{max(wall - cpu, 0) * 1000:.0f} ms |"
                )
        return lines


def run(customers: int, workdir: Path, phases: Phases | None = None) -> dict[str, Any]:
    from portal.config import load_settings
    from portal.domain import grants
    from portal.domain.outbox import process_outbox
    from portal.domain.packages import add_package, validate_changes
    from portal.ledger.models import Grant, Payment
    from portal.wiring import build_services
    from portal.worker.scheduler import Worker

    clock = SharedManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    router = ProcessHost("router", clock, identity="main", username="pay2connect", password="secret")
    (workdir / "config.toml").write_text("")
    settings = load_settings(
        workdir / "config.toml",
        environ={},
        overrides={
            "portal": {"data_dir": str(workdir / "data"), "secret_key": "restore-bench-secret-0123"},
            "database": {"url": f"sqlite:///{workdir / 'ledger.db'}"},
            "mpesa": {"base_url": "http://127.0.0.1:9", "consumer_key": "k", "consumer_secret": "s", "passkey": "p"},
            "routers": [
                {
                    "name": "main",
                    "host": "127.0.0.1",
                    "port": router.started["port"],
                    "username": "pay2connect",
                    "password": "secret",
                    "timeout": 5.0,
                }
            ],
        },
    )
    services = build_services(settings, clock=clock, background=False)
    worker: Any = None
    try:
        package = add_package(validate_changes({"name": "1 hour", "price": "20", "duration": "1h"}), clock)
        devices = [
            (f"02:5B:00:00:{n // 256:02X}:{n % 256:02X}", f"10.{30 + n // 250}.0.{n % 250 + 2}")
            for n in range(customers)
        ]
        now = clock.now()
        for n, (mac, ip) in enumerate(devices):
            router.device_join(mac, ip)
            with services.db.atomic():
                payment = Payment.create(
                    public_id=f"r{n}", package=package, router="main", mac=mac, ip=ip, phone="254700000000",
                    amount=package.price, status="paid", created_at=now, updated_at=now, paid_at=now,
                )  # fmt: skip
                grant = grants.create_for_payment(services, payment, now).grant
            grants.publish_live(services, grant)
        while process_outbox(services):  # every customer logged in (it takes 200 at a time)
            pass
        worker = Worker(services)
        worker.start()
        if not worker.settle(timeout=120):
            raise RuntimeError("the worker did not settle before the reboot")
        clock.advance(60)
        worker.settle(timeout=60)
        online_before = sum(router.is_online(mac) for mac, _ in devices)

        router.reboot(boot_seconds=BOOT_SECONDS)
        clock.advance(1)  # the lane's probe: unreachable while it boots
        worker.settle(timeout=60)
        clock.advance(BOOT_SECONDS - 1)  # back
        started = time.monotonic()
        if phases is not None:
            phases.timing = True
        settled = worker.settle(timeout=600)
        took = time.monotonic() - started
        if phases is not None:
            phases.timing = False
        online_after = sum(router.is_online(mac) for mac, _ in devices)
        credited = {grant.credited_seconds for grant in Grant.select()}
    finally:
        if worker is not None:
            worker.stop()
        services.close()
        router.stop()
    return {
        "customers": customers,
        "online before": online_before,
        "back online": online_after,
        "settled": settled,
        "seconds": took,
        "credited": sorted(credited),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[200, 1000, 4000])
    parser.add_argument("--phases", action="store_true", help="print where the worker's time went, step by step")
    args = parser.parse_args(argv)
    logging.getLogger().setLevel(logging.ERROR)  # a reboot makes a warning per customer cut off
    rows = []
    breakdowns: list[str] = []
    for count in args.customers:
        phases = Phases() if args.phases else None
        if phases is not None:
            phases.install()
        try:
            with tempfile.TemporaryDirectory(prefix="p2c-restore-") as folder:
                print(f"  {count:,} customers online, rebooting the router...", file=sys.stderr, flush=True)
                rows.append(run(count, Path(folder), phases))
        finally:
            if phases is not None:
                phases.remove()
                breakdowns.extend([*phases.table(count), ""])
    ok = all(r["back online"] == r["online before"] == r["customers"] and r["credited"] == [BOOT_SECONDS] for r in rows)
    print("| customers online | back online | real time after the router is back | per customer | credited each |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        per = r["seconds"] / max(r["customers"], 1) * 1000
        credit = ", ".join(f"{c} s" for c in r["credited"])
        print(f"| {r['customers']:,} | {r['back online']:,} | {r['seconds']:.2f} s | {per:.2f} ms | {credit} |")
    if breakdowns:
        print()
        print("\n".join(breakdowns), end="")
    print(machine_line())
    print("reproduce: python bench/restore.py " + shlex.join(argv if argv is not None else sys.argv[1:]))
    print("RESULT: " + ("ok" if ok else "FAILED (everyone back online, each credited the boot time)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
