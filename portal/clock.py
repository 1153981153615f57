"""The one source of time for the whole product.

Everything that needs "now" takes a :class:`Clock` so tests can move time
forward instead of sleeping. Times are timezone-aware UTC datetimes; Daraja
fields that need East Africa Time convert with :func:`to_nairobi`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

NAIROBI = ZoneInfo("Africa/Nairobi")


class Clock(Protocol):
    """Anything that can tell the current wall-clock time."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class _Listeners:
    """Callbacks run after a clock is moved by hand (timers wake instead of sleeping)."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []
        self._listeners_lock = threading.Lock()

    def add_listener(self, listener: Callable[[], None]) -> None:
        with self._listeners_lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        with self._listeners_lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _moved(self) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()


class ManualClock(_Listeners):
    """A clock that only moves when told to (tests, benchmarks, simulators).

    ``runs_by_itself`` is False: a timer on this clock waits for :meth:`add_listener`
    callbacks (every :meth:`advance` and :meth:`set`), never for real seconds.
    """

    runs_by_itself = False

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__()
        start = start or datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        """Move time forward by ``seconds`` and return the new time."""
        with self._lock:
            self._now += timedelta(seconds=seconds)
            now = self._now
        self._moved()
        return now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when.astimezone(UTC)
        self._moved()


class JumpingClock(_Listeners):
    """Real time that can be jumped forward (benchmarks: business time skips ahead, then
    runs at the real rate, so lateness after a jump is real elapsed time)."""

    runs_by_itself = True

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__()
        self._offset = (start - datetime.now(UTC)).total_seconds() if start else 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._offset)

    def jump(self, seconds: float) -> datetime:
        """Skip ``seconds`` of business time at once."""
        self._offset += seconds
        self._moved()
        return self.now()

    advance = jump


class SharedJumpingClock(JumpingClock):
    """A :class:`JumpingClock` that several processes share through a file holding the jump.

    Tests that run the real ``serve`` and ``worker`` processes name the file in
    ``PAY2CONNECT_CLOCK_FILE`` (see :func:`portal.cli.servers`; the simulator environment
    only); the test process jumps, every process reads the same business time, and a small
    watcher thread wakes the local timers when the file changes (as :meth:`jump` does here).
    """

    POLL_SECONDS = 0.02

    def __init__(self, path: str | Path, start: datetime | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self._stamp: tuple[int, int] = (-1, -1)
        self._watcher: threading.Thread | None = None
        self._closed = threading.Event()
        if start is not None:
            self._write((start - datetime.now(UTC)).total_seconds())
        self._read()

    def _write(self, offset: float) -> None:
        partial = self.path.with_name(self.path.name + ".new")
        partial.write_text(repr(offset))
        os.replace(partial, self.path)

    def _read(self) -> bool:
        """Reload the jump if the file changed; True when it did."""
        try:
            status = self.path.stat()
            stamp = (status.st_ino, status.st_mtime_ns)  # each jump is a new file (os.replace)
            if stamp == self._stamp:
                return False
            self._offset, self._stamp = float(self.path.read_text() or 0.0), stamp
        except (OSError, ValueError):
            return False  # not written yet, or being replaced: keep the last jump
        return True

    def now(self) -> datetime:
        if self._read():  # whoever sees a jump first wakes the timers, not only the watcher
            self._moved()
        return super().now()

    def jump(self, seconds: float) -> datetime:
        self._read()
        self._write(self._offset + seconds)
        self._read()
        self._moved()
        return self.now()

    advance = jump

    def add_listener(self, listener: Callable[[], None]) -> None:
        super().add_listener(listener)
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="p2c-shared-clock", daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        while not self._closed.wait(self.POLL_SECONDS):
            if self._read():
                self._moved()

    def close(self) -> None:
        """Stop the watcher thread (a test process that made several clocks)."""
        self._closed.set()
        if self._watcher is not None:
            self._watcher.join(timeout=1)


class Alarm:
    """Wait for a business time on any clock, woken early by :meth:`wake` or a clock move.

    On a clock that runs by itself (the system clock, :class:`JumpingClock`) it sleeps until
    the due time in real seconds; on a :class:`ManualClock` it only waits for the clock to
    be moved (or for :meth:`wake`), so tests never sleep through business time.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._event = threading.Event()
        self._add = getattr(clock, "add_listener", None)
        if self._add is not None:
            self._add(self.wake)

    def wake(self) -> None:
        self._event.set()

    def wait_until(self, when: datetime | None, max_seconds: float) -> bool:
        """Return at ``when``, on a wake-up, or after ``max_seconds`` (real); True if woken."""
        timeout = max_seconds
        if when is not None:
            left = (when - self.clock.now()).total_seconds()
            if left <= 0:
                return False
            if getattr(self.clock, "runs_by_itself", True):
                timeout = min(timeout, left)
        woken = self._event.wait(max(timeout, 0.0))
        self._event.clear()
        return woken

    def close(self) -> None:
        remove = getattr(self.clock, "remove_listener", None)
        if remove is not None:
            remove(self.wake)


def to_nairobi(moment: datetime) -> datetime:
    """Convert an aware datetime to East Africa Time (UTC+3, no DST)."""
    return moment.astimezone(NAIROBI)
