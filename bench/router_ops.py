"""Benchmark the MikroTik adapter: authorize/revoke through librouteros to the emulator.

Starts an in-process RouterOS emulator on loopback with N joined devices and measures,
through :class:`router.mikrotik.MikrotikRouter`, authorizations (and revocations) per
second and their p50/p99 latency with (a) one reused connection shared by all workers and
(b) a new connection per operation (new adapter, operation, close), with the API commands
and the round trips each operation took (the API login of a new connection not counted as a
round trip). Prints a plain-text table, the command line to reproduce it and the machine it ran on.

    python bench/router_ops.py [--n 500] [--concurrency 1] [--timeout 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from portal.clock import ManualClock
from router import DeviceGrant
from router.emulator import RouterEmulator
from router.mikrotik import MikrotikRouter

API_USER, API_PASSWORD = "pay2connect", "bench-secret"


@dataclass
class Run:
    """Latencies (seconds) of one kind of operation and the wall time of the whole batch."""

    latencies: list[float]
    wall: float

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.wall if self.wall else 0.0

    def percentile(self, pct: float) -> float:
        """Nearest-rank percentile in milliseconds."""
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1] * 1000


def device(n: int) -> tuple[str, str]:
    return f"02:00:00:00:{n // 256:02X}:{n % 256:02X}", f"10.5.{50 + n // 250}.{n % 250 + 2}"


def timed_batch(operation: Callable[[int], None], count: int, concurrency: int) -> Run:
    latencies: list[float] = [0.0] * count

    def one(index: int) -> None:
        started = time.perf_counter()
        operation(index)
        latencies[index] = time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(one, index) for index in range(count)]:
            future.result()  # re-raise the first failure: a benchmark of errors is useless
    return Run(latencies, time.perf_counter() - started)


def grant(index: int) -> DeviceGrant:
    mac, ip = device(index)
    return DeviceGrant(f"bench-{index}", mac, ip, "p2c-1h-2M", 3600, rate_limit="2M/2M")


class TripCounter:
    """Counts the adapter's round trips to the router: each ``call``, ``read_many`` or
    ``call_many`` of its connection is one (a batch of a few commands goes in one write and
    is answered in one), the API login when a connection opens not included."""

    def __init__(self) -> None:
        self.trips = 0
        self._lock = threading.Lock()

    def watch(self, router: MikrotikRouter) -> MikrotikRouter:
        connection = router.connection
        for name in ("call", "read_many", "call_many"):
            method: Callable[..., Any] = getattr(connection, name)

            def counted(*args: Any, _method: Callable[..., Any] = method, **kwargs: Any) -> Any:
                with self._lock:
                    self.trips += 1
                return _method(*args, **kwargs)

            setattr(connection, name, counted)
        return router


def measure(emu: RouterEmulator, count: int, concurrency: int, timeout: float, *, reuse: bool) -> dict[str, object]:
    """Authorize then revoke every device; return the runs and what it cost the router."""
    counter = TripCounter()
    shared = counter.watch(MikrotikRouter("bench", emu.host, emu.port, API_USER, API_PASSWORD, timeout=timeout))
    connects = 0

    def through_adapter(action: Callable[[MikrotikRouter], None]) -> None:
        nonlocal connects
        if reuse:
            action(shared)
            return
        with MikrotikRouter("bench", emu.host, emu.port, API_USER, API_PASSWORD, timeout=timeout) as router:
            action(counter.watch(router))
            connects += router.connection.connect_count

    commands_before = len(emu.command_log)
    authorize = timed_batch(lambda i: through_adapter(lambda r: r.authorize(grant(i))), count, concurrency)
    commands_authorize = len(emu.command_log) - commands_before
    trips_authorize = counter.trips
    online = sum(emu.is_online(device(i)[0]) for i in range(count))
    revoke = timed_batch(lambda i: through_adapter(lambda r: r.revoke(device(i)[0])), count, concurrency)
    commands_revoke = len(emu.command_log) - commands_before - commands_authorize
    trips_revoke = counter.trips - trips_authorize
    shared.close()
    if online != count or any(emu.is_online(device(i)[0]) for i in range(count)):
        raise SystemExit(f"state check failed: {online}/{count} online after authorize")
    return {
        "authorize": authorize,
        "revoke": revoke,
        "connections": shared.connection.connect_count if reuse else connects,
        "commands_per_authorize": commands_authorize / count,
        "commands_per_revoke": commands_revoke / count,
        "trips_per_authorize": trips_authorize / count,
        "trips_per_revoke": trips_revoke / count,
    }


def table(results: dict[str, dict[str, object]]) -> str:
    modes = list(results)
    rows: list[tuple[str, Callable[[dict[str, object]], str]]] = []
    for op in ("authorize", "revoke"):
        rows += [
            (f"{op} ops/s", lambda r, op=op: f"{r[op].per_second:,.0f}"),  # type: ignore[attr-defined]
            (f"{op} p50 ms", lambda r, op=op: f"{r[op].percentile(50):.2f}"),  # type: ignore[attr-defined]
            (f"{op} p99 ms", lambda r, op=op: f"{r[op].percentile(99):.2f}"),  # type: ignore[attr-defined]
            (f"API commands per {op}", lambda r, op=op: f"{r[f'commands_per_{op}']:.1f}"),
            (f"round trips per {op}", lambda r, op=op: f"{r[f'trips_per_{op}']:.1f}"),
        ]
    rows.append(("TCP connections opened", lambda r: str(r["connections"])))
    width = max(len(label) for label, _ in rows) + 2
    lines = [" " * width + "".join(f"{mode:>26}" for mode in modes)]
    for label, render in rows:
        lines.append(f"{label:<{width}}" + "".join(f"{render(results[mode]):>26}" for mode in modes))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="devices to authorize and revoke (default 500)")
    parser.add_argument("--concurrency", type=int, default=1, help="worker threads (default 1)")
    parser.add_argument("--timeout", type=float, default=5.0, help="adapter timeout in seconds (default 5)")
    args = parser.parse_args(argv)

    emulator = RouterEmulator(
        clock=ManualClock(),
        host="127.0.0.1",
        port=0,
        identity="MikroTik",
        username=API_USER,
        password=API_PASSWORD,
        version="7.18",
        hotspot_server="hotspot1",
        tls=False,
    ).start()
    try:
        for index in range(args.n):
            emulator.device_join(*device(index))
        results = {
            "one reused connection": measure(emulator, args.n, args.concurrency, args.timeout, reuse=True),
            "new connection per call": measure(emulator, args.n, args.concurrency, args.timeout, reuse=False),
        }
    finally:
        emulator.stop()

    print("MikrotikRouter -> librouteros -> RouterOS emulator (in-process, TCP loopback)")
    print(f"devices: {args.n}, worker threads: {args.concurrency}, adapter timeout: {args.timeout:g} s")
    print()
    print(table(results))
    print()
    command = shlex.join(["python", "bench/router_ops.py", *(argv if argv is not None else sys.argv[1:])])
    print(f"reproduce: {command}")
    print(
        f"machine:   {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.processor() or 'unknown CPU'}, Python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
