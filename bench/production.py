"""The production topology for ``bench/pay_flow.py --topology production``.

Separate processes, as ``scripts/install`` runs them: two ``pay2connect serve`` web processes
behind Caddy (plain HTTP here: the proxy's load balancing, not TLS, is what is measured),
one ``pay2connect worker``, PostgreSQL (Debian's, a throwaway ``p2c_bench`` database),
a ``redis-server``, 20 RouterOS emulators in one helper process (real TCP, librouteros), and
the Daraja simulator in this process (real HTTP callbacks through the proxy).
Needs root (to make the database) and Debian's postgresql, redis-server and caddy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portal.config import SANDBOX_PASSKEY
from portal.loopback import free_port

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
ROUTER_PASSWORD = "bench-router-password"


def device(n: int, routers: int) -> tuple[str, str, str, str]:
    """(router name, mac, ip, phone) of customer ``n``."""
    return (
        f"r{n % routers:02d}",
        f"02:00:00:{n >> 16 & 255:02X}:{n >> 8 & 255:02X}:{n & 255:02X}",
        f"10.{50 + n % routers}.{n // 250 % 250}.{n % 250 + 2}",
        f"07{10000000 + n:08d}",
    )


def serve_emulators(routers: int, base_port: int, customers: int) -> None:
    """Helper process: ``routers`` emulators on consecutive ports, every customer joined."""
    from router.emulator import RouterEmulator

    emulators = []
    for index in range(routers):
        emulator = RouterEmulator(
            host="127.0.0.1", port=base_port + index, identity=f"r{index:02d}", password=ROUTER_PASSWORD
        ).start()
        emulators.append(emulator)
    for n in range(customers):
        name, mac, ip, _phone = device(n, routers)
        emulators[int(name[1:])].device_join(mac, ip)
    print("ready", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    for emulator in emulators:
        emulator.stop()


@dataclass
class Stack:
    workdir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    database_url: str = ""

    def start(self, name: str, command: list[str], ready: str, env: dict[str, str] | None = None) -> None:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as handle:
            process = subprocess.Popen(
                command, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.processes.append(process)
        deadline = time.monotonic() + 60
        while ready not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        _psql("DROP DATABASE IF EXISTS p2c_bench WITH (FORCE)")


def _psql(sql: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-qc", sql], check=False, capture_output=True)


def start_stack(customers: int, routers: int, simulator_url: str) -> Stack:
    if os.geteuid() != 0:
        raise SystemExit("--topology production needs root (it makes a throwaway PostgreSQL database)")
    stack = Stack(Path(tempfile.mkdtemp(prefix="p2c-bench-prod-")))
    ports = stack.ports
    ports.update(web1=free_port(), web2=free_port(), proxy=free_port(), redis=free_port(), routers=free_port())
    _psql("DROP DATABASE IF EXISTS p2c_bench WITH (FORCE)")
    _psql("DROP ROLE IF EXISTS p2c_bench")
    _psql("CREATE ROLE p2c_bench LOGIN PASSWORD 'p2c_bench'")
    _psql("CREATE DATABASE p2c_bench OWNER p2c_bench")
    stack.database_url = "postgresql://p2c_bench:p2c_bench@127.0.0.1:5432/p2c_bench"
    stack.start(
        "redis",
        [
            "redis-server",
            "--port",
            str(ports["redis"]),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(stack.workdir),
        ],
        "Ready to accept connections",
    )
    # Consecutive ports from a random start: rare clashes end the run with a clear message.
    stack.start(
        "routers",
        [
            sys.executable,
            str(HERE / "pay_flow.py"),
            "--serve-emulators",
            str(routers),
            "--base-port",
            str(ports["routers"]),
            "--customers",
            str(customers),
        ],
        "ready",
    )
    config = stack.workdir / "config.toml"
    config.write_text(_config(stack, routers, simulator_url))
    env = {**os.environ, "PAY2CONNECT_CONFIG": str(config)}
    subprocess.run([str(VENV_BIN / "pay2connect"), "migrate"], env=env, check=True, capture_output=True)
    for name in ("web1", "web2"):
        stack.start(
            name,
            [str(VENV_BIN / "pay2connect"), "serve"],
            "serving on",
            env={**env, "PAY2CONNECT_PORTAL__LISTEN": f"127.0.0.1:{ports[name]}"},
        )
    stack.start("worker", [str(VENV_BIN / "pay2connect"), "worker"], "started", env=env)
    caddyfile = stack.workdir / "Caddyfile"
    caddyfile.write_text(
        "{\n\tadmin off\n\tauto_https off\n\tstorage file_system " + str(stack.workdir / "caddy") + "\n}\n"
        f"http://127.0.0.1:{ports['proxy']} {{\n\treverse_proxy 127.0.0.1:{ports['web1']} 127.0.0.1:{ports['web2']} "
        "{\n\t\tlb_policy round_robin\n\t\tlb_try_duration 5s\n\t}\n}\n"
    )
    stack.start("caddy", ["caddy", "run", "--config", str(caddyfile), "--adapter", "caddyfile"], "serving initial")
    return stack


def _config(stack: Stack, routers: int, simulator_url: str) -> str:
    base = f"http://127.0.0.1:{stack.ports['proxy']}"
    lines = [
        "[portal]",
        f'listen = "127.0.0.1:{stack.ports["web1"]}"',
        f'public_url = "{base}"',
        'secret_key = "bench-secret-key-0123456789abcdef0123456789"',
        f'data_dir = "{stack.workdir / "data"}"',
        "trusted_proxies = 1",
        "[database]",
        f'url = "{stack.database_url}"',
        "[redis]",
        f'url = "redis://127.0.0.1:{stack.ports["redis"]}/0"',
        "[mpesa]",
        'environment = "simulator"',
        f'base_url = "{simulator_url}"',
        'consumer_key = "sim-consumer-key"',
        'consumer_secret = "sim-consumer-secret"',
        f'passkey = "{SANDBOX_PASSKEY}"',
        f'callback_url = "{base}/api/portal/mpesa/callback"',
        "verify_by_query = false",
        "query_after_seconds = 30",
        "[limits]",
        "global_pushes_per_minute = 100000",
        "phone_cooldown_seconds = 0",
        "device_cooldown_seconds = 0",
    ]
    for index in range(routers):
        lines += [
            "[[routers]]",
            f'name = "r{index:02d}"',
            'host = "127.0.0.1"',
            f"port = {stack.ports['routers'] + index}",
            f'password = "{ROUTER_PASSWORD}"',
            "timeout = 5.0",
        ]
    return "\n".join(lines) + "\n"


def online_count(stack: Stack, routers: int, customers: int) -> int:
    """Devices logged in, asked of each emulator over the API (as the product does)."""
    from router.mikrotik import MikrotikRouter

    online = 0
    by_router: dict[str, set[str]] = {}
    for n in range(customers):
        name, mac, _ip, _phone = device(n, routers)
        by_router.setdefault(name, set()).add(mac)
    for index in range(routers):
        name = f"r{index:02d}"
        with MikrotikRouter(name, "127.0.0.1", stack.ports["routers"] + index, "pay2connect", ROUTER_PASSWORD) as r:
            active = {s.mac.upper() for s in r.active_sessions()}
        online += len(by_router.get(name, set()) & active)
    return online


def ledger_figures(database_url: str) -> dict[str, Any]:
    """Paid payments, grants, and callback -> router login latencies (ms) from the timelines."""
    from portal.ledger.database import open_database

    db = open_database(database_url)
    try:
        paid = db.execute_sql("SELECT count(*) FROM payment WHERE status = 'paid'").fetchone()[0]
        grants = db.execute_sql('SELECT count(*) FROM "grant"').fetchone()[0]
        rows = db.execute_sql(
            "SELECT c.at, a.at FROM payment_event c JOIN payment_event a ON a.payment_id = c.payment_id "
            "WHERE c.kind = 'callback' AND a.kind = 'router_authorized'"
        ).fetchall()
    finally:
        db.close()
    return {"paid": paid, "grants": grants, "latencies": [(a - c).total_seconds() * 1000 for c, a in rows]}
