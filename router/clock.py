"""Time as the router side needs it: anything with ``now()`` returning an aware UTC datetime.

``router`` imports nothing from ``portal``; the portal's clocks satisfy this protocol as
they are, so one injected clock drives both sides in tests and the demo.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Anything that can tell the current wall-clock time."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)
