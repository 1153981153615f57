"""Run a simulator (the RouterOS emulator, the Daraja simulator) or the product's web app in a
process of its own, on a business clock shared with this process, and call its methods from here.

Why: in one process the product (web app, worker) and the simulators it talks to over TCP
and HTTP take turns on one core (Python's GIL), and the product's every router command or
Daraja call waits for a thread switch. The soak gives each simulator a process, as a real
router and Safaricom are elsewhere, and runs the web app in its own process beside the
worker, as a real install does (``pay2connect serve`` and ``pay2connect worker``), so
callbacks are answered while the worker restores a rebooted router.

The business clock is one 64-bit count of microseconds in shared memory
(:class:`SharedManualClock`): every process reads the same time and only the soak moves it,
so a login, a logout and the emulator's session record all agree to the microsecond.
Calls go over a pipe: ``host.reboot(boot_seconds=30)`` runs ``reboot`` there and returns
its (pickled) result; an exception there is raised here as :class:`HostedError`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import platform
import sys
import threading
import traceback
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

from portal.cli.heap import settle_heap
from portal.clock import ManualClock

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: A till gives up for this tick after this many customers in a row were refused: the router
#: is booting (no Wi-Fi, nobody reaches the splash page), not a few payments still pending.
REFUSED_IN_A_ROW = 5


def _micros(when: datetime) -> int:
    return (when.astimezone(UTC) - EPOCH) // timedelta(microseconds=1)


class _TimeMemo:
    """The datetime of the shared clock's value, made once per value it takes: the clock
    moves once a tick and every process reads it tens of thousands of times in between."""

    def __init__(self) -> None:
        self._last = (-1, EPOCH)

    def at(self, micros: int) -> datetime:
        last = self._last  # (micros, datetime), replaced whole: threads never see half of it
        if last[0] != micros:
            last = self._last = (micros, EPOCH + timedelta(microseconds=micros))
        return last[1]


def machine_line() -> str:
    """The benches' ``machine:`` line: cores, and which interpreter ran them (a build of the
    same version can be an eighth slower: Debian's is built with PGO and LTO, pyenv's usually not)."""
    interpreter = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    return f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()} ({interpreter})"


def process_cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system, every thread) of process ``pid`` from /proc/<pid>/stat;
    None where there is no /proc or no such process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()  # after the name, which may hold spaces
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    except (OSError, ValueError, IndexError):
        return None


class _SharedTime:
    """The clock's value in shared memory (read by every process, written by one)."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self._memo = _TimeMemo()

    def now(self) -> datetime:
        return self._memo.at(self.value.value)


class SharedManualClock(ManualClock):
    """A :class:`~portal.clock.ManualClock` whose time lives in shared memory, so processes
    started with :class:`ProcessHost` read exactly the time this process set."""

    def __init__(self, start: datetime, shared: Any = None) -> None:
        super().__init__(start)
        self._shared = shared or multiprocessing.get_context("spawn").Value("q", _micros(start), lock=False)
        self._memo = _TimeMemo()

    @classmethod
    def attach(cls, shared: Any) -> SharedManualClock:
        """The same clock in another process (from the shared value it was handed)."""
        return cls(EPOCH + timedelta(microseconds=shared.value), shared)

    def now(self) -> datetime:
        return self._memo.at(self._shared.value)

    def advance(self, seconds: float) -> datetime:
        self._shared.value += round(seconds * 1_000_000)
        self._moved()
        return self.now()

    def set(self, when: datetime) -> None:
        self._shared.value = _micros(when)
        self._moved()


class HostedError(RuntimeError):
    """A call into the hosted object raised; the message carries its traceback."""


def _serve(kind: str, shared: Any, options: dict[str, Any], conn: Connection) -> None:
    logging.getLogger().setLevel(logging.ERROR)  # a reboot's dropped connections are expected
    clock = _SharedTime(shared)
    if kind == "router":
        from router.emulator import RouterEmulator

        hosted: Any = RouterEmulator(clock=clock, **options).start()
        conn.send({"port": hosted.port})
    elif kind == "portal":
        hosted = HostedPortal(SharedManualClock.attach(shared), **options)
        conn.send({"base_url": hosted.base_url})
    elif kind == "till":
        hosted = HostedTill(SharedManualClock.attach(shared), **options)
        conn.send({})
    else:
        from portal.mpesa.simulator import DarajaSimulator

        hosted = DarajaSimulator(clock=clock, **options).start()
        conn.send({"base_url": hosted.base_url, "passkey": hosted.merchant.passkey})
    settle_heap()  # as the CLI's serve, worker and emulate-router do before they serve
    try:
        while (message := conn.recv()) is not None:
            name, args, kwargs = message
            try:
                if name == "__setattr__":
                    setattr(hosted, *args)
                    result = None
                else:
                    result = getattr(hosted, name)(*args, **kwargs)
                conn.send(("ok", result))
            except Exception:  # noqa: BLE001 - handed back to the caller, whatever it is
                conn.send(("error", traceback.format_exc()))
    finally:
        hosted.stop()


class HostedPortal:
    """The product's web app (callbacks, splash, admin) under waitress with 8 threads, as
    ``pay2connect serve`` runs it, with its own services on the shared ledger, Redis and
    business clock.

    ``overrides`` are the settings of the soak; this process adds its own address as the
    public URL (the port is only known once bound), which the caller reads back from
    ``started["base_url"]`` and uses for its own settings.
    """

    def __init__(self, clock: SharedManualClock, *, config: str, overrides: dict[str, Any]) -> None:
        from pathlib import Path

        from waitress.server import create_server

        from portal import create_app
        from portal.config import load_settings
        from portal.loopback import serve_until
        from portal.wiring import build_services

        self._late = _LateApp()
        self._server: Any = create_server(self._late, host="127.0.0.1", port=0, threads=8, ident="pay2connect")
        self.base_url = f"http://127.0.0.1:{self._server.effective_port}"
        overrides = {**overrides, "portal": {**overrides["portal"], "public_url": self.base_url}}
        overrides["mpesa"] = {**overrides["mpesa"], "callback_url": f"{self.base_url}/api/portal/mpesa/callback"}
        settings = load_settings(Path(config), environ={}, overrides=overrides)
        self.services = build_services(settings, clock=clock, background=False)
        self._late.app = create_app(services=self.services)
        self._stop = threading.Event()
        self._serving = threading.Thread(target=serve_until, args=(self._server, self._stop), name="waitress")
        self._serving.start()

    def stop(self) -> None:
        from portal.loopback import close_server

        self._stop.set()
        self._serving.join(timeout=15)
        close_server(self._server)
        self.services.close()


class HostedTill:
    """Customers starting payments (what the splash page's pay request runs) with services of
    its own on the shared ledger, Redis and business clock, beside the worker and the web app:
    in an install they come in through the web app's threads while the worker works."""

    def __init__(self, clock: SharedManualClock, *, config: str, overrides: dict[str, Any]) -> None:
        from pathlib import Path

        from portal.config import load_settings
        from portal.wiring import build_services

        settings = load_settings(Path(config), environ={}, overrides=overrides)
        self.services = build_services(settings, clock=clock, background=False)

    def pay(self, wanted: int, customers: list[tuple[str, int, str, str]]) -> tuple[int, int]:
        """Start payments for ``customers`` (phone, package id, MAC, IP) in order until
        ``wanted`` are started; one refused (pending already, router rebooting) is skipped.
        Returns (started, refused); stops early after :data:`REFUSED_IN_A_ROW` refusals in a row."""
        from portal.domain.errors import PortalError
        from portal.domain.payments import PayRequest, start_payment

        started = refused = in_a_row = 0
        for phone, package_id, mac, ip in customers:
            if started >= wanted or in_a_row == REFUSED_IN_A_ROW:
                break  # enough, or nobody gets through (the router is booting): next tick
            try:
                start_payment(self.services, PayRequest(phone=phone, package_id=package_id, mac=mac, ip=ip))
                started += 1
                in_a_row = 0
            except PortalError:
                refused += 1
                in_a_row += 1
        return started, refused

    def stop(self) -> None:
        self.services.close()


class _LateApp:
    """A WSGI app set after the server socket is bound (so the port is known)."""

    app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


class ProcessHost:
    """A RouterOS emulator (``kind="router"``), Daraja simulator (``kind="daraja"``), the
    web app (``kind="portal"``) or paying customers (``kind="till"``) in a process of its
    own; its methods are called as if it were here, from any thread (one call at a time)."""

    def __init__(self, kind: str, clock: SharedManualClock, **options: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(kind, clock._shared, options, child), name=f"p2c-{kind}", daemon=True
        )
        self._process.start()
        self.started: dict[str, Any] = self._conn.recv()

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._conn.send((name, args, kwargs))
            status, result = self._conn.recv()
        if status == "error":
            raise HostedError(result)
        return result

    def set(self, name: str, value: Any) -> None:
        self.call("__setattr__", name, value)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the hosted process has used so far; None where the
        machine has no /proc or the process is gone."""
        return process_cpu_seconds(self._process.pid)

    def stop(self) -> None:
        if self._process.is_alive():
            with self._lock:
                self._conn.send(None)
            self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
