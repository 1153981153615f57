"""The one source of time for the whole product.

Everything that needs "now" takes a :class:`Clock` so tests can move time
forward instead of sleeping. Times are timezone-aware UTC datetimes; Daraja
fields that need East Africa Time convert with :func:`to_nairobi`.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
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


class ManualClock:
    """A clock that only moves when told to (tests, benchmarks, simulators)."""

    def __init__(self, start: datetime | None = None) -> None:
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
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when.astimezone(UTC)


def to_nairobi(moment: datetime) -> datetime:
    """Convert an aware datetime to East Africa Time (UTC+3, no DST)."""
    return moment.astimezone(NAIROBI)
