"""The short soak (bench/soak.py with 2,000 payments over one business hour): lost and
duplicated callbacks, router reboots every few minutes, the worker killed and replaced;
paid = taken = granted, no free minute, no paid minute lost."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.report import report

ROOT = Path(__file__).resolve().parents[2]


def _cpu_seconds(value: str) -> float:
    """ "1,234 s (5.6 ms a payment)" -> 1234.0"""
    return float(value.split(" s (", 1)[0].replace(",", ""))


def test_a_short_soak_loses_no_paid_minute_and_gives_none_away(tmp_path):
    command = [sys.executable, str(ROOT / "bench" / "soak.py"), "--payments", "2000", "--hours", "1", "--kills", "3"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False)
    figures = dict(line.split("  ", 1) for line in done.stdout.splitlines() if "  " in line and ":" not in line[:3])
    figures = {name.strip(): value.strip() for name, value in figures.items()}
    assert done.returncode == 0 and "RESULT: ok" in done.stdout, done.stdout + done.stderr[-3000:]
    assert figures["free minutes given"] == "0" and figures["paid minutes lost"] == "0"
    if Path("/proc/stat").exists():  # where the ticks' time went, with the machine's cores busy meanwhile
        day_ticks = re.fullmatch(
            r"([\d,]+) ticks, \d+ s \((\d+) ms each\), ([\d.]+) of (\d+) cores busy",
            figures["- the other ticks of the day"],
        )
        assert day_ticks, figures["- the other ticks of the day"]
        busy, cores = float(day_ticks[3]), int(day_ticks[4])
        assert cores == os.cpu_count() and 0 < busy <= cores
        # The CPU time of each process (the product's, Redis's, the stand-ins'), and their sum.
        cpu = {name: _cpu_seconds(value) for name, value in figures.items() if "ms a payment)" in value}
        processes = {name for name in cpu if name.startswith("- ")}
        assert {"- web app (callbacks)", "- till (payments started)", "- router emulator"} <= processes, cpu
        # Printed to the second: Redis's share of a short soak may round to 0, the product's may not.
        assert all(cpu[name] > 0 for name in ("- web app (callbacks)", "- till (payments started)")), cpu
        assert all(seconds >= 0 for seconds in cpu.values()), cpu
        assert cpu["CPU time, every process"] == pytest.approx(sum(cpu[name] for name in processes), abs=len(cpu))
        # CPU a tick by kind of tick, a reboot's five ticks each on their own: as many ticks as
        # the real-time split counts, five processes' milliseconds each, the web app's > 0.
        kinds = {name: re.fullmatch(r"- (.+) \(([\d,]+)\)", name) for name in figures}
        per_tick = {
            found[1]: (int(found[2].replace(",", "")), [int(ms) for ms in figures[name].split(" / ")])
            for name, found in kinds.items()
            if found
        }
        assert set(per_tick) >= {"ordinary", "a reboot's tick", "1 after a reboot", "after the day"}, per_tick
        assert all(len(ms) == 5 and min(ms) >= 0 for _count, ms in per_tick.values()), per_tick
        assert per_tick["ordinary"][0] == int(day_ticks[1].replace(",", "")) and per_tick["ordinary"][1][0] > 0
        reboot_ticks = re.match(r"([\d,]+) ticks", figures["- a reboot's tick and the 4 after it"])
        assert reboot_ticks, figures
        assert sum(count for kind, (count, _ms) in per_tick.items() if "reboot" in kind) == int(
            reboot_ticks[1].replace(",", "")
        )
    report(
        "soak: 2,000 payments in 1 h, reboots, worker kills",
        f"paid {figures['paid (ledger)']} = granted {figures['granted']}, "
        f"slowest grant {figures['slowest grant (payment -> online)']}, "
        f"callbacks lost/duplicated {figures['callbacks lost / duplicated']}",
        f"paid minutes lost {figures['paid minutes lost']}, free minutes {figures['free minutes given']}",
    )
