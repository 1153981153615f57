"""The worker process: jobs behind a leader lock in Redis, so only one worker acts at a time."""

from __future__ import annotations

from portal.domain.context import Services
from portal.worker.scheduler import JOBS, Worker


def test_only_one_worker_leads(services: Services) -> None:
    first, second = Worker(services), Worker(services)
    assert first.is_leader() is True
    assert second.is_leader() is False
    services.live.release_leader(first.owner)
    assert second.is_leader() is True


def test_every_periodic_job_is_scheduled_once_with_its_interval(services: Services) -> None:
    """Expiry and router reconciliation run on the timer and the router lanes (due times and
    probes, not a schedule); every other job is on APScheduler, once, at its interval."""
    worker = Worker(services)
    try:
        scheduled = {job.id: job.trigger.interval.total_seconds() for job in worker.scheduler.get_jobs()}
        on_timer_or_lanes = {"expire", "reconcile"}
        assert scheduled == {
            job.name: float(job.interval(services)) for job in JOBS if job.name not in on_timer_or_lanes
        }
        assert set(worker.lanes) == set(services.routers)
    finally:
        worker.stop()
