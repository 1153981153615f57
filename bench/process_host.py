"""Run a simulator (the RouterOS emulator, the Daraja simulator) in a process of its own, on a
business clock shared with this process, and call its methods from here.

Why: in one process the product (web app, worker) and the simulators it talks to over TCP
and HTTP take turns on one core (Python's GIL), and the product's every router command or
Daraja call waits for a thread switch. The soak gives each simulator a process, as a real
router and Safaricom are elsewhere, so they run on the second core.

The business clock is one 64-bit count of microseconds in shared memory
(:class:`SharedManualClock`): every process reads the same time and only the soak moves it,
so a login, a logout and the emulator's session record all agree to the microsecond.
Calls go over a pipe: ``host.reboot(boot_seconds=30)`` runs ``reboot`` there and returns
its (pickled) result; an exception there is raised here as :class:`HostedError`.
"""

from __future__ import annotations

import logging
import multiprocessing
import traceback
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

from portal.clock import ManualClock

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(when: datetime) -> int:
    return (when.astimezone(UTC) - EPOCH) // timedelta(microseconds=1)


class _SharedTime:
    """The clock's value in shared memory (read by every process, written by one)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def now(self) -> datetime:
        return EPOCH + timedelta(microseconds=self.value.value)


class SharedManualClock(ManualClock):
    """A :class:`~portal.clock.ManualClock` whose time lives in shared memory, so processes
    started with :class:`ProcessHost` read exactly the time this process set."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self._shared = multiprocessing.get_context("spawn").Value("q", _micros(start), lock=False)

    def now(self) -> datetime:
        return EPOCH + timedelta(microseconds=self._shared.value)

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
    else:
        from portal.mpesa.simulator import DarajaSimulator

        hosted = DarajaSimulator(clock=clock, **options).start()
        conn.send({"base_url": hosted.base_url, "passkey": hosted.merchant.passkey})
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


class ProcessHost:
    """A RouterOS emulator (``kind="router"``) or Daraja simulator (``kind="daraja"``) in a
    process of its own; its methods are called as if it were here."""

    def __init__(self, kind: str, clock: SharedManualClock, **options: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(kind, clock._shared, options, child), name=f"p2c-{kind}", daemon=True
        )
        self._process.start()
        self.started: dict[str, Any] = self._conn.recv()

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
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

    def stop(self) -> None:
        if self._process.is_alive():
            self._conn.send(None)
            self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
