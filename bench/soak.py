"""Soak: a simulated day of payments with everything going wrong, and not a paid minute lost.

100,000 payments (by default) over one business day (a ManualClock, jumped tick by tick):
customers on a pool of devices buy 10-minute, 30-minute and 1-hour packages, often again
while still online (stacked time). 10% of Daraja callbacks are lost (the worker's STK Query
must confirm those), 2% are delivered twice; the router reboots every few simulated minutes
(0 to 60 s of boot: every session cut, restored by reconciliation, the time credited); the
worker is killed several times (its leader lock left behind, as a dead process leaves it) and
a new one takes over. As installed, the web app and the worker are two processes: the web
app (bench/process_host.py) answers the callbacks while this process's worker (expiry
timer, router lane) restores a rebooted router, and meanwhile the next customers start
paying in a till process (what the splash page's pay request runs, on its own services). The
Daraja client talks to the simulator over HTTP, the router is the RouterOS emulator over
TCP (each in a process of its own), the ledger SQLite, the live state one real Redis.
The business clock jumps only when everything due is done. The STK Query job runs alongside
each tick's callbacks and payments, as the worker's job does in an install: it asks 30 s after
a push, so it only ever looks at payments whose callback came (or was lost) a tick earlier,
never at one whose callback is on its way. The outbox retries run between jumps.

At the end every grant has run out, and each device's paid time is compared with the time
the emulator had it online: free minutes given and paid minutes lost must both be 0 (a
second of lateness per session is allowed: expiry is "at most about a second late").
The slowest grant is the business time from the payment to the router confirming the
customer online (a payment made during a reboot waits for the router).

    python bench/soak.py [--payments 100000] [--seed 1] [--kills 5] [--hours 24]

It prints a progress line per simulated hour (payments/s, minutes to the end of the day) and
at the end where the main loop's real time went, by phase and by kind of tick (a reboot's
tick and the four after it, the other ticks of the day, the ticks after it), with how many
of the machine's cores were busy meanwhile (all processes, from /proc/stat: what the
processes leave idle while they wait on each other), and the CPU time each process used,
in all and per payment started (the web app, the till, this process's worker, Redis, and the
stand-ins for M-Pesa and the router, whose work runs elsewhere in an install), and per tick by
kind of tick, a reboot's five ticks each on their own (which process they wait for). For the first
five devices whose online time is off (all of them with ``SOAK_DEBUG=1``) it prints their
grants, each payment's timeline and the device's sessions on the emulator.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import resource
import shlex
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from process_host import ProcessHost, SharedManualClock, machine_line, process_cpu_seconds

from portal.cli.heap import settle_heap

DAY = 86_400
TICK = 20  # business seconds per step
PACKAGES = (("10 minutes", "10m", 5), ("30 minutes", "30m", 10), ("1 hour", "1h", 20))
#: Where the main loop's real time goes (the worker's threads run alongside all three).
WORKER = "the worker: restores after reboots, logouts, outbox retries (callbacks, payments alongside)"
QUERIES = "STK Queries for lost callbacks (alongside the callbacks and payments)"
PUSHES = "payments (till process: STK push over HTTP) beyond that"
CALLBACKS = "callbacks (web process: payment, grant, router login) beyond that"
#: The real time of the main loop's ticks, by what they held: a reboot's aftermath (its
#: restore, the payments its boot refused made up) is told from the ordinary ticks.
AFTERMATH_TICKS = 4
REBOOT_TICKS = f"a reboot's tick and the {AFTERMATH_TICKS} after it"
DAY_TICKS = "the other ticks of the day"
TAIL_TICKS = "the ticks after the day (sessions running out)"
ORDINARY, AFTER_THE_DAY = "ordinary", "after the day"  # kinds of tick in the CPU split (tick_kind)
FREE_PER_SESSION = 1.0  # seconds past the paid end that still count as on time (per session, per credit)


@dataclass
class TickTime:
    """The main loop's ticks of one kind: how many, their real seconds, and the machine's
    CPU time meanwhile (/proc/stat, every process: busy and all, in clock ticks; 0 where
    the machine has no /proc)."""

    count: int = 0
    seconds: float = 0.0
    busy: int = 0
    total: int = 0

    def add(self, seconds: float, busy: int, total: int) -> None:
        self.count += 1
        self.seconds += seconds
        self.busy += busy
        self.total += total

    def line(self) -> str:
        text = f"{self.count:,} ticks, {self.seconds:.0f} s ({1000 * self.seconds / self.count:.0f} ms each)"
        cores = os.cpu_count() or 1
        if self.total:  # what the processes left idle: the room that more overlap would use
            text += f", {cores * self.busy / self.total:.2f} of {cores} cores busy"
        return text


class TickCpu:
    """The CPU time each process used, by kind of tick, a reboot's five ticks each on their
    own: which process the ticks after a reboot wait for. Read from /proc/<pid>/stat at the
    end of every tick (the time between two ticks goes to the later one); Redis is left
    out (its INFO would cost a round trip a tick)."""

    def __init__(self, readers: dict[str, Any]) -> None:
        self.readers = readers  # process -> a call that answers its CPU seconds (None: unknown)
        self.last = self._read()
        self.ticks: Counter[str] = Counter()
        self.seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def _read(self) -> dict[str, float | None]:
        return {name: read() for name, read in self.readers.items()}

    def add(self, kind: str) -> None:
        now = self._read()
        self.ticks[kind] += 1
        for name, seconds in now.items():
            before = self.last.get(name)
            if seconds is not None and before is not None:
                self.seconds[kind][name] += seconds - before
        self.last = now

    def rows(self) -> list[tuple[str, str]]:
        if not any(self.seconds.values()):
            return []
        names = list(self.readers)
        rows = [("CPU a tick (ms): " + " / ".join(names), "")]
        for kind, count in self.ticks.items():
            used = self.seconds[kind]
            rows.append(
                (f"- {kind} ({count:,})", " / ".join(f"{1000 * used.get(name, 0.0) / count:.0f}" for name in names))
            )
        return rows


def tick_kind(tick: int, ticks: int, last_reboot: int) -> str:
    """The kind of tick :class:`TickCpu` counts it under (the real-time split joins a
    reboot's five into :data:`REBOOT_TICKS`)."""
    if tick >= ticks:
        return AFTER_THE_DAY
    after = tick - last_reboot
    if after > AFTERMATH_TICKS:
        return ORDINARY
    return "a reboot's tick" if after == 0 else f"{after} after a reboot"


def cpu_times() -> tuple[int, int]:
    """The machine's CPU time so far in clock ticks, (busy, all), from /proc/stat's first
    line (idle and I/O wait are not busy); (0, 0) where there is no /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guests are in user)
    return total - sum(fields[3:5]), total


@dataclass
class Figures:
    payments: int
    paid: int
    taken: int
    granted: int
    double_grants: int
    free_minutes: float
    lost_minutes: float
    slowest_grant: float
    callbacks_lost: int
    callbacks_duplicated: int
    reboots: int
    kills: int
    refused: int
    seconds: float
    spent: dict[str, float]
    ticks: dict[str, TickTime]  # kind of tick -> how many, how long, how busy the machine was
    off_devices: list[str]  # what the devices whose online time is off went through
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds it used
    tick_cpu: list[tuple[str, str]] = field(default_factory=list)  # TickCpu.rows()

    @property
    def ok(self) -> bool:
        return (
            self.paid == self.taken == self.granted
            and not self.double_grants
            and self.free_minutes == 0
            and self.lost_minutes == 0
        )


def run(
    payments: int,
    *,
    seed: int = 1,
    kills: int = 5,
    hours: float = 24,
    device_count: int | None = None,
    workdir: Path,
    log: Any = print,
) -> Figures:
    from portal.config import load_settings
    from portal.domain import confirmations, outbox
    from portal.domain.packages import add_package, validate_changes
    from portal.ledger.models import Grant, Payment, PaymentEvent
    from portal.live import open_redis
    from portal.wiring import build_services
    from portal.worker.scheduler import Worker

    started = time.monotonic()
    warnings = _quiet_logs(workdir / "soak.log")
    rng = random.Random(seed)
    clock = SharedManualClock(datetime(2026, 3, 2, 0, 0, tzinfo=UTC))
    # The router and M-Pesa each in a process of their own (bench/process_host.py), as they
    # are elsewhere in real life: the product does not take turns with them for one core.
    simulator = ProcessHost(
        "daraja",
        clock,
        default_outcome="success",
        approve_after_seconds=5.0,
        auto_process=False,  # callbacks go out when this loop says (process_due), not on a ticker
    )
    # The business clock moves only once everything due now is done. A callback the web
    # process is still working on when M-Pesa's 5 s timeout fires would finish after the
    # clock moved on: its login at one tick, its confirmation 20 s later (free time that
    # real time never gives). So M-Pesa waits for the answer here.
    simulator.set("callback_timeout_seconds", 300.0)
    # Installed, the web app sits behind the HTTPS proxy, which keeps its connections to the
    # app open: the callbacks reach the app on kept connections, not one each as Daraja opens.
    simulator.set("callback_keep_alive", True)
    emulator = ProcessHost(
        "router", clock, identity="main", username="pay2connect", password="secret", command_log_limit=0
    )
    # One Redis for both product processes: the embedded server, reached by its socket.
    redis_handle = open_redis("", workdir / "data")
    config = workdir / "config.toml"
    config.write_text("# bench/soak.py: settings come from its overrides\n")
    overrides: dict[str, Any] = {
        "portal": {"data_dir": str(workdir / "data"), "secret_key": "soak-secret-key-0123456"},
        "database": {"url": f"sqlite:///{workdir / 'ledger.db'}"},
        "mpesa": {
            "environment": "simulator",
            "base_url": simulator.started["base_url"],
            "consumer_key": "sim-consumer-key",
            "consumer_secret": "sim-consumer-secret",
            "passkey": simulator.started["passkey"],
            "verify_by_query": False,
            # A tick is 20 s: asked 30 s after its push, a payment is looked at one tick after
            # its callback was due, so the job never races a callback still on its way.
            "query_after_seconds": 30,
        },
        "routers": [
            {
                "name": "main",
                "backend": "mikrotik",
                "host": "127.0.0.1",
                "port": emulator.started["port"],
                "username": "pay2connect",
                "password": "secret",
                "timeout": 2.0,
            }
        ],
        "limits": {
            "phone_cooldown_seconds": 0,
            "device_cooldown_seconds": 0,
            "global_pushes_per_minute": 1_000_000,
            "source_pushes_per_minute": 999_999,
            "phone_daily_cap": 1_000_000,
            "device_daily_cap": 1_000_000,
        },
        "worker": {"leader_lock_seconds": 2},
        "redis": {"url": f"unix://{redis_handle.client.socket_file}"},
    }
    # The web app (callbacks) in its own process beside this one's worker, as installed.
    web = ProcessHost("portal", clock, config=str(config), overrides=overrides)
    base_url = web.started["base_url"]
    overrides["portal"]["public_url"] = base_url
    overrides["mpesa"]["callback_url"] = f"{base_url}/api/portal/mpesa/callback"
    till = ProcessHost("till", clock, config=str(config), overrides=overrides)
    settings = load_settings(config, environ={}, overrides=overrides)
    services = build_services(settings, clock=clock, background=False, redis_handle=redis_handle)
    packages = [
        add_package(validate_changes({"name": name, "price": str(price), "duration": duration}), clock)
        for name, duration, price in PACKAGES
    ]
    pool = device_count or max(50, min(payments // 8, 4000))
    devices = [
        (f"02:5A:00:00:{n // 256:02X}:{n % 256:02X}", f"10.{20 + n // 250}.0.{n % 250 + 2}") for n in range(pool)
    ]
    index = {mac: n for n, (mac, _ip) in enumerate(devices)}
    for mac, ip in devices:
        emulator.device_join(mac, ip)

    worker = _start_worker(Worker, services)
    tick_cpu = TickCpu(
        {
            "web app": web.cpu_seconds,
            "till": till.cpu_seconds,
            "this process": lambda: process_cpu_seconds(os.getpid()),
            "emulator": emulator.cpu_seconds,
            "simulator": simulator.cpu_seconds,
        }
    )
    ticks = int(hours * 3600) // TICK
    per_tick = payments / ticks
    kill_ticks = {int(ticks * (k + 1) / (kills + 1)) for k in range(kills)}
    flaps = random.Random(seed + 1)  # the router's own dice: reboots do not move with the customers
    next_reboot = flaps.randint(120, 480)
    sent = refused = lost = duplicated = reboots = killed = 0
    owed = 0.0
    spent: dict[str, float] = defaultdict(float)  # real seconds of the main loop, by phase
    ticks_spent: dict[str, TickTime] = defaultdict(TickTime)  # the main loop's time, by kind of tick
    last_reboot = -AFTERMATH_TICKS - 1
    delivering = _Alongside("soak-callbacks")
    paying = _Alongside("soak-till")

    def poll() -> int:
        """The worker's STK Query job (lost callbacks), run here on business time."""
        return confirmations.poll_open_payments(services)

    def settle() -> None:
        if not worker.settle(timeout=60):
            raise RuntimeError("the worker did not settle within 60 s")
        # The worker's periodic jobs (STK Query, outbox retries) run here, on business time:
        # the STK Query again for what came due while the rest of the tick went on.
        if poll() + outbox.process_outbox(services):
            worker.settle(timeout=60)

    try:
        for tick in range(ticks + 48 * 3600 // TICK):  # the day, then until every grant ran out
            day = tick < ticks
            tick_started = time.monotonic()
            busy_before, total_before = cpu_times()
            clock.advance(TICK)
            if day and tick * TICK >= next_reboot:  # before the callbacks: some land while it boots
                settle()  # the worker's probe sees the router up at this second: its last sign of life
                emulator.reboot(boot_seconds=flaps.choice((0, 10, 30, 60)))
                reboots += 1
                last_reboot = tick
                next_reboot = tick * TICK + flaps.randint(120, 480)
            due = [t for t in simulator.pending_prompts() if t.due_at <= clock.now()]
            drop = sum(rng.random() < 0.10 for _ in due)
            simulator.set("drop_next_callbacks", drop)
            lost += drop
            # These prompts were answered now: their callbacks go out (some twice) to the web
            # process while this one's worker settles and the next payments start.
            replays = [t.checkout_request_id for t in due if rng.random() < 0.02]
            duplicated += len(replays)
            delivering.start(_deliver_callbacks, simulator, replays)
            # This tick's customers pay (in the till process) while the callbacks land and the
            # worker settles; after the day, those a reboot refused at its end try again.
            if day:
                owed += per_tick
            wanted = min(int(owed), payments - sent) if day else (payments - sent if tick < ticks + 30 else 0)
            customers = [_customer(rng, devices, index, packages) for _ in range(wanted + 50 if wanted else 0)]
            paying.start(till.pay, wanted, customers)
            queried = time.monotonic()
            poll()  # payments whose callback was due a tick ago and never came
            spent[QUERIES] += time.monotonic() - queried
            settled = time.monotonic()
            if not worker.settle(timeout=60):
                raise RuntimeError("the worker did not settle within 60 s")
            spent[WORKER] += time.monotonic() - settled
            waited = time.monotonic()
            started_now, refused_now = paying.finish()  # (payments started, customers refused)
            spent[PUSHES] += time.monotonic() - waited
            sent += started_now
            owed -= started_now
            refused += refused_now
            waited = time.monotonic()
            delivering.finish()  # every callback is in before the clock moves
            spent[CALLBACKS] += time.monotonic() - waited
            settled = time.monotonic()
            settle()
            spent[WORKER] += time.monotonic() - settled
            now_seconds = tick * TICK
            fine = tick_kind(tick, ticks, last_reboot)
            kind = {AFTER_THE_DAY: TAIL_TICKS, ORDINARY: DAY_TICKS}.get(fine, REBOOT_TICKS)
            busy_after, total_after = cpu_times()
            ticks_spent[kind].add(time.monotonic() - tick_started, busy_after - busy_before, total_after - total_before)
            tick_cpu.add(fine)
            if tick in kill_ticks:
                worker = _kill_and_replace(worker, services, Worker)
                killed += 1
            if not day and not Grant.select().where(Grant.status == "active").exists():
                break
            if tick % (3600 // TICK) == 0 or (day and tick == ticks - 1):
                elapsed = time.monotonic() - started
                if day:
                    log(_progress(now_seconds, hours, sent, payments, reboots, killed, elapsed), flush=True)
                else:
                    running = Grant.select().where(Grant.status == "active").count()
                    log(f"  {now_seconds / 3600:5.1f} h: the day is over, {running:,} sessions running", flush=True)
        figures = _figures(emulator, simulator, Grant, Payment, PaymentEvent)
        cpu = _cpu_by_process(
            {"web app (callbacks)": web, "till (payments started)": till, "router emulator": emulator},
            simulator,
            redis_handle.client,
        )
        log(f"  {warnings.count:,} warnings logged (router errors during reboots, retries)")
    finally:
        for helper in (delivering, paying):
            if helper.thread is not None:
                helper.thread.join(timeout=60)
        worker.stop()
        services.close()
        simulator.stop()
        emulator.stop()
        till.stop()
        web.stop()
        redis_handle.close()
    return Figures(
        payments=sent,
        callbacks_lost=lost,
        callbacks_duplicated=duplicated,
        reboots=reboots,
        kills=killed,
        refused=refused,
        seconds=time.monotonic() - started,
        spent=dict(spent),
        ticks=dict(ticks_spent),
        cpu=cpu,
        tick_cpu=tick_cpu.rows(),
        **figures,
    )


class _Alongside:
    """Runs one call on a thread of its own while the soak's thread goes on (the simulator
    posting callbacks to the web process, the till process starting payments): this process
    only waits on a pipe meanwhile. :meth:`finish` waits and returns its result."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.thread: threading.Thread | None = None
        self.result: Any = None
        self.error: BaseException | None = None

    def start(self, call: Any, *args: Any) -> None:
        self.finish()
        self.result = None
        self.thread = threading.Thread(target=self._run, args=(call, *args), name=self.name)
        self.thread.start()

    def _run(self, call: Any, *args: Any) -> None:
        try:
            self.result = call(*args)
        except BaseException as err:  # noqa: BLE001 - raised again in the soak's own thread
            self.error = err

    def finish(self) -> Any:
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        return self.result


def _deliver_callbacks(simulator: ProcessHost, replays: list[str]) -> None:
    """The answered prompts' callbacks, then the replays (duplicates), to the web process."""
    simulator.process_due()
    for checkout_request_id in replays:
        simulator.replay_callback(checkout_request_id)


def _customer(
    rng: random.Random, devices: list[tuple[str, str]], index: dict[str, int], packages: list[Any]
) -> tuple[str, int, str, str]:
    """A customer about to pay: (phone, package id, MAC, IP) of a device of the pool."""
    mac, ip = rng.choice(devices)
    return _phone(index[mac]), rng.choice(packages).id, mac, ip


class _Counted(logging.FileHandler):
    count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        super().emit(record)


def _quiet_logs(path: Path) -> _Counted:
    """The product's warnings (a reboot makes thousands) go to a file, not the terminal;
    the request log of the test servers is dropped."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    handler = _Counted(path)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    return handler


def _progress(now: float, hours: float, sent: int, payments: int, reboots: int, kills: int, elapsed: float) -> str:
    """One line per simulated hour: where the day is, how fast, and when it will end."""
    done = min(now / (hours * 3600), 1.0)
    eta = elapsed / done - elapsed if done else 0.0
    rate = sent / elapsed if elapsed else 0.0
    return (
        f"  {now / 3600:5.1f} h of {hours:g}: {sent:,}/{payments:,} payments, {reboots} reboots, {kills} kills; "
        f"{rate:.0f} payments/s, {elapsed / 60:.1f} min so far, about {eta / 60:.0f} min to the end of the day"
    )


def _cpu_by_process(hosts: dict[str, ProcessHost], simulator: ProcessHost, redis_client: Any) -> dict[str, float]:
    """CPU seconds (user + system) each process of the soak has used: the product's (web
    app, till, this one's worker), Redis's, and the stand-ins' for M-Pesa and the router,
    whose work runs elsewhere in an install but shares this machine's cores here."""
    used: dict[str, float | None] = {name: host.cpu_seconds() for name, host in hosts.items()}
    used["M-Pesa simulator"] = simulator.cpu_seconds()
    try:
        info = redis_client.info("cpu")
        used["Redis (embedded server)"] = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    except (redis.RedisError, OSError, KeyError, ValueError):
        used["Redis (embedded server)"] = None
    own = resource.getrusage(resource.RUSAGE_SELF)
    used["this process (the worker, the soak's loop)"] = own.ru_utime + own.ru_stime
    return {name: seconds for name, seconds in used.items() if seconds is not None}


def _phone(n: int) -> str:
    return f"0711{n:06d}"


def _start_worker(worker_class: Any, services: Any) -> Any:
    """A worker whose periodic jobs (APScheduler, on real time) are paused: the soak runs
    them itself between clock jumps. Run in real time, a job still working when the clock
    jumps 20 s would log a customer in at one tick and confirm them at the next."""
    worker = worker_class(services)
    worker.start()
    worker.scheduler.pause()
    return worker


def _kill_and_replace(worker: Any, services: Any, worker_class: Any) -> Any:
    """The worker dies: its threads stop and its leader lock stays until it times out (as a
    killed process leaves it); a new worker starts and takes over when the lock is free."""
    owner = worker.owner
    worker.stop()
    services.live.acquire_leader(owner, services.settings.worker.leader_lock_seconds)
    successor = _start_worker(worker_class, services)
    deadline = time.monotonic() + services.settings.worker.leader_lock_seconds + 5
    while not successor.is_leader():
        if time.monotonic() > deadline:
            raise RuntimeError("no worker took over")
        time.sleep(0.05)
    return successor


def _figures(emulator: Any, simulator: Any, grant_model: Any, payment_model: Any, event_model: Any) -> dict[str, Any]:
    from peewee import fn

    taken = sum(t.status == "completed" and str(t.result_code) == "0" for t in simulator.transactions())
    # Rows as tuples and the credits counted by the database: a day has 100,000 grants and
    # about 400,000 outage credits, and a model per row took the bench some 10 s.
    grants = list(
        grant_model.select(grant_model.payment, grant_model.mac, grant_model.granted_seconds, grant_model.online_at)
        .tuples()
        .iterator()
    )
    per_payment = Counter(payment_id for payment_id, _mac, _seconds, _online in grants)
    bought: dict[str, float] = defaultdict(float)
    for _payment_id, mac, seconds, _online in grants:
        bought[mac] += seconds
    # Allowed: a second per session (expiry is at most about a second late) and a second per
    # outage credit (a fault's start is the router's last sign of life, up to a probe earlier).
    sessions = Counter(mac for _payment_id, mac, _seconds, _online in grants)
    mac_of = {payment_id: mac for payment_id, mac, _seconds, _online in grants}
    credits = (
        event_model.select(event_model.payment, fn.COUNT(event_model.id))
        .where(event_model.kind == "outage_credit")
        .group_by(event_model.payment)
        .tuples()
    )
    for payment_id, count in credits:
        sessions[mac_of.get(payment_id, "")] += count
    free = lost = 0.0
    details: list[str] = []  # devices whose online time is off: their grants, timelines, sessions
    shown = 0
    for mac, seconds in bought.items():
        online = emulator.seconds_online(mac)
        given = max(0.0, online - seconds - FREE_PER_SESSION * sessions[mac])
        missed = max(0.0, seconds - online)
        free += given
        lost += missed
        if (given or missed) and (os.environ.get("SOAK_DEBUG") or shown < 5):
            shown += 1
            details.append(f"DEVICE {mac} bought {seconds} online {online:.1f}")
            for g in grant_model.select().where(grant_model.mac == mac).order_by(grant_model.id):
                details.append(
                    f"   grant {g.id} {g.status} online {g.online_at} start {g.starts_at} end {g.expires_at} "
                    f"ended {g.ended_at} credited {g.credited_seconds} {g.router_state}"
                )
                for e in event_model.select().where(event_model.payment == g.payment_id).order_by(event_model.id):
                    details.append(f"      {e.at:%H:%M:%S} {e.kind} {e.detail[:160]}")
            details.extend(
                f"   session {r.login_at - 1772409600:.0f} {r.ended_at - 1772409600:.0f} {r.reason}"
                for r in emulator.session_history()
                if r.mac == mac
            )
            details.append("")
    paid_at = dict(
        payment_model.select(payment_model.id, payment_model.paid_at).where(payment_model.status == "paid").tuples()
    )
    slowest = max(
        ((online - paid_at[payment_id]).total_seconds() for payment_id, _mac, _seconds, online in grants if online),
        default=0.0,
    )
    return {
        "paid": len(paid_at),
        "taken": taken,
        "granted": len(grants),
        "double_grants": sum(1 for count in per_payment.values() if count > 1),
        "free_minutes": round(free / 60, 2),
        "lost_minutes": round(lost / 60, 2),
        "slowest_grant": slowest,
        "off_devices": details,
    }


def table(figures: Figures) -> list[str]:
    rows = [
        ("payments started", f"{figures.payments:,}"),
        ("paid (ledger)", f"{figures.paid:,}"),
        ("declined by M-Pesa (rule 17: same phone and amount)", f"{figures.payments - figures.paid:,}"),
        ("money taken (M-Pesa simulator)", f"{figures.taken:,}"),
        ("granted", f"{figures.granted:,}"),
        ("granted twice", f"{figures.double_grants}"),
        ("free minutes given", f"{figures.free_minutes:g}"),
        ("paid minutes lost", f"{figures.lost_minutes:g}"),
        ("slowest grant (payment -> online)", f"{figures.slowest_grant:.0f} s business time"),
        ("callbacks lost / duplicated", f"{figures.callbacks_lost:,} / {figures.callbacks_duplicated:,}"),
        ("router reboots / worker kills", f"{figures.reboots} / {figures.kills}"),
        ("refused while pending or rebooting", f"{figures.refused:,}"),
        ("real time", f"{figures.seconds:.0f} s"),
        *((f"- {phase}", f"{seconds:.0f} s") for phase, seconds in figures.spent.items()),
        *((f"- {kind}", spent.line()) for kind, spent in figures.ticks.items()),
        *_cpu_rows(figures),
        *figures.tick_cpu,
    ]
    width = max(len(name) for name, _ in rows)
    return [f"{name:<{width}}  {value}" for name, value in rows]


def _cpu_rows(figures: Figures) -> list[tuple[str, str]]:
    """CPU time by process, and per payment started: where the machine's two cores went."""
    if not figures.cpu:
        return []
    total = sum(figures.cpu.values())
    per_payment = 1000 / max(figures.payments, 1)
    rows = [("CPU time, every process", f"{total:,.0f} s ({total * per_payment:.1f} ms a payment)")]
    for name, seconds in sorted(figures.cpu.items(), key=lambda item: -item[1]):
        rows.append((f"- {name}", f"{seconds:,.0f} s ({seconds * per_payment:.1f} ms a payment)"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kills", type=int, default=5, help="how many times the worker is killed")
    parser.add_argument("--hours", type=float, default=24, help="business hours the payments are spread over")
    parser.add_argument("--devices", type=int, help="how many devices buy (default: payments / 8, 50 to 4,000)")
    args = parser.parse_args(argv)
    settle_heap()  # this process runs the worker: the collector's settings `pay2connect worker` runs with
    with tempfile.TemporaryDirectory(prefix="p2c-soak-") as folder:
        figures = run(
            args.payments,
            seed=args.seed,
            kills=args.kills,
            hours=args.hours,
            device_count=args.devices,
            workdir=Path(folder),
            log=_log,
        )
        if not figures.ok:  # the product's last warnings, before the folder goes
            for line in (Path(folder) / "soak.log").read_text().splitlines()[-40:]:
                _log(line)
        for line in figures.off_devices:
            _log(line)
    for line in table(figures):
        print(line)
    print(machine_line())
    print("reproduce: python bench/soak.py " + shlex.join(argv if argv is not None else sys.argv[1:]))
    print("RESULT: " + ("ok" if figures.ok else "FAILED (paid, taken and granted must agree; free and lost must be 0)"))
    return 0 if figures.ok else 1


def _log(*parts: Any, flush: bool = False) -> None:
    print(*parts, file=sys.stderr, flush=flush)


if __name__ == "__main__":
    sys.exit(main())
