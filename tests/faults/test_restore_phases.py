"""bench/restore.py --phases: a reboot's restore timed step by step, on the real worker,
emulator and ledger; every customer is back and each step the restore runs was timed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STEPS = (
    "probe, stop the clocks, reconcile",
    "stop the clocks (sessions listed, ledger)",
    "restore in one pass",
    "what the router is told, per device",
    "router: listings, logins, confirmation (and the 1st half's ledger)",
    "ledger: clocks run again, credits (each half)",
)


def test_the_restore_bench_times_each_step_of_a_reboots_restore(tmp_path):
    command = [sys.executable, str(ROOT / "bench" / "restore.py"), "--customers", "40", "--phases"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert done.returncode == 0 and "RESULT: ok" in done.stdout, done.stdout + done.stderr[-3000:]
    assert "| 40 | 40 |" in done.stdout  # all 40 back online
    timed: dict[str, tuple[int, float, float]] = {}
    for line in done.stdout.splitlines():
        row = re.fullmatch(r"\| [· ]*(.+?) \| (\d+) \| (\d+) ms \| (\d+) ms \| (\d+) ms \|", line)
        if row:
            timed[row[1]] = (int(row[2]), float(row[3]), float(row[4]))
    for step in STEPS:  # a step is listed only when it ran
        assert step in timed, f"{step!r} was not timed:\n{done.stdout}"
        _calls, wall, cpu = timed[step]
        assert wall + 1 >= cpu, (step, timed[step])  # the thread's CPU fits in its real time (whole ms)
    whole = timed["probe, stop the clocks, reconcile"][1]
    assert timed["restore in one pass"][1] <= whole
