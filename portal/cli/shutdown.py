"""Stopping the long-running commands on SIGTERM (``systemctl stop``, ``kill``, ``timeout``)
or Ctrl-C, the same way every time.

The first signal asks the process to stop: waitress stops accepting and answers the
requests already in flight (:func:`portal.loopback.serve_until`), the worker finishes the job in hand and
releases its leader lock (a standby takes over at once, not after the lock's lifetime),
and the embedded Redis is stopped. If that has not finished :data:`GRACE_SECONDS` later,
or a second signal comes, the process exits anyway, after the last steps that must never
be skipped (:meth:`Shutdown.on_force`: release the leader lock, stop the embedded Redis),
each given a second or two.

The signal handler itself only writes a byte to a pipe: Python runs it in the main thread
between any two bytecodes, possibly while that thread holds the very lock ``Event.set()``
takes (inside ``Event.wait()``), which deadlocks the process for good. A relay thread reads
the pipe and does the rest.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

GRACE_SECONDS = 10.0
LAST_STEP_SECONDS = 2.0


class Shutdown:
    """The process's stop request: an event the main thread waits on, and a watchdog."""

    def __init__(self, grace: float = GRACE_SECONDS) -> None:
        self.grace = grace
        self.requested = threading.Event()
        self._forced = threading.Event()
        self._last_steps: list[Callable[[], object]] = []
        self._lock = threading.Lock()
        self._signal_pipe = -1

    def install(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> Shutdown:
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        self._signal_pipe = write_end
        threading.Thread(target=self._relay_signals, args=(read_end,), name="p2c-signals", daemon=True).start()
        for number in signals:
            signal.signal(number, self._on_signal)
        return self

    def wait(self) -> None:
        """Block until a stop is requested.

        Waits in short steps: Python runs signal handlers in the main thread only, and a
        signal the kernel hands to another thread does not wake a main thread asleep on a lock."""
        while not self.requested.wait(0.5):
            pass

    def on_force(self, step: Callable[[], object]) -> None:
        """Run ``step`` before a forced exit (in the order given)."""
        with self._lock:
            self._last_steps.append(step)

    def request(self) -> None:
        """Ask to stop (what the first signal does); a second call forces the exit."""
        if self.requested.is_set():
            self._forced.set()
            return
        self.requested.set()
        threading.Thread(target=self._watchdog, name="p2c-shutdown", daemon=True).start()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        # No lock may be taken here (see the module's docstring): a byte to the relay thread.
        try:
            os.write(self._signal_pipe, b"!")
        except OSError:  # a full pipe: hundreds of signals are already waiting to be relayed
            pass

    def _relay_signals(self, read_end: int) -> None:
        while received := os.read(read_end, 64):
            for _ in received:
                self.request()

    def _watchdog(self) -> None:
        forced = self._forced.wait(self.grace)
        why = "a second stop signal" if forced else f"still stopping after {self.grace:.0f} s"
        print(f"pay2connect: {why}; exiting now", file=sys.stderr, flush=True)
        with self._lock:
            steps = list(self._last_steps)
        for step in steps:
            runner = threading.Thread(target=_quietly, args=(step,), daemon=True)
            runner.start()
            runner.join(LAST_STEP_SECONDS)
        os._exit(1)


def _quietly(step: Callable[[], object]) -> None:
    try:
        step()
    except Exception as err:  # noqa: BLE001 - exiting anyway: say it, do not stop the other steps
        print(f"pay2connect: while exiting: {err}", file=sys.stderr, flush=True)
