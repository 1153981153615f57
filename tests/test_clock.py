"""The clock shared by test processes through a file (portal/clock.py, SharedJumpingClock)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from portal.clock import SharedJumpingClock

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_a_jump_wakes_the_timers_even_when_another_thread_reads_the_clock_first(tmp_path: Path) -> None:
    """The fault tests' flake: a worker thread read the new time before the watcher thread
    saw the file change, so the watcher never woke the expiry timer, which slept on (up to
    15 s) past the grants the jump had made due: a logout seconds late, counted as free time."""
    test_process = SharedJumpingClock(tmp_path / "clock", START)
    worker = SharedJumpingClock(tmp_path / "clock")
    woken = threading.Event()
    worker.add_listener(woken.set)
    try:
        test_process.jump(60)
        worker.now()  # a request or a query reads the time first (well inside the watcher's poll)
        assert woken.wait(1.0), "the timers were not told the clock moved"
    finally:
        worker.close()
        test_process.close()
