"""The FAULT REPORT: one line per fault with its figure and the paid seconds lost per customer
(printed at the end of the run by ``pytest_terminal_summary`` in tests/faults/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

FAULT_LINES: list[str] = []
#: Seconds online beyond the paid time that still count as on time (expiry is "at most
#: about a second late"); more is free time given away.
FREE_TOLERANCE = 1.0
#: The same for the real processes, whose expiry runs in real time on a 2-core machine
#: shared with the test's own threads (bench/expiry.py measures the p99: <= 1 s).
REAL_TIME_TOLERANCE = 1.5


def report(fault: str, figure: str, lost: str) -> None:
    FAULT_LINES.append(f"{fault:<52} -> {figure}; {lost}")


def losses(emulator: Any, bought: dict[str, float]) -> list[float]:
    """Paid seconds lost per customer: bought minus seconds online on the emulator
    (negative: free time)."""
    return [seconds - emulator.seconds_online(mac) for mac, seconds in bought.items()]


def check_losses(emulator: Any, bought: dict[str, float], tolerance: float = FREE_TOLERANCE) -> str:
    """Assert no customer lost a paid second nor got more than a second free; the report's words."""
    lost = losses(emulator, bought)
    short = [value for value in lost if value > 1e-6]
    free = [value for value in lost if value < -tolerance]
    assert not short, (
        f"{len(short)} customer(s) lost paid time: up to {max(short):.1f} s{_sessions(emulator, bought, lost, 1)}"
    )
    assert not free, (
        f"{len(free)} customer(s) got free time: up to {-min(free):.1f} s{_sessions(emulator, bought, lost, -1)}"
    )
    worst_lost = max(0.0, *lost)
    worst_free = max(0.0, *(-value for value in lost))
    return f"paid seconds lost per customer {worst_lost:.0f} ({len(lost)} customers; free at most {worst_free:.1f} s)"


def _sessions(emulator: Any, bought: dict[str, float], lost: list[float], sign: int) -> str:
    """For the failure message, the sessions on the emulator of the customer who lost the most
    paid time (``sign`` 1) or got the most free time (-1): the one the message's figure is."""
    mac = max(zip(bought, lost, strict=True), key=lambda pair: sign * pair[1])[0]
    sessions = [record for record in emulator.session_history() if record.mac == mac]
    return f" ({mac}, bought {bought[mac]:.0f} s; its ended sessions: {sessions})"


def seconds(moments: Iterable[datetime], since: datetime) -> float:
    return max(((moment - since).total_seconds() for moment in moments), default=0.0)
