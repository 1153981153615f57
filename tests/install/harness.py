"""Helpers for the install tests: free ports, processes we start and stop, the units' commands.

Every process is started in its own session and stopped by its process group: nothing else on
the machine is touched. Its output goes to a log file that a failing test prints.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def missing_for_install() -> str | None:
    """Why the install tests cannot run here, or None (CI: root with apt)."""
    if os.geteuid() != 0:
        return "needs root: the installer adds Debian packages and the pay2connect system user"
    if shutil.which("apt-get") is None:
        return "needs apt-get (Debian 12 / Ubuntu 24.04)"
    if shutil.which("runuser") is None:
        return "needs runuser (util-linux)"
    return None


def wait_for_line(process: Process, text: str, timeout: float) -> None:
    """Wait until ``process`` says ``text`` (so the listener on its port is really this process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in process.log_text():
            return
        if process.popen.poll() is not None:
            raise AssertionError(f"{process.name} exited with {process.popen.returncode}:\n{process.log_text()}")
        time.sleep(0.1)
    raise AssertionError(f"{process.name} did not say {text!r} within {timeout:.0f} s:\n{process.log_text()}")


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)


@dataclass
class Processes:
    logs: Path
    running: list[Process] = field(default_factory=list)

    def start(
        self, name: str, command: list[str], env: dict[str, str] | None = None, cwd: str | None = None
    ) -> Process:
        log = self.logs / f"{name}.{sum(1 for _ in self.logs.glob(f'{name}.*.log'))}.log"  # one per start
        handle = log.open("ab")
        popen = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
        handle.close()
        process = Process(name, popen, log)
        self.running.append(process)
        return process

    def stop(self, name: str) -> None:
        for process in [p for p in self.running if p.name == name]:
            process.stop()
            self.running.remove(process)

    def stop_all(self) -> None:
        for process in reversed(self.running):
            process.stop()
        self.running.clear()


@dataclass(frozen=True)
class UnitCommands:
    """What systemd would run for one instance of a unit: user, folder, environment, commands."""

    user: str
    cwd: str
    env: dict[str, str]
    pre: list[list[str]]
    start: list[str]


def unit_commands(unit_file: Path, instance: str = "") -> UnitCommands:
    values: dict[str, list[str]] = {}
    for raw in unit_file.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "[")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values.setdefault(key, []).append(value.replace("%i", instance))
    env = {}
    for entry in values.get("Environment", []):
        name, _, value = entry.partition("=")
        env[name] = value
    return UnitCommands(
        user=values["User"][0],
        cwd=values.get("WorkingDirectory", ["/"])[0],
        env=env,
        pre=[shlex.split(v) for v in values.get("ExecStartPre", [])],
        start=shlex.split(values["ExecStart"][0]),
    )


def as_user(user: str, command: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *command]


def doc_command(doc: Path, marker: str) -> list[str]:
    """The command in the fenced block after ``<!-- ci: MARKER -->`` in a doc: words after
    ``scripts/install`` (``sudo``, ``env`` and ``NAME=value`` words are the caller's to give)."""
    text = doc.read_text()
    match = re.search(rf"<!-- ci: {re.escape(marker)} -->\s*```\w*\n(.*?)```", text, re.S)
    assert match, f"{doc}: no block marked <!-- ci: {marker} -->"
    words = shlex.split(match.group(1).replace("\\\n", " "))
    start = next(i for i, word in enumerate(words) if word.endswith("scripts/install"))
    return words[start:]
