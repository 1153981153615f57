"""The fault suite's world: the real ``pay2connect serve`` and ``worker`` processes, started,
killed and restarted by the test, around a Daraja simulator (HTTP) and a RouterOS emulator
(TCP) that live in the test process, one Redis and one ledger.

Business time is a :class:`~portal.clock.SharedJumpingClock`: the test jumps it, every
process reads it through ``PAY2CONNECT_CLOCK_FILE``, and between jumps it runs at the real
rate, so a 1-minute package is tested in a few real seconds and lateness is still real.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from portal.cli.servers import CLOCK_FILE_VARIABLE
from portal.clock import SharedJumpingClock
from portal.config import load_settings
from portal.domain.context import Services
from portal.live import RedisHandle
from portal.wiring import build_services
from tests import backends
from tests.conftest import START, free_port

SCRIPT = Path(sys.executable).parent / "pay2connect"
PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
LEADER_KEY = "p2c:worker-leader"


def wait_for(condition: Callable[[], object], timeout: float, step: float = 0.02) -> bool:
    """Poll ``condition`` for up to ``timeout`` real seconds (processes work in real time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class Proc:
    """One process we started (its own session), with its output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for_line(self, text: str, timeout: float = 60.0) -> None:
        if not wait_for(lambda: text in self.text() or self.popen.poll() is not None, timeout, step=0.05):
            raise AssertionError(f"{self.name} did not say {text!r} within {timeout:.0f} s:\n{self.text()[-3000:]}")
        assert text in self.text(), f"{self.name} exited with {self.popen.returncode}:\n{self.text()[-3000:]}"

    def signal(self, number: int) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, number)

    def wait_exit(self, timeout: float) -> float | None:
        """Real seconds until it exited, or None if it is still running after ``timeout``."""
        started = time.monotonic()
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return time.monotonic() - started

    def stop(self) -> None:
        """Leave nothing behind: SIGTERM, then SIGKILL to its whole process group."""
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            if self.wait_exit(15) is None:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)


def config_text(
    *,
    port: int,
    data_dir: Path,
    ledger_url: str,
    redis_url: str,
    simulator_url: str,
    router_port: int | None,
    worker: dict[str, int] | None = None,
) -> str:
    lines = [
        "[portal]",
        f'listen = "127.0.0.1:{port}"',
        f'public_url = "http://127.0.0.1:{port}"',
        'secret_key = "fault-suite-secret-key-0123456789"',
        f'data_dir = "{data_dir}"',
        "[database]",
        f'url = "{ledger_url}"',
        "[redis]",
        f'url = "{redis_url}"',
        "[mpesa]",
        'environment = "simulator"',
        f'base_url = "{simulator_url}"',
        'consumer_key = "sim-consumer-key"',
        'consumer_secret = "sim-consumer-secret"',
        f'passkey = "{PASSKEY}"',
        f'callback_url = "http://127.0.0.1:{port}/api/portal/mpesa/callback"',
        "verify_by_query = false",
        "query_after_seconds = 3",
        "query_every_seconds = 2",
        "[limits]",
        "phone_cooldown_seconds = 0",
        "device_cooldown_seconds = 0",
        "global_pushes_per_minute = 100000",
        "source_pushes_per_minute = 99999",
        "phone_daily_cap = 100000",
        "device_daily_cap = 100000",
        "[worker]",
        *(f"{key} = {value}" for key, value in (worker or {}).items()),
    ]
    if router_port is not None:
        lines += [
            "[[routers]]",
            'name = "main"',
            'host = "127.0.0.1"',
            f"port = {router_port}",
            'username = "pay2connect"',
            'password = "secret"',
            "timeout = 1.0",
        ]
    return "\n".join(lines) + "\n"


@dataclass
class World:
    tmp: Path
    clock: SharedJumpingClock
    simulator: Any
    emulator: Any
    redis: RedisHandle
    redis_url: str
    ledger_url: str
    web_port: int
    config: Path
    services: Services
    procs: list[Proc] = field(default_factory=list)

    @classmethod
    def build(cls, tmp: Path, redis: RedisHandle, ledger_url: str, **worker: int) -> World:
        from portal.mpesa.simulator import DarajaSimulator
        from router.emulator import RouterEmulator

        clock = SharedJumpingClock(tmp / "clock", START)
        simulator = DarajaSimulator(clock=clock, default_outcome="success", approve_after_seconds=0.5).start()
        emulator = RouterEmulator(clock=clock).start()
        redis_url = backends.REDIS_URL or f"unix://{redis.client.socket_file}"  # type: ignore[attr-defined]
        web_port = free_port()
        config = tmp / "config.toml"
        worker_settings = {
            "sweep_interval_seconds": 1,
            "outbox_base_delay_seconds": 1,
            "leader_lock_seconds": 5,  # a killed worker's successor waits this long
            **worker,
        }
        config.write_text(
            config_text(
                port=web_port,
                data_dir=tmp / "data",
                ledger_url=ledger_url,
                redis_url=redis_url,
                simulator_url=simulator.base_url,
                router_port=emulator.port,
                worker=worker_settings,
            )
        )
        settings = load_settings(config, environ={})
        services = build_services(settings, clock=clock, redis_handle=redis, background=False)
        return cls(tmp, clock, simulator, emulator, redis, redis_url, ledger_url, web_port, config, services)

    # -- processes ----------------------------------------------------------------------
    def start(self, name: str, *args: str, config: Path | None = None, ready: str | None = None) -> Proc:
        log = self.tmp / f"{name}.{sum(1 for p in self.procs if p.name == name)}.log"
        env = {**os.environ, CLOCK_FILE_VARIABLE: str(self.clock.path)}
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [str(SCRIPT), "--config", str(config or self.config), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        if ready:
            proc.wait_for_line(ready)
        return proc

    def start_web(self, *extra: str) -> Proc:
        return self.start("web", "serve", *extra, ready="serving on")

    def start_worker(self) -> Proc:
        return self.start("worker", "worker", ready="started")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def leader(self) -> str | None:
        owner = self.redis.client.get(LEADER_KEY)
        return owner.decode() if isinstance(owner, bytes) else None

    # -- customers ----------------------------------------------------------------------
    def package(self, name: str = "1 minute", duration: str = "1m", price: str = "5") -> Any:
        from portal.domain.packages import add_package, validate_changes

        return add_package(validate_changes({"name": name, "price": price, "duration": duration}), self.clock)

    def devices(self, count: int, block: int = 0) -> list[tuple[str, str]]:
        made = []
        for n in range(count):
            mac, ip = f"AA:BB:{block:02X}:00:{n // 256:02X}:{n % 256:02X}", f"10.5.{100 + block}.{n % 250 + 2}"
            if n >= 250:
                ip = f"10.6.{block}.{n - 248}"
            self.emulator.device_join(mac, ip)
            made.append((mac, ip))
        return made

    def pay(self, package_id: int, mac: str, ip: str, phone: str, timeout: float = 15) -> requests.Response:
        body = {"phone": phone, "packageId": package_id, "macAddress": mac, "ip": ip, "router": "main"}
        return requests.post(f"{self.base_url}/api/portal/pay", json=body, timeout=timeout)

    def jump_to_first_end(self, before: float = 1.0) -> None:
        """Skip business time to ``before`` seconds ahead of the first active grant's end
        (never past an end: lateness after the jump is real)."""
        from portal.ledger.models import Grant

        assert wait_for(self._ledger_caught_up, 10), "a device online on the router has no running clock"
        while True:
            assert wait_for(self._logouts_caught_up, 10), "a device whose time ran out is still online"
            first = Grant.select().where(Grant.status == "active").order_by(Grant.expires_at).first()
            # A grant that ended between the check and that read is not the first any more:
            # its logout may still be on its way, and the jump to the next end would count as
            # time online. Checked again after the read, nothing earlier than ``first`` can end.
            if self._logouts_caught_up():
                break
        if first is not None:
            self.clock.jump(max((first.expires_at - self.clock.now()).total_seconds() - before, 0.0))

    def _ledger_caught_up(self) -> bool:
        """Every device the router shows online has its grant's clock running in the ledger.

        A login is recorded a moment after the router confirms it (real time: milliseconds).
        Business time skipped in that moment would count as online on the emulator but not
        as paid time, so a jump waits for it."""
        from portal.ledger.models import Grant

        running = Grant.select(Grant.mac, Grant.online_at, Grant.offline_since).where(Grant.status == "active")
        waiting = {g.mac for g in running if g.online_at is None or g.offline_since is not None}
        return not any(self.emulator.is_online(mac) for mac in waiting)

    def _logouts_caught_up(self) -> bool:
        """Every device whose grants the ledger has ended is logged out on the router.

        A logout reaches the router a moment after the ledger ends the grant (real time). A
        jump to the next grant's end while one is still on its way would count the skipped
        business time as online: free time that real time never gives."""
        from portal.ledger.models import Grant

        running = {g.mac for g in Grant.select(Grant.mac).where(Grant.status == "active")}
        ended = {g.mac for g in Grant.select(Grant.mac).where(Grant.status != "active")}
        return not any(self.emulator.is_online(mac) for mac in ended - running)

    def run_out_every_grant(self, timeout: float = 10.0) -> None:
        """Jump to a second before each grant's end in turn and wait, in real time, until it
        ended and its device is logged out (unless another grant of the device runs on).
        The next jump waits for the logout: business time skipped while a logout is still
        on its way would count as time online on the emulator."""
        from portal.ledger.models import Grant

        while (first := Grant.select().where(Grant.status == "active").order_by(Grant.expires_at).first()) is not None:
            self.jump_to_first_end()

            def over(grant: Any = first) -> bool:
                ended = Grant.get_by_id(grant.id).status != "active"
                covered = Grant.select().where(Grant.mac == grant.mac, Grant.status == "active").exists()
                return ended and (covered or not self.emulator.is_online(grant.mac))

            assert wait_for(over, timeout), f"grant {first.id} did not end and log out on time"

        def all_out() -> bool:  # grants that ended with the last one may still be logging out
            ended = {g.mac for g in Grant.select(Grant.mac).where(Grant.status != "active")}
            return not any(self.emulator.is_online(mac) for mac in ended)

        assert wait_for(all_out, timeout), "a device whose time ran out is still online"

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.services.close()
        self.simulator.stop()
        self.emulator.stop()
        self.clock.close()
