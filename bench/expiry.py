"""Benchmark expiry: 10,000 sessions ending within one minute, logged out on time.

The routers are RouterOS emulators in a separate process (a real router is another
machine), reached over TCP by the real worker (expiry timer + one lane per router) in this
process, with the ledger in SQLite and the live index in an embedded Redis. The sessions
are one-hour purchases whose ends fall in one minute; business time is jumped forward by
the hour (both here and in the emulators' process), then runs at the real rate, so each
lateness is real elapsed time from the due moment to the router logout being done
(the ``router_revoked`` timeline event). Early = a logout, or a router-side cut, before the
paid end. Scenarios: all routers up; one of four refusing connections (dead); one of four
hanging (every command times out).

    python bench/expiry.py [--grants 10000] [--routers 4] [--window 60] [--runs 1]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import shlex
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from process_host import machine_line

LEAD_SECONDS = 20.0  # after the worker starts, before the first end (its start-up reconcile)
TIMEOUT = 2.0  # router API timeout (seconds)
SCENARIOS = (("all routers up", None), ("1 of 4 dead (refused)", "down"), ("1 of 4 hanging (timeouts)", "stall"))


def device(router: int, n: int) -> tuple[str, str]:
    return f"02:{router:02X}:00:00:{n // 256:02X}:{n % 256:02X}", f"10.{router + 1}.{n // 250}.{n % 250 + 2}"


# -- the routers' process -------------------------------------------------------------------
def serve_routers(count: int, commands: Connection) -> None:
    """Run ``count`` emulators on a shared jumping clock; obey commands from the pipe."""
    from portal.clock import JumpingClock
    from router.emulator import RouterEmulator

    clock = JumpingClock()
    emulators = [
        RouterEmulator(clock=clock, password="bench-secret", reply_timeout_ceiling=30).start() for _ in range(count)
    ]
    commands.send([emulator.port for emulator in emulators])
    while True:
        verb, args = commands.recv()
        if verb == "offset":
            clock._offset = args  # follow the benchmark's business clock exactly
            commands.send("ok")
        elif verb == "sessions":  # [(router, mac, ip, grant id, limit seconds)]
            for router, mac, ip, grant_id, limit in args:
                state = emulators[router].state
                emulators[router].device_join(mac, ip)
                with state.lock:
                    users = state.config["/ip/hotspot/user"]
                    users.insert(
                        users.with_defaults(
                            {
                                "name": mac,
                                "password": "pw",
                                "mac-address": mac,
                                "server": "hotspot1",
                                "limit-uptime": limit,
                                "comment": f"p2c:{grant_id}",
                            }
                        )
                    )
                    state.hotspot.login(mac, "pw", ip, mac, state.now())
            commands.send(len(args))
        elif verb == "fault":
            router, kind = args
            if kind == "down":
                emulators[router].set_down(True)
            else:
                emulators[router].fail_next("stall", count=1_000_000)
        elif verb == "history":  # sessions that ended: (mac, ended at business epoch, reason)
            commands.send([(r.mac, r.ended_at, r.reason) for e in emulators for r in e.session_history()])
        elif verb == "stop":
            for emulator in emulators:
                emulator.faults.clear()
                emulator.stop()
            commands.send("stopped")
            return


# -- one scenario ---------------------------------------------------------------------------
def run_scenario(grants: int, routers: int, window: float, fault: str | None, workdir: Path) -> dict[str, Any]:
    from portal.clock import JumpingClock
    from portal.config import RouterSettings, load_settings, with_routers
    from portal.ledger.models import Grant, OutboxItem, Package, Payment, PaymentEvent
    from portal.wiring import build_services
    from portal.worker.scheduler import Worker

    ours, theirs = mp.get_context("spawn").Pipe()
    child = mp.get_context("spawn").Process(target=serve_routers, args=(routers, theirs), daemon=True)
    child.start()
    ports = ours.recv()
    clock = JumpingClock()
    (workdir / "config.toml").write_text("")
    settings = load_settings(
        workdir / "config.toml",
        environ={},
        overrides={
            "portal": {"data_dir": str(workdir)},
            "mpesa": {"base_url": "http://127.0.0.1:9", "consumer_key": "k", "consumer_secret": "s", "passkey": "p"},
        },
    )
    settings = with_routers(
        settings,
        [
            RouterSettings(name=f"r{i}", host="127.0.0.1", port=port, password="bench-secret", timeout=TIMEOUT)
            for i, port in enumerate(ports)
        ],
    )
    services = build_services(settings, clock=clock, background=False)
    ours.send(("offset", clock._offset))
    ours.recv()
    rng = random.Random(42)
    now = clock.now()
    first_end = now + timedelta(hours=1)
    package = Package.create(name="1 hour", price=20, duration_seconds=3600, created_at=now)
    rows, sessions = [], []
    for n in range(grants):
        router = n % routers
        mac, ip = device(router, n // routers)
        ends = first_end + timedelta(seconds=rng.uniform(0, window))
        rows.append((router, mac, ip, ends))
    with services.db.atomic():
        for n, (router, mac, ip, ends) in enumerate(rows):
            payment = Payment.create(
                public_id=f"b{n}",
                package=package,
                router=f"r{router}",
                mac=mac,
                ip=ip,
                phone="254712345678",
                amount=20,
                status="paid",
                created_at=now,
                updated_at=now,
                paid_at=now,
            )
            start = ends - timedelta(hours=1)
            grant = Grant.create(
                payment=payment,
                package=package,
                router=f"r{router}",
                mac=mac,
                ip=ip,
                starts_at=start,
                expires_at=ends,
                granted_seconds=3600,
                online_at=start,
                router_state="online",
            )
            sessions.append((router, mac, ip, grant.id, round((ends - now).total_seconds()) + 120))
    ours.send(("sessions", sessions))
    assert ours.recv() == len(sessions)  # every customer online before the worker looks
    clock.jump((first_end - clock.now()).total_seconds() - LEAD_SECONDS)  # an hour passes at once
    ours.send(("offset", clock._offset))  # for the routers too (their session uptimes)
    ours.recv()
    worker = Worker(services)
    worker.start()
    if fault:
        time.sleep(LEAD_SECONDS / 2)
        ours.send(("fault", (routers - 1, fault)))
    dead = f"r{routers - 1}" if fault else None
    deadline = time.monotonic() + LEAD_SECONDS + window + 60
    live_routers = [f"r{i}" for i in range(routers) if f"r{i}" != dead]
    while time.monotonic() < deadline:
        left = Grant.select().where(Grant.router.in_(live_routers), Grant.router_state != "removed").count()
        if not left:
            break
        time.sleep(1)
    worker.stop()
    ours.send(("history", None))
    history = ours.recv()
    ours.send(("stop", None))
    ours.recv()
    child.join(timeout=10)
    due = {g.id: g for g in Grant.select()}
    late, early = [], 0
    revoked = (
        PaymentEvent.select(PaymentEvent.at, Grant.id.alias("grant_id"))
        .join(Grant, on=(Grant.payment == PaymentEvent.payment))
        .where(PaymentEvent.kind == "router_revoked")
        .objects()
    )
    for event in revoked:
        seconds = (event.at - due[event.grant_id].expires_at).total_seconds()
        early += seconds < 0
        late.append(seconds)
    by_mac = {g.mac: g.expires_at.timestamp() for g in due.values()}
    cut_early = sum(1 for mac, ended, reason in history if ended < by_mac.get(mac, 0) or reason == "uptime limit")
    ledger_late = [(g.ended_at - g.expires_at).total_seconds() for g in due.values() if g.ended_at]
    waiting = OutboxItem.select().where(OutboxItem.done_at.is_null()).count()
    services.close()
    late.sort()
    return {
        "logouts": len(late),
        "p50": percentile(late, 50),
        "p99": percentile(late, 99),
        "max": late[-1] if late else float("nan"),
        "early": early + cut_early + sum(1 for s in ledger_late if s < 0),
        "ended": len(ledger_late),
        "ledger_p99": percentile(sorted(ledger_late), 99),
        "waiting": waiting,
    }


def percentile(ordered: list[float], pct: float) -> float:
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grants", type=int, default=10_000)
    parser.add_argument("--routers", type=int, default=4)
    parser.add_argument("--window", type=float, default=60.0, help="seconds over which the sessions end")
    parser.add_argument("--runs", type=int, default=1, help="repeat each scenario; the table shows medians")
    parser.add_argument("--only", choices=("up", "dead", "hanging"), help="run one scenario only")
    args = parser.parse_args(argv)
    wanted = {"up": None, "dead": "down", "hanging": "stall"}
    scenarios = [(name, fault) for name, fault in SCENARIOS if args.only is None or wanted[args.only] == fault]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in scenarios}
    for run in range(args.runs):
        for name, fault in scenarios:
            with tempfile.TemporaryDirectory(prefix="p2c-bench-expiry-") as tmp:
                result = run_scenario(args.grants, args.routers, args.window, fault, Path(tmp))
            results[name].append(result)
            print(f"run {run + 1} {name}: {result}", file=sys.stderr, flush=True)
    print(
        f"expiry: {args.grants} sessions over {args.routers} routers ending within {args.window:.0f} s "
        f"(medians of {args.runs} run(s); lateness = due -> router logout done, real seconds)"
    )
    print(
        f"{'scenario':28} {'logouts':>8} {'p50 s':>7} {'p99 s':>7} {'max s':>7} {'early':>6} "
        f"{'ended':>6} {'ledger p99':>10} {'waiting':>8}"
    )
    for name, _ in scenarios:
        rows = results[name]
        med = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        print(
            f"{name:28} {med['logouts']:8.0f} {med['p50']:7.3f} {med['p99']:7.3f} {med['max']:7.3f} "
            f"{med['early']:6.0f} {med['ended']:6.0f} {med['ledger_p99']:10.3f} {med['waiting']:8.0f}"
        )
    print("waiting = logouts for the dead/hanging router kept in the outbox, retried when it is back")
    print(machine_line())
    print("reproduce: python bench/expiry.py " + shlex.join(argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
