"""The worker: expiry on the second, confirmation polling (STK Query), router outbox, router
reconciliation.

- :class:`~portal.worker.timer.ExpiryTimer` ends each grant at its due time (a timer on
  the earliest due time, re-armed by pub/sub, not a sweep);
- one :class:`~portal.worker.lanes.RouterLane` per router does that router's calls
  (logouts, outbox retries, probe and reconciliation), so routers are served in parallel
  and a dead one delays only itself;
- APScheduler runs the periodic jobs: STK Query polling, and handing due outbox items to
  the lanes.

Every job reads what to do from the ledger, so stopping and starting the worker loses
nothing: :meth:`Worker.start` rebuilds Redis from the ledger first. Only one worker acts at
a time (leader lock in Redis); others stand by and take over within the lock's lifetime.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from portal.domain import alerts, confirmations, deliveries, expiry, outbox
from portal.domain.context import Services
from portal.domain.outbox import Revocation
from portal.domain.router_reconciliation import reconcile_routers
from portal.worker.lanes import RouterLane
from portal.worker.timer import ExpiryTimer

log = logging.getLogger(__name__)

ROUTER_PROBE_SECONDS = 1.0  # how often each router's uptime is read (reboots found within this)
LEADER_CHECK_SECONDS = 1.0  # how long a "yes, I lead" answer is trusted before asking Redis again


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[Services], int]
    interval: Callable[[Services], float]
    ledger: bool = True  # False: the job opens the ledger itself (it must run when the ledger is down)


#: Everything the worker does, as plain functions: ``pay2connect worker --once`` and tests
#: run them inline; the running worker does expiry and router work on its timer and lanes.
JOBS: tuple[Job, ...] = (
    Job("expire", expiry.expire_due, lambda s: s.settings.worker.sweep_interval_seconds),
    Job("outbox", outbox.process_outbox, lambda s: min(s.settings.worker.sweep_interval_seconds, 5)),
    Job("query", confirmations.poll_open_payments, lambda s: min(s.settings.mpesa.query_every_seconds, 5)),
    Job("reconcile", reconcile_routers, lambda s: s.settings.worker.reconcile_interval_seconds),
    # Issue 14: send due alerts, receipts and reminders; evaluate the owner's alerts.
    Job("deliveries", deliveries.send_due, lambda s: min(s.settings.worker.sweep_interval_seconds, 5)),
    Job("alerts", alerts.evaluate, lambda s: s.settings.alerts.evaluate_every_seconds, ledger=False),
)


def run_all_jobs_once(services: Services) -> dict[str, int]:
    """Run every job once, in order (tests and `pay2connect worker --once`)."""
    return {job.name: job.run(services) for job in JOBS}


class Worker:
    """Expiry timer, router lanes and APScheduler jobs behind a leader lock."""

    def __init__(self, services: Services, *, blocking: bool = False) -> None:
        self.services = services
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._leader_until = 0.0
        self._stopping = False
        worker = services.settings.worker
        self.lanes = {
            name: RouterLane(
                services,
                name,
                self.is_leader,
                probe_seconds=ROUTER_PROBE_SECONDS,
                reconcile_seconds=worker.reconcile_interval_seconds,
            )
            for name in services.routers
        }
        self.timer = ExpiryTimer(services, self.dispatch, self.is_leader, max_sleep=worker.sweep_interval_seconds)
        job_defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        scheduler_class = BlockingScheduler if blocking else BackgroundScheduler
        self.scheduler: BaseScheduler = scheduler_class(timezone="UTC", job_defaults=job_defaults)
        # (name, what, every so many seconds, opens the ledger first?)
        periodic: tuple[tuple[str, Callable[[Services], int], float, bool], ...] = (
            ("outbox", self._hand_out_outbox, min(worker.sweep_interval_seconds, 5), True),
            ("query", confirmations.poll_open_payments, min(services.settings.mpesa.query_every_seconds, 5), True),
            ("deliveries", deliveries.send_due, min(worker.sweep_interval_seconds, 5), True),
            # The alert job opens the ledger itself: it must run (and tell) when the ledger is down.
            ("alerts", alerts.evaluate, services.settings.alerts.evaluate_every_seconds, False),
        )
        for name, run, seconds, ledger in periodic:
            self.scheduler.add_job(
                self._guarded,
                "interval",
                args=[name, run, ledger],
                id=name,
                name=name,
                seconds=seconds,
                replace_existing=True,
            )

    def is_leader(self) -> bool:
        """True while this worker holds the leader lock (asked of Redis at most once a second).

        False once :meth:`stop` began: a thread still finishing must not take the lock back
        after it was released for a standby."""
        if self._stopping:
            return False
        if time.monotonic() < self._leader_until:
            return True
        ttl = self.services.settings.worker.leader_lock_seconds
        try:
            leader = self.services.live.acquire_leader(self.owner, ttl)
        except Exception as err:  # noqa: BLE001 - Redis down: act alone rather than not at all
            log.warning("leader lock unavailable (%s); running jobs anyway", err)
            leader = True
        self._leader_until = time.monotonic() + LEADER_CHECK_SECONDS if leader else 0.0
        return leader

    def dispatch(self, revocations: list[Revocation]) -> None:
        """Hand logouts to their routers' lanes (a router without a lane: do it here)."""
        by_router: dict[str, list[Revocation]] = defaultdict(list)
        for revocation in revocations:
            by_router[revocation.router].append(revocation)
        for name, batch in by_router.items():
            lane = self.lanes.get(name)
            if lane is not None:
                lane.revoke(batch)
            else:
                outbox.run_revocations(self.services, name, batch)

    def _hand_out_outbox(self, services: Services) -> int:
        due = outbox.due_items(services)
        for name, item_ids in due.items():
            lane = self.lanes.get(name)
            if lane is not None:
                lane.run_outbox(item_ids)
            else:
                outbox.run_items(services, item_ids)
        return sum(len(ids) for ids in due.values())

    def _guarded(self, name: str, run: Callable[[Services], int], ledger: bool = True) -> None:
        if not self.is_leader():
            return
        if ledger:
            self.services.db.connect(reuse_if_open=True)
        try:
            done = run(self.services)
            if done:
                log.info("%s: %d", name, done)
        except Exception:
            log.exception("worker job %s failed", name)
        finally:
            if not self.services.db.is_closed():
                self.services.db.close()

    def start(self) -> None:
        """Rebuild the live mirror from the ledger, then start the timer, lanes and schedule."""
        self.services.db.connect(reuse_if_open=True)
        try:
            count = expiry.rebuild_live(self.services)
            log.info("worker %s: %d live sessions restored from the ledger", self.owner, count)
        finally:
            self.services.db.close()
        for lane in self.lanes.values():
            lane.start()
        self.timer.start()
        self.scheduler.start()

    def settle(self, timeout: float = 10.0) -> bool:
        """Block until everything due at the clock's current time is done (tests)."""
        deadline = time.monotonic() + timeout
        for _ in range(3):  # a lane's work can make the timer's next step due, and back
            if not self.timer.wait_idle(max(deadline - time.monotonic(), 0.0)):
                return False
            if not all(lane.wait_idle(max(deadline - time.monotonic(), 0.0)) for lane in self.lanes.values()):
                return False
        return True

    def stop(self) -> None:
        """Finish the jobs in hand, stop the timer and lanes, then release the leader lock."""
        self._stopping = True
        self._leader_until = 0.0
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.timer.stop()
        for lane in self.lanes.values():
            lane.stop()
        self.services.live.release_leader(self.owner)
