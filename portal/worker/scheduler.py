"""The worker: expiry, confirmation polling (STK Query), router outbox, router reconciliation.

Every job reads what to do from the ledger, so stopping and starting the worker loses
nothing. Only one worker acts at a time (leader lock in Redis); others stand by.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from portal.domain import alerts, confirmations, deliveries, expiry, outbox
from portal.domain.context import Services
from portal.domain.router_reconciliation import reconcile_routers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[Services], int]
    interval: Callable[[Services], float]
    ledger: bool = True  # False: the job opens the ledger itself (it must run when the ledger is down)


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
    """Schedules the jobs on APScheduler (UTC, no skipped runs) behind a leader lock."""

    def __init__(self, services: Services, *, blocking: bool = False) -> None:
        self.services = services
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        job_defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        scheduler_class = BlockingScheduler if blocking else BackgroundScheduler
        self.scheduler: BaseScheduler = scheduler_class(timezone="UTC", job_defaults=job_defaults)
        for job in JOBS:
            self.scheduler.add_job(
                self._guarded,
                "interval",
                args=[job],
                id=job.name,
                name=job.name,
                seconds=job.interval(services),
                replace_existing=True,
            )

    def is_leader(self) -> bool:
        ttl = self.services.settings.worker.leader_lock_seconds
        try:
            return self.services.live.acquire_leader(self.owner, ttl)
        except Exception as err:  # noqa: BLE001 - Redis down: act alone rather than not at all
            log.warning("leader lock unavailable (%s); running jobs anyway", err)
            return True

    def _guarded(self, job: Job) -> None:
        if not self.is_leader():
            return
        if job.ledger:
            self.services.db.connect(reuse_if_open=True)
        try:
            done = job.run(self.services)
            if done:
                log.info("%s: %d", job.name, done)
        except Exception:
            log.exception("worker job %s failed", job.name)
        finally:
            if not self.services.db.is_closed():
                self.services.db.close()

    def start(self) -> None:
        """Rebuild the live mirror from the ledger, then start the schedule."""
        self.services.db.connect(reuse_if_open=True)
        try:
            count = expiry.rebuild_live(self.services)
            log.info("worker %s: %d live sessions restored from the ledger", self.owner, count)
        finally:
            self.services.db.close()
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.services.live.release_leader(self.owner)
